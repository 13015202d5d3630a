"""TransferPredictor: beats a FLOPs ranking on real devices (benchdata), is deterministic,
saves as data, and names what it cannot predict."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from benchdata import BENCHDATA
from scipy.stats import spearmanr

from hwnas.predictors import PredictorError, get_predictor, load_predictor
from hwnas.predictors.transfer import TransferPredictor
from hwnas.spaces import get_space

LATENCIES = BENCHDATA / "nb201_latency_24devices.csv.gz"
SOURCES = ["1080ti_1", "1080ti_256", "silver_4114", "samsung_a50", "pixel3"]


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench201")


@pytest.fixture(scope="module")
def table(space):
    """A seeded sample of 600 NB201 rows: their Arch, source latencies and target devices."""
    if not LATENCIES.is_file():
        pytest.skip(f"benchmark data not found at {LATENCIES} (set HWNAS_BENCHDATA)")
    rows = pd.read_csv(LATENCIES).sample(600, random_state=0)
    rows["arch"] = [space.from_string(s) for s in rows["arch_str"]]
    return rows.set_index(rows["arch"].map(lambda a: a.key))


@pytest.fixture(scope="module")
def small(space):
    """A small made-up source table (no benchdata needed): latency grows with conv ops."""
    archs = list(dict.fromkeys(space.sample(i) for i in range(40)))
    convs = np.array([sum(op.startswith("nor_conv") for op in a.values()) for a in archs])
    pools = np.array([sum(op == "avg_pool_3x3" for op in a.values()) for a in archs])
    sources = pd.DataFrame(
        {"cpu": 2.0 + 1.5 * convs + 0.2 * pools, "gpu": 1.0 + 0.3 * convs + 0.1 * pools},
        index=[a.key for a in archs],
    )
    target = 3.0 + 2.0 * convs + 0.5 * pools + 0.1 * (np.arange(len(archs)) % 3)
    return archs, sources, target


def test_transfer_beats_a_flops_ranking_on_unseen_devices(space, table):
    train, held_out = table.iloc[:20], table.iloc[570:]  # 30 held-out architectures
    flops = [space.cost(a).macs for a in held_out["arch"]]
    for device in ("eyeriss", "raspi4"):  # two of HELP's unseen test devices
        predictor = TransferPredictor(table[SOURCES], space)
        predictor.fit(list(train["arch"]), train[device])
        predicted = predictor.predict(list(held_out["arch"]))
        rho_transfer = spearmanr(predicted, held_out[device]).statistic
        rho_flops = spearmanr(flops, held_out[device]).statistic
        assert rho_transfer > rho_flops + 0.02, (device, rho_transfer, rho_flops)


def test_fit_predict_is_deterministic_and_survives_save_load(space, small, tmp_path):
    archs, sources, target = small
    first = TransferPredictor(sources, space).fit(archs[:12], target[:12])
    second = TransferPredictor(sources, space).fit(archs[:12], target[:12])
    expected = first.predict(archs)
    assert np.array_equal(expected, second.predict(archs))
    assert np.all(expected > 0) and set(first.member_weights) == {"sources", "additive"}
    assert sum(first.member_weights.values()) == pytest.approx(1.0)

    path = first.save(tmp_path / "transfer.json")
    data = json.loads(path.read_text())
    assert data["kind"] == "transfer" and len(data["train"]["archs"]) == 12
    assert np.array_equal(load_predictor(path).predict(archs), expected)


def test_the_member_that_explains_the_device_gets_the_weight(space, small):
    """Latency that is exactly a sum of per-op costs, with sources unrelated to it: the
    additive model (its leave-one-out error near 0) carries the prediction."""
    archs, sources, _ = small
    convs = np.array([sum(op.startswith("nor_conv") for op in a.values()) for a in archs])
    target = 3.0 + 2.0 * convs
    rng = np.random.default_rng(0)
    unrelated = pd.DataFrame(rng.uniform(1, 5, sources.shape), sources.index, sources.columns)
    predictor = TransferPredictor(unrelated, space).fit(archs[:20], target[:20])
    assert predictor.member_weights["additive"] > 0.9
    np.testing.assert_allclose(predictor.predict(archs[20:]), target[20:], rtol=0.05)


def test_the_ridge_penalty_leaves_the_devices_overall_speed_alone(small):
    """The penalty shrinks the sources' coefficients, not the intercept: fitted on a
    device 10x slower than a source, its log predictions of the fitted networks are right
    on average, and every prediction is within 15 %."""
    archs, sources, _ = small
    target = 10 * sources["cpu"].to_numpy()
    predictor = TransferPredictor(sources).fit(archs[:12], target[:12])
    fitted = np.log(predictor.predict(archs[:12]))
    assert fitted.mean() == pytest.approx(np.log(target[:12]).mean())
    np.testing.assert_allclose(predictor.predict(archs[12:]), target[12:], rtol=0.15)


def test_get_predictor_builds_it_with_the_space(space, small):
    archs, sources, target = small
    predictor = get_predictor("transfer", space, sources=sources, weight_power=2.0)
    assert isinstance(predictor, TransferPredictor) and predictor.space is space
    assert predictor.fit(archs[:10], target[:10]).predict(archs[10:]).shape == (len(archs) - 10,)


def test_missing_keys_are_named_unless_fallback(space, small):
    archs, sources, target = small
    unknown = next(
        a for a in (space.sample(1000 + i) for i in range(50)) if a.key not in sources.index
    )
    with pytest.raises(PredictorError, match=unknown.key):
        TransferPredictor(sources).fit([*archs[:5], unknown], [*target[:5], 4.0])
    predictor = TransferPredictor(sources, space).fit(archs[:10], target[:10])
    with pytest.raises(
        PredictorError, match=f"1 architectures have no row in sources.*{unknown.key}"
    ):
        predictor.predict([archs[0], unknown])
    # sources indexed otherwise (NB201's arch_idx) are told what the index must hold
    by_index = sources.reset_index(drop=True)
    with pytest.raises(PredictorError, match=r"index must hold each architecture's `Arch.key`"):
        TransferPredictor(by_index).fit(archs[:5], target[:5])
    fallback = TransferPredictor(sources, space, fallback=True).fit(archs[:10], target[:10])
    both = fallback.predict([archs[0], unknown])
    assert both[0] == pytest.approx(predictor.predict([archs[0]])[0]) and both[1] > 0


def test_bad_sources_and_settings_are_refused(space, small):
    archs, sources, _ = small
    broken = sources.copy()
    broken.iloc[3, 1] = 0.0
    with pytest.raises(PredictorError, match="column 'gpu'"):
        TransferPredictor(broken)
    with pytest.raises(PredictorError, match="DataFrame"):
        TransferPredictor(sources.to_numpy())
    with pytest.raises(PredictorError, match=r"columns \['flat'\] are constant"):
        TransferPredictor(sources.assign(flat=3.0))  # not an SVD that did not converge
    with pytest.raises(PredictorError, match="sources_alpha"):
        TransferPredictor(sources, sources_alpha=-1)
    with pytest.raises(PredictorError, match="weight_power: must be a finite number >= 0"):
        TransferPredictor(sources, weight_power=10**400)  # numpy's bare TypeError before
    with pytest.raises(PredictorError, match="fallback: needs a space"):
        TransferPredictor(sources, fallback=True)
    with pytest.raises(PredictorError, match="not fitted"):
        TransferPredictor(sources).predict(archs[:2])


def test_fewer_than_two_distinct_measurements_are_refused(space, small):
    archs, sources, target = small
    with pytest.raises(PredictorError, match="at least 2"):
        TransferPredictor(sources, space).fit(archs[:1], target[:1])
    with pytest.raises(PredictorError, match="at least 2"):
        TransferPredictor(sources, space).fit([archs[0]] * 4, [target[0]] * 4)
    with pytest.raises(PredictorError, match="all equal"):
        TransferPredictor(sources, space).fit(archs[:4], [5.0] * 4)


def test_a_fit_on_fewer_than_ten_measurements_is_warned_about(space, small, tmp_path):
    """Fitted on 2 to 9 measured architectures, a transfer predictor's ranks vary widely from
    draw to draw, down to reverse order on NAS-Bench-201's unseen devices, and it said
    nothing; a network measured twice counts once, and loading the file does not warn again."""
    archs, sources, target = small
    with pytest.warns(UserWarning, match="fitted on only 5 different measured architectures"):
        predictor = TransferPredictor(sources, space).fit(
            [*archs[:5], archs[0]], [*target[:5], target[0] * 1.01]
        )
    saved = predictor.save(tmp_path / "transfer.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned of when it was fitted, not at every load
        loaded = load_predictor(saved)
    np.testing.assert_array_equal(loaded.predict(archs), predictor.predict(archs))


def test_a_source_that_is_the_target_itself_is_warned_about(space, small):
    archs, sources, target = small
    leaked = sources.assign(target=target)  # the device being fitted is also a source
    with pytest.warns(UserWarning, match="column 'target' holds exactly the latencies being"):
        TransferPredictor(leaked, space).fit(archs[:10], target[:10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the honest table: no warning
        TransferPredictor(sources, space).fit(archs[:10], target[:10])


def test_a_network_measured_twice_is_held_out_whole(space, small):
    """Holding out the last measurements refitted on the others, and a network measured again
    among the held-out was still in them: fitted on, then scored."""
    from hwnas.predictors.evaluation import holdout_from_own_profile

    archs, sources, target = small
    again = [*archs[:10], archs[3]]
    predictor = TransferPredictor(sources, space).fit(again, [*target[:10], target[3] * 1.01])
    with pytest.warns(UserWarning, match="fitted on only 9 different"):  # refitted on 9
        refitted, held_out, measured = holdout_from_own_profile(predictor, 1)
    assert held_out == [archs[3]] and list(measured) == [target[3] * 1.01]
    assert refitted.train_data[0] == archs[:3] + archs[4:10]


def test_eval_holds_out_what_a_transfer_predictor_was_fitted_on(space, tmp_path, capsys):
    """`--holdout PROFILE` scored a transfer predictor on its own training networks too (only
    the learned predictor's were left out), and `--holdout N` asked for a profile it has not."""
    from cli_runner import hwnas

    from hwnas.predictors.accuracy import latency_accuracy
    from hwnas.predictors.profile import read_profile

    profile = tmp_path / "nb.csv"
    measure = ["--samples", "6", "--runs", "3", "--rounds", "1", "--warmup", "1"]
    args = ["latency", "profile", "--space", "nasbench201", "--archs-only", "--out", str(profile)]
    assert hwnas(*args, *measure) == 0
    archs, y = read_profile(profile).arch_records(space)
    convs = np.array([sum(op.startswith("nor_conv") for op in a.values()) for a in archs])
    sources = pd.DataFrame(  # made-up source devices; the target is this CPU, measured
        {"cpu": 2.0 + 1.5 * convs + np.arange(6) % 3, "gpu": 1.0 + 0.3 * convs},
        index=[a.key for a in archs],
    )
    with pytest.warns(UserWarning, match="fitted on only 4 different"):
        predictor = TransferPredictor(sources, space).fit(archs[:4], y[:4])
    predictor.measured_on = read_profile(profile).measured_on()
    saved = predictor.save(tmp_path / "transfer.json")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="4 of its 6 networks were used to fit"):
        assert hwnas("latency", "eval", str(saved), "--holdout", str(profile), "--json") == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2
    with pytest.warns(UserWarning, match="fitted on only 2 different"):  # refitted on 2
        assert hwnas("latency", "eval", str(saved), "--holdout", "2", "--json") == 0
        refitted = TransferPredictor(sources, space).fit(archs[:2], y[:2])
    expected = latency_accuracy(y[2:4], refitted.predict(archs[2:4]))
    assert json.loads(capsys.readouterr().out)["rmse"] == pytest.approx(expected["rmse"])
    assert hwnas("latency", "eval", str(saved), "--holdout", "3") == 1
    assert (
        "cannot hold out 3 of the 4 networks the predictor was fitted on: refitted on the "
        "other 1, the transfer predictor needs at least 2"
    ) in capsys.readouterr().err
