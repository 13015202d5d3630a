"""What a profile of a space measures: every distinct part of its networks at each
precision its stage allows (for a lookup table), then seeded random whole architectures. Each
model is one `Job`, giving a row per precision (and per pass), named by a row id that resuming
a profile and reading it rely on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from hwnas.predictors.parts import Part, metaformer_parts
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.metaformer import MetaFormerSpace

PASS_SUFFIX = "|pass"  # ends the row id of a later pass with its number: "...|pass2"


def sample_archs(space: SearchSpace, n: int, seed: int, precisions: Sequence[str]) -> list[Arch]:
    """`n` distinct random architectures (deterministic in `seed`), with each block's
    precision drawn from `precisions` (the ones being profiled) that its stage allows (a block
    whose stage allows none of them keeps its sampled precision)."""
    rng = np.random.default_rng(seed)
    allowed = space.choice_values()
    out: dict[str, Arch] = {}
    attempts = 0
    while len(out) < n and attempts < 100 * n:
        attempts += 1
        arch = space.sample(rng)
        changes = {}
        for k in (k for k in arch if k.endswith(".precision")):
            usable = [p for p in precisions if p in allowed[k]]
            if usable:
                changes[k] = usable[rng.integers(len(usable))]
        arch = space.validate(arch.replace(**changes)) if changes else arch
        out.setdefault(arch.key, arch)
    return list(out.values())


@dataclass(frozen=True)
class Job:
    """One model to export and measure at some precisions, giving one row per precision."""

    kind: str
    part_id: str
    input_shape: tuple[int, ...]
    precisions: tuple[str, ...]
    part: Part | None = None
    arch: Arch | None = None

    def row_id(self, precision: str, measured_pass: int = 1) -> str:
        suffix = f"{PASS_SUFFIX}{measured_pass}" if measured_pass > 1 else ""
        return f"{self.part_id}|{precision}{suffix}"


def planned_jobs(
    space: SearchSpace,
    precisions: Sequence[str],
    samples: int,
    seed: int,
    archs_only: bool,
) -> Iterator[Job]:
    """The models a profile of `space` measures, in order: its parts at the `precisions` their
    stage allows (none when `archs_only`), then `samples` architectures (`sample_archs`)."""
    if isinstance(space, MetaFormerSpace) and not archs_only:
        stage_precisions = [plan.precisions for plan in space.plans]
        for part in metaformer_parts(space):
            per = ("fp32",)
            if part.kind == "block":  # the precisions its stage allows, of those profiled
                per = tuple(p for p in precisions if p in stage_precisions[part.stage])
                if not per:
                    continue
            yield Job(part.kind, part.id, part.input_shape, tuple(per), part=part)
    for arch in sample_archs(space, samples, seed, precisions):
        yield Job("arch", f"arch|{arch.key}", tuple(space.input_shape), ("mixed",), arch=arch)
