"""Search strategies of the local tuner: the search space of a tuning request, and who proposes the next trial.

* Grid: every combination of the categorical values, in order (the last range varies fastest).
* Random: each trial drawn independently from a generator seeded by ``(RandomSeed, trial index)``.
* Bayesian: optuna's TPE sampler. Hyperband: TPE with optuna's Hyperband pruner, fed the per-epoch
  objective values read from the job's log.

With a ``RandomSeed`` a Bayesian run is reproducible: trial ``k`` is proposed only once trials
``0 .. k - MaxParallelTrainingJobs`` have ended, and the sampler is told about the ended trials in index
order, so what it knows when it proposes trial ``k`` never depends on timing. Without a seed every
result is used as soon as it is known. optuna is imported only here, when a tuner runs.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Trial states a strategy is told about.
COMPLETE, PRUNED, FAIL = "complete", "pruned", "fail"


@dataclass(frozen=True)
class Param:
    """One tuned hyperparameter of a request's ``ParameterRanges``.

    Attributes:
        name: The hyperparameter.
        kind: ``continuous``, ``integer`` or ``categorical``.
        low: Smallest value (numeric).
        high: Largest value (numeric).
        scaling: ScalingType (``Auto`` is linear here).
        values: The value strings of a categorical range, as sent to the job.
    """

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"
    values: tuple[str, ...] = ()

    def encode(self, value: Any) -> str:
        """Return the hyperparameter string a training job gets for ``value``."""
        if self.kind == "categorical":
            return str(value)
        if self.kind == "integer":
            return str(round(value))
        return str(float(value))

    def sample(self, rng: random.Random) -> str:
        """Draw one value uniformly on the range's scale."""
        if self.kind == "categorical":
            return rng.choice(self.values)
        low, high = self.low, self.high
        if self.scaling == "Logarithmic":
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        elif self.scaling == "ReverseLogarithmic":
            value = 1.0 - math.exp(rng.uniform(math.log(1.0 - high), math.log(1.0 - low)))
        elif self.kind == "integer":
            return str(rng.randint(int(low), int(high)))
        else:
            value = rng.uniform(low, high)
        if self.kind == "integer":
            value = min(max(round(value), int(low)), int(high))
        return self.encode(value)


def search_space(ranges: Mapping[str, Any]) -> list[Param]:
    """Return the tuned hyperparameters of a request's ``ParameterRanges``, in request order."""
    params: list[Param] = []
    for key, kind in (
        ("ContinuousParameterRanges", "continuous"),
        ("CategoricalParameterRanges", "categorical"),
        ("IntegerParameterRanges", "integer"),
    ):
        for item in ranges.get(key) or []:
            if kind == "categorical":
                params.append(Param(item["Name"], kind, values=tuple(str(v) for v in item["Values"])))
                continue
            scaling = item.get("ScalingType", "Auto")
            params.append(
                Param(
                    item["Name"],
                    kind,
                    low=float(item["MinValue"]),
                    high=float(item["MaxValue"]),
                    scaling="Linear" if scaling == "Auto" else scaling,
                )
            )
    return params


class Strategy:
    """Proposes trials and learns from their results.

    Args:
        params: The search space.
        max_jobs: Trials in all.
        parallel: Trials at once.
        seed: The run's seed; ``seeded`` says whether the request gave one (then runs are reproducible).
        seeded: Whether ``seed`` came from the request.
    """

    def __init__(self, params: Sequence[Param], max_jobs: int, parallel: int, seed: int, seeded: bool) -> None:
        self.params = list(params)
        self.max_jobs = max_jobs
        self.parallel = parallel
        self.seed = seed
        self.seeded = seeded

    def ready(self, index: int, ended: set[int]) -> bool:
        """Return whether trial ``index`` can be proposed now, given the indexes of the trials that ended."""
        return True

    def propose(self, index: int) -> dict[str, str] | None:
        """Return the tuned hyperparameters of trial ``index`` (strings), or None when the search is exhausted."""
        raise NotImplementedError

    def report(self, index: int, step: int, value: float) -> bool:
        """Take the objective of trial ``index`` at epoch ``step``; return whether the strategy stops the trial."""
        return False

    def finish(self, index: int, state: str, value: float | None, intermediate: Sequence[float]) -> None:
        """Take the end of trial ``index``: ``complete`` (with its objective), ``pruned`` or ``fail``."""


class GridStrategy(Strategy):
    """Every combination of the categorical values, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.combinations = list(itertools.product(*(param.values for param in self.params)))

    def propose(self, index: int) -> dict[str, str] | None:
        """Return combination ``index`` (None past the last one)."""
        if index >= len(self.combinations):
            return None
        return {param.name: value for param, value in zip(self.params, self.combinations[index], strict=True)}


class RandomStrategy(Strategy):
    """Independent draws: trial ``k`` depends on the seed and ``k`` only."""

    def propose(self, index: int) -> dict[str, str] | None:
        """Draw trial ``index``."""
        rng = random.Random(f"{self.seed}-{index}")
        return {param.name: param.sample(rng) for param in self.params}


class OptunaStrategy(Strategy):
    """Bayesian optimisation with optuna's TPE sampler; with ``max_resource`` also its Hyperband pruner.

    Args:
        direction: ``maximize`` or ``minimize``.
        min_resource: Hyperband's MinResource (epochs).
        max_resource: Hyperband's MaxResource (epochs); None: no pruner (Bayesian).
        *args: See :class:`Strategy`.
    """

    def __init__(
        self,
        *args: Any,
        direction: str = "maximize",
        min_resource: int = 1,
        max_resource: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        startup = min(10, max(2, self.max_jobs // 4))
        sampler = optuna.samplers.TPESampler(
            seed=self.seed,
            n_startup_trials=startup,
            multivariate=True,
            constant_liar=True,
            warn_independent_sampling=False,
        )
        pruner: Any = optuna.pruners.NopPruner()
        if max_resource is not None:
            pruner = optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=max_resource)
        self.hyperband = max_resource is not None
        self.study = optuna.create_study(
            direction="minimize" if direction == "minimize" else "maximize", sampler=sampler, pruner=pruner
        )
        self.distributions = {param.name: self._distribution(param) for param in self.params}
        self.trials: dict[int, Any] = {}
        self.ended: dict[int, tuple[str, float | None, list[float]]] = {}
        self.told: set[int] = set()

    @staticmethod
    def _distribution(param: Param) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if param.kind == "categorical":
            return CategoricalDistribution(list(param.values))
        log = param.scaling == "Logarithmic"
        if param.kind == "integer":
            return IntDistribution(int(param.low), int(param.high), log=log)
        if param.scaling == "ReverseLogarithmic":  # sampled as 1 - x on a log scale
            return FloatDistribution(1.0 - param.high, 1.0 - param.low, log=True)
        return FloatDistribution(param.low, param.high, log=log)

    def _decode(self, params: Mapping[str, Any]) -> dict[str, str]:
        decoded = {}
        for param in self.params:
            value = params[param.name]
            if param.scaling == "ReverseLogarithmic":
                value = 1.0 - value
            decoded[param.name] = param.encode(value)
        return decoded

    def ready(self, index: int, ended: set[int]) -> bool:
        """With a seed, trial ``k`` waits until trials ``0 .. k - parallel`` ended (reproducible runs)."""
        return not self.seeded or all(j in ended for j in range(index - self.parallel + 1))

    def _tell(self, index: int) -> None:
        from optuna.trial import TrialState

        state, value, intermediate = self.ended[index]
        trial = self.trials[index]
        if state == COMPLETE and value is not None:
            self.study.tell(trial, value)
        elif state == PRUNED and intermediate:
            if not self.hyperband:  # Hyperband reported them while the trial ran
                for step, step_value in enumerate(intermediate, start=1):
                    trial.report(step_value, step)
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, state=TrialState.FAIL)
        self.told.add(index)

    def propose(self, index: int) -> dict[str, str] | None:
        """Tell the sampler what it may know for trial ``index``, then ask it."""
        known = range(index - self.parallel + 1) if self.seeded else sorted(self.ended)
        for j in known:
            if j in self.ended and j not in self.told:
                self._tell(j)
        trial = self.study.ask(self.distributions)
        self.trials[index] = trial
        return self._decode(trial.params)

    def report(self, index: int, step: int, value: float) -> bool:
        """Feed Hyperband the epoch's objective; return whether its pruner stops the trial."""
        if not self.hyperband or index not in self.trials or not math.isfinite(value):
            return False
        trial = self.trials[index]
        trial.report(value, step)
        return bool(trial.should_prune())

    def finish(self, index: int, state: str, value: float | None, intermediate: Sequence[float]) -> None:
        """Remember the end of trial ``index`` (told to the sampler now, or in index order with a seed)."""
        if index not in self.trials:
            return
        self.ended[index] = (state, value, list(intermediate))
        if not self.seeded:
            self._tell(index)


def make_strategy(config: Mapping[str, Any], static: Mapping[str, str], seed: int, seeded: bool) -> Strategy:
    """Return the strategy of a request's ``HyperParameterTuningJobConfig``."""
    from airflow_tf_sm.sagemaker.hyperparameters import EPOCH_HYPERPARAMETERS

    params = search_space(config.get("ParameterRanges") or {})
    limits = config["ResourceLimits"]
    parallel = int(limits["MaxParallelTrainingJobs"])
    strategy = config["Strategy"]
    if strategy == "Grid":
        grid = GridStrategy(params, 0, parallel, seed, seeded)
        grid.max_jobs = min(len(grid.combinations), int(limits.get("MaxNumberOfTrainingJobs") or 10**6))
        return grid
    max_jobs = int(limits.get("MaxNumberOfTrainingJobs") or 1)
    if strategy == "Random":
        return RandomStrategy(params, max_jobs, parallel, seed, seeded)
    objective = config.get("HyperParameterTuningJobObjective") or {}
    direction = "minimize" if objective.get("Type") == "Minimize" else "maximize"
    if strategy != "Hyperband":
        return OptunaStrategy(params, max_jobs, parallel, seed, seeded, direction=direction)
    hyperband = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    max_resource = hyperband.get("MaxResource")
    for name in EPOCH_HYPERPARAMETERS:
        if max_resource is None and name in static:
            max_resource = int(float(str(static[name]).strip('"')))
    return OptunaStrategy(
        params,
        max_jobs,
        parallel,
        seed,
        seeded,
        direction=direction,
        min_resource=int(hyperband.get("MinResource") or 1),
        max_resource=int(max_resource or 1),
    )
