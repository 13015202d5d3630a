"""`LUTPredictor`: latency as the sum of separately measured parts (FBNet / OFA style).

latency(arch) = base_latency(stage widths) + sum of block_latency over its blocks, where
base_latency = one runtime call overhead + stem + downsamples + head, and every part's
latency is its profiled latency (`Measurement.latency_ms`) minus the runtime's per-call
overhead at its input shape (measured on pass-through models), because a network pays that
overhead once, not per part (blocks are profiled as chains of copies, so they carry 1/copies
of it).
`expected_latency` is the same table as a differentiable function of block probabilities,
for the differentiable searcher.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from hwnas.predictors.base import (
    NO_MEASUREMENT,
    LatencyPredictor,
    PredictorError,
    arch_list,
    check_space,
    check_training_data,
)
from hwnas.predictors.parts import (
    block_copies_problem,
    block_id,
    downsample_id,
    downsample_needed,
    head_id,
    overhead_id,
    stage_inputs,
)
from hwnas.predictors.profile import read_profile, table_parts
from hwnas.spaces import Arch, SearchSpace
from hwnas.spaces.blocks import BlockConfig
from hwnas.spaces.metaformer import MetaFormerSpace
from hwnas.spaces.reprs import named


class BlockLatencyModel(Protocol):
    """Per-block latencies (`LUTPredictor` has them), as the differentiable searcher needs."""

    def block_latency(self, stage: int, width: int, block: BlockConfig) -> float: ...

    def base_latency(self, widths: Sequence[int]) -> float: ...


def network_latency(base_ms: float, blocks_ms: Iterable[float]) -> float:
    """A network's LUT latency (ms): its base (stem, downsampling, head) plus its blocks.
    Every price of a discrete architecture adds up this one way, and not by `sum()`: Python
    3.12's compensates rounding for Python floats but not numpy's (the supernet's table holds
    numpy's, a predictor returns Python's), 3.11's for neither, and a target met by one way
    of adding was missed by the last bit by another. `math.fsum` rounds once, on any Python."""
    return float(base_ms) + math.fsum(blocks_ms)


def lut_latency(model: BlockLatencyModel, space: SearchSpace, arch: Arch) -> float:
    """The LUT latency of one architecture: base (stem, downsampling, head) plus its blocks.
    `LUTPredictor.predict` and the differentiable searcher both price an arch by it, so the
    `latency_ms` a run records is, to the last bit, what the supernet fitted to a target."""
    stages = space._stages(space.validate(arch))
    return network_latency(
        model.base_latency([width for width, _ in stages]),
        (
            model.block_latency(i, width, block)
            for i, (width, blocks) in enumerate(stages)
            for block in blocks
        ),
    )


class LUTPredictor(LatencyPredictor):
    """Lookup table of part latencies; `table` maps profile row ids (part id + '|' +
    precision) to latencies in milliseconds."""

    kind = "lut"

    def __init__(
        self,
        space: SearchSpace,
        table: Mapping[str, float],
        *,
        subtract_overhead: bool = True,
        block_copies: int = 1,
        source: str = "",
    ):
        if not isinstance(space, MetaFormerSpace):
            raise PredictorError(
                f"the lookup-table predictor needs a MetaFormer space (stem, stages of "
                f"blocks, head); {space.name!r} is not one: use the learned predictor"
            )
        super().__init__(space)
        self.table = {str(k): float(v) for k, v in table.items()}
        bad = [k for k, v in self.table.items() if not (np.isfinite(v) and v > 0)]
        if bad:
            raise PredictorError(
                f"table: {bad[0]} is {self.table[bad[0]]}, not a positive latency (ms) "
                f"({len(bad)} such entries)"
            )
        if problem := block_copies_problem(block_copies):
            raise PredictorError(problem)
        if not isinstance(subtract_overhead, bool):
            raise PredictorError(
                f"subtract_overhead must be true or false, not {subtract_overhead!r}"
            )
        self.subtract_overhead = subtract_overhead
        self.block_copies = int(block_copies)  # numpy's, taken, is no JSON
        self.source = source
        #: the predictor file it was read from (`load_predictor`; "" where fitted here): a
        #: part its profile `source` gains after the fit is in the file only once fitted again
        self.predictor_file = ""
        #: the precisions its profile set out to measure (`from_profile`; None for a table
        #: given as it is, or read from a predictor file, which was saved complete): a
        #: precision whose every block failed to measure is missing from the table, not
        #: left out of it, and a table lacking it is no table to save
        self.profiled_precisions: list[str] | None = None
        self._inputs = stage_inputs(space)

    def _shown(self) -> list[str]:
        return named(parts=len(self.table))

    @classmethod
    def from_profile(
        cls,
        path: str | Path,
        space: SearchSpace | None = None,
        complete: bool = False,
        **settings: Any,
    ) -> LUTPredictor:
        """The table of a profile's measured parts (whole-arch rows are not used). `complete`
        refuses a profile without every part the space can produce at its precisions (a
        predictor to save: it must price every network); else a missing part fails only the
        architectures that use it."""
        profile = read_profile(path)
        space = space or profile.space()
        check_space(space, profile.space_reference(), f"{path}: the profile")
        parts = profile.parts()
        if complete:
            profile.check_parts(space)
        elif parts.empty:
            raise PredictorError(f"{path}: the profile has no measured parts for a lookup table")
        table = dict(zip(parts["row_id"], parts["latency_ms"].astype(float)))
        copies = profile.meta.get("block_copies", 1)
        source = str(Path(path).resolve())  # read from any directory
        predictor = cls(space, table, source=source, block_copies=copies, **settings)
        predictor.measured_on = profile.measured_on()
        predictor.int8_quantizer = profile.int8_quantizer
        predictor.profiled_precisions = profile.precisions(space)
        return predictor

    # -- the table ---------------------------------------------------------------------------
    @property
    def measured_precisions(self) -> set[str]:
        """The precisions the table holds any block at (those its profile measured). The other
        parts (stem, downsamples, head, overheads) are always measured at fp32: counted, they
        made a profile of int8 blocks alone look measured at fp32 too, its fp32 blocks missing
        parts of a changed space (profiling again into it measures none of them)."""
        return {key.rsplit("|", 1)[1] for key in self.table if key.startswith("block|")}

    def unpriced_precisions(self) -> list[str]:
        measured = self.measured_precisions
        return [p for p in self.space.precisions if p not in measured]

    def unpriced_parts(self) -> list[str]:
        """The parts of its space the table lacks at the precisions its profile set out to
        measure (`profiled_precisions`; else at those it holds blocks of), as a profile's
        `check_parts` finds them for `hwnas latency fit`: a width, depth or option the space
        gained after profiling, or every block of a precision that failed to measure (read
        from Python, such a table was saved without it, unsaid). Candidates with them fail."""
        measured = self.measured_precisions
        precisions = self.profiled_precisions or [p for p in self.space.precisions if p in measured]
        return [
            row_id for row_id in table_parts(self.space, precisions) if row_id not in self.table
        ]

    def _new_profile_advice(self, measured: list[str], precision: str) -> str:
        """How to measure `precision` too: a new profile (one resumes only with the settings
        it began with) on the profile's own backend, or why that backend cannot time it
        (torch-cpu has no int8): without `--backend`, the advice measured another one."""
        from hwnas.predictors.backends import BackendError, get_backend

        backend = (self.measured_on or {}).get("backend")
        try:
            if backend is not None:
                get_backend(backend).check_precision(precision)
        except (BackendError, ValueError) as e:  # ValueError: a backend this hwnas lacks
            return str(e)
        option = f"--backend {backend} " if backend else ""
        return (
            "measure the space into a new profile with it too (hwnas latency profile "
            f"{option}--precision {','.join([*measured, precision])})"
        )

    def _part_advice(self) -> str:
        """How to price a part of the space the table lacks: profile the space again into the
        profile, and, for a table read from a predictor file, fit that again from it (the
        profile may have the part already); "profile again" alone left the file without it."""
        profile = self.source or "its profile"
        again = f"profile the space again into {profile}, which measures only what it lacks"
        if not self.predictor_file:
            return again
        return (
            f"the predictor file was fitted from {profile}: fit it again from that profile "
            f"(hwnas latency fit) once the profile has the part ({again})"
        )

    def _table_name(self) -> str:
        """The table as its errors name it: by the predictor file it was read from and the
        profile that was fitted from, else by the profile (a table read from `p.json` was
        named by its profile alone, a file the user never gave)."""
        if not self.predictor_file:
            return f"the latency table {self.source}".rstrip()
        fitted = f" (fitted from {self.source})" if self.source else ""
        return f"the latency table of {self.predictor_file}{fitted}"

    def _lookup(self, part_id: str, precision: str = "fp32") -> float:
        key = f"{part_id}|{precision}"
        if key not in self.table:
            have = sorted({k.rsplit("|", 1)[1] for k in self.table if k.startswith(f"{part_id}|")})
            measured = sorted(self.measured_precisions)
            advice = (
                f"the profile measured no part at {precision} (only at {', '.join(measured)}): "
                + self._new_profile_advice(measured, precision)
                if precision not in measured
                else f"the space has it, the profile not (changed since?): {self._part_advice()}"
            )
            raise PredictorError(
                f"{self._table_name()} {NO_MEASUREMENT} {part_id} at {precision} (it has "
                f"that part at: {', '.join(have) or 'none'}); {advice}"
            )
        return self.table[key]

    def _overhead(self, shape: Sequence[int]) -> float:
        return self._lookup(overhead_id(tuple(shape))) if self.subtract_overhead else 0.0

    def _net(self, part_id: str, shape: Sequence[int], precision: str = "fp32") -> float:
        return self._lookup(part_id, precision) - self._overhead(shape)

    def block_latency(self, stage: int, width: int, block: BlockConfig) -> float:
        """Latency (ms) a block adds to a network in `stage` at `width` channels."""
        shape = (width, *self.space.plans[stage].spatial)
        per_copy = self._lookup(block_id(stage, width, block), block.precision)
        return per_copy - self._overhead(shape) / self.block_copies

    def base_latency(self, widths: Sequence[int]) -> float:
        """Latency (ms) of everything but the blocks for these stage widths: one call
        overhead, the stem, the downsamples and the head."""
        if len(widths) != len(self.space.plans):
            raise PredictorError(
                f"widths needs one width per stage ({len(self.space.plans)}), got {list(widths)}"
            )
        total = self._overhead(self.space.input_shape)
        total += self._net("stem", self.space.input_shape)
        cin = self.space.spec.stem.width
        for i, ((spatial, _), width) in enumerate(zip(self._inputs, widths)):
            if downsample_needed(self.space.plans[i].stride, cin, width):
                total += self._net(downsample_id(i, cin, width), (cin, *spatial))
            cin = width
        return total + self._net(head_id(cin), (cin, *self.space.plans[-1].spatial))

    def expected_latency(
        self, probs: torch.Tensor, blocks: Sequence[BlockConfig], stage: int, width: int
    ) -> torch.Tensor:
        """probs @ (latencies of `blocks`): the expected block latency under a distribution
        over candidate blocks, differentiable in `probs` (last dimension = candidates)."""
        if probs.shape[-1] != len(blocks):
            raise PredictorError(f"probs has {probs.shape[-1]} entries for {len(blocks)} blocks")
        table = torch.tensor(
            [self.block_latency(stage, width, b) for b in blocks],
            dtype=probs.dtype,
            device=probs.device,
        )
        return probs @ table

    # -- LatencyPredictor --------------------------------------------------------------------
    def parts_of(self, arch: Arch) -> dict[str, float]:
        """`arch`'s latency split by part group: `base` (see `base_latency`) and, per
        `s{stage}.w{width}.{mixer}.{precision}`, the summed latency of those blocks. The groups
        add up to the prediction (to rounding); the learned predictor calibrates each."""
        stages = self.space._stages(self.space.validate(arch))
        groups = {"base": self.base_latency([w for w, _ in stages])}
        for i, (width, blocks) in enumerate(stages):
            for b in blocks:
                key = f"s{i}.w{width}.{b.mixer}.{b.precision}"
                groups[key] = groups.get(key, 0.0) + self.block_latency(i, width, b)
        return groups

    def predict_one(self, arch: Arch) -> float:
        """The latency of one arch (ms): its base (stem, downsampling, head) plus its blocks,
        as measured in the profile (`lut_latency`)."""
        return lut_latency(self, self.space, arch)

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        return np.array([self.predict_one(a) for a in arch_list(archs)], dtype=float)

    def fit(self, archs: Sequence[Arch], latencies: Sequence[float]) -> LUTPredictor:
        """A lookup table is measured, not learned: checks the data and changes nothing
        (use the `learned` predictor to correct the sum with whole-network measurements)."""
        check_training_data(archs, latencies)
        return self

    def to_data(self) -> dict[str, Any]:
        return {
            "settings": {
                "subtract_overhead": self.subtract_overhead,
                "block_copies": self.block_copies,
            },
            "source": self.source,
            "table": dict(self.table),
        }

    @classmethod
    def from_data(cls, data: dict[str, Any], space: SearchSpace) -> LUTPredictor:
        return cls(space, data["table"], source=data.get("source", ""), **data["settings"])
