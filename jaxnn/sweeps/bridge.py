"""The Optuna bridge: an Optuna sampler chooses configurations, jaxnn trains them a batch per program.

``jaxnn.sweep(..., sampler=optuna.samplers.TPESampler(seed=0), num_samples=64, batch=16)``
asks the sampler for ``batch`` configurations (Optuna's ask-and-tell interface),
trains them with one compiled program, tells it each configuration's best
validation metric, and repeats — so TPE and Optuna's other samplers choose,
and jaxnn's vmapped batches train. Optuna is an optional dependency (the
``optuna`` extra).
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jaxnn import _checks, hyperparams
from jaxnn.sweeps.result import SweepResult
from jaxnn.sweeps.space import SWEEPABLE, Space, choice, expand_space, loguniform, python_value, uniform
from jaxnn import errors

__all__ = ["ask_and_tell", "check", "expand_checked"]


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise errors.MissingExtraError("sampler= needs Optuna: install it with pip install 'jaxnn[optuna]'") from None
    return optuna


def check(sampler: Any, scheduler: Any, data: Any, num_samples: int | None, batch: int) -> None:
    """The bridge's arguments, before anything trains.

    Raises:
        TypeError, ValueError: not an Optuna sampler, no ``num_samples``, a bad ``batch``, a scheduler
            as well, or data without a validation split (the sampler is told validation metrics).
    """
    optuna = _optuna()
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise errors.ArgumentTypeError(f"sampler must be an Optuna sampler (optuna.samplers.BaseSampler), got {type(sampler).__name__}")
    if num_samples is None:
        raise errors.ConfigError(f"sampler= needs {errors.setting('num_samples', errors.placeholder('N'))}: how many "
                                 "configurations to ask the sampler for in all")
    _checks.positive_int("num_samples", num_samples)
    _checks.positive_int("batch", batch)
    if scheduler is not None:
        raise errors.ConfigError("sampler= and scheduler= do not combine: the sampler is told each configuration's full run")
    if data.num_val == 0:
        raise errors.ConfigError("sampler= tells the sampler validation metrics, but the data has no validation split "
                         "(give it val_fraction > 0)")


def expand_checked(space: dict[str, Any], *, seeds: Any, key: Any) -> Space:
    """The space's names, values and seeds checked as :func:`expand_space` checks them; no configurations."""
    draws = any(isinstance(v, (loguniform, uniform, choice)) for v in space.values())
    checked = expand_space(space, num_samples=1 if draws else None, seeds=seeds, key=key)
    return Space([], checked.seeds, checked.log_scaled)


def _distributions(space: dict[str, Any]) -> dict[str, Any]:
    """The space as Optuna distributions: log-uniform and uniform floats, and categoricals for lists."""
    optuna = _optuna()
    out = {}
    for name, values in space.items():
        if name == "seed":
            continue
        if isinstance(values, loguniform):
            out[name] = optuna.distributions.FloatDistribution(float(values.low), float(values.high), log=True)
        elif isinstance(values, uniform):
            out[name] = optuna.distributions.FloatDistribution(float(values.low), float(values.high))
        else:
            options = values.values if isinstance(values, choice) else values
            if isinstance(options, (str, bytes)) or not isinstance(options, (Sequence, np.ndarray)):
                options = [options]
            out[name] = optuna.distributions.CategoricalDistribution([python_value(v) for v in options])
    return out


def ask_and_tell(train: Callable[[list[dict[str, Any]], list[int]], SweepResult], space: dict[str, Any], *,
                 sampler: Any, num_samples: int, batch: int, higher_is_better: bool) -> SweepResult:
    """Rounds of ``batch`` asked configurations, each trained by ``train(configs, ids)`` and told; the merged result.

    Each configuration is told the mean over its seeds of its best validation metric; a
    configuration that diverged for any seed is told as failed (a mean over its other seeds
    would steer the sampler towards the edge of divergence).
    """
    optuna = _optuna()
    study = optuna.create_study(sampler=sampler, direction="maximize" if higher_is_better else "minimize")
    distributions = _distributions(space)
    configs: list[dict[str, Any]] = []
    results = []
    while len(configs) < num_samples:
        trials = [study.ask(distributions) for _ in range(min(batch, num_samples - len(configs)))]
        ids = list(range(len(configs), len(configs) + len(trials)))
        for trial in trials:
            config = {name: python_value(value) for name, value in trial.params.items()}
            for name, value in config.items():
                if name in SWEEPABLE:
                    hyperparams.check_value(name, value)
            configs.append(config)
        result = train(configs, ids)
        results.append(result)
        table = result.table
        for trial, config_id in zip(trials, ids):
            rows = table["config"] == config_id
            values = np.asarray(table["best_val_metric"], np.float64)[rows]
            if np.all(table["status"][rows] != "diverged") and np.all(np.isfinite(values)):
                study.tell(trial, float(np.mean(values)))
            else:  # a configuration that diverged for any seed is unstable: not a value to steer towards
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
    merged = results[0] if len(results) == 1 else SweepResult.concat(results)
    merged.study = study
    return merged
