"""Fitting predictors from profiles and scoring them on held-out architectures.

Held-out architectures are never used for fitting: either another profile's whole-network
rows, or the last N networks the predictor was fitted on, removed from its training data
before it is refitted (a lookup table, fitted on none: the last N of its profile). Scores
come from `hwnas.predictors.accuracy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwnas.predictors.base import LatencyPredictor, PredictorError, check_space
from hwnas.predictors.fingerprint import describe_device, device_differences
from hwnas.predictors.learned import LearnedPredictor
from hwnas.predictors.lut import LUTPredictor
from hwnas.predictors.profile import Profile, read_profile
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.callers import warn_at_caller


def fit_from_profile(
    path: str | Path,
    kind: str = "lut",
    space: SearchSpace | None = None,
    parts: str | Path | None = None,
    **settings: Any,
) -> LatencyPredictor:
    """A `lut` or `learned` predictor from a profile (learned: fitted on its whole-network
    rows). The table (the lut, and the learned predictor's table features) comes from the
    measured parts of `parts`, by default the same profile, which must hold every part the
    space can produce (a saved predictor must price every network); a learned predictor of an
    archs-only profile without `parts` has no table."""
    profile = read_profile(path)
    space = space or profile.space()
    check_space(space, profile.space_reference(), f"{path}: the profile")
    table = parts or path
    if kind == "lut":
        if parts is not None:  # the profile given would be read for nothing
            raise PredictorError(
                f"parts: a lookup table is the parts of one profile; give {parts} as the "
                "profile (parts applies to the learned kind, fitted on the profile's networks)"
            )
        return LUTPredictor.from_profile(table, space, complete=True, **settings)
    if kind != "learned":
        raise PredictorError(f"fit from a profile supports kinds lut and learned, not {kind!r}")
    archs, y = profile.arch_records(space)
    if len(archs) == 0:
        raise _short_of_networks(path, profile, "no whole-architecture rows to fit on")
    # a profile with parts (not archs-only), or one given as `parts`, gives a table, which
    # must then be complete
    has_parts = parts is not None or bool(read_profile(table).expected_parts(space))
    lut = LUTPredictor.from_profile(table, space, complete=True) if has_parts else None
    measured_on = profile.measured_on()
    if lut is not None and None not in (lut.measured_on, measured_on):
        differences = device_differences(measured_on, lut.measured_on)
        if differences:
            raise PredictorError(
                f"{path}: its networks were measured on {describe_device(measured_on)}, but "
                f"the table of {table} on {describe_device(lut.measured_on)} "
                f"({'; '.join(differences)}); fit a predictor from one device's measurements"
            )
    source = str(Path(path).resolve())  # read from any directory
    predictor = LearnedPredictor(space, lut, source=source, **settings)
    try:
        predictor.fit(archs, y)
    except PredictorError as e:  # named by the profile, as its other refusals are
        if len(archs) >= predictor.minimum_networks():
            raise PredictorError(f"{path}: {e}") from None
        raise _short_of_networks(path, profile, str(e)) from None
    predictor.measured_on = measured_on
    quantizers = [profile.int8_quantizer, *([lut.int8_quantizer] if lut else [])]
    predictor.int8_quantizer = None if None in quantizers else min(quantizers)
    return predictor


def _short_of_networks(path: str | Path, profile: Profile, why: str) -> PredictorError:
    """The error of a fit short of measured networks, saying how many of the profile's failed
    to measure and how to measure them again (where any did)."""
    failed = profile.failed_archs_note()
    return PredictorError(f"{path}: {why}{f'; {failed}' if failed else ''}")


def holdout_from_own_profile(
    predictor: LatencyPredictor, n: int
) -> tuple[LatencyPredictor, list[Arch], np.ndarray]:
    """(the predictor refitted without them, the last `n` networks it was fitted on, their
    measured latencies), as its file records them (the profile may have changed or gone
    since); a lookup table, which saw no whole network, is scored on the last `n` of its
    profile's rows as they are."""
    archs, y = predictor.train_data
    if archs:
        what = "networks the predictor was fitted on"
        _check_holdout_count(n, len(archs), what, minimum=1)
        train = _without(archs[:-n], y[:-n], archs[-n:])
        try:
            refitted = predictor.refitted(*train)
        except PredictorError as e:
            raise PredictorError(
                f"cannot hold out {n} of the {len(archs)} {what}: refitted on the other "
                f"{len(train[0])}, {e}"
            ) from None
        return refitted, archs[-n:], np.asarray(y[-n:])
    source = getattr(predictor, "source", "") or ""
    if not source or not Path(source).is_file():
        raise PredictorError(
            f"the predictor's profile {source!r} is not available; give --holdout a profile file"
        )
    profile = read_profile(source)
    _check_own_profile(predictor, profile)
    archs, y = profile.arch_records(predictor.space, than="the predictor")
    _check_holdout_count(n, len(archs), f"whole-architecture rows of {source}", minimum=0)
    return predictor, archs[-n:], y[-n:]


def _without(
    archs: list[Arch], y: list[float], held_out: list[Arch]
) -> tuple[list[Arch], list[float]]:
    """The networks and latencies other than those of `held_out` (by key): a network measured
    twice, once among the held-out, would otherwise be fitted on and scored."""
    keys = {a.key for a in held_out}
    kept = [i for i, a in enumerate(archs) if a.key not in keys]
    return [archs[i] for i in kept], [y[i] for i in kept]


def _check_own_profile(predictor: LatencyPredictor, profile: Profile) -> None:
    """Refuse the profile at a lookup table's recorded path when it is no longer the one the
    table was read from: of another space (or input shape), or measured on another device."""
    where = f"{profile.path}: the predictor's profile"
    check_space(predictor.space, profile.space_reference(), where, against="the predictor")
    now, then = profile.measured_on(), predictor.measured_on
    if None not in (then, now) and (differences := device_differences(then, now)):
        raise PredictorError(
            f"{where} now holds measurements on another device than the predictor's "
            f"table ({'; '.join(differences)}): it changed since the table was fitted; "
            "give --holdout a profile file of the predictor's device"
        )


def _check_holdout_count(n: int, total: int, what: str, minimum: int) -> None:
    """Refuse holding out `n` of `total`, leaving fewer than `minimum` to fit on."""
    if not 0 < n <= total - minimum:
        raise PredictorError(f"cannot hold out {n} of the {total} {what}")


def holdout_from_profile(
    predictor: LatencyPredictor, profile: Profile, predictor_name: str = "the predictor"
) -> tuple[list[Arch], np.ndarray]:
    """The whole-network rows of another profile of the predictor's space (refused for
    another input shape or definition of the space), minus any the predictor was trained
    on (with a warning saying how many)."""
    check_space(
        predictor.space,
        profile.space_reference(),
        f"{profile.path}: the held-out profile",
        against=predictor_name,
    )
    archs, y = profile.arch_records(predictor.space, than=predictor_name)
    total = len(archs)
    seen = {a.key for a in predictor.train_data[0]}
    keep = [i for i, a in enumerate(archs) if a.key not in seen]
    archs, y = [archs[i] for i in keep], y[keep]
    if not archs:
        why = f" (all {total} were used to fit {predictor_name})" if total else ""
        raise PredictorError(
            f"{profile.path}: no held-out whole-architecture rows to evaluate on{why}"
        )
    if len(archs) < total:
        warn_at_caller(
            f"{profile.path}: {total - len(archs)} of its {total} networks were used to fit "
            f"{predictor_name}, so they are left out of the held-out set"
        )
    return archs, y


def score(predictor: LatencyPredictor, archs: list[Arch], measured: np.ndarray) -> dict:
    """Accuracy of `predictor` on these measured architectures."""
    from hwnas.predictors.accuracy import latency_accuracy

    return dict(latency_accuracy(np.asarray(measured), predictor.predict(archs)))
