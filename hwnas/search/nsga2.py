"""NSGA-II (Deb et al., 2002) through Optuna's `NSGAIISampler`, driven by ask/tell.

An in-memory Optuna study is the searcher's working state: `ask` calls `study.ask()` and
`space.suggest(trial)`, `tell` calls `study.tell()` with the objective values and the
constraint values set on the trial (`Searcher.constraint_excess`: relative excess over
the bound, feasible when <= 0).

Two changes make it fit an asynchronous, resumable search:
- generations follow ask order (the k-th proposal belongs to generation k // population_size)
  instead of the completion order, so the search depends on which results are in, not on
  when they arrived, and `restore` rebuilds it exactly. A generation's parents are computed
  from those of the generation before (iteratively, so long runs do not recurse) and kept
  until a result of an earlier generation arrives. Until two results of the generation
  before are in (the others still running, or failed) there is nothing to cross, and each
  choice is drawn uniformly, as in generation 0;
- the sampler is reseeded before each proposal from (seed, ask count, attempt): parallel asks
  get different streams (no duplicates within a batch), and a proposal whose architecture was
  already seen is discarded and asked again (up to `max_tries` times, then a uniform sample
  of the unseen ones), so duplicates are never returned. The study is rebuilt without the
  discarded proposals once they outnumber both the searcher's trials and `COMPACT_AFTER`
  (`_compact`).

Its draws and mutations are per choice, through `space.suggest`, not `space.sample` and
`space.mutate`. Every study trial holds every choice of the space (`_genes`: those an
architecture does not use, such as blocks past a stage's depth, drawn by a generator seeded
with it), so crossover and mutation act on them all: Optuna's sampler crosses only the
choices every parent holds and draws the others anew in every child, which on conv1d left 26
of 41 choices to uniform draws. Where the canonical form merges draws (blocks beyond a
stage's depth, dead ops of the pruned NB201 space), small architectures come up more often
than a uniform sample of the space gives them (the empty pruned NB201 cell in about 1 draw
in 46, not 1 in 9445), and a mutation that draws an op where it would be dead is pruned
back: only crossover grows a pruned NB201 cell. On the NB201 latency fronts the same bias
helped the predictor searcher (docs/benchmarks.md), so it is left as NSGA-II draws.

Defaults (population 10, crossover probability 0.5) were chosen on NAS-Bench-201, accuracy vs
FPGA latency, 300 evaluations in batches of 10 (HV ratio 0.976 over 15 seeds, against 0.967
for Optuna's defaults of population 50 / crossover 0.9 scaled to population 20).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from contextlib import AbstractContextManager
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import NSGAIISampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from hwnas.evaluators.metrics import Metrics
from hwnas.predictors.quiet_loggers import logger_quiet
from hwnas.search.base import Searcher, Trial, derive_rng, integer_setting, number_setting
from hwnas.spaces import Arch, SearchSpace

#: discarded study trials (duplicates) past which, and past the searcher's trial count, the
#: study is rebuilt without them
COMPACT_AFTER = 2000


def optuna_quiet() -> AbstractContextManager[None]:
    """Optuna's logging at WARNING (or quieter, as it was) for the body, the process's
    verbosity restored after it: creating a study logs a line at INFO ("A new study created
    ..."), which a search need not show, while a user's own Optuna studies in the same
    process keep their INFO lines."""
    return logger_quiet(logging.getLogger("optuna"), logging.WARNING)


class AskOrderNSGAIISampler(NSGAIISampler):
    """`NSGAIISampler` whose generations are set by the caller (ask order)."""

    def __init__(self, choices: dict[str, BaseDistribution], **settings):
        super().__init__(**settings)
        self.next_generation = 0
        self._parents: dict[int, list[FrozenTrial]] = {0: []}
        self._crossed = {name: d for name, d in sorted(choices.items()) if not d.single()}

    def get_trial_generation(self, study: Study, trial: FrozenTrial) -> int:
        generation = trial.system_attrs.get(self._get_generation_key())
        if generation is None:
            generation = self.next_generation
            study._storage.set_trial_system_attr(
                trial._trial_id, self._get_generation_key(), generation
            )
        return generation

    def get_parent_population(self, study: Study, generation: int) -> list[FrozenTrial]:
        known = max(g for g in self._parents if g <= generation)
        parents = self._parents[known]
        populations = self._populations(study) if known < generation else {}
        for g in range(known + 1, generation + 1):
            population = populations.get(g - 1, []) + parents
            parents = self._elite_population_selection_strategy(study, population)
            self._parents[g] = parents
        return parents

    def _populations(self, study: Study) -> dict[int, list[FrozenTrial]]:
        """The completed trials of each generation (`get_population` of all), in one pass:
        a restored run rebuilds the parents of every generation, and a pass over all trials
        per generation made resuming quadratic (seconds at 5000 evaluations)."""
        key, populations = self._get_generation_key(), defaultdict(list)
        for trial in study._get_trials(False, [TrialState.COMPLETE], use_cache=True):
            populations[trial.system_attrs.get(key)].append(trial)
        return populations

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        parents = self.get_parent_population(study, self.get_trial_generation(study, trial))
        if len(parents) < 2:  # nothing to cross yet: every parameter is sampled uniformly
            return {}
        return self._child_generation_strategy(study, search_space, parents)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Every choice of the space with more than one value: each trial holds them all
        (`NSGA2Searcher._genes`), so crossover mixes them all. (Optuna's
        `IntersectionSearchSpace` rescans every trial after the oldest unfinished one at
        each ask.)"""
        return self._crossed

    def result_arrived(self, generation: int) -> None:
        """A trial of `generation` completed: the parents of later generations may change."""
        for g in [g for g in self._parents if g > generation]:
            del self._parents[g]

    def reseed(self, seed: int) -> None:
        self._rng.rng.seed(seed)
        self._random_sampler._rng.rng.seed(seed)

    def __getstate__(self) -> dict[str, Any]:
        """The state without Optuna's generation-cache lock, which cannot be pickled: the
        searcher holding this sampler is then picklable and copyable (`copy.deepcopy`,
        multiprocessing), as the other searchers are."""
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()


class NSGA2Searcher(Searcher):
    """NSGA-II through Optuna's sampler, in generations of `population_size` asks (see the
    module docstring)."""

    name = "nsga2"

    def __init__(
        self,
        space: SearchSpace,
        objectives: Any,
        constraints: Any = (),
        seed: int = 0,
        *,
        population_size: int = 10,
        crossover_prob: float = 0.5,
        swapping_prob: float = 0.5,
        mutation_prob: float | None = None,
        max_tries: int = 100,
    ):
        super().__init__(space, objectives, constraints, seed)
        self.population_size = integer_setting("population_size", population_size, minimum=2)
        self.max_tries = integer_setting("max_tries", max_tries)
        self._sampler_settings = dict(
            population_size=self.population_size,
            crossover_prob=number_setting("crossover_prob", crossover_prob, 0, 1),
            swapping_prob=number_setting("swapping_prob", swapping_prob, 0, 1),
            mutation_prob=None
            if mutation_prob is None
            else number_setting("mutation_prob", mutation_prob, 0, 1),
            seed=seed,
        )
        self._distributions = {
            name: CategoricalDistribution(values) for name, values in space.choice_values().items()
        }
        self._new_study()

    def _new_study(self) -> None:
        """An empty study and sampler: the state of a searcher without trials."""
        self.sampler = AskOrderNSGAIISampler(self._distributions, **self._sampler_settings)
        directions = ["minimize" if o.direction == "min" else "maximize" for o in self.objectives]
        with optuna_quiet():  # no "study created" line per run
            self.study = optuna.create_study(directions=directions, sampler=self.sampler)
        self._optuna_trials: dict[str, optuna.Trial] = {}
        self._discarded = 0  # study trials that hold no trial of the searcher's

    def _compact(self) -> None:
        """Rebuild the study from the searcher's trials, as `restore` would, dropping the
        proposals discarded as duplicates. Near the exhaustion of a small space most proposals
        are duplicates; kept, they grew the study to 34 000 trials for a space of 1152
        architectures (benchmarks/search_exhaustion.py), and Optuna scans them at each ask."""
        self._new_study()
        for trial in self.trials:
            if trial.finished:
                self._add_finished(trial)
            else:
                self._restored_pending(trial)

    def _propose(self, n: int) -> list[Arch]:
        if self._discarded > max(COMPACT_AFTER, len(self.trials)):
            self._compact()
        batch: list[Arch] = []
        for _ in range(n):
            index = len(self.trials) + len(batch)
            self.sampler.next_generation = index // self.population_size
            batch.append(self._propose_one(index, {a.key for a in batch}))
        return batch

    def _propose_one(self, index: int, batch_keys: set[str]) -> Arch:
        for attempt in range(self.max_tries):
            self.sampler.reseed(int(derive_rng(*self.entropy(index, attempt)).integers(2**32)))
            trial = self.study.ask()
            arch = self.space.suggest(trial)
            if not self.seen(arch) and arch.key not in batch_keys:
                self._optuna_trials[arch.key] = self._holding(trial, arch)
                return arch
            self._discard(trial)
        arch = self.sample_unseen(derive_rng(*self.entropy(index, self.max_tries)), batch_keys)
        self._optuna_trials[arch.key] = self._enqueued(arch)
        return arch

    def _holding(self, trial: optuna.Trial, arch: Arch) -> optuna.Trial:
        """`trial` with `arch`'s genes (`_genes`), or in its place a new one where the
        space's canonical form changed a drawn choice (the pruned NB201 space turns dead ops
        into `none`): parents must hold the choices `restore` gives them."""
        if any(trial.params.get(name) != value for name, value in arch.items()):
            self._discard(trial)
            return self._enqueued(arch)
        return self._with_genes(trial, arch)

    def _with_genes(self, trial: optuna.Trial, arch: Arch) -> optuna.Trial:
        """`trial`, which holds `arch`'s choices, given the rest of its genes."""
        genes = self._genes(arch)
        for name in sorted(genes.keys() - trial.params.keys()):
            d = self._distributions[name]
            self.study._storage.set_trial_param(
                trial._trial_id, name, d.to_internal_repr(genes[name]), d
            )
        return trial

    def _genes(self, arch: Arch) -> dict[str, Any]:
        """Every choice of the space for `arch`: its own, and for those it does not use (the
        blocks past a stage's depth, a kernel its mixer has none of) values drawn by a
        generator seeded with the architecture, so that `restore` gives them back. Optuna
        crosses and mutates only the choices every parent holds: without the unused ones, the
        blocks past a stage's smallest depth and the kernels and dilations of a MetaFormer
        space were drawn anew, uniformly, in every child (conv1d: 26 of its 41 choices)."""
        rng = derive_rng(self.seed, int(arch.key, 16))
        return {
            name: arch[name] if name in arch else d.choices[int(rng.integers(len(d.choices)))]
            for name, d in self._distributions.items()
        }

    def _discard(self, trial: optuna.Trial) -> None:
        self.study.tell(trial, state=TrialState.FAIL)
        self._discarded += 1

    def _enqueued(self, arch: Arch) -> optuna.Trial:
        """A study trial with `arch`'s choices fixed, in the sampler's `next_generation`.
        Optuna samples nothing for fixed choices, so the sampler never gives the trial its
        generation itself, and its result would join no population."""
        self.study.enqueue_trial(dict(arch))
        trial = self.study.ask()
        self.space.suggest(trial)
        self.sampler.get_trial_generation(
            self.study, self.study._storage.get_trial(trial._trial_id)
        )
        return self._with_genes(trial, arch)

    def _told(self, trial: Trial) -> None:
        optuna_trial = self._optuna_trials.pop(trial.arch.key, None)
        if optuna_trial is None:  # told without being asked, or replayed by restore
            self._add_finished(trial)
            return
        metrics = trial.metrics
        if not metrics.ok:
            self.study.tell(optuna_trial, state=TrialState.FAIL)
            return
        for c, excess in zip(self.constraints, self.constraint_excess(metrics), strict=True):
            optuna_trial.set_constraint(c.metric, excess)
        self.study.tell(optuna_trial, [metrics[o.metric] for o in self.objectives])
        self.sampler.result_arrived(trial.index // self.population_size)

    def _add_finished(self, trial: Trial) -> None:
        metrics: Metrics = trial.metrics
        generation = trial.index // self.population_size
        excess = self.constraint_excess(metrics) if metrics.ok else None
        self.study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE if metrics.ok else TrialState.FAIL,
                params=self._genes(trial.arch),
                distributions=self._distributions,
                values=[metrics[o.metric] for o in self.objectives] if metrics.ok else None,
                system_attrs={self.sampler._get_generation_key(): generation},
                constraints=None
                if excess is None
                else {c.metric: e for c, e in zip(self.constraints, excess, strict=True)},
            )
        )
        if metrics.ok:
            self.sampler.result_arrived(generation)

    def _restored_pending(self, trial: Trial) -> None:
        self.sampler.next_generation = trial.index // self.population_size
        self._optuna_trials[trial.arch.key] = self._enqueued(trial.arch)
