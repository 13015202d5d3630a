"""Loggers quieted for one piece of work and given back after it. It lives here, the lowest
package that quiets a logger (the ONNX exporter's, ONNX Runtime's quantizer on the root
logger); the searchers and the run's storage quiet Optuna's with it too
(`hwnas.search.nsga2.optuna_quiet`)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class _Quieted:
    """A logger's set-up before the first of the bodies quieting it, and how many run."""

    level: int
    handlers: list[logging.Handler] = field(default_factory=list)
    bodies: int = 0


#: the loggers being quieted (in any thread): a logger's level and handlers are the
#: process's, so bodies overlapping in several threads (two searches of a notebook or a
#: service) keep it quiet until the last ends, which gives back what the first found (each
#: restoring its own left it quiet for good, or loud under the other)
_LOCK = threading.Lock()
_quieted: dict[logging.Logger, _Quieted] = {}


@contextlib.contextmanager
def logger_quiet(logger: logging.Logger, level: int = logging.ERROR) -> Iterator[None]:
    """`logger` at `level` (or quieter, as it was) for the body, its level and handlers as
    they were after it: the caller's process keeps its own logging set-up. Without
    handlers, the root logger is given a stderr one (`logging.basicConfig`) by the first
    `logging.warning(...)` call, as ONNX Runtime's quantize_static makes; it stayed, and the
    caller's own `logging.basicConfig(...)` afterwards did nothing."""
    with _LOCK:
        quieted = _quieted.setdefault(logger, _Quieted(logger.level, list(logger.handlers)))
        quieted.bodies += 1
        logger.setLevel(max(logger.level, level))  # a silenced (CRITICAL) logger stays so
    try:
        yield
    finally:
        with _LOCK:
            quieted.bodies -= 1
            if not quieted.bodies:
                del _quieted[logger]
                for handler in [h for h in logger.handlers if h not in quieted.handlers]:
                    logger.removeHandler(handler)
                logger.setLevel(quieted.level)
