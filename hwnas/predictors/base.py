"""`LatencyPredictor`: the interface every latency predictor implements, and its data files.

A predictor maps architectures of one space to latencies in milliseconds for the device its
data was measured on (`measured_on`, whichever machine asks it). It is saved as data (JSON:
its kind, its space, its settings, the measurements it was built from and their device),
never as a pickle, and a loaded predictor is rebuilt (refit deterministically) from that
data, so files survive library upgrades.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hwnas.predictors.whole_files import (
    file_in_the_way,
    name_too_long,
    not_regular,
    removed_if_left_empty,
    written_whole,
)
from hwnas.spaces import (
    Arch,
    SearchSpace,
    SpaceError,
    builtin_spaces,
    get_space,
    space_from_data,
)
from hwnas.spaces.reprs import facts_repr, named
from hwnas.spaces.yaml_files import json_or_none

FORMAT_VERSION = 1


class PredictorError(ValueError):
    """A predictor that cannot be built, loaded or asked about an architecture."""


#: the words of a `PredictorError` for a part the latency table has no measurement of
#: (`LUTPredictor`): the same file, read again, lacks it again (`hwnas.experiments.records`)
NO_MEASUREMENT = "has no measurement for"


def unreadable_format(data: dict[str, Any], newest: int, required: bool = False) -> str | None:
    """Why a data file's `format_version` is not one this hwnas reads (a newer hwnas wrote
    it, it is not a number, or it is absent where `required`), or None when it is readable
    (absent, where not required, means the first)."""
    if required and "format_version" not in data:
        return f"no format_version (this hwnas reads up to {newest}); not a file hwnas wrote?"
    version = data.get("format_version", newest)
    if isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= newest:
        return None
    return (
        f"format_version {version!r} is not one this hwnas reads (up to {newest}); a newer "
        "hwnas wrote it?"
    )


def space_definition(space: SearchSpace) -> dict[str, Any]:
    """The space's declarative definition (its YAML content, input shape and classes included,
    defaults left out), enough to rebuild it without its YAML file."""
    return {"kind": space.spec.kind, **space.spec.model_dump(mode="json", exclude_defaults=True)}


#: fields of a space definition that say which choices it offers (blocks, depths, widths),
#: not what network a given architecture is: spaces that differ only there (one restricted to
#: fewer precisions, say) build the same network for an architecture both allow
CHOICE_FIELDS = ("description", "block", "max_attention_tokens")
STAGE_CHOICE_FIELDS = ("depth", "width", "block")


def space_digest(definition: dict[str, Any]) -> str:
    """A stable hash of what a space definition makes of an architecture (input, classes,
    stem, stage strides, NAS-Bench-201 channels and cells): two spaces of one name and
    version whose networks differ (another stem width, input length) differ in it."""
    content = {k: v for k, v in definition.items() if k not in CHOICE_FIELDS}
    if "stages" in content:
        content["stages"] = [
            {k: v for k, v in stage.items() if k not in STAGE_CHOICE_FIELDS}
            for stage in content["stages"]
        ]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def other_definition_note(space: SearchSpace, recorded: Any, than: str) -> str:
    """Why a file's network is not one of `space`'s, where the file records (`recorded`)
    another definition of it than `space` has (`than` names where `space` comes from): a
    space's choices edited under its name and version pass `check_space` (a profile may be
    resumed into, or a predictor used, with more choices), so the network that is not one of
    it is all a user sees otherwise. "" where the file records none or the same one."""
    if not (fields := changed_fields(space, recorded)):
        return ""
    return (
        f"; the file was made for another definition of space {space.name!r} "
        f"v{space.version} than {than} (they differ in {', '.join(fields)}): use files made "
        "from one definition (profile and fit again after editing a space's choices, or give the "
        "edited space a new name or version)"
    )


def changed_fields(space: SearchSpace, recorded: Any, most: int = 4) -> list[str]:
    """The first `most` fields (`block.mixers.pool`) where the definition a file records of
    `space` differs from `space`'s: none where it records none or the same one."""
    mine = space_definition(space)
    if not isinstance(recorded, dict) or recorded == mine:
        return []
    return _differing_fields(recorded, mine)[:most]


def _differing_fields(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths of the fields (`block.mixers.pool`, `stages[0].width`) where two space
    definitions differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(a.keys() | b.keys(), key=str)
        return [f for k in keys for f in _differing_fields(a.get(k), b.get(k), f"{path}.{k}")]
    stages = isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
    if stages and all(isinstance(item, dict) for item in (*a, *b)):  # one by one
        pairs = enumerate(zip(a, b))
        return [f for i, (x, y) in pairs for f in _differing_fields(x, y, f"{path}[{i}]")]
    return [] if a == b else [path.removeprefix(".")]


def space_reference(space: SearchSpace) -> dict[str, Any]:
    """What identifies `space` in a data file: name, version, YAML source (absolute), input,
    classes, its definition (to rebuild it where the YAML file is gone) and that digest."""
    source = str(getattr(space, "source", space.name))
    if Path(source).is_file():
        source = str(Path(source).resolve())
    definition = space_definition(space)
    return {
        "name": space.name,
        "version": space.version,
        "source": source,
        "input_shape": list(space.input_shape),
        "num_classes": space.num_classes,
        "digest": space_digest(definition),
        "definition": definition,
    }


def space_from_reference(ref: dict[str, Any], where: str, near: Path | None = None) -> SearchSpace:
    """The space a data file (`where`) names: rebuilt from its stored definition, else read
    from its YAML source (or a file of that name in the folder `near`, for a moved profile),
    else the built-in space of its name; a `PredictorError` naming the missing YAML file."""
    if not isinstance(ref, dict) or not ref.get("name"):
        raise PredictorError(f"{where}: its space record names no space: {ref!r}")
    if not isinstance(ref.get("source") or "", str):
        raise PredictorError(
            f"{where}: its space record's source is not a space file's path: {ref['source']!r}"
        )
    kwargs = {"input_shape": ref.get("input_shape"), "num_classes": ref.get("num_classes")}
    if isinstance(definition := ref.get("definition"), dict):
        source = ref.get("source") or ref["name"]
        try:
            return space_from_data(definition, source, recorded=True, **kwargs)
        except SpaceError as e:  # the stored copy is what is wrong, not its source's file
            raise PredictorError(
                f"{where}: its stored space definition is not valid: "
                f"{str(e).removeprefix(f'{source}: ')}"
            ) from None
    source = Path(ref.get("source") or ref["name"])
    found = [f for f in (source, near and near / source.name) if f and f.is_file()]
    if found:
        return get_space(found[0], **kwargs)
    if ref["name"] in builtin_spaces():
        return get_space(ref["name"], **kwargs)
    beside = f", or into {near}" if near else ""
    raise PredictorError(
        f"{where}: its space file {source} is missing (space {ref['name']!r}), and it holds no "
        f"copy of the space's definition (an earlier hwnas wrote it): put the space's YAML "
        f"back at that path{beside}"
    )


def check_space(space: SearchSpace, ref: dict[str, Any], where: str, against: str = "") -> None:
    """Refuse a predictor or profile (`where`) of another space, or of this space at another
    input shape or number of classes, or of another definition under the same name (where
    both record a digest): its measurements would not be `space`'s latencies. `against` names
    where `space` comes from, for the message."""
    mine = space_reference(space)
    theirs = f"the space of {against}" if against else "the space"
    if (space.name, space.version) != (ref.get("name"), ref.get("version")):
        raise PredictorError(
            f"{where} is for space {ref.get('name')!r} v{ref.get('version')}, "
            f"not {space.name!r} v{space.version}" + (f" like {against}" if against else "")
        )
    for field in ("input_shape", "num_classes"):
        if ref.get(field) is not None and ref[field] != mine[field]:
            raise PredictorError(
                f"{where} was measured with {field} {ref[field]}, but {theirs} has "
                f"{mine[field]}; profile the space at that {field}"
            )
    if ref.get("digest") and ref["digest"] != mine["digest"]:
        raise PredictorError(
            f"{where} was measured on another definition of space {space.name!r} "
            f"v{space.version} than {theirs} (its stem, stage strides or other settings that "
            f"shape every network differ: digest {ref['digest']} != {mine['digest']}); give "
            "the space a new name or version when you change those"
        )


class LatencyPredictor(ABC):
    """Predicts latency (ms) of architectures of `space` on one device."""

    kind: ClassVar[str]
    #: the device and settings its latencies are for (`fingerprint.device_of` of the profile
    #: it was built from), whichever machine asks it; None where not recorded
    measured_on: dict[str, str] | None = None
    #: the int8 quantization its int8 and w4a8 latencies were measured with (its profile's
    #: `Profile.int8_quantizer`); None where not recorded (an earlier hwnas)
    int8_quantizer: int | None = None

    def __init__(self, space: SearchSpace):
        self.space = space

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its space, its own settings (`_shown`) and the backend and device of its latencies,
        where recorded."""
        device = self.measured_on or {}
        return [
            *named(space=self.space.name if self.space is not None else None),
            *self._shown(),
            *named(
                backend=device.get("backend") or None,
                device=device.get("gpu") or device.get("cpu") or None,
            ),
        ]

    def _shown(self) -> list[str]:
        """What its repr says of a predictor of its kind (none by default)."""
        return []

    @abstractmethod
    def fit(self, archs: Sequence[Arch], latencies: Sequence[float]) -> LatencyPredictor:
        """Learn from measured whole-architecture latencies (ms); returns self."""

    @abstractmethod
    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted latency in ms, one per architecture."""

    @abstractmethod
    def to_data(self) -> dict[str, Any]:
        """Everything needed to rebuild this predictor, as JSON-able data of the caller's own:
        a change to it (a table scaled for a variant) leaves the predictor as it was."""

    def unpriced_precisions(self) -> list[str]:
        """The precisions of its space it cannot price (a table measured at fewer): the
        candidates using them fail, so a run says so before it starts. Empty by default."""
        return []

    @property
    def train_data(self) -> tuple[list[Arch], list[float]]:
        """The whole networks and latencies (ms) it was fitted on: none for a table of parts.
        A held-out score leaves them out."""
        return [], []

    def refitted(self, archs: Sequence[Arch], latencies: Sequence[float]) -> LatencyPredictor:
        """A predictor of the same kind and settings fitted on these networks instead (to
        score it on networks it did not see)."""
        raise PredictorError(f"a {self.kind} predictor is not fitted on whole networks")

    def unpriced_parts(self) -> list[str]:
        """The parts (row ids) of its space a table lacks at the precisions it has: the
        candidates using them fail, so a run says so before it starts. Empty by default."""
        return []

    @classmethod
    @abstractmethod
    def from_data(cls, data: dict[str, Any], space: SearchSpace) -> LatencyPredictor:
        """Rebuild (and refit) a predictor from `to_data()` output."""

    def save(self, path: str | Path) -> Path:
        """Write the predictor as a JSON data file (see `check_predictor_path`), making its
        folder; a `PredictorError` naming `path` where it cannot be written (the OS named
        only a parent folder, or the temporary file, as in "File exists: 'out'"), and the
        folders it made for it removed again (`removed_if_left_empty`). A table lacking parts
        of its space is refused, as `hwnas latency fit` refuses a profile lacking them: the
        file could not price every network (a partial profile's table was saved from Python)."""
        path = check_predictor_path(path)
        if missing := self.unpriced_parts():
            raise PredictorError(
                f"{path}: its table lacks {len(missing)} parts of space {self.space.name!r} "
                f"(e.g. {', '.join(missing[:3])}), so the file could not price every network; "
                "measure them into its profile (`hwnas latency profile` with the profile's "
                "settings resumes it, and with --retry-failed measures again those that failed "
                "to) and build the predictor again (nothing written)"
            )
        record = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "space": space_reference(self.space),
            "measured_on": self.measured_on,
            "int8_quantizer": self.int8_quantizer,
            **self.to_data(),
        }
        try:
            with removed_if_left_empty(path.parent):
                path.parent.mkdir(parents=True, exist_ok=True)
                with written_whole(path) as partial:  # a search reading it meanwhile reads
                    partial.write_text(json.dumps(record) + "\n", encoding="utf-8")  # old or new
        except OSError as e:
            raise PredictorError(
                f"{path}: cannot write the predictor there: {e.strerror}"
            ) from None
        return path


def check_predictor_path(path: str | Path) -> Path:
    """`path` as a predictor file may be written to: a `.json` name that is not a profile's
    metadata (writing over a profile's table or metadata would lose its measurements) nor
    any other file but a predictor (an exported architecture config was written over
    unsaid), in a folder that is not a file (`file_in_the_way`), of names its folder takes
    (`name_too_long`). A device or a pipe is refused unread: reading `/dev/zero` for what it
    holds took all memory."""
    from hwnas.predictors.profile import is_profile_metadata  # profile imports this module

    path = Path(path)
    if problem := name_too_long(path):  # is_dir gave the OS's bare error
        raise PredictorError(f"{path}: {problem}; give a shorter path (nothing written)")
    if path.is_dir():
        raise PredictorError(f"{path}: is a folder; give the predictor file's path (.json)")
    if (blocking := file_in_the_way(path.parent)) is not None:
        raise PredictorError(f"{path}: {blocking} is a file, not a folder; nothing written")
    if path.suffix.lower() != ".json":
        raise PredictorError(
            f"{path}: a predictor file's name ends in .json (a profile's table, say, would be "
            "lost under it); nothing written"
        )
    if problem := not_regular(path):
        raise PredictorError(f"{path}: {problem}; give the predictor file's path (nothing written)")
    if is_profile_metadata(path):
        raise PredictorError(
            f"{path}: that is a file of the profile {path.with_suffix('.csv')}; give the "
            "predictor another name (nothing written)"
        )
    if path.exists() and not _holds_a_predictor(path):
        raise PredictorError(
            f"{path}: exists and is no predictor file, which alone is written over; give the "
            "predictor another name, or remove the file (nothing written)"
        )
    return path


def _holds_a_predictor(path: Path) -> bool:
    """Whether the file `path` holds a saved predictor (`is_predictor_data`)."""
    return is_predictor_data(json_or_none(path))


def is_predictor_data(data: Any) -> bool:
    """Whether JSON `data` is a saved predictor (`LatencyPredictor.save`: its kind beside a
    space record)."""
    return isinstance(data, dict) and "kind" in data and isinstance(data.get("space"), dict)


def arch_list(archs: Sequence[Arch]) -> list[Arch]:
    """`archs` as a list; one `Arch` on its own (a mapping, whose keys would be taken for
    architectures) is refused."""
    if isinstance(archs, Arch):
        raise PredictorError("predict takes a list of architectures, not one: predict([arch])")
    return list(archs)


def distinct_archs(archs: Sequence[Arch]) -> int:
    """How many different architectures `archs` holds: a network measured again counts once,
    as it tells a model nothing about another."""
    return len({a.key for a in archs})


def flat_floats(values: Any) -> np.ndarray:
    """`values` as a flat float array, where they are integers or floats (numpy's or
    pandas' own); a TypeError for text such as "0.5", which numpy reads as a number, and for
    truth values: they are data read wrongly (a CSV column of strings), not latencies. A
    ValueError saying their shape where they are not one flat sequence (rows of different
    lengths, two columns, one number)."""
    try:
        given = np.asarray(values)
    except ValueError:  # numpy's "inhomogeneous shape"
        raise ValueError("ragged rows") from None
    if given.dtype.kind not in "iuf":
        raise TypeError(f"expected numbers, not {given.dtype} values")
    if given.ndim != 1:
        raise ValueError(f"an array of shape {given.shape}")
    return given.astype(float)


def check_training_data(archs: Sequence[Arch], latencies: Sequence[float]) -> np.ndarray:
    """`latencies` as floats, one per architecture, finite and positive; a `PredictorError`
    where they are not (an int past a float's range too: numpy's bare OverflowError; text
    and truth values: `flat_floats`), and a TypeError where an architecture is no
    `Arch` (a dict of its choices)."""
    try:
        y = flat_floats(latencies)
    except (TypeError, OverflowError):
        raise PredictorError(
            f"latencies must be finite and positive numbers (ms), not {latencies!r:.80}"
        ) from None
    except ValueError as e:  # two columns passed the length check, one number failed it
        raise PredictorError(
            f"latencies must be a flat sequence, one number per architecture, not {e}"
        ) from None
    if len(archs) != len(y):
        raise PredictorError(f"{len(archs)} architectures but {len(y)} latencies")
    if len(y) == 0:
        raise PredictorError("no training data: give at least one measured architecture")
    if (wrong := next((a for a in archs if not isinstance(a, Arch)), None)) is not None:
        raise TypeError(  # a dict failed on `.key`, naming no argument
            f"archs must be a list of Arch, not of {type(wrong).__name__} (space.arch(choices) "
            "makes one from a mapping of choices)"
        )
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise PredictorError("latencies must be finite and positive (ms)")
    return y


def check_latencies_differ(y: np.ndarray, which: str = "latencies") -> None:
    """Refuse measured latencies that are all equal (a coarse clock, one value given for
    every network): they say nothing about which architecture is faster, and a model fitted
    on them predicts one value for every network, or ranks them by what it holds beside
    them (a table, other devices), not by anything measured."""
    if np.ptp(y) == 0:
        raise PredictorError(
            f"the {which} are all equal: they say nothing about which architecture is "
            "faster; measure architectures that differ"
        )
