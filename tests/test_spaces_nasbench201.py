"""The NAS-Bench-201 cell space: size, cell strings, the official `arch_idx` order."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hwnas.spaces import Arch, SpaceError, get_space

BENCHDATA = Path(
    os.environ.get(
        "HWNAS_BENCHDATA", Path(__file__).resolve().parents[1].parent / "shared" / "benchdata"
    )
)
NB201_TABLE = BENCHDATA / "nb201.csv.gz"
CELL = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench201")


def test_cardinality_and_enumeration(space):
    assert space.cardinality == 15625 == 5**6
    archs = list(space.enumerate())
    assert len(archs) == 15625 == len({a.key for a in archs})
    assert all(space.validate(a) is a for a in archs[::97])
    assert [space.index(a) for a in archs[:500]] == list(range(500))
    assert space.index(archs[-1]) == 15624


def test_cell_string_round_trip(space):
    arch = space.from_string(CELL)
    assert arch["2<-1"] == "avg_pool_3x3" and arch["3<-2"] == "skip_connect"
    assert space.to_string(arch) == CELL
    rng = np.random.default_rng(0)
    for _ in range(500):
        a = space.sample(rng)
        assert space.from_string(space.to_string(a)) == a


def test_encoding_is_edge_one_hot_then_paths(space):
    arch = space.from_string(CELL)
    code = space.encode(arch)
    assert code.shape == (30 + 4 + 16 + 16 + 64,)
    assert code[:30].sum() == 6  # one op per edge
    # paths 0-3 (skip), 0-1-3 (conv3x3, conv3x3), 0-2-3 (conv3x3, skip), 0-1-2-3 (conv3x3,
    # avg_pool, skip); live ops index skip 0, conv1x1 1, conv3x3 2, avg_pool 3
    assert np.flatnonzero(code[30:]).tolist() == [
        0,
        4 + 2 * 4 + 2,
        20 + 2 * 4 + 0,
        36 + 2 * 16 + 3 * 4 + 0,
    ]
    cut = arch.replace(**{"3<-2": "none"})  # cuts the two paths through edge 3<-2
    assert np.flatnonzero(space.encode(cut)[30:]).tolist() == [0, 4 + 2 * 4 + 2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a NAS-Bench-201 cell string: ''"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "not a NAS-Bench-201 cell string"),
        (CELL.replace("nor_conv_3x3~0", "conv_5x5~0", 1), "1<-0: 'conv_5x5' not in"),
        (CELL.replace("~2|", "~1|"), "not a NAS-Bench-201 cell string"),
    ],
)
def test_bad_cell_strings_are_space_errors(space, text, message):
    with pytest.raises(SpaceError, match=message):
        space.from_string(text)


def test_bad_archs_are_rejected(space):
    arch = space.from_string(CELL)
    with pytest.raises(SpaceError, match="2<-1"):
        space.validate(arch.replace(**{"2<-1": "conv_7x7"}))
    with pytest.raises(SpaceError, match="missing"):
        space.canonical({"1<-0": "none"})
    with pytest.raises(SpaceError, match="conv2d"):
        space.validate(Arch("conv2d", 1, dict(arch)))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_classes": 0}, "classes"),  # was silently the space's 10 classes
        ({"num_classes": 1}, "classes"),
        ({"num_classes": 2.5}, "classes"),
        ({"input_shape": (0, 32, 32)}, "input.channels"),
        ({"input_shape": (3,)}, "input"),
    ],
)
def test_build_overrides_are_validated_like_get_space(space, overrides, field):
    arch = space.from_string(CELL)
    with pytest.raises(SpaceError, match=field):
        space.build(arch, **overrides)
    with pytest.raises(SpaceError, match=field):
        get_space("nasbench201", **overrides)
    model = space.build(arch, input_shape=(1, 9, 9), num_classes=2)
    assert model(torch.randn(2, 1, 9, 9)).shape == (2, 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [("channels", 10**9), ("cells_per_stage", 10**6), ("classes", 10**9), ("version", 0)],
)
def test_spec_sizes_no_network_could_have_are_refused(tmp_path, field, value):
    path = tmp_path / "nb.yaml"
    path.write_text(f"name: nb\nkind: nasbench201\n{field}: {value}\n")
    with pytest.raises(SpaceError, match=rf"nb.yaml: line 3: {field}:"):
        get_space(path)


@pytest.mark.skipif(not NB201_TABLE.exists(), reason=f"{NB201_TABLE} is absent")
def test_enumeration_reproduces_the_official_arch_idx_order(space):
    with gzip.open(NB201_TABLE, "rt") as f:
        table = pd.read_csv(f, usecols=["arch_idx", "arch_str"]).sort_values("arch_idx")
    assert table["arch_idx"].tolist() == list(range(15625))
    strings = [space.to_string(a) for a in space.enumerate()]
    assert strings == table["arch_str"].tolist()
    sample = table.sample(200, random_state=0)
    for idx, text in zip(sample["arch_idx"], sample["arch_str"]):
        assert space.index(space.from_string(text)) == idx
