"""Random search: uniform samples of the space, the baseline every benchmark reports."""

from __future__ import annotations

from hwnas.search.base import Searcher
from hwnas.spaces import Arch


class RandomSearcher(Searcher):
    """Uniformly random, never repeating an architecture."""

    name = "random"

    def _propose(self, n: int) -> list[Arch]:
        rng = self.rng_for_ask()
        batch: dict[str, Arch] = {}
        while len(batch) < n:
            arch = self.sample_unseen(rng, exclude=set(batch))
            batch[arch.key] = arch
        return list(batch.values())
