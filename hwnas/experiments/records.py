"""What hwnas stores in a run's Optuna study, and reading it back.

One Optuna study is one run; every evaluated candidate is one Optuna trial. A trial's params
are the `Arch`'s choices (categorical distributions over the space's values), its user
attributes are all the metrics plus `hwnas_key`, `hwnas_arch`, `hwnas_outcome` and
`hwnas_reason`, and its values are the objectives, so `optuna-dashboard` and Optuna's plots work
on any run. The study's user attributes record what the run was started with (its experiment,
space, dataset, latency files and package versions), which a resumed run is checked against.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

import optuna
from optuna.trial import FrozenTrial

from hwnas.evaluators.metrics import Metrics
from hwnas.predictors.base import NO_MEASUREMENT, PredictorError
from hwnas.spaces import Arch

#: a trial's user attributes beside its metrics
KEY, ARCH, OUTCOME, REASON, DRIVER, ORIGIN = (
    "hwnas_key",
    "hwnas_arch",
    "hwnas_outcome",
    "hwnas_reason",
    "hwnas_driver",
    "hwnas_origin",  # what the searcher said of where the arch came from (`Searcher.origin`)
)
#: outcomes of a trial; only "ok" and "failed" are evaluations, the rest are bookkeeping
EVALUATED = ("ok", "failed")
RUNNING, STALE, DUPLICATE, SURPLUS, INTERRUPTED = (
    "running",
    "stale",
    "duplicate",
    "surplus",
    "interrupted",
)
#: a failed evaluation whose architecture was evaluated again since (`hwnas search
#: --retry-failed`): history, neither an evaluation the run counts nor a failure
RETRIED = "retried"
#: the end of the reason of an evaluation stored as failed for lacking a finite value of an
#: objective or constraint metric (`not_finite_reason`)
NOT_FINITE = "missing or not finite"
#: how the reason of an evaluation the latency table could not price begins (`fails_again`)
_LUT_REFUSAL = f"{PredictorError.__name__}: the latency table"
DATASET_DIGEST = "hwnas_dataset_digest"  # study attribute: the .npz arrays' digest
#: study attribute: the per-channel standardisation of the .npz (mean and std lists), which
#: export passes on even when the file has changed or gone since
DATASET_SCALING = "hwnas_dataset_standardisation"
LATENCY_DIGESTS = "hwnas_latency_digests"  # study attribute: {latency file: its sha256}
BENCHMARK_DIGESTS = "hwnas_benchmark_digests"  # study attribute: {table file: its digest}
SPACE_SOURCE = "hwnas_space_source"  # study attribute: the space YAML text the run started with
VERSIONS = "hwnas_versions"  # study attribute: {package: version} of the run's first start
EXPERIMENT = "hwnas_experiment"  # study attribute: the experiment the run was started with


def not_finite_reason(metrics: list[str]) -> str:
    """The reason of an evaluation that ended without a finite value of `metrics` (objectives
    or constraints), which the run stores as failed (`RunStore.finish`)."""
    return f"metrics {metrics} {NOT_FINITE}"


def fails_again(reason: str) -> str | None:
    """How a failure of `reason` that evaluating it again (`--retry-failed`) repeats ended, or
    None for one that may have failed by chance (a killed worker, a timeout): an evaluation
    that ran to its end without a finite value of a metric the run needs (a NaN in a
    benchmark table, say) gives the same values again, and the latency table that has no
    measurement of a part is read again as it was (a resumed run refuses a changed file).
    By the table's own words: a `PredictorError` of another kind (a file a Ray worker could
    not load) may pass."""
    if reason.startswith("metrics [") and reason.endswith(f"] {NOT_FINITE}"):
        return "without a finite value of a metric the run needs (a NaN in a benchmark table, say)"
    if reason.startswith(_LUT_REFUSAL) and f" {NO_MEASUREMENT} " in reason:
        return "at a part the latency table has no measurement for"
    return None


class DamagedRecord(ValueError):
    """A stored record hwnas did not write: not JSON, or an architecture that is unreadable
    or not the one its key names (`storage_errors` names the storage)."""


def read_trials(study: optuna.Study) -> list[FrozenTrial]:
    """All of a study's trials; a stored value that is not JSON, or nested past Python's
    recursion limit, or a column Optuna cannot decode, is a `DamagedRecord` (Optuna let the
    decoder's bare "Unterminated string starting at ..." through, and "tuple index out of
    range" for a parameter outside its choices)."""
    with _stored_json():
        return study.get_trials(deepcopy=False)


#: the type of each study attribute hwnas writes and reads, by its name (a driver's
#: heartbeat by the prefix of its names)
_STUDY_ATTR_TYPES = {
    EXPERIMENT: dict,
    SPACE_SOURCE: str,
    VERSIONS: dict,
    LATENCY_DIGESTS: dict,
    BENCHMARK_DIGESTS: dict,
    DATASET_DIGEST: str,
    DATASET_SCALING: dict,
    f"{DRIVER}:": dict,
}


def load_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """The study `name` of `storage` (Optuna's `KeyError` where there is none); a direction
    that is none (edited by hand) is a `DamagedRecord`: SQLAlchemy's bare "'X' is not among
    the defined enum values" named no storage."""
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise
    except LookupError as e:
        raise DamagedRecord(f"the study's direction is unreadable ({e})") from None


def check_study_attrs(study: optuna.Study) -> None:
    """Read the study's own attributes (what the run was started with) once, when it is
    opened, for a `DamagedRecord` where one is unreadable or not of the type hwnas writes
    (`_STUDY_ATTR_TYPES`), as `read_trials` does for trials: the many later reads of them
    ended in json's bare error, or Python's ("'list' object has no attribute 'get'")."""
    with _stored_json():
        attrs = study.user_attrs
    for name, value in attrs.items():
        kind = _STUDY_ATTR_TYPES.get(name) or _STUDY_ATTR_TYPES.get(name.partition(":")[0] + ":")
        if kind is not None and not isinstance(value, kind):
            raise DamagedRecord(
                f"the study's {name} is {type(value).__name__} {value!r:.60}, not a {kind.__name__}"
            )


@contextmanager
def _stored_json() -> Iterator[None]:
    """Optuna's decoding of stored values, its errors as a `DamagedRecord`."""
    try:
        yield
    except json.JSONDecodeError as e:
        raise DamagedRecord(f"a stored value is not JSON ({e})") from None
    except RecursionError:  # json's bare error named no storage
        raise DamagedRecord("a stored value is JSON nested too deeply to read") from None
    # the other columns as Optuna decodes them: a parameter outside its distribution's choices
    # (IndexError), at an infinity (OverflowError) or NaN, a distribution that is none
    # (KeyError, TypeError), a state SQLAlchemy does not know (LookupError), a missing value
    # (AssertionError); each said bare, naming no storage
    except (ValueError, LookupError, TypeError, ArithmeticError, AssertionError) as e:
        raise DamagedRecord(f"a stored record is unreadable ({type(e).__name__}: {e})") from None


def stored_arch(trial: FrozenTrial) -> Arch:
    """The architecture a trial stores, checked against the key stored with it: a
    `DamagedRecord` naming the trial where the two disagree or the record is unreadable."""
    try:
        arch = Arch.from_json(trial.user_attrs[ARCH])
    except (KeyError, TypeError, ValueError) as e:
        raise DamagedRecord(f"trial {trial.number}: its architecture is unreadable ({e})") from None
    if (key := trial.user_attrs.get(KEY)) is not None and key != arch.key:
        raise DamagedRecord(
            f"trial {trial.number}: its stored key {key} is not its architecture's ({arch.key})"
        )
    return arch


def outcome_of(trial: FrozenTrial) -> str:
    """What a trial is: an evaluation ("ok", "failed"), a live or dead claim ("running",
    "stale", "interrupted"), or a dropped claim ("duplicate", "surplus"). A trial whose result
    is being written (the outcome is set but the state not yet) still counts as running; once
    the trial is finished, by its driver or by one that took that driver for dead, it is
    evaluated. A claim ended while it still says "running" (by a driver that took its driver
    for dead, `RunStore.fail_stale`, or with Optuna's own tools: `study.tell(n, state=FAIL)`,
    the dashboard's Fail button) will never be evaluated: it counts as stale, so its
    candidate is evaluated again, not waited for."""
    outcome = trial.user_attrs.get(OUTCOME, "")
    if outcome in EVALUATED and not trial.state.is_finished():
        return RUNNING
    if outcome == RUNNING and trial.state.is_finished():
        return STALE
    return outcome


def supersede(trial: FrozenTrial, latest: MutableMapping[str, FrozenTrial]) -> FrozenTrial | None:
    """Make evaluated `trial` its key's latest evaluation in `latest` (which holds those of
    the trials before it, taken in number order); the failed evaluation it supersedes, if the
    key's latest one was that: a key's result is its latest evaluation, so a retried failure
    counts as neither an evaluation nor a failure. An evaluation after a successful one (two
    drivers' race over a claim taken for stale) supersedes nothing: both count, as before."""
    earlier, latest[trial.user_attrs[KEY]] = latest.get(trial.user_attrs[KEY]), trial
    return earlier if earlier is not None and outcome_of(earlier) == "failed" else None


def trial_metrics(trial: FrozenTrial) -> Metrics | None:
    """The `Metrics` stored on an evaluated trial (None for claims that were never finished)."""
    outcome = outcome_of(trial)
    if outcome not in EVALUATED:
        return None
    values = {
        k: v
        for k, v in trial.user_attrs.items()
        if not k.startswith("hwnas_") and isinstance(v, int | float)
    }
    status = "ok" if outcome == "ok" else "failed"
    return Metrics(values, status=status, reason=trial.user_attrs.get(REASON, ""))
