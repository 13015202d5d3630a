"""Loggers quieted for one piece of work and given back after it. It lives here, the lowest
package that quiets a logger (the ONNX exporter's, ONNX Runtime's quantizer on the root
logger); the searchers and the run's storage quiet Optuna's with it too
(`hwnas.search.nsga2.optuna_quiet`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def logger_quiet(logger: logging.Logger, level: int = logging.ERROR) -> Iterator[None]:
    """`logger` at `level` (or quieter, as it was) for the body, its level and handlers as
    they were after it: the caller's process keeps its own logging set-up. Without
    handlers, the root logger is given a stderr one (`logging.basicConfig`) by the first
    `logging.warning(...)` call, as ONNX Runtime's quantize_static makes; it stayed, and the
    caller's own `logging.basicConfig(...)` afterwards did nothing."""
    before, handlers = logger.level, list(logger.handlers)
    logger.setLevel(max(before, level))  # a silenced (CRITICAL) logger stays so
    try:
        yield
    finally:
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
        logger.setLevel(before)
