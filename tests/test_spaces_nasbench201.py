"""The NAS-Bench-201 cell space: size, cell strings, the official `arch_idx` order."""

from __future__ import annotations

import gzip
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from benchdata import NB201_TABLE, needs_nb201

from hwnas.spaces import Arch, SpaceError, get_space
from hwnas.spaces.nasbench201 import EDGES, OPS, without_dead_ops

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
        (CELL.replace("skip_connect~2|", "skip_connect~1|"), r"edge 3<-1 twice"),
        (CELL + "+|", "not a NAS-Bench-201 cell string"),  # a fourth, empty node
    ],
)
def test_bad_cell_strings_are_space_errors(space, text, message):
    with pytest.raises(SpaceError, match=message):
        space.from_string(text)


@pytest.mark.parametrize("text", [None, 3])
def test_a_cell_string_that_is_not_text_is_a_type_error_naming_the_argument(space, text):
    """Taken, it failed on `.strip` with an AttributeError naming no argument."""
    with pytest.raises(TypeError, match=rf"^text must be a NAS-Bench-201 cell string, not {text}"):
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


@needs_nb201
def test_enumeration_reproduces_the_official_arch_idx_order(space):
    with gzip.open(NB201_TABLE, "rt") as f:
        table = pd.read_csv(f, usecols=["arch_idx", "arch_str"]).sort_values("arch_idx")
    assert table["arch_idx"].tolist() == list(range(15625))
    strings = [space.to_string(a) for a in space.enumerate()]
    assert strings == table["arch_str"].tolist()
    sample = table.sample(200, random_state=0)
    for idx, text in zip(sample["arch_idx"], sample["arch_str"]):
        assert space.index(space.from_string(text)) == idx


@pytest.fixture(scope="module")
def pruned():
    return get_space("nasbench201-pruned")


def test_dead_ops_are_those_on_no_path_from_the_input_to_the_output():
    ops = dict.fromkeys(("1<-0", "2<-0", "2<-1", "3<-0"), "nor_conv_3x3")
    # node 2 reaches no path to the output, so its ops and node 1's (which only feed it) are dead
    cut = without_dead_ops({**ops, "3<-1": "none", "3<-2": "none"})
    assert cut == {**dict.fromkeys(EDGES, "none"), "3<-0": "nor_conv_3x3"}
    # node 1 is fed nothing, so whatever leaves it is dead too
    fed_nothing = {**ops, "1<-0": "none", "2<-1": "avg_pool_3x3", "3<-1": "nor_conv_1x1"}
    assert without_dead_ops({**fed_nothing, "3<-2": "skip_connect"}) == {
        **fed_nothing,
        "2<-1": "none",
        "3<-1": "none",
        "3<-2": "skip_connect",
    }
    alive = {**ops, "3<-1": "skip_connect", "3<-2": "avg_pool_3x3"}
    assert without_dead_ops(alive) == alive


def test_pruned_space_holds_each_cell_without_dead_ops_once(space, pruned):
    cells = list(pruned.enumerate())
    assert pruned.cardinality == len(cells) == len({a.key for a in cells}) == 9445
    assert all(without_dead_ops(dict(a)) == dict(a) for a in cells)
    assert [pruned.index(a) for a in cells] == sorted(pruned.index(a) for a in cells)
    twins = {tuple(without_dead_ops(dict(a)).values()) for a in space.enumerate()}
    assert twins == {tuple(a.values()) for a in cells}
    assert pruned.describe()["dead_ops"] == "prune" and space.describe()["dead_ops"] == "keep"


def test_live_gives_the_twin_without_dead_ops_in_the_space_asked(space, pruned):
    ops = {**dict.fromkeys(EDGES, "nor_conv_3x3"), "3<-1": "none", "3<-2": "none"}
    twin = space.live(space.arch(ops))
    assert dict(twin) == {**dict.fromkeys(EDGES, "none"), "3<-0": "nor_conv_3x3"}
    assert space.validate(twin) is twin  # a cell of the full space too
    cell = pruned.sample(3)
    assert pruned.live(cell) == cell and space.live(space.arch(dict(cell))) == space.arch(cell)
    conv1d = get_space("conv1d")
    assert conv1d.live(arch := conv1d.sample(0)) is arch  # a space without dead ops
    with pytest.raises(SpaceError):
        space.live(conv1d.sample(0))


def test_every_pruned_space_object_shares_one_list_of_cells(pruned):
    """Listing the 9445 cells without dead ops took 0.7 s, and each space object (every
    `get_space`, every `with_input`) listed them again."""
    other = get_space("nasbench201-pruned").with_input([1, 8, 8])
    assert other is not pruned and other._cells is pruned._cells


def test_pruned_space_proposes_only_cells_without_dead_ops(pruned):
    rng = np.random.default_rng(0)
    archs = [pruned.sample(rng) for _ in range(300)]
    children = [pruned.mutate(a, rng) for a in archs] + [
        pruned.crossover(a, b, rng) for a, b in zip(archs, archs[1:])
    ]
    for arch in archs + children:
        assert pruned.validate(arch) is arch
    assert all(c != a for c, a in zip(children, archs))  # a mutation changes the cell


def test_pruned_space_samples_its_cells_uniformly(pruned):
    """Drawing each edge's op and then pruning would draw the small cells many cells collapse
    into (the empty cell about 1 in 46) far more often than 1 in 9445."""
    rng = np.random.default_rng(0)
    counts = Counter(pruned.sample(rng).key for _ in range(3 * pruned.cardinality))
    assert max(counts.values()) <= 15  # 3 expected per cell; the empty cell would be ~620
    uniform = pruned.cardinality * (1 - (1 - 1 / pruned.cardinality) ** (3 * pruned.cardinality))
    assert len(counts) == pytest.approx(uniform, rel=0.02)


def test_pruned_mutation_grows_a_path_to_make_a_dead_position_live(pruned):
    """A new op where it would be dead comes with the fewest ops that put it on a path (an edge
    from the input into its source, one from its target to the output), so a single-edge cell
    can grow: pruning the op alone would never leave the single-edge cells."""
    rng = np.random.default_rng(2)
    for _ in range(200):
        parent = pruned.sample(rng)
        child = pruned.mutate(parent, rng)
        changed = [e for e in EDGES if child[e] != parent[e]]
        removed = [e for e in changed if child[e] == "none"]
        assert changed and (removed == changed or not removed), (dict(parent), dict(child))
        if not removed:  # one edge set to another op, and the none edges that put it on a path
            assert sum(parent[e] != "none" for e in changed) <= 1 and len(changed) <= 3
    single = pruned.canonical({**dict.fromkeys(EDGES, "none"), "3<-0": "nor_conv_3x3"})
    reached = {c.key: c for c in (pruned.mutate(single, rng) for _ in range(300))}.values()
    assert any(c["3<-1"] != "none" for c in reached) and any(c["2<-1"] != "none" for c in reached)


def test_pruned_space_refuses_a_cell_with_dead_ops_and_canonical_removes_them(space, pruned):
    dead = space.from_string(CELL).replace(**{"3<-1": "none", "3<-2": "none"})
    with pytest.raises(SpaceError, match=r"dead_ops: prune.*\['1<-0', '2<-0', '2<-1'\]"):
        pruned.validate(Arch(pruned.name, pruned.version, dict(dead)))
    twin = pruned.canonical(dict(dead))
    assert dict(twin) == {**dict.fromkeys(EDGES, "none"), "3<-0": "skip_connect"}
    assert pruned.from_string(space.to_string(dead)) == twin


def test_a_cell_and_its_twin_without_dead_ops_compute_the_same(space, pruned):
    """Exactly the same while batch norm shifts are zero (as built): a convolution fed only
    zeros adds its shift, a constant per channel, once trained."""
    rng = np.random.default_rng(1)
    pairs = [(a, pruned.canonical(dict(a))) for a in (space.sample(rng) for _ in range(60))]
    pairs = [(a, t) for a, t in pairs if dict(a) != dict(t)]
    assert len(pairs) >= 10
    x = torch.randn(4, 3, 8, 8)
    for arch, twin in pairs[:10]:
        torch.manual_seed(0)
        full = space.build(arch, input_shape=(3, 8, 8))
        small = pruned.build(twin, input_shape=(3, 8, 8))
        assert not small.load_state_dict(full.state_dict(), strict=False).missing_keys
        assert torch.allclose(small(x), full(x), atol=1e-5), (dict(arch), dict(twin))
        assert pruned.cost(twin).params <= space.cost(arch).params


def test_samples_draw_every_op_on_every_edge(space):
    """An off-by-one that never drew the last op (avg_pool_3x3) passed every test."""
    rng = np.random.default_rng(0)
    samples = [space.sample(rng) for _ in range(300)]
    assert all({s[e] for s in samples} == set(OPS) for e in EDGES)


def test_the_same_input_and_classes_give_the_space_itself():
    """As a MetaFormer space does: `with_input` of its own shape and class count (as a list,
    numpy integers) made a new space each time, missing the caches kept per space."""
    space = get_space("nasbench201")
    shape = [np.int64(n) for n in space.input_shape]
    assert space.with_input(shape, np.int64(space.num_classes)) is space
    assert space.with_input(num_classes=space.num_classes) is space
    other = space.with_input([3, 16, 16])
    assert other is not space and other.input_shape == (3, 16, 16)
    assert other.num_classes == space.num_classes


def test_mutations_change_every_edge_to_every_other_op(space):
    """A mutation is one edge set to another op, any edge and any op: an off-by-one that never
    picked the last edge (3<-2) left part of the space unreachable by evolution and passed
    every test."""
    rng = np.random.default_rng(0)
    parent = space.from_string(CELL)
    reached = {e: set() for e in EDGES}
    for _ in range(400):
        child = space.mutate(parent, rng)
        (edge,) = [e for e in EDGES if child[e] != parent[e]]
        reached[edge].add(child[edge])
    assert reached == {e: set(OPS) - {parent[e]} for e in EDGES}
