"""The result of a sweep: a ranked table, the curves, and every row's parameters."""

import csv
import io
import json
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, errors, plotting
from jaxnn import metrics as metrics_lib
from jaxnn._io import atomic_write
from jaxnn.models import Model, ensemble
from jaxnn.sweeps.architecture import hidden_sizes
from jaxnn.sweeps.space import python_value
from jaxnn.train import predict
from jaxnn.typing import ArrayLike, Params

__all__ = ["Ensemble", "RANKED_BY_TRAINING", "RANKED_BY_VALIDATION", "SweepResult", "as_column"]

# The table's ranking: by the best epoch's validation metric, ties broken by its validation loss;
# without a validation split, by the best epoch's training loss.
RANKED_BY_VALIDATION = ("best_val_metric", "best_val_loss")
RANKED_BY_TRAINING = ("best_train_loss",)


class Ensemble(NamedTuple):
    """What :meth:`SweepResult.ensemble` returns: a :class:`jaxnn.Model` and its params (one entry per row)."""

    model: Model
    params: Params


class SweepResult:
    """The outcome of a sweep: one row per (configuration, seed).

    Every row keeps the parameters of its best epoch (the lowest validation
    loss, or what ``early_stopping.monitor`` names), and every ``best_*`` and
    ``test_*`` column describes exactly those parameters: what the table ranks
    is what :meth:`params` returns.

    Attributes:
        table: dict of equal-length columns (NumPy arrays): the swept
            hyperparameters, ``seed``, ``config`` (the configuration index,
            shared by its seeds), ``status``, ``best_epoch``, ``stopped_epoch``,
            ``best_train_loss``, ``best_val_loss``, ``best_val_metric`` (at the
            best epoch), ``final_val_loss``, ``final_val_metric`` (at the last
            epoch that ran), ``test_loss``, ``test_metric`` (of the returned
            params); ``sizes`` (the hidden widths, a tuple per row) when the space varied
            them; and ``val_<name>`` for each other metric of the task (see :mod:`jaxnn.metrics`) of
            the returned params on the validation split. Sorted best first by ``ranked_by``; diverged
            rows last.
        ranked_by: the ranking columns, each later one breaking ties:
            ``("best_val_metric", "best_val_loss")``, or ``("best_train_loss",)``
            when the data has no validation split.
        curves: dict from history name to a ``(rows, epochs)`` array, in table order
            (NaN for epochs a row did not run).
        metric: the metric's name; ``higher_is_better`` its direction.
        hyperparameters: the swept names; ``log_scaled`` those on a log scale.
        settings: what every row shared: the program settings (``optimizer``, ``batch_size``,
            ``num_epochs``, ``schedule``, ...) and the fixed hyperparameters. :meth:`concat`
            turns the settings that differ between the sweeps it joins into columns.
        folds: for a cross-validated sweep (``cv=``), each fold's value of the measures the table
            averages (``best_val_metric``, ``best_val_loss``, ...) as ``(rows, folds)`` arrays, and
            ``status`` per fold; None otherwise. The table then holds their means (what it ranks by)
            and ``<name>_std`` columns.
        refit: for a cross-validated sweep, the :class:`jaxnn.TrainResult` of the best row's
            configuration trained on all the training data (None with ``refit=False``).
        task: the data's task (``"binary"``, ``"multiclass"`` or ``"regression"``), or None when
            unknown; :meth:`ensemble` averages probabilities for classes and outputs for regression.
        study: the Optuna study, when a sampler chose the configurations (else ``None``).
        shard: a :class:`jaxnn.cluster.ShardInfo` when the sweep trained one shard
            (``shard=(i, n)``; join the shards with :func:`jaxnn.merge`), else ``None``.

    Each row's model is :meth:`model` (``result.model(i)``); rows of a sweep whose space varied
    ``sizes`` have models (and params) of different shapes. Built by hand, a result of several
    models takes ``model`` as the list of models, ``params`` as one stacked pytree per model and
    ``rows_of`` as each row's ``(model index, index in that model's params)``.
    """

    def __init__(
        self,
        *,
        table: dict[str, np.ndarray],
        curves: dict[str, np.ndarray],
        params: Params | Sequence[Params],
        model: Model | Sequence[Model],
        metric: str,
        higher_is_better: bool,
        hyperparameters: list[str],
        log_scaled: set[str],
        ranked_by: Sequence[str] = RANKED_BY_VALIDATION,
        schedules: Sequence[Any] | None = None,
        settings: dict[str, Any] | None = None,
        folds: dict[str, np.ndarray] | None = None,
        rows_of: np.ndarray | None = None,
        task: str | None = None,
    ):
        several = not isinstance(model, Model)
        self._models: list[Model] = [model] if isinstance(model, Model) else list(model)
        self._stacks = [jax.tree.map(np.asarray, stack) for stack in (params if several else [params])]
        self.task = task
        self.metric = metric
        self.higher_is_better = higher_is_better
        self.hyperparameters = hyperparameters
        self.log_scaled = set(log_scaled)
        self.ranked_by = tuple(ranked_by)
        order = self._ranking(table)
        self.table = {name: np.asarray(column)[order] for name, column in table.items()}
        self.curves = {name: np.asarray(curve)[order] for name, curve in curves.items()}
        num_rows = len(order)
        rows_of = np.stack([np.zeros(num_rows, int), np.arange(num_rows)], 1) if rows_of is None else rows_of
        self._rows_of = np.asarray(rows_of, np.int64).reshape(num_rows, 2)[order]  # (model, index in its params)
        self._schedules = None if schedules is None else [schedules[i] for i in order]
        self.settings = dict(settings or {})
        self.folds = None if folds is None else {name: np.asarray(column)[order] for name, column in folds.items()}
        self.refit = None  # a cross-validated sweep's best configuration trained on all training data
        self.study = None  # the Optuna study, when a sampler chose the configurations
        # A jaxnn.cluster.ShardInfo when the sweep trained one shard of its configurations (typed Any: importing
        # jaxnn.cluster here, even for type checkers only, would make a cycle of the two modules).
        self.shard: Any = None

    def _ranking(self, table: dict[str, np.ndarray]) -> np.ndarray:
        """Row order, best first: by ``ranked_by`` (each later column breaks ties), diverged rows last."""
        usable = np.asarray(table["status"]) != "diverged"
        keys = [np.arange(len(usable))]
        for name in reversed(self.ranked_by):
            values = np.asarray(table[name], np.float64)
            if name.endswith("_metric") and self.higher_is_better:
                values = -values
            keys.append(np.where(usable & np.isfinite(values), values, np.inf))
        keys.append(~usable)
        return np.lexsort(keys)

    def __len__(self) -> int:
        return len(self.table["status"])

    @property
    def best(self) -> dict[str, Any]:
        """The best row as a dict: the first of the table (see ``ranked_by``).

        Raises:
            jaxnn.errors.AllRunsDiverged: every row diverged, so no row is usable (a ``ValueError``
                and a :class:`jaxnn.TrainingDiverged`).
        """
        if len(self) and self.table["status"][0] == "diverged":
            raise errors.AllRunsDiverged(
                self,
                f"every one of the {len(self)} runs of this sweep diverged (NaN or infinite loss), so there is no "
                "best configuration; lower the learning rates or clip gradients (clip_norm)",
            )
        return self.row(0)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` of the table (0 is the best) as a dict of Python values."""
        self._check_index(i)
        return {name: python_value(column[i]) for name, column in self.table.items()}

    def params(self, i: int = 0) -> Params:
        """The trained parameters of row ``i`` (0 is the best), ready for ``self.model(i).apply``: the row's
        own shapes.

        Raises:
            ConfigError: the sweep cross-validated its rows (``cv=``): a row is one model per fold, so
                ask for :meth:`fold_params`, or take ``result.refit.params`` (the best row refit on
                all training data).
        """
        self._check_index(i)
        if self.folds is not None:
            raise errors.ConfigError(
                f"row {i} of a cross-validated sweep is {self.num_folds} models, one per fold: use "
                f"result.fold_params({i}, fold) for one of them, or result.refit.params for the best configuration "
                "trained on all the training data"
            )
        which, index = self._rows_of[i]
        return jax.tree.map(lambda leaf: jnp.asarray(leaf[index]), self._stacks[which])

    def stacked_params(self) -> Params:
        """Every row's parameters stacked along a first axis, in table order (a sweep of one model).

        Raises:
            ConfigError: the rows have models of different shapes (the space varied ``sizes``).
        """
        if len(self._models) != 1:
            raise errors.ConfigError(
                f"the rows have {len(self._models)} models of different shapes, whose params "
                "cannot be stacked: take params(i) row by row"
            )
        positions = self._rows_of[:, 1]
        return jax.tree.map(lambda leaf: np.asarray(leaf)[positions], self._stacks[0])

    def param_stacks(self) -> tuple[list[Model], list[Params], np.ndarray]:
        """The parameters as the result holds them: each distinct model (:attr:`models`), the stacked params of
        its rows (a leading axis), and per row, in table order, ``(model index, index in its stack)``. What
        :func:`jaxnn.cluster.save_shard` writes and a result of several models is built from."""
        return list(self._models), list(self._stacks), self._rows_of.copy()

    def model(self, i: int = 0) -> Model:
        """The model row ``i`` trained (0 is the best): the sweep's model, with the row's ``sizes`` if the space
        varied them. ``jaxnn.predict(result.model(i), result.params(i), x)`` is the row's prediction."""
        self._check_index(i)
        return self._models[self._rows_of[i, 0]]

    @property
    def models(self) -> list[Model]:
        """The distinct models of the rows (one unless the space varied ``sizes``)."""
        return list(self._models)

    def ensemble(self, top: int = 5) -> "Ensemble":
        """A model averaging the predictions of the ``top`` best rows, and its params.

        Classification averages the rows' probabilities, regression their outputs (see
        :func:`jaxnn.ensemble`); the rows may differ in ``sizes``. The model works with
        :func:`jaxnn.predict`, :func:`jaxnn.evaluate`, :func:`jaxnn.save` and :func:`jaxnn.load`
        (and ``jaxnn predict --model``). Diverged rows among the ``top`` are left out, with a warning
        that names them.

        >>> model, params = result.ensemble(top=5)  # doctest: +SKIP
        >>> jaxnn.predict(model, params, x)  # doctest: +SKIP

        Raises:
            ConfigError: ``top`` below 1 or more than the rows.
            jaxnn.errors.AllRunsDiverged: every one of the ``top`` rows diverged.
        """
        top = _checks.positive_int("top", top)
        if top > len(self):
            raise errors.ConfigError(f"{errors.arg('top')} (={top}) is more than the sweep's {len(self)} rows")
        status = np.asarray(self.table["status"])[:top]
        rows = [i for i in range(top) if status[i] != "diverged"]
        if not rows:
            raise errors.AllRunsDiverged(
                self, f"all of the top {top} rows diverged (NaN or infinite loss): there is nothing to average"
            )
        if len(rows) < top:
            left_out = [str(i) for i in range(top) if i not in rows]
            warnings.warn(
                f"{'row' if len(left_out) == 1 else 'rows'} {', '.join(left_out)} of the top {top} diverged "
                f"and {'is' if len(left_out) == 1 else 'are'} left out: the ensemble averages the other "
                f"{len(rows)}",
                stacklevel=2,
            )
        model = ensemble([self.model(i) for i in rows], task=self._task())
        return Ensemble(model, [self.params(i) for i in rows])

    def _task(self) -> str:
        """The data's task, or what the metric and the output width say when the result does not know it."""
        if self.task is not None:
            return self.task
        if not self.higher_is_better:
            return "regression"
        outputs = jax.eval_shape(
            self.model(0).apply, self.params(0), jax.ShapeDtypeStruct((1, *self.model(0).input_shape), jnp.float32)
        )
        return "binary" if outputs.shape[-1] == 1 else "multiclass"

    @property
    def num_folds(self) -> int:
        """The number of cross-validation folds (``cv=``), 0 for a sweep validated on one split."""
        return 0 if self.folds is None else int(next(iter(self.folds.values())).shape[1])

    def fold_params(self, i: int, fold: int) -> Params:
        """Row ``i``'s parameters trained on fold ``fold``'s training part (a cross-validated sweep)."""
        self._check_index(i)
        if self.folds is None:
            raise errors.ConfigError("fold_params needs a cross-validated sweep (cv=); use params(i)")
        if not isinstance(fold, (int, np.integer)) or not 0 <= fold < self.num_folds:
            raise errors.IndexOutOfRange(f"fold {fold!r} is out of range for {self.num_folds} folds")
        which, index = self._rows_of[i]
        return jax.tree.map(lambda leaf: jnp.asarray(leaf[index][fold]), self._stacks[which])

    def schedule(self, i: int = 0) -> list[tuple[int, dict[str, float]]]:
        """Row ``i``'s hyperparameter schedule under PBT: ``(first_epoch, {name: value})`` pairs.

        The first pair gives every hyperparameter at epoch 0, each later one the
        perturbed values from that epoch on, following the row's lineage: the values
        that trained the weights :meth:`params` returns. ``jaxnn.fit(...,
        hyperparameter_schedule=result.schedule(i))`` with the sweep's other settings
        and the row's key (``fold_in(key, seed)``) trains them again.

        Raises:
            ValueError: the sweep did not run PBT (its rows' hyperparameters never changed).
        """
        self._check_index(i)
        if self._schedules is None or self._schedules[i] is None:
            raise errors.ConfigError(
                "only rows of a PBT sweep have a hyperparameter schedule; the others kept their values"
            )
        return [(int(epoch), dict(values)) for epoch, values in self._schedules[i]]

    def predict(self, i: int, x: ArrayLike, **options: Any) -> np.ndarray:
        """``jaxnn.predict`` with row ``i``'s model and parameters."""
        return predict(self.model(i), self.params(i), x, **options)

    def _check_index(self, i: int) -> None:
        if not isinstance(i, (int, np.integer)) or not -len(self) <= i < len(self):
            raise errors.IndexOutOfRange(f"row index {i!r} is out of range for a sweep of {len(self)} rows")

    def aggregate(self) -> dict[str, np.ndarray]:
        """One row per configuration: the mean, standard deviation and count over its seeds, best mean first.

        A configuration's seeds differ only in their key (the initialization, shuffling and dropout), so
        the spread over them is the noise that a difference between configurations has to beat. Ranking
        by the mean picks the configuration that trains well, not the one with the luckiest seed.

        Every numeric result column of ``table`` (``best_val_metric``, ``best_val_loss``,
        ``test_metric``, ``best_epoch``, ...) gets ``<name>_mean`` and ``<name>_std``, over the seeds that
        did not diverge (and where the value is finite). The standard deviation is the sample one
        (``ddof=1``, as pandas and ``statistics.stdev`` give it), NaN with fewer than two seeds.

        Configurations rank by the mean of ``ranked_by`` (each later column breaking ties), in the
        metric's direction (``higher_is_better``); one with a diverged seed ranks after every one whose
        seeds all trained (a run that can diverge is not a reliable choice), and one whose seeds all
        diverged comes last.

        Returns:
            Columns (NumPy arrays, one entry per configuration): the hyperparameters, ``config`` (the
            configuration's index), ``num_seeds`` (its rows), ``num_diverged``, ``count`` (the seeds
            behind each mean: ``num_seeds - num_diverged``), ``<name>_mean`` and ``<name>_std`` for each
            numeric result column, ``best_seed`` (the configuration's best seed, by the row ranking) and
            ``best_row`` (that row's index in ``table``: ``result.params(best_row)`` are its
            parameters).

        Raises:
            ValueError: the sweep ran PBT, where a configuration is a slot whose seeds
                followed different lineages and ended with different hyperparameters.

        >>> summary = result.aggregate()  # doctest: +SKIP
        >>> best = int(summary["best_row"][0])  # doctest: +SKIP
        >>> params = result.params(best)  # the best configuration's best seed  # doctest: +SKIP
        """
        if "lineage" in self.table:
            raise errors.ConfigError(
                "aggregate() groups rows by configuration, but under PBT each seed's row of a "
                "configuration followed its own lineage and hyperparameters; compare rows instead"
            )
        configs = np.asarray(self.table["config"])
        usable = np.asarray(self.table["status"]) != "diverged"
        unique = list(dict.fromkeys(configs.tolist()))  # each configuration's first row is its best seed
        measures = self._numeric_results()
        columns: dict[str, list] = {
            name: [] for name in [*self.hyperparameters, "config", "num_seeds", "num_diverged", "count"]
        }
        columns |= {f"{name}_{statistic}": [] for name in measures for statistic in ("mean", "std")}
        columns |= {"best_seed": [], "best_row": []}
        for config in unique:
            rows = np.flatnonzero(configs == config)
            trained = rows[usable[rows]]
            for name in self.hyperparameters:
                columns[name].append(python_value(self.table[name][rows[0]]))
            columns["config"].append(python_value(config))
            columns["num_seeds"].append(len(rows))
            columns["num_diverged"].append(len(rows) - len(trained))
            columns["count"].append(len(trained))
            for name in measures:
                mean, std = _mean_and_std(np.asarray(self.table[name], np.float64)[trained])
                columns[f"{name}_mean"].append(mean)
                columns[f"{name}_std"].append(std)
            columns["best_seed"].append(python_value(self.table["seed"][rows[0]]))
            columns["best_row"].append(int(rows[0]))
        table = {name: as_column(values) for name, values in columns.items()}
        keys: list[np.ndarray] = [np.arange(len(unique))]
        for name in reversed(self.ranked_by):
            values = table[f"{name}_mean"] * (-1 if name.endswith("_metric") and self.higher_is_better else 1)
            keys.append(np.where(np.isfinite(values), values, np.inf))
        keys += [table["num_diverged"] > 0, table["count"] == 0]
        order = np.lexsort(keys)
        return {name: column[order] for name, column in table.items()}

    def _numeric_results(self) -> list[str]:
        """The table's numeric result columns (not a hyperparameter, ``seed`` or ``config``), ranking ones first."""
        skip = {*self.hyperparameters, "seed", "config"}
        numeric = [
            name for name, column in self.table.items() if name not in skip and np.asarray(column).dtype.kind in "iuf"
        ]
        return [
            *(name for name in self.ranked_by if name in numeric),
            *(name for name in numeric if name not in self.ranked_by),
        ]

    def format_aggregate(self, top: int | None = 10) -> str:
        """:meth:`aggregate`'s first ``top`` configurations as Markdown: each ranking column and the test
        metric as mean ± std over the seeds, the number of seeds, and each configuration's best seed."""
        summary = self.aggregate()
        shown = [name for name in (*self.ranked_by, "test_metric") if f"{name}_mean" in summary]
        diverged = bool(np.any(summary["num_diverged"] > 0))
        header = [
            *self.hyperparameters,
            "seeds",
            *(["diverged"] if diverged else []),
            *(f"{name} (mean ± std)" for name in shown),
            "best_seed",
        ]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        count = len(summary["config"])
        for i in range(count if top is None else min(top, count)):
            cells = [_cell(summary[name][i]) for name in self.hyperparameters]
            cells += [str(summary["num_seeds"][i]), *([str(summary["num_diverged"][i])] if diverged else [])]
            cells += [_mean_std(summary[f"{name}_mean"][i], summary[f"{name}_std"][i]) for name in shown]
            cells.append(str(summary["best_seed"][i]))
            lines.append("| " + " | ".join(cells) + " |")
        if top is not None and count > top:
            lines.append(f"({count - top} more configuration{'s' if count - top > 1 else ''})")
        return "\n".join(lines)

    def format(self, top: int | None = 10) -> str:
        """The table (first ``top`` rows) as Markdown: the ranking metric (headed by its name, e.g.
        ``best_val_roc_auc``) and the task's other metrics on the validation split (``val_<name>``)."""
        columns = [
            *self.hyperparameters,
            "seed",
            "status",
            "best_epoch",
            "best_val_loss",
            "best_val_metric",
            "test_metric",
        ]
        if self.folds is not None:  # cross-validated: means over the folds, their spread; no fold has a test split
            columns[-1] = "best_val_metric_std"
        columns += [
            name
            for name in ("epochs_run", "bracket", "rung", "lineage")
            if name in self.table and len(self.table) > 0 and ("rung" in self.table or "lineage" in self.table)
        ]
        columns += [name for name in self.table if name.startswith("val_") and name[4:] in metrics_lib.METRICS]
        rows = range(len(self) if top is None else min(top, len(self)))
        # The ranking metric by its name: "best_val_roc_auc", "test_roc_auc"
        headers = [
            name.replace("_metric", f"_{self.metric}") if name in ("best_val_metric", "test_metric") else name
            for name in columns
        ]
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(columns)]
        for i in rows:
            cells = []
            for name in columns:
                value = python_value(self.table[name][i])
                cells.append(f"{value:.4g}" if isinstance(value, float) else str(value))
            lines.append("| " + " | ".join(cells) + " |")
        if top is not None and len(self) > top:
            lines.append(f"({len(self) - top} more rows)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        best = self.row(0) if len(self) else None
        return f"SweepResult({len(self)} rows, metric={self.metric!r}, ranked_by={self.ranked_by}, first={best})"

    def to_csv(self, path: str | os.PathLike, *, aggregate: bool = False) -> None:
        """Write the table as CSV (atomically: a temporary file renamed into place); with ``aggregate``,
        :meth:`aggregate`'s table of configurations instead."""
        columns = self.aggregate() if aggregate else self.table
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        names = list(columns)
        writer.writerow(names)
        for i in range(len(columns[names[0]]) if names else 0):
            writer.writerow([python_value(columns[name][i]) for name in names])
        atomic_write(path, buffer.getvalue())

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the table, the curves and the sweep's description as JSON (atomically)."""

        def clean(value: Any) -> Any:
            value = python_value(value)
            return None if isinstance(value, float) and not math.isfinite(value) else value

        document = {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "hyperparameters": self.hyperparameters,
            "log_scaled": sorted(self.log_scaled),
            "model": self._models[0].config if len(self._models) == 1 else None,
            "models": [model.config for model in self._models],
            "rows": [{name: clean(v) for name, v in self.row(i).items()} for i in range(len(self))],
            "curves": {name: [[clean(v) for v in row] for row in curve] for name, curve in self.curves.items()},
        }
        if self._schedules is not None:
            document["schedules"] = self._schedules
        atomic_write(path, json.dumps(document, indent=1))

    def plot(self, directory: str | os.PathLike, *, top: int = 5) -> list[str]:
        """Write ``curves.png`` (validation curves of the top rows) and ``metric_vs_<name>.png``.

        Returns:
            The paths written.
        """
        return plotting.plot_sweep(self, directory, top=top)

    @staticmethod
    def concat(results: Sequence["SweepResult"]) -> "SweepResult":
        """Merge sweeps of the same metric (e.g. one per optimizer, or one per model) into one ranked table.

        What distinguished the sweeps stays in the table: a setting of ``settings`` that differs
        between them (``optimizer``, ``batch_size``, a fixed hyperparameter, ...) becomes a column, so
        an adam and an sgd sweep give rows that say which they are; sweeps of different models keep
        each row's model (:meth:`model`) and params, and get a ``sizes`` column (the hidden widths of
        models built by :func:`jaxnn.mlp` or :func:`jaxnn.cnn`) if they lack one.
        """
        if not results:
            raise errors.ConfigError("concat needs at least one SweepResult")
        first = results[0]
        for other in results[1:]:
            if other.metric != first.metric:
                raise errors.ConfigError(
                    f"concat needs sweeps of the same metric, got {first.metric!r} and {other.metric!r}"
                )
            if other.ranked_by != first.ranked_by:
                raise errors.ConfigError(
                    f"concat needs sweeps ranked alike, got {first.ranked_by} and {other.ranked_by}"
                )
        models: list[Model] = []
        for r in results:
            models += [m for m in r._models if m not in models]
        differing = _differing_settings(results)
        results = [r._with_columns({name: r.settings.get(name) for name in differing}) for r in results]
        if len(models) > 1:
            results = [r._with_sizes() for r in results]
        names = list(dict.fromkeys(name for r in results for name in r.table))
        epochs = max(next(iter(r.curves.values())).shape[1] for r in results)
        ids = [np.unique(r.table["config"]) for r in results]
        # Sweeps of one call carry global configuration ids; independent sweeps get theirs shifted.
        shift = sum(map(len, ids)) != len(np.unique(np.concatenate(ids)))
        table: dict[str, list[np.ndarray]] = {name: [] for name in names}
        offset = 0
        for r in results:
            for name in names:
                column = r.table.get(name)
                if name == "config":
                    column = np.asarray(r.table["config"]) + (offset if shift else 0)
                elif name == "lineage" and column is not None and shift:  # "3>7" names configurations too
                    column = np.asarray(
                        [">".join(str(int(c) + offset) for c in str(chain).split(">")) for chain in column],
                        dtype=object,
                    )
                elif column is None:
                    column = np.full(len(r), None, dtype=object)
                table[name].append(np.asarray(column, dtype=object if column.dtype == object else None))
            offset += int(np.max(r.table["config"])) + 1

        def pad(curve):
            return np.pad(curve, ((0, 0), (0, epochs - curve.shape[1])), constant_values=np.nan)

        curves = {k: np.concatenate([pad(r.curves[k]) for r in results]) for k in first.curves}
        stacks: list[list[Params]] = [[] for _ in models]
        rows_of = []
        for r in results:  # each result's stacks appended to its model's; rows point into them
            starts = []
            for model, stack in zip(r._models, r._stacks, strict=False):
                which = models.index(model)
                starts.append((which, sum(len(jax.tree.leaves(s)[0]) for s in stacks[which])))
                stacks[which].append(stack)
            rows_of += [(starts[m][0], starts[m][1] + index) for m, index in r._rows_of]
        folds = None
        fold_tables = [r.folds for r in results if r.folds is not None]
        if len(fold_tables) == len(results):
            assert first.folds is not None, "each result keeps its folds through _with_columns and _with_sizes"
            folds = {name: np.concatenate([f[name] for f in fold_tables]) for name in first.folds}
        schedules = None
        if any(r._schedules is not None for r in results):
            schedules = [s for r in results for s in (r._schedules or [None] * len(r))]
        return SweepResult(
            table={name: np.concatenate(columns) for name, columns in table.items()},
            curves=curves,
            params=[jax.tree.map(lambda *leaves: np.concatenate(leaves), *parts) for parts in stacks],
            model=models,
            rows_of=np.asarray(rows_of, np.int64).reshape(-1, 2),
            metric=first.metric,
            higher_is_better=first.higher_is_better,
            hyperparameters=list(dict.fromkeys(h for r in results for h in r.hyperparameters)),
            log_scaled=set().union(*(r.log_scaled for r in results)),
            ranked_by=first.ranked_by,
            schedules=schedules,
            settings={name: value for name, value in first.settings.items() if name not in differing},
            folds=folds,
            task=first.task,
        )

    def _with_sizes(self) -> "SweepResult":
        """This result with a ``sizes`` column (each row's hidden widths) if it has none."""
        if "sizes" in self.table:
            return self
        copy = object.__new__(SweepResult)
        copy.__dict__.update(self.__dict__)
        copy.table = dict(self.table)
        copy.table["sizes"] = as_column([hidden_sizes(self.model(i)) for i in range(len(self))])
        copy.hyperparameters = ["sizes", *self.hyperparameters]
        return copy

    def _with_columns(self, values: dict[str, Any]) -> "SweepResult":
        """This result with a constant column per entry of ``values`` (for rows that keep the columns they have)."""
        if not values:
            return self
        copy = object.__new__(SweepResult)
        copy.__dict__.update(self.__dict__)
        copy.table = dict(self.table)
        for name, value in values.items():
            if name not in copy.table:
                copy.table[name] = np.full(
                    len(self), value, dtype=object if not isinstance(value, (int, float)) else None
                )
        copy.hyperparameters = [*self.hyperparameters, *(name for name in values if name not in self.hyperparameters)]
        return copy


def _mean_and_std(values: np.ndarray) -> tuple[float, float]:
    """The mean and sample standard deviation (``ddof=1``) of the finite ``values``; NaN where undefined."""
    values = values[np.isfinite(values)]
    mean = float(np.mean(values)) if len(values) else math.nan
    return mean, float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def _cell(value: Any) -> str:
    value = python_value(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _mean_std(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.4g}" if not math.isfinite(std) else f"{mean:.4g} ± {std:.2g}"


def as_column(values: Sequence[Any]) -> np.ndarray:
    """A table column: a NumPy array of ``values``, one entry per row even when they are tuples (layer sizes)."""
    if any(isinstance(value, (tuple, list)) for value in values):
        column = np.empty(len(values), dtype=object)
        column[:] = [None if value is None else tuple(value) for value in values]
        return column
    return np.asarray(values)


def _differing_settings(results: Sequence[SweepResult]) -> list[str]:
    """The settings whose values differ between ``results`` (a setting one of them lacks counts as differing)."""
    names = list(dict.fromkeys(name for r in results for name in r.settings))
    missing = object()
    return [name for name in names if len({repr(r.settings.get(name, missing)) for r in results}) > 1]
