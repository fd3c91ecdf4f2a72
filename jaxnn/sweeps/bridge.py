"""The Optuna bridge: an Optuna sampler chooses configurations, jaxnn trains them a batch per program.

``jaxnn.sweep(..., sampler=optuna.samplers.TPESampler(seed=0), num_samples=64, batch=16)``
asks the sampler for ``batch`` configurations (Optuna's ask-and-tell interface),
trains them with one compiled program, tells it each configuration's best
validation metric, and repeats — so TPE and Optuna's other samplers choose,
and jaxnn's vmapped batches train. Optuna is an optional dependency (the
``optuna`` extra).

Several processes or hosts share one study through Optuna's own distributed mode: give each
``storage="sqlite:///study.db"`` (or ``"postgresql://..."``) and the same ``study_name=``, or a
``study=`` loaded from one. Each process then asks the shared study for ``batch`` configurations
at a time, so every process's choices learn from every other's finished trials; each trains
``num_samples`` configurations, and the study holds the trials of all. A configuration's id in
the table is its trial's number in the study.
"""

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jaxnn import _checks, errors, hyperparams
from jaxnn.sweeps.result import SweepResult
from jaxnn.sweeps.space import (
    ARCHITECTURE_KEY,
    SWEEPABLE,
    Space,
    check_sizes,
    choice,
    expand_space,
    loguniform,
    python_value,
    sizes_text,
    uniform,
)

__all__ = ["ask_and_tell", "check", "expand_checked", "open_study"]


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise errors.MissingExtraError("sampler= needs Optuna: install it with pip install 'jaxnn[optuna]'") from None
    return optuna


def check(sampler: Any, scheduler: Any, data: Any, num_samples: int | None, batch: int, *, study: Any = None) -> None:
    """The bridge's arguments, before anything trains.

    Raises:
        TypeError, ValueError: not an Optuna sampler (or study), no ``num_samples``, a bad ``batch``, a
            scheduler as well, or data without a validation split (the sampler is told validation metrics).
    """
    optuna = _optuna()
    if study is not None:
        if not isinstance(study, optuna.Study):
            raise errors.ArgumentTypeError(f"{errors.arg('study')} must be an optuna.Study, got {type(study).__name__}")
        if sampler is not None and sampler is not study.sampler:
            raise errors.ConfigError(
                f"{errors.arg('study')} has its own sampler ({type(study.sampler).__name__}): give "
                f"{errors.arg('sampler')} or {errors.arg('study')}, not both"
            )
        sampler = study.sampler
    if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
        raise errors.ArgumentTypeError(
            f"sampler must be an Optuna sampler (optuna.samplers.BaseSampler), got {type(sampler).__name__}"
        )
    if num_samples is None:
        raise errors.ConfigError(
            f"sampler= needs {errors.setting('num_samples', errors.placeholder('N'))}: how many "
            "configurations to ask the sampler for in all"
        )
    _checks.positive_int("num_samples", num_samples)
    _checks.positive_int("batch", batch)
    if scheduler is not None:
        raise errors.ConfigError(
            "sampler= and scheduler= do not combine: the sampler is told each configuration's full run"
        )
    if data.num_val == 0:
        raise errors.ConfigError(
            "sampler= tells the sampler validation metrics, but the data has no validation split "
            "(give it val_fraction > 0)"
        )


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
            if name == ARCHITECTURE_KEY:  # Optuna's choices are numbers and words: sizes as "128,64"
                out[name] = optuna.distributions.CategoricalDistribution([sizes_text(v) for v in options])
            else:
                out[name] = optuna.distributions.CategoricalDistribution([python_value(v) for v in options])
    return out


def _config_of(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters as a configuration (``"128,64"`` back to the sizes ``(128, 64)``), checked."""
    config = {name: python_value(value) for name, value in params.items()}
    if ARCHITECTURE_KEY in config:
        text = config[ARCHITECTURE_KEY]
        config[ARCHITECTURE_KEY] = check_sizes(() if text == "none" else tuple(int(w) for w in text.split(",")))
    for name, value in config.items():
        if name in SWEEPABLE:
            hyperparams.check_value(name, value)
    return config


def open_study(
    space: dict[str, Any], *, sampler: Any, study: Any, storage: Any, study_name: str | None, higher_is_better: bool
) -> Any:
    """The study to ask: ``study``, the one named ``study_name`` in ``storage`` (created if new), or a new one
    in memory; checked against the sweep's direction and ``space`` before anything trains.

    Raises:
        ConfigError: ``storage`` without ``study_name`` (or the reverse), a storage that cannot be opened, a
            study of the other direction, or one whose trials drew a parameter from another distribution.
    """
    optuna = _optuna()
    direction = "maximize" if higher_is_better else "minimize"
    if study is not None and (storage is not None or study_name is not None):
        raise errors.ConfigError(
            f"give {errors.arg('study')} or {errors.arg('storage')} with {errors.arg('study_name')}, not both"
        )
    if (storage is None) != (study_name is None):
        given, needed = ("storage", "study_name") if study_name is None else ("study_name", "storage")
        raise errors.ConfigError(
            f"{errors.arg(given)} needs {errors.arg(needed)}: the processes that share a study "
            "find it by its name in its storage"
        )
    if storage is not None:
        assert study_name is not None, "checked above: storage and study_name come together"
        study = _load_or_create(optuna, storage, study_name, sampler, direction)
    elif study is None:
        return optuna.create_study(sampler=sampler, direction=direction)
    if study.direction != getattr(optuna.study.StudyDirection, direction.upper()):
        raise errors.ConfigError(
            f"the study {study.study_name!r} is to {study.direction.name.lower()}, but this "
            f"sweep's metric is to {direction}"
        )
    _check_space(study, _distributions(space))
    return study


def _load_or_create(optuna: Any, storage: Any, study_name: str, sampler: Any, direction: str) -> Any:
    """The study ``study_name`` in ``storage``, created if it does not exist; a clear error if the storage fails."""
    shown = storage if isinstance(storage, str) else type(storage).__name__
    if isinstance(storage, str) and "://" not in storage:
        raise errors.ConfigError(
            f"{errors.arg('storage')} {shown!r} is not a database URL: expected e.g. "
            "sqlite:///study.db or postgresql://user@host/db"
        )
    for pause in (0.2, 0.5, 1.0, None):  # processes starting together race to create the tables: try again
        try:
            return optuna.create_study(
                storage=storage, study_name=study_name, sampler=sampler, direction=direction, load_if_exists=True
            )
        except ImportError as error:  # a database driver that is not installed (psycopg2, ...)
            raise errors.MissingExtraError(
                f"{errors.arg('storage')} {shown!r} needs a database driver that is not installed: {error}"
            ) from None
        except Exception as error:  # noqa: BLE001 - SQLAlchemy and the drivers raise many kinds
            if pause is None:
                reason = " ".join(str(getattr(error, "orig", None) or error).split())[:300]
                raise errors.ConfigError(
                    f"cannot open the Optuna storage {errors.arg('storage')} {shown!r}: "
                    f"{type(error).__name__}: {reason}"
                ) from None
            time.sleep(pause)
    raise AssertionError("unreachable")


def _check_space(study: Any, distributions: dict[str, Any]) -> None:
    """Refuse a study whose trials drew parameters that ``distributions`` does not hold, or held otherwise."""
    for trial in study.get_trials(deepcopy=False):
        for name, drawn in trial.distributions.items():
            mine = distributions.get(name)
            if mine != drawn:
                now = "is not in this sweep's space" if mine is None else f"is {mine} in this sweep's space"
                raise errors.ConfigError(
                    f"the study {study.study_name!r} disagrees with {errors.arg('space')}: its trial {trial.number} "
                    f"drew {name} from {drawn}, which {now}; give the sweep the study's space, or a new study_name"
                )
        missing = sorted(set(distributions) - set(trial.distributions))
        if missing and trial.state.is_finished():
            raise errors.ConfigError(
                f"the study {study.study_name!r} disagrees with {errors.arg('space')}: its trial {trial.number} has "
                f"no {', '.join(missing)}; give the sweep the study's space, or a new study_name"
            )


def ask_and_tell(
    train: Callable[[dict[int, dict[str, Any]], list[int]], SweepResult],
    space: dict[str, Any],
    *,
    study: Any,
    num_samples: int,
    batch: int,
) -> SweepResult:
    """Rounds of ``batch`` configurations asked of ``study``, each trained by ``train(configs, ids)`` and told;
    the merged result. ``ids`` are the trials' numbers in the study (``configs`` maps them to configurations).

    Each configuration is told the mean over its seeds of its best validation metric; a
    configuration that diverged for any seed is told as failed (a mean over its other seeds
    would steer the sampler towards the edge of divergence). Trials asked but not told when the
    sweep stops (an error, Ctrl-C) are told as failed, so a shared study keeps no trial running forever.
    """
    optuna = _optuna()
    distributions = _distributions(space)
    configs: dict[int, dict[str, Any]] = {}
    results = []
    while len(configs) < num_samples:
        trials = [study.ask(distributions) for _ in range(min(batch, num_samples - len(configs)))]
        try:
            ids = [trial.number for trial in trials]
            for trial in trials:
                configs[trial.number] = _config_of(trial.params)
            result = train(configs, ids)
        except BaseException:
            for trial in trials:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        results.append(result)
        table = result.table
        for trial in trials:
            rows = table["config"] == trial.number
            values = np.asarray(table["best_val_metric"], np.float64)[rows]
            if np.all(table["status"][rows] != "diverged") and np.all(np.isfinite(values)):
                study.tell(trial, float(np.mean(values)))
            else:  # a configuration that diverged for any seed is unstable: not a value to steer towards
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
    merged = results[0] if len(results) == 1 else SweepResult.concat(results)
    merged.study = study
    return merged
