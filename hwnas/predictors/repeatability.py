"""How well a profile's timings repeat: how the first and the second round of each
measurement rank the profile's rows (Kendall tau), whole networks and blocks apart.

A profile's latency is the best of its rounds (and passes), steadier than one round, so this
is no ceiling on a predictor's rank agreement; but timings that one round ranks unlike the next
make poor predictors, so a profile says so. Seen (docs/benchmarks.md): eager CUDA timings of
conv2d networks on an NVIDIA H200 VM repeated at 0.66-0.71 and the predictors fitted on them
ranked held-out networks at 0.24; onnxruntime-cpu on an idle 2-core VM repeated at 0.85-0.97
(its fp32 predictors: 0.94-0.95, int8 0.63-0.70), on an Intel Xeon VM under a load of 11-26
at 0.69-0.90.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hwnas.predictors.accuracy import kendall_tau
from hwnas.predictors.profile import Profile, block_precisions, model_ids, round_medians

#: below this the rounds rank a profile's rows too differently to trust for ranking networks
REPEATABLE_TAU = 0.8
#: fewer rows than this give a rank agreement that says little either way
MIN_ROWS = 20
KINDS = {"arch": "networks", "block": "blocks"}
#: backend -> what was seen to make its timings steadier, or not
STEADIER = {
    "onnxruntime-cpu": "A quieter machine measures steadier (onnxruntime-cpu on an idle CPU "
    "repeated at 0.85-0.97)",
    "torch-cuda": "A quieter machine may not help: eager torch-cuda timings of small networks "
    "are bound by launching kernels from the host, and on a nearly idle NVIDIA H200 machine "
    "they repeated at 0.66-0.71",
}


@dataclass(frozen=True)
class RoundAgreement:
    """Kendall tau between the first and the second round medians of `rows` measurements of
    `models` models of one kind at one precision (a model measured in several passes gives
    one measurement each)."""

    kind: str
    precision: str
    models: int
    rows: int
    kendall_tau: float

    def __str__(self) -> str:
        what = f"{self.models} {KINDS[self.kind]} ({self.precision})"
        if self.rows != self.models:
            what = f"{self.rows} measurements of {what}"
        tau = self.kendall_tau
        if tau < REPEATABLE_TAU:  # rounded down there: just below the bound never reads as it
            tau = math.floor(tau * 1000) / 1000
        return f"{what} at {tau:.3f}"


def round_agreement(profile: Profile, kind: str) -> RoundAgreement | None:
    """The agreement of the rounds over the successful measurements of `kind` (`arch` or
    `block`), at the precision where they agree least (whole networks at all their precisions
    together); None where no precision has `MIN_ROWS` such measurements in two rounds or more
    (or the profile records no rounds)."""
    rows = profile.rows
    if "round_medians_ms" not in rows.columns:  # a hand-made table
        return None
    rows = rows[(rows["status"] == "ok") & (rows["kind"] == kind)]
    found = []
    for precision, group in _by_precision(rows, kind):
        rounds = [round_medians(text) for text in group["round_medians_ms"]]
        if len(rounds) < MIN_ROWS or min(map(len, rounds)) < 2:
            continue
        first, second = (np.array([r[i] for r in rounds]) for i in (0, 1))
        tau = kendall_tau(first, second)
        if not np.isnan(tau):
            models = model_ids(group["row_id"]).nunique()
            found.append(RoundAgreement(kind, precision, models, len(rounds), tau))
    return min(found, key=lambda a: a.kendall_tau, default=None)


def _by_precision(rows: pd.DataFrame, kind: str) -> list[tuple[str, pd.DataFrame]]:
    """Blocks by precision; whole networks all together, under the precisions they mix (a
    mixed-precision network's `precision` names its blocks' mix, one of many in a profile)."""
    if kind != "arch":
        return [(str(precision), group) for precision, group in rows.groupby("precision")]
    return [("+".join(sorted(block_precisions(rows))), rows)] if len(rows) else []


def agreements(profile: Profile) -> list[RoundAgreement]:
    """The round agreement of its whole networks and of its blocks, where each is known."""
    return [a for kind in KINDS if (a := round_agreement(profile, kind)) is not None]


def unrepeatable_warning(profile: Profile) -> str | None:
    """What to tell the user of a profile whose rounds rank its rows too differently; None
    where they agree well enough (or too few rows say)."""
    low = [a for a in agreements(profile) if a.kendall_tau < REPEATABLE_TAU]
    if not low:
        return None
    return (
        f"{profile.path}: its timings do not repeat well: the first two rounds of each "
        f"measurement rank the {' and the '.join(map(str, low))} (Kendall tau, below "
        f"{REPEATABLE_TAU}), and predictors fitted on such timings rank networks poorly. "
        f"{STEADIER.get(profile.meta.get('backend'), STEADIER['onnxruntime-cpu'])}; see the "
        "guide on latency"
    )
