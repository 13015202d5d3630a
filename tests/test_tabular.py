"""The tabular evaluator returns the published NAS-Bench-201 values (skips without the data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from benchdata import needs_nb201

from hwnas.evaluators import CompositeEvaluator, Dataset, get_evaluator
from hwnas.evaluators.tabular import TabularEvaluator, benchdata_dir, load_nb201, table_digest
from hwnas.evaluators.train import TrainEvaluator
from hwnas.spaces import get_space

BEST_CIFAR10 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench201")


@pytest.fixture(scope="module")
def evaluator(space):
    return TabularEvaluator(space, cost=False)


@needs_nb201
def test_published_optimum(space, evaluator):
    arch = space.from_string(BEST_CIFAR10)
    assert space.index(arch) == 6111
    metrics = evaluator.evaluate(arch)
    assert metrics.ok
    assert metrics["test_accuracy"] == pytest.approx(94.3733, abs=1e-4)
    assert metrics["accuracy"] == pytest.approx(91.6067, abs=1e-4)
    assert metrics["hw_fpga_latency_ms"] == pytest.approx(6.67856, abs=1e-5)
    assert metrics["lat_fpga_ms"] == pytest.approx(metrics["hw_fpga_latency_ms"])
    assert metrics["train_time_s"] > 0


@needs_nb201
def test_values_match_table_rows(space, evaluator):
    table = load_nb201()
    for idx in (0, 1, 9930, 15624):
        arch = space.from_string(table.loc[idx, "arch_str"])
        metrics = evaluator.evaluate(arch)
        assert metrics["test_accuracy"] == table.loc[idx, "cifar10_test_200ep"]
        assert metrics["hw_pixel3_latency_ms"] == table.loc[idx, "hw_pixel3_latency_ms"]
        assert metrics["lat_raspi4_ms"] == table.loc[idx, "lat_raspi4_ms"]


@needs_nb201
def test_a_column_as_a_known_model(space, evaluator):
    table = load_nb201()
    archs = [space.from_string(table.loc[idx, "arch_str"]) for idx in (15624, 0, 9930)]
    latency = evaluator.predictor("hw_pixel3_latency_ms")
    assert (
        latency.predict(archs).tolist()
        == table.loc[[15624, 0, 9930], "hw_pixel3_latency_ms"].tolist()
    )
    with pytest.raises(ValueError, match="metric: 'hw_tpu_latency_ms' is not in the table"):
        evaluator.predictor("hw_tpu_latency_ms")


@needs_nb201
def test_custom_metrics_and_cost(space):
    evaluator = TabularEvaluator(space, metrics={"accuracy": "cifar100_test_200ep"}, latency=False)
    arch = space.from_string(BEST_CIFAR10)
    metrics = evaluator.evaluate(arch)
    assert metrics["accuracy"] == pytest.approx(73.22, abs=1e-2)
    assert "test_accuracy" not in metrics and "lat_fpga_ms" not in metrics
    assert metrics["params"] == space.cost(arch).params
    for listed in (evaluator, TabularEvaluator(space, cost=False)):  # what a run checks
        assert sorted(listed.metric_names) == sorted(listed.evaluate(arch))


@needs_nb201
def test_bad_input_is_named(space, tmp_path):
    with pytest.raises(ValueError, match="no_such_column"):
        TabularEvaluator(space, metrics={"accuracy": "no_such_column"})
    with pytest.raises(ValueError, match="not numbers: accuracy: 'arch_str'"):  # was numpy's
        TabularEvaluator(space, metrics={"accuracy": "arch_str"}, cost=False)  # words alone
    with pytest.raises(FileNotFoundError, match="nb201.csv.gz"):
        TabularEvaluator(space, path=tmp_path)
    with pytest.raises(TypeError, match="nasbench201"):
        TabularEvaluator(get_space("conv1d"))


@needs_nb201
def test_a_space_unlike_the_tables_networks_is_refused(space):
    # was: CIFAR-10 results reported for a 1-channel 16x16 network with 4 classes
    other = get_space("nasbench201-pruned", input_shape=(1, 16, 16), num_classes=4)
    with pytest.raises(
        ValueError, match=r"input \(1, 16, 16\) \(the table's: \(3, 32, 32\)\); classes 4"
    ):
        TabularEvaluator(other)
    assert TabularEvaluator(get_space("nasbench201-pruned"), cost=False).space.cardinality == 9445


@needs_nb201
def test_an_arch_of_another_space_is_a_failed_result(evaluator):
    metrics = evaluator.evaluate(get_space("conv1d").sample(0))
    assert not metrics.ok and "arch is from space 'conv1d'" in metrics.reason


@needs_nb201
def test_metric_names_that_clash_with_the_costs_are_refused(space):
    with pytest.raises(ValueError, match=r"metrics: \['params'\] are also the analytic costs"):
        TabularEvaluator(space, metrics={"params": "cifar10_test_200ep"})
    assert TabularEvaluator(space, metrics={"params": "cifar10_test_200ep"}, cost=False)


@needs_nb201
def test_the_loaded_table_is_the_callers_own():
    table = load_nb201(latency=False)
    table["cifar10_test_200ep"] = -1.0
    assert (load_nb201(latency=False)["cifar10_test_200ep"] > 0).all()


@needs_nb201
def test_a_composite_refuses_two_parts_reporting_one_metric_differently(space, evaluator):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 3, 32, 32)).astype(np.float32), np.arange(24) % 8
    data = Dataset("noise", x[:8], y[:8], x[8:16], y[8:16], x[16:], y[16:], num_classes=10)
    with pytest.warns(UserWarning, match="validation split has 8 samples"):  # as it should
        trained = TrainEvaluator(space, data, steps=1, batch_size=8)
    arch = space.from_string(BEST_CIFAR10)
    metrics = CompositeEvaluator([trained, evaluator]).evaluate(arch)
    assert not metrics.ok
    assert metrics.reason.startswith(
        "TrainEvaluator and TabularEvaluator both report ['accuracy', 'test_accuracy', "
        "'train_time_s']"
    )


def test_a_table_with_a_cell_missing_or_repeated_is_refused(tmp_path):
    """Rows are looked up by position: a table with a gap would give every later cell the
    numbers of the cell after it, and one with a repeat those of the cell before."""
    for name, cells in (("gap", range(1, 15625)), ("repeat", [0, *range(15624)])):
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"arch_idx": cells, "cifar10_test_200ep": 90.0}).to_csv(path, index=False)
        with pytest.raises(ValueError, match="arch_idx must cover 0..15624 exactly once"):
            load_nb201(path, latency=False)


def _official_table(space, **columns) -> pd.DataFrame:
    """A table of every cell in the official order: `arch_idx`, its `arch_str` and `columns`."""
    strings = [space.to_string(a) for a in space.enumerate()]
    return pd.DataFrame({"arch_idx": range(15625), "arch_str": strings, **columns})


def test_a_table_whose_cell_strings_disagree_with_arch_idx_is_refused(space, tmp_path):
    """A table numbered in another order (its own enumeration, sorted strings) would give every
    cell another cell's numbers: its `arch_str` must be the official cell of each `arch_idx`."""
    table, path = _official_table(space, acc=90.0), tmp_path / "own.csv"
    table.to_csv(path, index=False)
    assert load_nb201(path, latency=False)["arch_str"].tolist() == table.arch_str.tolist()
    path = tmp_path / "sorted.csv"  # another file: tables are cached by path
    table.assign(arch_str=sorted(table.arch_str)).to_csv(path, index=False)
    with pytest.raises(
        ValueError,
        match=r"sorted.csv: arch_str of arch_idx 0 is '\|avg_pool_3x3~0\|\+"
        r"\|avg_pool_3x3~0\|avg_pool_3x3~1\|\+.*, not the official cell 0 ",
    ):
        load_nb201(path, latency=False)


def test_a_device_latency_marked_unmeasured_is_missing(space, tmp_path):
    """HW-NAS-Bench marks a cell with no valid measurement -1: read as a latency, it was the
    device's fastest network, on the Pareto front of any search against that device."""
    accuracies = pd.DataFrame({"arch_idx": range(15625), "acc": 90.0})
    accuracies.to_csv(tmp_path / "nb201.csv.gz", index=False)
    latencies = _official_table(space, raspi4=5.0)
    strings = latencies.arch_str
    latencies.loc[7, "raspi4"] = -1.0
    latencies.loc[9, "raspi4"] = 0.0  # a measurement (rounded), not the mark: kept
    latencies.to_csv(tmp_path / "nb201_latency_24devices.csv.gz", index=False)
    evaluator = TabularEvaluator(space, path=tmp_path, metrics={"accuracy": "acc"}, cost=False)
    assert evaluator.evaluate(space.from_string(strings[8]))["lat_raspi4_ms"] == 5.0
    assert evaluator.evaluate(space.from_string(strings[9]))["lat_raspi4_ms"] == 0.0
    assert np.isnan(evaluator.evaluate(space.from_string(strings[7]))["lat_raspi4_ms"])


def test_a_latency_table_with_a_text_column_is_refused_naming_its_value(space, tmp_path):
    """The check for HW-NAS-Bench's -1 compared a text column with 0, a TypeError naming
    neither file nor value, where the evaluator's ValueError named the value."""
    pd.DataFrame({"arch_idx": range(15625), "acc": 90.0}).to_csv(
        tmp_path / "nb201.csv.gz", index=False
    )
    latencies = _official_table(space, raspi4=5.0, source="mine")
    latencies.to_csv(tmp_path / "nb201_latency_24devices.csv.gz", index=False)
    with pytest.raises(ValueError, match="tabular: could not convert string to float: 'mine'"):
        get_evaluator("tabular", space, path=tmp_path, metrics={"accuracy": "acc"}, cost=False)


def test_benchdata_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HWNAS_BENCHDATA", str(tmp_path))
    assert benchdata_dir() == tmp_path
    monkeypatch.setenv("HWNAS_BENCHDATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="HWNAS_BENCHDATA"):
        benchdata_dir()


def test_an_installed_hwnas_asks_for_hwnas_benchdata(monkeypatch, tmp_path):
    """Installed from a wheel, the package sits in site-packages: "beside the repository"
    would be a folder inside the Python installation, never the data's."""
    import hwnas.evaluators.tabular as tabular

    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    monkeypatch.setattr(tabular, "__file__", str(site / "hwnas" / "evaluators" / "tabular.py"))
    monkeypatch.delenv("HWNAS_BENCHDATA", raising=False)
    with pytest.raises(FileNotFoundError) as e:
        benchdata_dir()
    assert str(e.value).startswith("no benchmark data folder: set HWNAS_BENCHDATA")
    assert str(site.parent / "shared") not in str(e.value)  # python3.11/shared/benchdata


@needs_nb201
def test_a_notebook_shows_the_tabular_evaluator_in_one_line(evaluator):
    """Its space and the metrics it reads (it showed `<hwnas.evaluators.tabular.
    TabularEvaluator object at 0x...>`)."""
    shown = "<TabularEvaluator space='nasbench201' metrics=['accuracy', 'test_accuracy', "
    assert repr(evaluator) == shown + "'train_time_s']>"


@needs_nb201
def test_a_new_cells_cost_is_looked_up_as_the_guide_says(space):
    """The guide and the evaluator's docstring said `cost` took about 0.1 s per new cell, as
    it did before the cost was counted per part and cached: once a process has counted the
    few distinct parts (an edge's op at a stage's shape), a new cell's cost is only look-ups
    (6 589-9 086 cells a second in docs/benchmarks.md's table of the spaces' speed), which
    both now say."""
    from hwnas.spaces.nasbench201 import EDGES, OPS
    from hwnas.spaces.nasbench201_net import edge_cost

    evaluator = TabularEvaluator(space, latency=False)
    cells = [space.sample(np.random.default_rng(seed)) for seed in range(200)]
    before = edge_cost.cache_info()
    for cell in cells:
        evaluator.evaluate(cell)
    after = edge_cost.cache_info()
    parts = len(OPS) * 3  # each op at each stage's shape
    assert after.misses - before.misses <= parts
    new = len({cell.key for cell in cells})  # a cell drawn twice is counted once
    assert after.hits - before.hits >= new * len(EDGES) * 3 - parts
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide.md").read_text()
    for text in (guide, " ".join(TabularEvaluator.__doc__.split())):
        assert "then under a millisecond per new cell" in text


def test_a_tables_rows_may_come_in_any_order_with_padded_cell_strings(space, tmp_path):
    """Rows are found by `arch_idx`, not by their place in the file: a table saved in another
    row order (sorted by accuracy, say), its cell strings padded with blanks, reads as the
    official one."""
    table = _official_table(space, acc=np.arange(15625.0))
    shuffled = table.sample(frac=1.0, random_state=0).assign(arch_str=" " + table.arch_str + " ")
    shuffled.to_csv(tmp_path / "nb201.csv.gz", index=False)
    evaluator = TabularEvaluator(space, path=tmp_path, metrics={"accuracy": "acc"}, cost=False)
    for index in (0, 7, 15624):
        assert evaluator.evaluate(space.from_string(table.arch_str[index]))["accuracy"] == index


def test_a_table_changed_on_disk_is_read_again(space, tmp_path):
    """Tables are cached, but by their file's time and size: a notebook that edits its table
    and builds the evaluator again gets the new numbers, not the old ones."""
    path = tmp_path / "nb201.csv.gz"
    _official_table(space, acc=90.0).to_csv(path, index=False)
    assert load_nb201(path, latency=False)["acc"].eq(90.0).all()
    # another size too, where times are coarse
    _official_table(space, acc=12.25).to_csv(path, index=False)
    assert load_nb201(path, latency=False)["acc"].eq(12.25).all()


def test_a_tables_digest_changes_with_its_column_names(space, tmp_path):
    """A run is resumed only on the tables it began with: two columns' names swapped (the
    validation and the test accuracy) are other metrics, though every row holds the same
    numbers."""
    first, swapped = tmp_path / "first.csv", tmp_path / "swapped.csv"
    _official_table(space, val=90.0, test=80.0).to_csv(first, index=False)
    pd.read_csv(first).rename(columns={"val": "test", "test": "val"}).to_csv(swapped, index=False)
    assert table_digest(first) != table_digest(swapped)
