"""`LatencyEvaluator`: a candidate's latency, predicted from a fitted predictor or measured.

With `predictor` (a fitted `hwnas.predictors` predictor, or the path of a saved one), latency is
predicted without running anything; without it, the candidate's inference model
(reparameterized, fake quantization off) is measured on `backend` with
`hwnas.predictors.measure_latency`, by default with each block at the precision the
architecture gives it (`precision="mixed"`; one name such as "fp32" times the whole network at
that precision instead). Either way the result is `latency_ms`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hwnas.evaluators.failures import COST_METRICS, scored_with_costs
from hwnas.evaluators.metrics import Metrics
from hwnas.spaces import PRECISIONS, Arch, SearchSpace
from hwnas.spaces.errors import check_setting_names
from hwnas.spaces.reprs import facts_repr, named


class Predictor(Protocol):
    def predict(self, archs: list[Arch]) -> Any: ...


def _check_measurement(
    space: SearchSpace, backend: str, precision: str, given: Mapping[str, Any]
) -> None:
    """Refuse, by name, a backend, precision or setting that `measure_latency` would refuse
    for every candidate, or for every candidate using one of the space's precisions (a typo
    in an experiment file would otherwise fail them all, or quietly steer the search to the
    candidates that can be measured)."""
    from hwnas.predictors import BACKENDS, BackendError, measure_latency
    from hwnas.predictors.backends import get_backend
    from hwnas.predictors.measure import MeasurementError, check_settings

    parameters = inspect.signature(measure_latency).parameters
    known = list(parameters)[2:]  # after the model and its input shape: the evaluator's own
    check_setting_names("latency evaluator", given, known=[*known, "predictor"])
    if backend not in BACKENDS:
        raise ValueError(f"backend: unknown backend {backend!r}; choose from {list(BACKENDS)}")
    if precision not in (*PRECISIONS, "mixed"):
        raise ValueError(
            f"precision: unknown precision {precision!r}; choose from {[*PRECISIONS, 'mixed']}"
        )
    measuring = {n: given.get(n, parameters[n].default) for n in known if n not in MEASURE_OWN}
    try:
        check_settings(space.input_shape, backend=backend, **measuring)
        runtime = get_backend(backend)
        for timed in space.precisions if precision == "mixed" else [precision]:
            runtime.check_precision(timed)
            if precision == "mixed":  # a network's stem, downsamples and head stay fp32
                runtime.check_precision({"stem": "fp32", "blocks": timed})
    except MeasurementError as e:
        raise ValueError(str(e)) from None  # it opens with the setting's name
    except BackendError as e:
        what = f"precision {precision}"
        if precision == "mixed":
            what += f" (the space's blocks take {', '.join(space.precisions)})"
        raise ValueError(f"{what}: {e}") from None


#: the evaluator's settings that `check_settings` does not take (checked on their own)
MEASURE_OWN = ("backend", "precision")


#: what a measuring evaluation stores beside `latency_ms`: the round medians' coefficient of
#: variation, and the machine's 1-minute load average per core as the measurement ended
MEASURING_CONDITIONS = ("latency_variation", "load_per_core")

#: the measurement settings' defaults: another value only makes sense when measuring
MEASURE_DEFAULTS = {
    "backend": "onnxruntime-cpu",
    "precision": "mixed",
    "batch_size": 1,
    "threads": 1,
}


class LatencyEvaluator:
    """Report `latency_ms` (and the analytic costs) of each candidate.

    `measure` holds extra keyword arguments for `measure_latency` (warmup, runs, rounds, ...);
    they apply only when no predictor is given.
    """

    def __init__(
        self,
        space: SearchSpace,
        predictor: Predictor | str | Path | None = None,
        *,
        backend: str = "onnxruntime-cpu",
        precision: str = "mixed",
        batch_size: int = 1,
        threads: int = 1,
        **measure: Any,
    ):
        self.space = space
        if isinstance(predictor, str | Path):
            from hwnas.predictors import load_predictor

            predictor = load_predictor(predictor, space)
        if predictor is not None and not callable(getattr(predictor, "predict", None)):
            # taken, it failed every candidate with "'int' object has no attribute 'predict'"
            raise TypeError(
                "predictor must be a fitted predictor (an object with predict(archs)), a "
                f"saved predictor's path, or None to measure, not {predictor!r:.80}"
            )
        given = dict(backend=backend, precision=precision, batch_size=batch_size, threads=threads)
        measuring = {k: v for k, v in given.items() if v != MEASURE_DEFAULTS[k]}
        if predictor is not None and (measure or measuring):
            raise ValueError(
                f"measurement settings {sorted({**measure, **measuring})} apply only when "
                "latency is measured, but a predictor gives it: give predictor=None "
                "(`predictor: null` in an experiment's latency evaluator settings, where the "
                "`latency` section would fill it in) to measure each candidate"
            )
        if predictor is None:
            sizes = {"batch_size": batch_size, "threads": threads}
            _check_measurement(space, backend, precision, {**sizes, **measure})
        self.predictor = predictor
        self.backend, self.precision = backend, precision
        self.batch_size, self.threads, self.measure = batch_size, threads, measure

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its space and where latency comes from: the predictor, or the backend and
        precision each candidate is measured at."""
        if self.predictor is not None:
            return [*named(space=self.space.name), f"predictor={type(self.predictor).__name__}"]
        return named(space=self.space.name, backend=self.backend, precision=self.precision)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics of a successful evaluation (checked against objectives at start)."""
        conditions = MEASURING_CONDITIONS if self.predictor is None else ()
        return (*COST_METRICS, "latency_ms", *conditions)

    def evaluate(self, arch: Arch, budget: float | None = None) -> Metrics:
        """`budget` is ignored."""
        return scored_with_costs(self.space, arch, lambda _: self._latency(arch))

    def _latency(self, arch: Arch) -> dict[str, float]:
        """`latency_ms`, and when it is measured, how steady the measurement was and how busy
        the machine: a measured latency runs slow on a busy machine (2.5x was seen at about
        3.5 processes per core), so a run's numbers compare only at similar load. The
        candidate's weights are drawn from torch's global generator, whose state the caller
        gets back (`torch_seeded`): they moved a notebook's `torch.rand` on, and another
        thread's seeded training, as no other evaluator does."""
        if self.predictor is not None:
            return {"latency_ms": _predicted(self.predictor, arch)}
        import torch

        from hwnas.predictors import measure_latency
        from hwnas.predictors.torch_state import torch_seeded
        from hwnas.spaces import reparameterize, set_fake_quant

        with torch_seeded(None, torch.device("cpu")):
            model = self.space.build(arch).eval()
            set_fake_quant(reparameterize(model), False)
            measurement = measure_latency(
                model,
                self.space.input_shape,
                backend=self.backend,
                precision=self.precision,
                batch_size=self.batch_size,
                threads=self.threads,
                **self.measure,
            )
        return {
            "latency_ms": float(measurement.latency_ms),
            "latency_variation": float(measurement.variation),
            **_machine_load(),
        }


def _predicted(predictor: Predictor, arch: Arch) -> float:
    """`predictor`'s latency of `arch`, or an error naming the predictor's class where its
    `predict` gives no one value per architecture: a predictor of one's own returning a bare
    float failed every candidate with "'float' object is not subscriptable", saying nothing of
    whose mistake it was."""
    values = np.asarray(predictor.predict([arch]), dtype=float)
    if values.shape != (1,):
        raise TypeError(
            f"{type(predictor).__name__}.predict([arch]) returned an array of shape "
            f"{values.shape}, not one latency per architecture (shape (1,))"
        )
    return float(values[0])


def _machine_load() -> dict[str, float]:
    """The 1-minute load average per core, where the OS keeps one (not on Windows)."""
    if not hasattr(os, "getloadavg"):
        return {}
    return {"load_per_core": os.getloadavg()[0] / (os.cpu_count() or 1)}
