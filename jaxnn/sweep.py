"""Hyperparameter sweeps: many configurations trained by one compiled program.

``sweep`` turns a search space into rows of :class:`jaxnn.Hyperparams` and
trains them all with ``jit(vmap(train))`` — the very function ``fit`` runs — so
there is one compile, no matter how many values, and a second sweep with other
values of the same size reuses it.

Randomness is shared on purpose: every configuration with seed ``s`` trains
from the key ``fold_in(key, s)``, exactly like ``fit(..., key=fold_in(key, s))``.
Configurations with the same seed therefore start from the same initial
weights and see the same minibatches (a paired comparison), adding
configurations never changes the others, and the shared minibatches let XLA
compute the first layer of all configurations as one flat matmul.

>>> import jaxnn
>>> data = jaxnn.datasets.load("breast_cancer", seed=0)
>>> result = jaxnn.sweep(jaxnn.mlp([30, 16, 1]), data, space={"learning_rate": [0.01, 0.1]},
...                      optimizer="sgd", num_epochs=5, batch_size=32, key=0, progress=False)
>>> len(result.table["learning_rate"])
2
"""

import functools
import itertools
import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, hyperparams as hyperparams_lib, parallel
from jaxnn._io import atomic_write
from jaxnn.models import Model, has_dropout
from jaxnn.train import (
    HISTORY_KEYS,
    STATUS,
    EarlyStopping,
    TrainSpec,
    _as_key,
    DEFAULT_METRIC,
    check_data,
)
from jaxnn.hyperparams import Hyperparams
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = ["SweepResult", "choice", "loguniform", "sweep", "uniform"]

SWEEPABLE = hyperparams_lib.NAMES
# These change the compiled program: one program per distinct value, results merged.
PROGRAM_KEYS = ("optimizer", "batch_size", "num_epochs", "schedule")
# These change the model itself: build one model per value and sweep each.
MODEL_KEYS = ("sizes", "activation", "hidden", "layers", "output_activation")
# The table's ranking: by the best epoch's validation metric, ties broken by its validation loss;
# without a validation split, by the best epoch's training loss.
RANKED_BY_VALIDATION = ("best_val_metric", "best_val_loss")
RANKED_BY_TRAINING = ("best_train_loss",)


class loguniform(NamedTuple):
    """Sample uniformly in log space between ``low`` and ``high`` (both > 0)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
        return np.exp(rng.uniform(np.log(self.low), np.log(self.high), num))


class uniform(NamedTuple):
    """Sample uniformly between ``low`` and ``high``."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, num)


class choice(NamedTuple):
    """Sample uniformly from a list of values."""

    values: Sequence[Any]

    def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
        return np.asarray(self.values, dtype=object)[rng.integers(0, len(self.values), num)]


Distribution = loguniform | uniform | choice


def _check_distribution(name: str, dist: Distribution) -> None:
    if isinstance(dist, (loguniform, uniform)):
        low, high = float(dist.low), float(dist.high)
        if not (np.isfinite(low) and np.isfinite(high)) or low > high:
            raise ValueError(f"space[{name!r}]: {type(dist).__name__} needs finite low <= high, got ({low}, {high})")
        if isinstance(dist, loguniform) and low <= 0:
            raise ValueError(f"space[{name!r}]: loguniform needs low > 0, got {low}")
    elif isinstance(dist, choice):
        if len(dist.values) == 0:
            raise ValueError(f"space[{name!r}]: choice needs at least one value")


def expand_space(
    space: dict[str, Any], *, num_samples: int | None, seeds: int | Sequence[int], key: PRNGKey
) -> tuple[list[dict[str, Any]], list[int], set[str]]:
    """The configurations a space describes.

    Returns:
        ``(configs, seeds, log_scaled)``: one dict per configuration (without
        the seed), the seeds every configuration is trained with, and the names
        whose values span a log scale (for plots).
    """
    if not isinstance(space, dict) or not space:
        raise ValueError(
            f"`space` must be a non-empty dict from hyperparameter name to values, got {space!r}; "
            f"e.g. {{'learning_rate': [1e-3, 1e-2]}}"
        )
    valid = (*SWEEPABLE, "seed", *PROGRAM_KEYS)
    for name in space:
        if name in MODEL_KEYS:
            raise ValueError(
                f"{name!r} changes the model itself and cannot vary inside one sweep: build one model per value "
                f"and call jaxnn.sweep for each, then combine the tables with SweepResult.concat"
            )
        if name not in valid:
            raise _checks.unknown_name("hyperparameter", name, valid)
    space = dict(space)
    seed_values = space.pop("seed", None)
    if seed_values is not None:
        if isinstance(seed_values, int) or not all(isinstance(s, (int, np.integer)) for s in seed_values):
            raise TypeError(f"space['seed'] must be a list of ints, got {seed_values!r}")
        if seeds != 1:
            raise ValueError("give either seeds=n or space['seed'], not both")
        seed_list = [int(s) for s in seed_values]
    elif isinstance(seeds, int):
        seed_list = list(range(_checks.positive_int("seeds", seeds)))
    else:
        seed_list = [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ValueError(f"seeds must be distinct and non-empty, got {seed_list}")

    distributions = {name: v for name, v in space.items() if isinstance(v, (loguniform, uniform, choice))}
    for name, values in space.items():
        if name in distributions:
            _check_distribution(name, values)
            continue
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            values = [values]
            space[name] = values
        if len(values) == 0:
            raise ValueError(f"space[{name!r}] is empty: give at least one value")
        if name in SWEEPABLE:
            for value in values:
                if isinstance(value, (str, bytes, bool)) or not isinstance(value, (int, float, np.number)):
                    raise TypeError(f"space[{name!r}] values must be numbers, got {value!r}")
    log_scaled = {name for name, v in distributions.items() if isinstance(v, loguniform)}
    for name, values in space.items():
        if name not in distributions and name in SWEEPABLE:
            numbers = np.asarray(values, dtype=np.float64)
            if numbers.size > 2 and np.all(numbers > 0) and numbers.max() / numbers.min() >= 100:
                log_scaled.add(name)

    if distributions:
        if num_samples is None:
            raise ValueError(
                f"the space has distributions ({', '.join(sorted(distributions))}): pass num_samples=N for random search"
            )
        num_samples = _checks.positive_int("num_samples", num_samples)
        seed = int(np.asarray(jax.random.key_data(jax.random.fold_in(key, 0x5EED))).ravel()[-1])
        rng = np.random.default_rng(seed)
        columns = {}
        for name in sorted(space):  # sorted: the draws don't depend on dict order
            values = space[name]
            dist = values if name in distributions else choice(list(values))
            columns[name] = dist.sample(rng, num_samples)
        configs = [{name: _python(columns[name][i]) for name in space} for i in range(num_samples)]
    else:
        if num_samples is not None:
            raise ValueError("num_samples is for random search: the space has no distributions (it is a grid)")
        names = list(space)
        configs = [dict(zip(names, map(_python, combo))) for combo in itertools.product(*(space[n] for n in names))]

    for config in configs:
        for name, value in config.items():
            if name in SWEEPABLE:
                hyperparams_lib.check_value(name, value)
    return configs, seed_list, log_scaled


def _python(value: Any) -> Any:
    """NumPy scalars to plain Python (for the table, CSV and JSON)."""
    return value.item() if isinstance(value, np.generic) else value


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
            params). Sorted best first by ``ranked_by``; diverged rows last.
        ranked_by: the ranking columns, each later one breaking ties:
            ``("best_val_metric", "best_val_loss")``, or ``("best_train_loss",)``
            when the data has no validation split.
        curves: dict from history name to a ``(rows, epochs)`` array, in table order
            (NaN for epochs a row did not run).
        model: the model every row trained.
        metric: the metric's name; ``higher_is_better`` its direction.
        hyperparameters: the swept names; ``log_scaled`` those on a log scale.
    """

    def __init__(
        self,
        *,
        table: dict[str, np.ndarray],
        curves: dict[str, np.ndarray],
        params: Params,
        model: Model,
        metric: str,
        higher_is_better: bool,
        hyperparameters: list[str],
        log_scaled: set[str],
        ranked_by: Sequence[str] = RANKED_BY_VALIDATION,
    ):
        self.model = model
        self.metric = metric
        self.higher_is_better = higher_is_better
        self.hyperparameters = hyperparameters
        self.log_scaled = set(log_scaled)
        self.ranked_by = tuple(ranked_by)
        order = self._ranking(table)
        self.table = {name: np.asarray(column)[order] for name, column in table.items()}
        self.curves = {name: np.asarray(curve)[order] for name, curve in curves.items()}
        self._params = jax.tree.map(lambda leaf: np.asarray(leaf)[order], params)

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
            ValueError: every row diverged, so no row is usable.
        """
        if len(self) and self.table["status"][0] == "diverged":
            raise ValueError(
                f"every one of the {len(self)} runs of this sweep diverged (NaN or infinite loss), so there is no "
                "best configuration; lower the learning rates or clip gradients (clip_norm)"
            )
        return self.row(0)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` of the table (0 is the best) as a dict of Python values."""
        self._check_index(i)
        return {name: _python(column[i]) for name, column in self.table.items()}

    def params(self, i: int = 0) -> Params:
        """The trained parameters of row ``i`` (0 is the best), ready for ``self.model.apply``."""
        self._check_index(i)
        return jax.tree.map(lambda leaf: jnp.asarray(leaf[i]), self._params)

    def predict(self, i: int, x: ArrayLike, **options: Any) -> np.ndarray:
        """``jaxnn.predict`` with row ``i``'s parameters."""
        from jaxnn.train import predict

        return predict(self.model, self.params(i), x, **options)

    def _check_index(self, i: int) -> None:
        if not isinstance(i, (int, np.integer)) or not -len(self) <= i < len(self):
            raise IndexError(f"row index {i!r} is out of range for a sweep of {len(self)} rows")

    def aggregate(self) -> dict[str, np.ndarray]:
        """Mean and standard deviation over seeds of every configuration, best first.

        Returns:
            Columns: the hyperparameters, ``num_seeds``, ``num_diverged``, and
            ``<name>_mean`` / ``<name>_std`` for the validation and test metrics and
            the best epoch. Diverged seeds are excluded from the means.
        """
        configs = np.asarray(self.table["config"])
        unique = list(dict.fromkeys(configs.tolist()))  # keeps best-first order of each config's best seed
        measures = ["best_val_loss", "best_val_metric", "best_train_loss", "test_loss", "test_metric", "best_epoch"]
        out: dict[str, list] = {name: [] for name in self.hyperparameters}
        out |= {"num_seeds": [], "num_diverged": []}
        for m in measures:
            out[f"{m}_mean"], out[f"{m}_std"] = [], []
        for config in unique:
            rows = np.flatnonzero(configs == config)
            ok = rows[np.asarray(self.table["status"])[rows] != "diverged"]
            for name in self.hyperparameters:
                out[name].append(_python(self.table[name][rows[0]]))
            out["num_seeds"].append(len(rows))
            out["num_diverged"].append(len(rows) - len(ok))
            for m in measures:
                values = np.asarray(self.table[m], np.float64)[ok]
                out[f"{m}_mean"].append(float(np.mean(values)) if len(values) else math.nan)
                out[f"{m}_std"].append(float(np.std(values)) if len(values) else math.nan)
        columns = {name: np.asarray(values) for name, values in out.items()}
        keys = [np.arange(len(unique))]
        for name in reversed(self.ranked_by):
            values = columns[f"{name}_mean"] * (-1 if name.endswith("_metric") and self.higher_is_better else 1)
            keys.append(np.where(np.isfinite(values), values, np.inf))
        order = np.lexsort(keys)
        return {name: column[order] for name, column in columns.items()}

    def format(self, top: int | None = 10) -> str:
        """The table (first ``top`` rows) as Markdown."""
        columns = [*self.hyperparameters, "seed", "status", "best_epoch", "best_val_loss", "best_val_metric", "test_metric"]
        rows = range(len(self) if top is None else min(top, len(self)))
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for i in rows:
            cells = []
            for name in columns:
                value = _python(self.table[name][i])
                cells.append(f"{value:.4g}" if isinstance(value, float) else str(value))
            lines.append("| " + " | ".join(cells) + " |")
        if top is not None and len(self) > top:
            lines.append(f"({len(self) - top} more rows)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        best = self.row(0) if len(self) else None
        return f"SweepResult({len(self)} rows, metric={self.metric!r}, ranked_by={self.ranked_by}, first={best})"

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the table as CSV (atomically: a temporary file renamed into place)."""
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        names = list(self.table)
        writer.writerow(names)
        for i in range(len(self)):
            writer.writerow([_python(self.table[name][i]) for name in names])
        atomic_write(path, buffer.getvalue())

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the table, the curves and the sweep's description as JSON (atomically)."""
        def clean(value: Any) -> Any:
            value = _python(value)
            return None if isinstance(value, float) and not math.isfinite(value) else value

        document = {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "hyperparameters": self.hyperparameters,
            "log_scaled": sorted(self.log_scaled),
            "model": self.model.config,
            "rows": [{name: clean(v) for name, v in self.row(i).items()} for i in range(len(self))],
            "curves": {name: [[clean(v) for v in row] for row in curve] for name, curve in self.curves.items()},
        }
        atomic_write(path, json.dumps(document, indent=1))

    def plot(self, directory: str | os.PathLike, *, top: int = 5) -> list[str]:
        """Write ``curves.png`` (validation curves of the top rows) and ``metric_vs_<name>.png``.

        Returns:
            The paths written.
        """
        from jaxnn import plotting

        return plotting.plot_sweep(self, directory, top=top)

    @staticmethod
    def concat(results: Sequence["SweepResult"]) -> "SweepResult":
        """Merge sweeps of the same model and metric (e.g. one per optimizer) into one ranked table."""
        if not results:
            raise ValueError("concat needs at least one SweepResult")
        first = results[0]
        for other in results[1:]:
            if other.metric != first.metric or other.model.config != first.model.config:
                raise ValueError("concat needs sweeps of the same model and metric")
            if other.ranked_by != first.ranked_by:
                raise ValueError(f"concat needs sweeps ranked alike, got {first.ranked_by} and {other.ranked_by}")
        names = list(dict.fromkeys(name for r in results for name in r.table))
        epochs = max(next(iter(r.curves.values())).shape[1] for r in results)
        ids = [np.unique(r.table["config"]) for r in results]
        # Sweeps of one call carry global configuration ids; independent sweeps get theirs shifted.
        shift = sum(map(len, ids)) != len(np.unique(np.concatenate(ids)))
        table, offset = {name: [] for name in names}, 0
        for r in results:
            for name in names:
                column = r.table.get(name)
                if name == "config":
                    column = np.asarray(r.table["config"]) + (offset if shift else 0)
                elif column is None:
                    column = np.full(len(r), None, dtype=object)
                table[name].append(np.asarray(column, dtype=object if column.dtype == object else None))
            offset += int(np.max(r.table["config"])) + 1
        pad = lambda curve: np.pad(curve, ((0, 0), (0, epochs - curve.shape[1])), constant_values=np.nan)
        curves = {k: np.concatenate([pad(r.curves[k]) for r in results]) for k in first.curves}
        params = jax.tree.map(lambda *leaves: np.concatenate(leaves), *[r._params for r in results])
        return SweepResult(
            table={name: np.concatenate(columns) for name, columns in table.items()},
            curves=curves,
            params=params,
            model=first.model,
            metric=first.metric,
            higher_is_better=first.higher_is_better,
            hyperparameters=list(dict.fromkeys(h for r in results for h in r.hyperparameters)),
            log_scaled=set().union(*(r.log_scaled for r in results)),
            ranked_by=first.ranked_by,
        )


class _RowsResult(NamedTuple):
    """Per-row outputs of one compiled sweep program, shaped (seeds, configs, ...)."""

    params: Params
    history: dict[str, Array]
    best_epoch: Array
    stopped_epoch: Array
    status: Array
    test_loss: Array
    test_metric: Array


@functools.partial(jax.jit, static_argnames=("spec", "impl"))
def _sweep_init(spec: TrainSpec, hparams: Hyperparams, key_data: Array, seeds: Array, data: Any, impl: str):
    # The key travels as raw data so that every process of a multi-host job can place it.
    key = jax.random.wrap_key_data(key_data, impl=impl)
    per_seed = lambda seed: jax.vmap(lambda h: spec.program.init(h, jax.random.fold_in(key, seed), data))(hparams)
    return jax.vmap(per_seed)(seeds)


@functools.partial(jax.jit, static_argnames=("spec", "epochs"), donate_argnames=("state",))
def _sweep_run(spec: TrainSpec, state: Any, hparams: Hyperparams, data: Any, epochs: int):
    def per_seed(seed_state):
        # Every configuration of a seed has the same loop key (rows are keyed by seed), and
        # every running one has run the most epochs: shared, unbatched, they make one
        # minibatch order per seed, not one per configuration.
        key, first_epoch = seed_state.key[0], jnp.max(seed_state.epoch)
        per_config = lambda s, h: spec.program.run(s, h, data, epochs, key, first_epoch)
        return jax.vmap(per_config)(seed_state, hparams)

    return jax.vmap(per_seed)(state)


@functools.partial(jax.jit, static_argnames=("spec",))
def _sweep_finish(spec: TrainSpec, state: Any, data: Any):
    def one(s):
        # Always the best epoch's params: they are what the row's ranked columns describe.
        result = spec.program.finish(s, restore_best=True)
        if np.shape(data.x_test)[0] > 0:
            test_loss, test_metric = spec.program.score(result.params, data.x_test, data.y_test, data)
        else:
            test_loss = test_metric = jnp.asarray(jnp.nan, jnp.float32)
        return result, test_loss, test_metric

    return jax.vmap(jax.vmap(one))(state)


CPU_ROW_BYTES_PER_DEVICE = 32 * 2**20
"""On a CPU, the default chunk holds rows worth about this much (by :func:`_bytes_per_row`) per device.

A vmapped step streams every row's parameters, gradients and optimizer state; while
they stay in the caches a row costs far less. Measured on 2 cores, the
[64, 128, 128, 10] digits workload (1.3 MiB per row): 15–16 ms per row in chunks of
8–32 rows per device, 22 ms in one chunk of 64 and 25 ms in one of 256.
"""


def _bytes_per_row(model: Model, data: Any, batch_size: int | None) -> int:
    """A rough upper estimate of the device memory one (configuration, seed) row needs."""
    shapes = jax.eval_shape(model.init, jax.random.key(0))
    num_params = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
    batch = int(np.shape(data.x_train)[0]) if batch_size is None else batch_size
    outputs = jax.eval_shape(lambda p, x: model.apply(p, x), shapes, jax.ShapeDtypeStruct((1, data.num_features), jnp.float32))
    widths = data.num_features + int(np.prod(outputs.shape)) + num_params // max(1, data.num_features)
    activations = 4 * batch * widths
    evaluation = int(np.shape(data.x_val)[0] + np.shape(data.x_test)[0]) * max(1, widths // 4)
    # params, best params, gradients, updates and up to 2 optimizer moments, plus activations.
    return 4 * (6 * num_params + activations + evaluation)


def _available_bytes(device: Any) -> int:
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - not every backend reports memory
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def sweep(
    model: Model,
    data: Any,
    *,
    space: dict[str, Any],
    key: PRNGKey | int,
    optimizer: str = "adam",
    num_epochs: int = 100,
    batch_size: int | None = 32,
    seeds: int | Sequence[int] = 1,
    num_samples: int | None = None,
    early_stopping: EarlyStopping | None = None,
    max_parallel: int | None = None,
    devices: Sequence[Any] | int | str | None = None,
    loss: str | Callable | None = None,
    metric: str | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    nesterov: bool = False,
    num_chunks: int = 10,
    progress: bool = True,
    **defaults: Any,
) -> SweepResult:
    """Train every configuration of ``space`` (times ``seeds``) in one compiled program.

    Args:
        model: the model to train (a :class:`jaxnn.Model`, Flax models included).
        data: a :class:`jaxnn.Dataset`.
        space: hyperparameter name -> list of values (a grid: the cartesian
            product) or a distribution (:class:`loguniform`, :class:`uniform`,
            :class:`choice`; random search with ``num_samples``). Names:
            the fields of :class:`jaxnn.Hyperparams` (``learning_rate``,
            ``weight_decay``, ``momentum``, ``b1``, ``b2``, ``dropout``,
            ``init_scale``, ``decay_rate``, ``final_fraction``, ``clip_norm``),
            ``seed``, and ``optimizer``, ``batch_size``, ``num_epochs``,
            ``schedule``, which change the program: each value then gets its own
            compiled program and the tables are merged.
        key: an int seed or a PRNG key; seed ``s`` trains from ``fold_in(key, s)``.
        optimizer, num_epochs, batch_size, loss, metric, schedule, warmup_steps,
        nesterov, early_stopping: as in :func:`jaxnn.fit`, for every row.
        seeds: how many seeds per configuration (0..n-1), or the list of seeds.
        num_samples: configurations to draw when the space has distributions.
        max_parallel: most rows trained at once; memory follows it, not the
            number of rows. Default: as many as fit in half the free memory, and
            on CPUs about 32 MiB of rows per device, which keeps each chunk's
            working set in the caches (see ``CPU_ROW_BYTES_PER_DEVICE``).
        devices: devices to shard the configurations over (default: all local
            devices; see :func:`jaxnn.parallel.use_cpu_devices` for CPUs).
        num_chunks: the epochs run in this many pieces on the host, so the
            progress bar moves and the sweep ends once every row has stopped.
        progress: show a progress bar.
        **defaults: values for the hyperparameters the space does not vary
            (e.g. ``momentum=0.9``), as in :func:`jaxnn.fit`.

    Returns:
        A :class:`SweepResult`, best row first.

    Raises:
        ValueError, TypeError: an empty space, unknown names (the valid ones are
            listed), values out of range, a distribution without ``num_samples``,
            ``max_parallel`` beyond the available memory.
    """
    check_data(data)
    key = _as_key(key)
    if early_stopping is not None and not early_stopping.restore_best:
        raise ValueError(
            "a sweep always returns each row's best-epoch parameters (the ones its table ranks); "
            "EarlyStopping(restore_best=False) is not supported here"
        )
    if data.num_val == 0:
        warnings.warn(
            "the data has no validation split, so the sweep ranks its rows by training loss, which rewards "
            "overfitting; give the data a validation split (val_fraction > 0) to rank by held-out data",
            stacklevel=2,
        )
    for name in defaults:
        if name not in SWEEPABLE:
            raise TypeError(f"sweep() got an unexpected keyword argument {name!r}")
    base = Hyperparams(**defaults)
    hyperparams_lib.check(base)
    configs, seed_list, log_scaled = expand_space(space, num_samples=num_samples, seeds=seeds, key=key)
    swept = [name for name in space if name != "seed"]
    if max_parallel is not None:
        max_parallel = _checks.positive_int("max_parallel", max_parallel)
    num_chunks = _checks.positive_int("num_chunks", num_chunks)
    static = {"optimizer": optimizer, "batch_size": batch_size, "num_epochs": num_epochs, "schedule": schedule}

    groups: dict[tuple, list[int]] = {}
    for index, config in enumerate(configs):
        setting = tuple(config.get(name, static[name]) for name in PROGRAM_KEYS)
        groups.setdefault(setting, []).append(index)
    results = []
    for setting, indices in groups.items():
        options = dict(zip(PROGRAM_KEYS, setting))
        results.append(
            _sweep_group(
                model,
                data,
                configs=[configs[i] for i in indices],
                config_ids=indices,
                seed_list=seed_list,
                swept=swept,
                log_scaled=log_scaled,
                base=base,
                key=key,
                spec=TrainSpec(
                    model=model,
                    num_epochs=options["num_epochs"],
                    batch_size=options["batch_size"],
                    optimizer=options["optimizer"],
                    loss=loss,
                    metric=metric,
                    schedule=options["schedule"],
                    warmup_steps=warmup_steps,
                    nesterov=nesterov,
                    early_stopping=early_stopping,
                ),
                max_parallel=max_parallel,
                devices=parallel.resolve_devices(devices, global_devices=True),
                num_chunks=num_chunks,
                progress=progress,
            )
        )
    return results[0] if len(results) == 1 else SweepResult.concat(results)


def _sweep_group(
    model: Model,
    data: Any,
    *,
    configs: list[dict[str, Any]],
    config_ids: list[int],
    seed_list: list[int],
    swept: list[str],
    log_scaled: set[str],
    base: Hyperparams,
    key: PRNGKey,
    spec: TrainSpec,
    max_parallel: int | None,
    devices: list[Any],
    num_chunks: int,
    progress: bool,
) -> SweepResult:
    from tqdm.auto import tqdm

    program = spec.program  # validates the static options
    num_configs, num_seeds = len(configs), len(seed_list)
    hyper_names = [name for name in swept if name in SWEEPABLE]
    if "dropout" in hyper_names and not has_dropout(model):
        raise ValueError("the space varies dropout but the model has no dropout layers (build it with jaxnn.mlp)")
    columns = {}
    for name in Hyperparams._fields:
        if name in hyper_names:
            columns[name] = np.asarray([config[name] for config in configs], np.float32)
        else:
            value = getattr(base, name)
            columns[name] = None if value is None else np.full(num_configs, value, np.float32)
    all_hparams = Hyperparams(**columns)

    # Rows per compiled call: configurations per chunk x seeds, a multiple of the device count.
    per_row = _bytes_per_row(model, data, spec.batch_size)
    budget = _available_bytes(devices[0]) * len(devices) // 2
    if max_parallel is not None and max_parallel * per_row > budget:
        raise ValueError(
            f"max_parallel={max_parallel} rows need about {max_parallel * per_row / 2**30:.1f} GiB but about "
            f"{budget / 2**30:.1f} GiB is available; lower max_parallel"
        )
    num_devices = len(devices)
    limit = max_parallel if max_parallel is not None else max(1, budget // per_row)
    if max_parallel is None and devices[0].platform == "cpu":
        limit = min(limit, num_devices * max(1, CPU_ROW_BYTES_PER_DEVICE // per_row))
    most = max(num_devices, min(num_configs, limit // num_seeds) // num_devices * num_devices)
    # Equal chunks, each a multiple of the device count: the last one pads as little as it can.
    chunk = math.ceil(num_configs / math.ceil(num_configs / most) / num_devices) * num_devices
    mesh = parallel.config_mesh(devices)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    key_data, seeds = jax.device_put((np.asarray(jax.random.key_data(key)), np.asarray(seed_list, np.uint32)), replicated)
    impl = str(jax.random.key_impl(key))
    data = jax.device_put(data, replicated)
    epochs_per_call = math.ceil(program.num_epochs / min(num_chunks, program.num_epochs))
    num_calls = math.ceil(program.num_epochs / epochs_per_call)

    pieces: list[_RowsResult] = []
    with tqdm(total=math.ceil(num_configs / chunk) * num_calls, disable=not progress, unit="chunk", leave=False) as bar:
        for start in range(0, num_configs, chunk):
            take = np.arange(start, start + chunk).clip(max=num_configs - 1)  # the last chunk repeats a row
            hparams = jax.tree.map(lambda column: column[take], all_hparams)
            hparams = parallel.shard_leading_axis(hparams, mesh)
            state = _sweep_init(spec, hparams, key_data, seeds, data, impl)
            history = []
            for _ in range(num_calls):
                state, rows = _sweep_run(spec, state, hparams, data, epochs_per_call)
                history.append(parallel.to_host(rows))
                bar.update(1)
                running = parallel.to_host(jnp.any((state.status == 0) & (state.epoch < program.num_epochs)))
                if not bool(running):
                    bar.update(num_calls - len(history))
                    break
            result, test_loss, test_metric = parallel.to_host(_sweep_finish(spec, state, data))
            def epochs_of(name: str) -> np.ndarray:
                """(seeds, configs, num_epochs): NaN for epochs skipped once every row had stopped."""
                curve = np.concatenate([h[name] for h in history], axis=2)[..., : program.num_epochs]
                missing = program.num_epochs - curve.shape[2]
                return np.pad(curve, ((0, 0), (0, 0), (0, missing)), constant_values=np.nan)

            history = {name: epochs_of(name) for name in HISTORY_KEYS}
            valid = slice(0, min(chunk, num_configs - start))
            cut = lambda leaf: np.asarray(leaf)[:, valid]
            pieces.append(
                _RowsResult(
                    params=jax.tree.map(cut, result.params),
                    history={k: cut(v) for k, v in history.items()},
                    best_epoch=cut(result.best_epoch),
                    stopped_epoch=cut(result.stopped_epoch),
                    status=cut(result.status),
                    test_loss=cut(test_loss),
                    test_metric=cut(test_metric),
                )
            )
    rows = jax.tree.map(lambda *parts: np.concatenate(parts, axis=1), *pieces)
    # (seeds, configs, ...) -> rows ordered configuration-major: row = config * num_seeds + seed.
    flat = jax.tree.map(lambda leaf: np.swapaxes(leaf, 0, 1).reshape(num_configs * num_seeds, *leaf.shape[2:]), rows)
    epochs = flat.history["val_loss"].shape[1]

    def at_epoch(name: str, epoch: np.ndarray) -> np.ndarray:
        """history[name] at each row's 1-based ``epoch`` (NaN where it is 0: no such epoch)."""
        index = np.clip(epoch - 1, 0, epochs - 1)
        values = np.take_along_axis(flat.history[name], index[:, None], axis=1)[:, 0].astype(np.float64)
        return np.where(epoch > 0, values, np.nan)

    table: dict[str, np.ndarray] = {}
    for name in swept:
        table[name] = np.asarray([configs[c][name] for c in range(num_configs) for _ in seed_list])
    table["seed"] = np.asarray(seed_list * num_configs)
    table["config"] = np.repeat(np.asarray(config_ids), num_seeds)
    table["status"] = np.asarray([STATUS[int(code)] for code in flat.status])
    table["best_epoch"] = flat.best_epoch.astype(np.int64)
    table["stopped_epoch"] = flat.stopped_epoch.astype(np.int64)
    table["best_train_loss"] = at_epoch("train_loss", flat.best_epoch)
    table["best_val_loss"] = at_epoch("val_loss", flat.best_epoch)
    table["final_val_loss"] = at_epoch("val_loss", flat.stopped_epoch)
    table["best_val_metric"] = at_epoch("val_metric", flat.best_epoch)
    table["final_val_metric"] = at_epoch("val_metric", flat.stopped_epoch)
    table["test_loss"] = flat.test_loss.astype(np.float64)
    table["test_metric"] = flat.test_metric.astype(np.float64)
    from jaxnn import losses as losses_lib

    metric_name = spec.metric or DEFAULT_METRIC[data.task]
    return SweepResult(
        table=table,
        curves=flat.history,
        params=flat.params,
        model=model,
        metric=metric_name,
        higher_is_better=losses_lib.get_metric(metric_name)[1],
        hyperparameters=swept,
        log_scaled=log_scaled,
        ranked_by=RANKED_BY_VALIDATION if data.num_val > 0 else RANKED_BY_TRAINING,
    )
