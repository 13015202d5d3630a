"""Predictors by name: `get_predictor(kind, space, **settings)` and `load_predictor(path)`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from hwnas.predictors.base import (
    FORMAT_VERSION,
    LatencyPredictor,
    PredictorError,
    check_space,
    is_predictor_data,
    other_definition_note,
    space_from_reference,
    unreadable_format,
)
from hwnas.predictors.fingerprint import device_of
from hwnas.predictors.learned import LearnedPredictor
from hwnas.predictors.lut import LUTPredictor
from hwnas.predictors.profile import (
    metadata_path,
    older_int8,
    table_beside,
    warn_older_int8,
)
from hwnas.spaces import SearchSpace, SpaceError, as_space
from hwnas.spaces.errors import check_setting_names, did_you_mean
from hwnas.spaces.yaml_files import read_text

KINDS = ("lut", "learned", "transfer")


def _predictor_class(kind: str) -> type[LatencyPredictor]:
    if kind == "lut":
        return LUTPredictor
    if kind == "learned":
        return LearnedPredictor
    if kind == "transfer":
        from hwnas.predictors.transfer import TransferPredictor

        return TransferPredictor
    raise PredictorError(
        f"unknown predictor kind {kind!r}{did_you_mean(kind, KINDS)}; "
        f"choose from {', '.join(KINDS)}"
    )


#: the settings of the kinds `get_predictor` builds from a profile
PROFILE_SETTINGS = {
    "lut": ("profile", "subtract_overhead"),
    "learned": ("profile", "hyperparameters"),
}


def get_predictor(kind: str, space: SearchSpace | str, **settings: Any) -> LatencyPredictor:
    """A predictor of `kind` for `space` (or the built-in space or space file it names).

    - `lut`: `profile=PATH` (a profile with measured parts), optional `subtract_overhead`.
    - `learned`: optional `profile=PATH` (its parts form the lookup table it calibrates;
      without it, boosting on the encoding and analytic costs), optional
      `hyperparameters={...}`; then `fit(archs, latencies)`.
    - `transfer`: the settings of `TransferPredictor` (e.g. `sources=DataFrame`).
    """
    cls, space = _predictor_class(kind), as_space(space)
    owner = f"the {kind} predictor"
    if kind in PROFILE_SETTINGS:  # built from a profile: these are all a user gives
        check_setting_names(owner, settings, known=PROFILE_SETTINGS[kind])
    else:
        check_setting_names(owner, settings, cls.__init__)
    if kind == "lut":
        if "profile" not in settings:
            raise PredictorError("the lut predictor needs profile=PATH (a latency profile)")
        return LUTPredictor.from_profile(settings.pop("profile"), space, **settings)
    if kind == "learned":
        profile = settings.pop("profile", None)
        lut = LUTPredictor.from_profile(profile, space) if profile else None
        return LearnedPredictor(space, lut, **settings)
    return cls(space=space, **settings)


def load_predictor(
    path: str | Path, space: SearchSpace | str | Path | None = None
) -> LatencyPredictor:
    """A predictor saved with `.save(path)`, rebuilt from its data (refit where learned),
    for `space` (a space, or a built-in's name or a space file, as `build_profile` takes it;
    default the space the file records); a byte-order mark first (a file an editor saved
    again on Windows) is skipped, and a file past what any predictor holds (a device) is
    refused (`read_text`)."""
    path = Path(path)
    space = as_space(space) if space is not None else None  # a name: "'str' has no 'name'"
    text = read_text(path, PredictorError, "not a predictor file (invalid JSON: not UTF-8 text)")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:  # not JSON, or JSON nested or sized past reason
        raise _not_a_predictor(path, f"invalid JSON: {e}") from None
    if not is_predictor_data(data):
        raise _not_a_predictor(path, "no 'kind' and 'space'")
    if problem := unreadable_format(data, FORMAT_VERSION, required=True):
        raise PredictorError(f"{path}: {problem}")
    try:
        cls = _predictor_class(data["kind"])
    except PredictorError as e:
        raise PredictorError(f"{path}: {e}") from None
    if space is None:
        space = space_from_reference(data["space"], str(path))
    check_space(space, data["space"], str(path))
    measured_on = data.get("measured_on")
    if measured_on is not None and not isinstance(measured_on, dict):
        raise PredictorError(f"{path}: measured_on must be a device record, not {measured_on!r}")
    try:
        predictor = cls.from_data(data, space)
    except PredictorError as e:  # the data does not make a predictor: name the file
        raise PredictorError(f"{path}: {e}") from None
    except SpaceError as e:  # a network it was fitted on: of an edited space, or damaged
        if note := other_definition_note(space, data["space"].get("definition"), "the space given"):
            raise PredictorError(
                f"{path}: fitted on a network not of the space: {e}{note}"
            ) from None
        raise PredictorError(f"{path}: not a valid {data['kind']} predictor file ({e})") from None
    except (KeyError, TypeError, AttributeError, ValueError) as e:  # a damaged or edited file
        what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise PredictorError(
            f"{path}: not a valid {data['kind']} predictor file ({what})"
        ) from None
    predictor.measured_on = device_of(measured_on) if measured_on is not None else None
    _note_file(predictor, path)
    _warn_older_int8(path, predictor, data.get("int8_quantizer"))
    return predictor


def _note_file(predictor: LatencyPredictor, path: Path) -> None:
    """Note in a lookup table read from the predictor file `path` (the file's own, or its
    learned predictor's) that it was: a part the table lacks is then said of the file, and
    fitting it again is advised (`LUTPredictor.predictor_file`)."""
    table = predictor.lut if isinstance(predictor, LearnedPredictor) else predictor
    if isinstance(table, LUTPredictor):
        table.predictor_file = str(path)


def _warn_older_int8(path: Path, predictor: LatencyPredictor, quantizer: Any) -> None:
    """Say where a predictor of ONNX Runtime latencies prices int8 or w4a8 blocks from
    measurements of an older int8 quantization (`warn_older_int8`)."""
    predictor.int8_quantizer = quantizer if type(quantizer) is int else None
    if (predictor.measured_on or {}).get("backend") != "onnxruntime-cpu":
        return  # the one backend that times int8; a transfer predictor records no device
    priced = set(predictor.space.precisions) - set(predictor.unpriced_precisions())
    if timed := older_int8(predictor.int8_quantizer, priced):
        again = (
            f"fit it again on {_profiles_of(predictor)} measured again (`hwnas latency "
            "profile` into a new --out, then `hwnas latency fit`)"
        )
        warn_older_int8(path, timed, again)


def _profiles_of(predictor: LatencyPredictor) -> str:
    """The profiles `predictor` was fitted from, as advice names them: a learned predictor
    fitted with `--parts` prices blocks by that profile's table too (its int8 latencies may
    be there alone: the advice named only the networks' profile, fp32 in the shipped one)."""
    source = getattr(predictor, "source", "") or "its profile"
    table = predictor.lut if isinstance(predictor, LearnedPredictor) else None
    if table is None or table.source in ("", source):
        return source
    return f"{source} and its --parts {table.source}"


def _not_a_predictor(path: Path, why: str) -> PredictorError:
    """The error for a file that is not a predictor, saying so of a profile's table or
    metadata given in its place (it said "invalid JSON" of the table)."""
    table = table_beside(path)
    if table and metadata_path(table).is_file():
        return PredictorError(
            f"{path}: a file of the latency profile {table}, not a predictor file; give the "
            f"profile as `profile:` in an experiment's latency section, or fit a predictor "
            f"from it with `hwnas latency fit {shlex.quote(str(table))} -o PREDICTOR.json`"
        )
    return PredictorError(f"{path}: not a predictor file ({why})")
