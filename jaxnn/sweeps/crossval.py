"""k-fold cross-validation of a sweep: every configuration trained on every fold by one compiled program.

The folds are one more vmapped axis around the rows of :mod:`jaxnn.sweeps.rows`: the stacked
:class:`~jaxnn.data.folds.PaddedDataset` (folds padded to equal shapes, padding masked out) is mapped over
while the hyperparameter columns, the key and the seeds are shared. So ``cv=5`` compiles what a sweep of
one split compiles, once, and a fold's rows of one seed still share their minibatch order (folds of
one seed share it too: the same positions of their own training rows). The table reports each
measure's mean over the folds (ranked by it) and the standard deviation (``<name>_std``); per fold
columns are in ``result.folds`` (:class:`jaxnn.SweepResult`). :func:`refit` trains the best configuration again
on the whole training split, as ``GridSearchCV`` does.
"""

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import loop
from jaxnn.data import folds as folds_lib
from jaxnn.hyperparams import Hyperparams
from jaxnn.spec import TrainSpec, zeros_of
from jaxnn.sweeps import architecture
from jaxnn.sweeps import plan as planning
from jaxnn.sweeps import rows as sweep_rows
from jaxnn.sweeps.result import RANKED_BY_VALIDATION, SweepResult
from jaxnn.sweeps.rows import Rows
from jaxnn.sweeps.space import PROGRAM_KEYS

__all__ = ["FOLD_MEASURES", "refit", "run_cv"]

FOLD_MEASURES = (
    "best_train_loss",
    "best_val_loss",
    "best_val_metric",
    "final_val_loss",
    "final_val_metric",
    "best_epoch",
    "stopped_epoch",
)
"""The table's columns that are means over the folds (each with a ``<name>_std`` column beside it)."""


def run_cv(
    spec: TrainSpec, job: Any, configs: list[dict[str, Any]], config_ids: list[int], folds: Any, helpers: Any
) -> SweepResult:
    """Train ``configs[i]`` (``i`` in ``config_ids``) on every fold of ``folds`` (a stacked
    :class:`~jaxnn.data.folds.PaddedDataset`; ``job.data`` is one of its folds)."""
    # one program per program setting and hidden sizes, tables merged
    groups: dict[tuple, list[int]] = {}
    for index in config_ids:
        groups.setdefault(architecture.group_key(spec, configs[index]), []).append(index)
    results = [
        _cv_group(
            spec.replace(
                **dict(zip(PROGRAM_KEYS, setting, strict=False)),
                model=architecture.model_of(spec.model, configs[indices[0]]),
            ),
            job,
            configs,
            indices,
            folds,
            helpers,
        )
        for setting, indices in groups.items()
    ]
    return results[0] if len(results) == 1 else SweepResult.concat(results)


def _cv_group(
    spec: TrainSpec, job: Any, all_configs: list[dict[str, Any]], config_ids: list[int], folds: Any, helpers: Any
) -> SweepResult:
    """One program setting's configurations on every fold, in chunks of rows that fit in memory."""
    from tqdm.auto import tqdm

    configs = [all_configs[i] for i in config_ids]
    num_folds = int(np.shape(folds.x_train)[0])
    one_fold = folds_lib.fold(folds, 0)
    loop.layout(spec, one_fold)
    columns = helpers.columns(spec, job, configs)
    spec = spec.replace(zeros=zeros_of(columns._asdict()))
    row_bytes = planning.bytes_per_row(spec.model, one_fold, spec.batch_size)
    device = job.devices[:1]  # folds and rows on one device (sharding folds is future work)
    chunks = planning.plan(
        num_configs=len(configs),
        num_seeds=len(job.seeds) * num_folds,
        row_bytes=row_bytes,
        devices=device,
        max_parallel=job.max_parallel,
        num_epochs=spec.num_epochs,
        num_chunks=job.num_chunks,
    )
    placed = jax.device_put(folds, device[0])
    key_data = np.asarray(jax.random.key_data(job.key))
    seeds = np.asarray(job.seeds, np.uint32)
    impl = str(jax.random.key_impl(job.key))
    pieces = []
    total = math.ceil(len(configs) / chunks.chunk) * chunks.num_calls
    with tqdm(total=total, disable=not job.progress, unit="chunk", leave=False) as bar:
        for start in range(0, len(configs), chunks.chunk):
            take = np.arange(start, start + chunks.chunk).clip(max=len(configs) - 1)  # the last chunk repeats a row
            hparams = jax.device_put(jax.tree.map(lambda column, take=take: column[take], columns), device[0])
            rows = sweep_rows.train_folds(spec, chunks, hparams, key_data, seeds, placed, impl, bar)
            end = len(configs) - start
            pieces.append(jax.tree.map(lambda leaf, end=end: np.asarray(leaf)[:, :, :end], rows))
    rows = jax.tree.map(lambda *parts: np.concatenate(parts, axis=2), *pieces)
    return _ranked(spec, job, configs, config_ids, rows, num_folds, helpers)


def _ranked(
    spec: TrainSpec,
    job: Any,
    configs: list[dict[str, Any]],
    config_ids: list[int],
    rows: Rows,
    num_folds: int,
    helpers: Any,
) -> SweepResult:
    """The table of the rows' means over the folds (configuration-major), ranked by the mean."""
    tables = [
        helpers.table(
            spec, job, configs, config_ids, jax.tree.map(lambda leaf, k=k: leaf[k], rows._replace(params=()))
        )[0]
        for k in range(num_folds)
    ]
    table = dict(tables[0])
    per_fold = {name: np.stack([t[name] for t in tables], axis=1).astype(np.float64) for name in FOLD_MEASURES}
    statuses = np.stack([t["status"] for t in tables], axis=1)
    table["status"] = np.where(
        (statuses == "diverged").any(axis=1),
        "diverged",
        np.where((statuses == "early_stopped").any(axis=1), "early_stopped", "completed"),
    )
    for name, values in per_fold.items():
        finite = np.where(np.isfinite(values), values, np.nan)
        with np.errstate(invalid="ignore"), _quiet():
            table[name] = np.nanmean(finite, axis=1)
            table[f"{name}_std"] = np.nanstd(finite, axis=1)
    for name in ("best_epoch", "stopped_epoch"):
        table[name] = np.rint(np.nan_to_num(table[name])).astype(np.int64)
    table["epochs_run"] = table["stopped_epoch"]
    folds = dict(per_fold) | {"status": statuses}
    num_rows = len(configs) * len(job.seeds)
    with _quiet():  # the mean curve over the folds (NaN where every fold had stopped)
        curves = {
            name: np.nanmean(
                np.stack([np.swapaxes(rows.history[name][k], 0, 1).reshape(num_rows, -1) for k in range(num_folds)]),
                axis=0,
            )
            for name in loop.HISTORY_KEYS
        }
    # params: (rows, folds, ...) — every fold's model of a row
    params = jax.tree.map(
        lambda leaf: np.moveaxis(np.swapaxes(leaf, 1, 2).reshape(num_folds, num_rows, *leaf.shape[3:]), 0, 1),
        rows.params,
    )
    metric_name, _, higher_is_better = spec.metric_for(job.data.task)
    settings = {
        name: getattr(spec, name)
        for name in ("optimizer", "batch_size", "num_epochs", "schedule", "warmup_steps", "nesterov")
    }
    settings |= {name: value for name, value in job.base._asdict().items() if name not in job.swept}
    settings["cv"] = num_folds
    return SweepResult(
        table=table,
        curves=curves,
        params=params,
        model=spec.model,
        metric=metric_name,
        higher_is_better=higher_is_better,
        hyperparameters=job.swept,
        log_scaled=job.log_scaled,
        ranked_by=RANKED_BY_VALIDATION,
        settings=settings,
        folds=folds,
    )


class _quiet:
    """Silence NumPy's warning for a row whose every fold diverged (its mean is NaN, as it should be)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def refit(spec: TrainSpec, job: Any, data: Any, result: SweepResult) -> Any:
    """The best row's configuration trained on the whole training split (``None`` if every row diverged).

    It runs the sweep's ``num_epochs``, or with early stopping the folds' mean best epoch (the whole
    split leaves no validation data to stop on), from the row's key ``fold_in(key, seed)``."""
    from jaxnn import train as train_lib

    if not len(result) or result.table["status"][0] == "diverged":
        return None
    row = result.row(0)
    settings = {name: row.get(name, getattr(spec, name)) for name in PROGRAM_KEYS}
    num_epochs = settings["num_epochs"]
    if spec.early_stopping is not None:
        num_epochs = max(1, int(row["best_epoch"]))
    values = {name: row.get(name, getattr(job.base, name)) for name in Hyperparams._fields}
    values = {name: value for name, value in values.items() if value is not None}
    return train_lib.fit(
        result.model(0),  # the sweep's model, with the row's hidden sizes where the space varied them
        data,
        key=jax.random.fold_in(job.key, int(row["seed"])),
        hyperparams=Hyperparams(**{name: jnp.float32(v) for name, v in values.items()}),
        optimizer=settings["optimizer"],
        num_epochs=num_epochs,
        batch_size=settings["batch_size"],
        schedule=settings["schedule"],
        nesterov=spec.nesterov,
        warmup_steps=spec.warmup_steps,
        loss=spec.loss,
        metric=spec.metric,
        progress=False,
        on_divergence="return",
    )
