"""tune: time to a tuned model, one hyperparameter search five ways, each with what it found.

The search: 64 random configurations of ``learning_rate`` (log-uniform 1e-4..1e-1) and
``weight_decay`` (log-uniform 1e-6..1e-2) for an MLP [in, 128, out] ReLU trained with AdamW, batch
32, at most 60 epochs each, ranked by validation accuracy. A job's wall time runs, inside its fresh
worker, from before the imports of the libraries it uses to its end: imports, data, compiles,
the search and the evaluation of the selected model, which is what a user waits for.

Three datasets, the same rows for every implementation:

* ``digits``: ``jaxnn.datasets.load("digits", seed=0)`` (70/15/15, standardized); the other workers
  rebuild the same split without JAX (:func:`numpy_split`);
* ``checkerboard``: a seeded synthetic task that is hard to tune (see :func:`checkerboard`), split
  and standardized here with NumPy and handed to jaxnn through ``jaxnn.datasets.from_arrays``;
* ``spirals``: two interleaved spirals (see :func:`spirals`), learned by a small MLP ([2, 32, 2]:
  :data:`HIDDEN`) whose good configurations separate from the others only late; prepared like
  ``checkerboard``.

Implementations:

* ``jaxnn_full``: ``jaxnn.sweep`` over the 64 configurations, every one trained 60 epochs;
* ``jaxnn_asha``: the same sweep with ``scheduler="asha"`` (``jaxnn.ASHA(min_epochs=1, reduction_factor=3)``);
* ``jaxnn_hyperband``: the same sweep with ``scheduler="hyperband"`` (``jaxnn.Hyperband(min_epochs=1,
  reduction_factor=3)``: the configurations dealt to ASHA brackets that start at every rung);
* ``jaxnn_tpe``: the same 64 configurations chosen by Optuna's TPE sampler through the bridge
  (``sampler=``), 16 per compiled program, every one trained to the end: the same total epochs as
  ``jaxnn_full``, so the two compare samplers (when Optuna is importable);
* ``jaxnn_pbt``: a population of 16 with ``scheduler=jaxnn.PBT(interval=6)``; the same job then runs the
  same 16 starting configurations without PBT (same key), for comparison;
* ``optuna_flax``: Optuna's TPE sampler and SuccessiveHalvingPruner driving a Flax linen + Optax AdamW
  loop, one trial at a time (a ``TrainState``, a jitted train step, a Python loop over epochs of
  NumPy-shuffled minibatches, the validation accuracy reported to the trial every epoch), when
  Optuna is importable;
* ``sklearn_halving``: scikit-learn's ``HalvingRandomSearchCV`` over ``MLPClassifier`` (solver adam,
  ``alpha`` as the L2 penalty), 64 candidates, resource ``max_iter`` 2..60, factor 3, on a
  ``PredefinedSplit`` whose one test fold is the validation rows.

Each JAX row runs twice, with JAX's persistent compilation cache on (as jaxnn has it by default; for the
Flax row, JAX's own cache with every program stored): ``cold``, an empty cache directory (a fresh
machine: every program compiled, and written), and ``warm``, the same directory after an untimed
process ran the same job (every later run: every program loaded). scikit-learn compiles nothing.

Besides the time: the best validation accuracy, the test accuracy of the selected model, the epochs
trained in all (for scikit-learn the epoch budgets it handed out: an ``MLPClassifier`` may stop
sooner on its training-loss tolerance), and, from ``jaxnn_full``, how many of the 64 configurations
come within 0.01 of the best validation accuracy (the spread: how hard the task is to tune).
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks import harness

NAME = "tune"
SEARCH = {
    "num_samples": 64,
    "num_epochs": 60,
    "batch_size": 32,
    "hidden": 128,
    "population": 16,
    "pbt_interval": 6,
    "tpe_batch": 16,
}
QUICK_SEARCH = {
    "num_samples": 27,
    "num_epochs": 27,
    "batch_size": 32,
    "hidden": 128,
    "population": 8,
    "pbt_interval": 3,
    "tpe_batch": 9,
}
"""``--quick``: the schedulers on every dataset at a fraction of the cost (27 configurations, 27 epochs: rungs 1, 3,
9, 27 and 4 brackets), large enough that the hard tasks still tell ASHA from Hyperband."""
SMOKE_SEARCH = {**QUICK_SEARCH, "num_samples": 9, "num_epochs": 9, "population": 4, "pbt_interval": 3, "tpe_batch": 3}
"""``--smoke``: every row runs its whole job (rungs 1, 3, 9 and 3 brackets) at the smallest size that has them."""
LEARNING_RATE = (1e-4, 1e-1)
WEIGHT_DECAY = (1e-6, 1e-2)
SPREAD_TOLERANCE = 0.01
"""A configuration is "near the best" when its validation accuracy is within this of the best."""
CACHES = ("cold", "warm")
"""The compilation cache's states a JAX row runs in (see the module's docstring)."""
DATASETS = ("digits", "checkerboard", "spirals")
HIDDEN = {"spirals": 32}
"""Hidden widths that differ from the search's ``hidden`` (a small MLP for the spirals)."""
LABELS = {
    "jaxnn_full": "jaxnn.sweep, every configuration to the end",
    "jaxnn_asha": "jaxnn.sweep, ASHA",
    "jaxnn_hyperband": "jaxnn.sweep, Hyperband",
    "jaxnn_pbt": "jaxnn.sweep, PBT",
    "jaxnn_tpe": "jaxnn.sweep, Optuna TPE sampler, batches of 16",
    "optuna_flax": "Optuna TPE + successive halving, Flax + Optax",
    "sklearn_halving": "scikit-learn HalvingRandomSearchCV, MLPClassifier",
}


# --- the data --------------------------------------------------------------------------------


def checkerboard(
    seed: int = 0, num_samples: int = 6000, num_features: int = 8, num_classes: int = 4, cell: float = 0.5
) -> dict[str, Any]:
    """A synthetic task that few configurations learn: a 4-class checkerboard hidden among noise features.

    ``num_features`` standard-normal features; the label of a row is ``(floor(x0 / cell) +
    floor(x1 / cell)) mod num_classes``, so the other features are noise and the classes interleave
    in small cells. Only a narrow band of learning rates fits it in 60 epochs: smaller ones stay at
    chance, larger ones fall apart. The rows are shuffled with ``seed`` and split 70/15/15, and the
    features standardized with the training rows' mean and standard deviation (float32).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_samples, num_features))
    y = ((np.floor(x[:, 0] / cell) + np.floor(x[:, 1] / cell)).astype(np.int64) % num_classes).astype(np.int32)
    return _split_standardized(rng, x, y, num_classes)


def spirals(seed: int = 0, num_samples: int = 3000, turns: float = 1.75, noise: float = 0.15) -> dict[str, Any]:
    """Two interleaved spirals (2 classes, 2 features): a boundary a small MLP learns only slowly.

    Class ``c`` of a row at angle ``t`` (``sqrt(u) * turns`` full turns, ``u`` uniform) lies at
    radius ``t`` along angle ``t + c π``, plus Gaussian ``noise`` (in units of one turn's radius).
    Early in training every configuration separates the centre and stalls near the same accuracy;
    only some learning rates and weight decays go on to unwind the outer turns, so rankings after a
    few epochs say little about the end. Split and standardized like :func:`checkerboard`.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, num_samples).astype(np.int32)
    angle = np.sqrt(rng.uniform(size=num_samples)) * turns * 2 * np.pi
    radius = angle / (2 * np.pi)
    x = np.stack([radius * np.cos(angle + y * np.pi), radius * np.sin(angle + y * np.pi)], axis=1)
    x += noise * rng.standard_normal(x.shape)
    return _split_standardized(rng, x, y, num_classes=2)


def _split_standardized(rng: Any, x: Any, y: Any, num_classes: int) -> dict[str, Any]:
    """Rows shuffled with ``rng`` and split 70/15/15; features standardized on the training rows (float32)."""
    import numpy as np

    order = rng.permutation(len(x))
    num_held = math.floor(0.15 * len(x) + 0.5)
    test, val, train = order[:num_held], order[num_held : 2 * num_held], order[2 * num_held :]
    x = x.astype(np.float32)
    mean = x[train].mean(axis=0)
    scale = x[train].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    standardize = lambda rows: ((x[rows] - mean) / scale).astype(np.float32)  # noqa: E731
    return {
        "x_train": standardize(train),
        "y_train": y[train],
        "x_val": standardize(val),
        "y_val": y[val],
        "x_test": standardize(test),
        "y_test": y[test],
        "num_classes": num_classes,
    }


def numpy_split(dataset: str) -> dict[str, Any]:
    """The split every implementation trains on, as NumPy arrays, without importing JAX.

    For a bundled dataset: jaxnn's default split (70/15/15, stratified, standardized on the training
    rows), drawn as :func:`benchmarks.train.split_like_jaxnn` draws it, with the validation rows kept.
    """
    if dataset in SYNTHETIC:
        return SYNTHETIC[dataset]()
    import numpy as np
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    bunch = getattr(sklearn.datasets, f"load_{dataset}")()
    x, y = bunch.data.astype(np.float64), np.searchsorted(np.unique(bunch.target), bunch.target).astype(np.int32)
    num = len(x)
    count = max(1, math.floor(0.15 * num + 0.5))
    rng = np.random.RandomState(0)
    rest, test = train_test_split(np.arange(num), test_size=count, random_state=rng, stratify=y)
    train, val = train_test_split(rest, test_size=count, random_state=rng, stratify=y[rest])
    mean = x[train].mean(axis=0).astype(np.float32)
    scale = x[train].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    standardize = lambda rows: (x[rows].astype(np.float32) - mean) / scale  # noqa: E731
    return {
        "x_train": standardize(train),
        "y_train": y[train],
        "x_val": standardize(val),
        "y_val": y[val],
        "x_test": standardize(test),
        "y_test": y[test],
        "num_classes": int(y.max()) + 1,
    }


def jaxnn_data(dataset: str):
    import jaxnn

    if dataset not in SYNTHETIC:
        return jaxnn.datasets.load(dataset, seed=0)
    split = SYNTHETIC[dataset]()
    return jaxnn.datasets.from_arrays(
        split["x_train"],
        split["y_train"],
        task="multiclass",
        standardize=False,
        validation=(split["x_val"], split["y_val"]),
        test=(split["x_test"], split["y_test"]),
        name=dataset,
    )


# --- timing a whole job ----------------------------------------------------------------------


class JobClock:
    """Wall time, own CPU and the other processes' CPU from its creation on, as one sample of :func:`harness.measure`."""

    def __init__(self):
        self.busy0, self.cpu0 = harness.busy_cpu_seconds(), time.process_time()
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def sample(self) -> dict[str, float]:
        wall = self.elapsed()
        busy1, cpu1 = harness.busy_cpu_seconds(), time.process_time()
        own = cpu1 - self.cpu0
        return {
            "per_unit_s": wall,
            "wall_s": wall,
            "number": 1,
            "units": 1,
            "own_cpu_s": own,
            "others_cpu_s": (busy1 - self.busy0) - own,
        }


def _search(params: dict[str, Any]) -> dict[str, Any]:
    """The search's settings for this job (the quick ones with ``--quick``), with the dataset's hidden width."""
    search = SMOKE_SEARCH if params.get("smoke") else QUICK_SEARCH if params.get("quick") else SEARCH
    return {**search, "hidden": HIDDEN.get(params.get("dataset"), search["hidden"])}


def _spread(values, best: float) -> int:
    """How many validation accuracies lie within :data:`SPREAD_TOLERANCE` of ``best``."""
    import numpy as np

    values = np.asarray(values, np.float64)
    return int(np.sum(np.isfinite(values) & (values >= best - SPREAD_TOLERANCE)))


# --- implementations (run inside a worker) -----------------------------------------------


def _jaxnn_sweep(params: dict[str, Any], scheduler: Any, num_samples: int, **options: Any):
    import jaxnn

    search = _search(params)
    data = jaxnn_data(params["dataset"])
    model = jaxnn.mlp([data.num_features, search["hidden"], data.num_classes])
    space = {"learning_rate": jaxnn.loguniform(*LEARNING_RATE), "weight_decay": jaxnn.loguniform(*WEIGHT_DECAY)}
    return jaxnn.sweep(
        model,
        data,
        space=space,
        num_samples=num_samples,
        key=0,
        optimizer="adamw",
        num_epochs=search["num_epochs"],
        batch_size=search["batch_size"],
        progress=False,
        scheduler=scheduler,
        **options,
    )


def _jaxnn_extra(result: Any) -> dict[str, Any]:
    best = result.best
    return {
        "best_val_accuracy": best["best_val_metric"],
        "test_accuracy": best["test_metric"],
        "total_epochs": int(result.table["epochs_run"].sum()),
        "configurations": len(result),
        "best_learning_rate": best["learning_rate"],
        "best_weight_decay": best["weight_decay"],
        "diverged": int((result.table["status"] == "diverged").sum()),
    }


def run_jaxnn_full(params: dict[str, Any]) -> dict[str, Any]:
    clock = JobClock()
    result = _jaxnn_sweep(params, None, _search(params)["num_samples"])
    extra = _jaxnn_extra(result)
    sample = clock.sample()
    extra["near_best"] = _spread(result.table["best_val_metric"], extra["best_val_accuracy"])
    return {"samples": [sample], "extra": extra}


def run_jaxnn_asha(params: dict[str, Any]) -> dict[str, Any]:
    clock = JobClock()
    import jaxnn

    result = _jaxnn_sweep(params, jaxnn.ASHA(min_epochs=1, reduction_factor=3), _search(params)["num_samples"])
    extra = _jaxnn_extra(result)
    return {"samples": [clock.sample()], "extra": extra}


def run_jaxnn_hyperband(params: dict[str, Any]) -> dict[str, Any]:
    clock = JobClock()
    import numpy as np

    import jaxnn

    result = _jaxnn_sweep(params, jaxnn.Hyperband(min_epochs=1, reduction_factor=3), _search(params)["num_samples"])
    extra = _jaxnn_extra(result)
    sample = clock.sample()
    table = result.table
    extra["brackets"] = (
        [
            {
                "configurations": int(np.sum(table["bracket"] == b)),
                "epochs": int(table["epochs_run"][table["bracket"] == b].sum()),
                "best_val_accuracy": float(np.nanmax(table["best_val_metric"][table["bracket"] == b])),
            }
            for b in range(int(table["bracket"].max()) + 1)
        ]
        if len(table["bracket"])
        else []
    )
    return {"samples": [sample], "extra": extra}


def run_jaxnn_tpe(params: dict[str, Any]) -> dict[str, Any]:
    clock = JobClock()
    try:
        import optuna
    except ImportError as error:
        return {"skipped": f"optuna is not importable ({error})"}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = _search(params)
    sampler = optuna.samplers.TPESampler(seed=0)
    result = _jaxnn_sweep(params, None, search["num_samples"], sampler=sampler, batch=search["tpe_batch"])
    return {"samples": [clock.sample()], "extra": _jaxnn_extra(result)}


def run_jaxnn_pbt(params: dict[str, Any]) -> dict[str, Any]:
    clock = JobClock()
    import jaxnn

    search = _search(params)
    result = _jaxnn_sweep(params, jaxnn.PBT(interval=search["pbt_interval"]), search["population"])
    extra = _jaxnn_extra(result)
    sample = clock.sample()
    started = time.perf_counter()
    unscheduled = _jaxnn_extra(_jaxnn_sweep(params, None, search["population"]))
    extra["without_pbt"] = {**unscheduled, "sweep_s": time.perf_counter() - started}
    return {"samples": [sample], "extra": extra}


def run_optuna_flax(params: dict[str, Any]) -> dict[str, Any]:
    clock = JobClock()
    try:
        import optuna
    except ImportError as error:
        return {"skipped": f"optuna is not importable ({error})"}
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax.training import train_state

    search = _search(params)
    data = numpy_split(params["dataset"])
    x_train, y_train = data["x_train"], data["y_train"].astype(np.int32)
    num_classes, batch_size = data["num_classes"], search["batch_size"]

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(num_classes)(nn.relu(nn.Dense(search["hidden"])(x)))

    module = MLP()

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(weights):
            logits = state.apply_fn(weights, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)

    @jax.jit
    def accuracy(weights, x, y):
        return jnp.mean(module.apply(weights, x).argmax(axis=-1) == y)

    best = {"val": -math.inf, "weights": None}
    epochs_trained = [0]

    def objective(trial):
        learning_rate = trial.suggest_float("learning_rate", *LEARNING_RATE, log=True)
        weight_decay = trial.suggest_float("weight_decay", *WEIGHT_DECAY, log=True)
        state = train_state.TrainState.create(
            apply_fn=module.apply,
            params=module.init(jax.random.key(trial.number), x_train[:1]),
            tx=optax.adamw(learning_rate, weight_decay=weight_decay),
        )
        rng = np.random.default_rng(trial.number)
        trial_best, trial_weights = -math.inf, None
        for epoch in range(search["num_epochs"]):
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                state = train_step(state, x_train[batch], y_train[batch])
            epochs_trained[0] += 1
            val = float(accuracy(state.params, data["x_val"], data["y_val"]))
            if val > trial_best:
                trial_best, trial_weights = val, state.params
            trial.report(val, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        if trial_best > best["val"]:  # the study's best trial is the first completed one with the highest value
            best.update(val=trial_best, weights=trial_weights)
        return trial_best

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with harness.CompileEvents() as events:
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=0),
            pruner=optuna.pruners.SuccessiveHalvingPruner(),
        )
        study.optimize(objective, n_trials=search["num_samples"])
        selected = study.best_trial
        test = float(accuracy(best["weights"], data["x_test"], data["y_test"]))
    sample = clock.sample()
    states = [t.state.name for t in study.trials]
    return {
        "samples": [sample],
        "extra": {
            "best_val_accuracy": float(selected.value),
            "test_accuracy": test,
            "total_epochs": epochs_trained[0],
            "configurations": len(study.trials),
            "pruned": states.count("PRUNED"),
            "completed": states.count("COMPLETE"),
            "best_learning_rate": selected.params["learning_rate"],
            "best_weight_decay": selected.params["weight_decay"],
            "num_compiles": events.num_compiles,
            "compile_s": events.summary()["compile_s"],
            "optuna": optuna.__version__,
        },
    }


def run_sklearn_halving(params: dict[str, Any]) -> dict[str, Any]:
    clock = JobClock()
    import warnings

    import numpy as np
    from scipy.stats import loguniform
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, PredefinedSplit
    from sklearn.neural_network import MLPClassifier

    search = _search(params)
    data = numpy_split(params["dataset"])
    x = np.concatenate([data["x_train"], data["x_val"]])
    y = np.concatenate([data["y_train"], data["y_val"]])
    folds = np.concatenate([np.full(len(data["y_train"]), -1), np.zeros(len(data["y_val"]), int)])
    estimator = MLPClassifier(
        hidden_layer_sizes=(search["hidden"],),
        solver="adam",
        batch_size=search["batch_size"],
        max_iter=search["num_epochs"],
        early_stopping=False,
        random_state=0,
    )
    distributions = {"alpha": loguniform(*WEIGHT_DECAY), "learning_rate_init": loguniform(*LEARNING_RATE)}
    halving = HalvingRandomSearchCV(
        estimator,
        distributions,
        n_candidates=search["num_samples"],
        resource="max_iter",
        min_resources=2,
        max_resources=search["num_epochs"],
        factor=3,
        cv=PredefinedSplit(folds),
        random_state=0,
        n_jobs=1,
        refit=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short budgets do not converge, by design
        halving.fit(x, y)
        # Refit on the training rows only (refit=True would train on the validation rows too): with the same
        # random_state this is the very model the search scored on the validation rows.
        selected = estimator.set_params(**halving.best_params_).fit(data["x_train"], data["y_train"])
    test = float(selected.score(data["x_test"], data["y_test"]))
    sample = clock.sample()
    budgets = int(np.sum(halving.cv_results_["n_resources"]))
    return {
        "samples": [sample],
        "extra": {
            "best_val_accuracy": float(halving.best_score_),
            "test_accuracy": test,
            "total_epochs": budgets + int(selected.n_iter_),
            "configurations": int(halving.n_candidates_[0]),
            "iterations": [int(n) for n in halving.n_resources_],
            "candidates": [int(n) for n in halving.n_candidates_],
            "best_learning_rate": float(halving.best_params_["learning_rate_init"]),
            "best_weight_decay": float(halving.best_params_["alpha"]),
        },
    }


SYNTHETIC = {"checkerboard": checkerboard, "spirals": spirals}
"""The synthetic datasets by name: each returns its split as NumPy arrays."""


def _set_environment(values: dict[str, str | None]) -> None:
    """Set each variable of ``values`` (None: unset it)."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _in_cache(impl: str, run: Any) -> Any:
    """``run`` with the compilation cache ``params["cache"]`` asks for (none without it), in a directory of its own.

    ``warm``: an untimed fresh process runs the same job into the directory first. The timed job starts
    after that, in this process, which has imported no library yet.
    """

    def in_cache(params: dict[str, Any]) -> dict[str, Any]:
        cache = params.get("cache")
        if cache is None:
            return run(params)
        if cache not in CACHES:
            raise ValueError(f"cache={cache!r}: expected one of {', '.join(CACHES)} or None (no cache)")
        directory = tempfile.mkdtemp(prefix="jaxnn-tune-cache-")
        # The harness turns both caches off for every worker; a user's process has them on.
        settings = {
            "JAX_ENABLE_COMPILATION_CACHE": None,
            "JAXNN_COMPILATION_CACHE": "1",
            "JAXNN_CACHE_DIR": directory,  # jaxnn's compiled programs and datasets
            "JAX_COMPILATION_CACHE_DIR": os.path.join(directory, "xla"),  # the same directory, for plain JAX
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",  # every program, as jaxnn stores them
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
        }
        saved = {name: os.environ.get(name) for name in settings}
        _set_environment(settings)
        try:
            if cache == "warm":
                fill = [sys.executable, "-m", "benchmarks._worker", NAME, impl, json.dumps({**params, "cache": None})]
                completed = subprocess.run(  # bounded like a worker: a hung fill must not outlive its parent
                    [*fill, os.path.join(directory, "fill.json")], capture_output=True, text=True, timeout=900
                )
                if completed.returncode != 0:
                    tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
                    raise RuntimeError(
                        f"{impl}: the untimed process filling the cache exited with {completed.returncode}: {tail}"
                    )
            return run(params)
        finally:
            _set_environment(saved)
            shutil.rmtree(directory, ignore_errors=True)

    return in_cache


IMPLEMENTATIONS = {
    "jaxnn_full": _in_cache("jaxnn_full", run_jaxnn_full),
    "jaxnn_asha": _in_cache("jaxnn_asha", run_jaxnn_asha),
    "jaxnn_hyperband": _in_cache("jaxnn_hyperband", run_jaxnn_hyperband),
    "jaxnn_pbt": _in_cache("jaxnn_pbt", run_jaxnn_pbt),
    "jaxnn_tpe": _in_cache("jaxnn_tpe", run_jaxnn_tpe),
    "optuna_flax": _in_cache("optuna_flax", run_optuna_flax),
    "sklearn_halving": run_sklearn_halving,
}
COMPILED = frozenset(IMPLEMENTATIONS) - {"sklearn_halving"}
"""The rows that compile, and so run in each of :data:`CACHES`."""


# --- plan and report (in the parent) -----------------------------------------------------


def datasets(settings: harness.Settings) -> list[str]:
    """Every task; ``--smoke`` runs the smallest (the spirals' 32-unit MLP)."""
    return ["spirals"] if settings.smoke else list(DATASETS)


QUICK_IMPLEMENTATIONS = ("jaxnn_full", "jaxnn_asha", "jaxnn_hyperband")
"""What ``--quick`` runs: jaxnn's full search and its two pruning schedulers (the other rows are each a fresh
process of several seconds to minutes)."""


def caches(impl: str, settings: harness.Settings) -> tuple[str | None, ...]:
    """The cache states ``impl`` runs in: :data:`CACHES` for the rows that compile, ``None`` (no cache) for the
    others. ``--smoke`` runs each once: the full search ``warm`` (an untimed cold process fills the cache, then the
    timed one loads it), the others ``cold`` (one process each)."""
    if impl not in COMPILED:
        return (None,)
    if settings.smoke:
        return ("warm",) if impl == "jaxnn_full" else ("cold",)
    return CACHES


def case(dataset: str, cache: str | None) -> str:
    """A job's case: the dataset, and the cache state where there is one (``"digits, warm"``)."""
    return dataset if cache is None else f"{dataset}, {cache}"


def jobs(settings: harness.Settings) -> list[harness.Job]:
    implementations = QUICK_IMPLEMENTATIONS if settings.quick else IMPLEMENTATIONS
    return [
        harness.Job(
            NAME,
            impl,
            case(name, cache),
            settings.timing(dataset=name, quick=settings.quick, smoke=settings.smoke, cache=cache, repeats=1),
        )
        for name in datasets(settings)
        for impl in implementations
        for cache in caches(impl, settings)
    ]


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    search = SMOKE_SEARCH if settings.smoke else QUICK_SEARCH if settings.quick else SEARCH
    rows, spread = [], {}
    for name in datasets(settings):
        references: dict[str | None, float] = {}
        case_rows = []
        for impl, cache in [(i, c) for i in IMPLEMENTATIONS for c in caches(i, settings)]:
            runs = [r for r in grouped.get((impl, case(name, cache)), []) if "samples" in r]
            if not runs:
                continue
            stats = harness.pool([r["samples"] for r in runs], key="wall_s")
            if impl == "jaxnn_full":
                references[cache] = stats["median"]
            middle = sorted(runs, key=lambda r: r["samples"][0]["wall_s"])[len(runs) // 2]["extra"]
            row = {
                "dataset": name,
                "impl": impl,
                "cache": cache,
                **stats,
                **{
                    key: middle.get(key)
                    for key in (
                        "best_val_accuracy",
                        "test_accuracy",
                        "total_epochs",
                        "configurations",
                        "best_learning_rate",
                        "best_weight_decay",
                    )
                },
            }
            if impl == "jaxnn_pbt":
                row["without_pbt"] = middle["without_pbt"]
            if impl == "jaxnn_hyperband":
                row["brackets"] = middle["brackets"]
            if impl == "jaxnn_full" and name not in spread:
                spread[name] = {
                    "near_best": middle["near_best"],
                    "configurations": middle["configurations"],
                    "tolerance": SPREAD_TOLERANCE,
                    "fraction": middle["near_best"] / middle["configurations"],
                }
            case_rows.append(row)
        for row in case_rows:  # against the full search in the same cache state (scikit-learn: a warm one)
            reference = references.get(row["cache"]) or references.get("warm") or references.get("cold", math.nan)
            row["times_jaxnn"] = harness.ratio(row["median"], reference)
        rows += case_rows
    skipped = sorted({f"{r['impl']}: {r['skipped']}" for r in records if "skipped" in r})
    return {
        "rows": rows,
        "skipped": skipped,
        "spread": spread,
        "search": search,
        "space": {"learning_rate": list(LEARNING_RATE), "weight_decay": list(WEIGHT_DECAY)},
    }


def markdown(summary: dict[str, Any]) -> str:
    header = [
        "dataset",
        "implementation",
        "compilation cache",
        "configurations",
        "wall time (imports, compile incl.)",
        "× jaxnn_full time",
        "best val acc",
        "test acc",
        "epochs trained",
        "samples kept",
    ]
    accuracy = lambda value: harness.format_number(value, ".3f")  # noqa: E731
    body = [
        [
            row["dataset"],
            LABELS[row["impl"]],
            row.get("cache") or "none",
            row["configurations"],
            harness.format_seconds(row["median"]),
            harness.format_number(row["times_jaxnn"], ".2f", "×"),
            accuracy(row["best_val_accuracy"]),
            accuracy(row["test_accuracy"]),
            row["total_epochs"],
            f"{row['num_kept']}/{row['num_samples']}" + (" (forced)" if row["forced"] else ""),
        ]
        for row in summary["rows"]
    ]
    search = summary["search"]
    lines = [
        f"### tune: time to a tuned model ({search['num_samples']} random configurations of learning rate and "
        f"weight decay, AdamW, [in, {search['hidden']}, out] MLP, batch {search['batch_size']}, "
        f"≤ {search['num_epochs']} epochs each)",
        "",
        harness.markdown_table(header, body),
        "",
    ]
    for name, spread in summary["spread"].items():
        lines.append(
            f"- `{name}`: {spread['near_best']}/{spread['configurations']} configurations "
            f"({spread['fraction']:.0%}) within {spread['tolerance']} of the best validation accuracy (jaxnn_full)"
        )
    full = {row["dataset"]: row for row in summary["rows"] if row["impl"] == "jaxnn_full"}
    timed = {(row["dataset"], row["impl"], row.get("cache")): row["median"] for row in summary["rows"]}
    for name in summary["spread"]:
        hyperband = timed.get((name, "jaxnn_hyperband", "warm"), math.nan)
        cold = timed.get((name, "jaxnn_hyperband", "cold"), math.nan)
        sklearn = timed.get((name, "sklearn_halving", None), math.nan)
        flax = timed.get((name, "optuna_flax", "warm"), math.nan)
        if math.isnan(hyperband):
            continue
        against = [
            f"{harness.format_number(other / hyperband, '.1f', '×')} faster than {label}"
            for other, label in ((sklearn, "scikit-learn's halving search"), (flax, "Optuna + Flax (warm)"))
            if not math.isnan(other)
        ]
        if not math.isnan(cold):
            against.append(
                f"with a cold cache it takes {harness.format_number(cold / hyperband, '.2f', '×')} its warm time"
            )
        if against:
            lines.append(f"- `{name}`: Hyperband with a warm cache: " + "; ".join(against))
    for row in summary["rows"]:
        if row.get("cache") == "cold" and (row["dataset"], row["impl"], "warm") in timed:
            continue  # the accuracies and epochs once per row: a warm run finds the same
        reference = full.get(row["dataset"])
        if row["impl"] in ("jaxnn_asha", "jaxnn_hyperband") and reference is not None:
            lines.append(
                f"- `{row['dataset']}`: {LABELS[row['impl']]}: best val {accuracy(row['best_val_accuracy'])} "
                f"against {accuracy(reference['best_val_accuracy'])} for the full search (difference "
                f"{row['best_val_accuracy'] - reference['best_val_accuracy']:+.3f}) with "
                f"{row['total_epochs'] / reference['total_epochs']:.0%} of its epochs"
            )
        if row["impl"] == "jaxnn_hyperband":
            lines.append(
                f"- `{row['dataset']}`: Hyperband's brackets (configurations, epochs, best val): "
                + "; ".join(
                    f"{b}: {bracket['configurations']}, {bracket['epochs']}, {accuracy(bracket['best_val_accuracy'])}"
                    for b, bracket in enumerate(row["brackets"])
                )
            )
        if row["impl"] == "jaxnn_pbt":
            plain = row["without_pbt"]
            lines.append(
                f"- `{row['dataset']}`: PBT population of {row['configurations']}: best val "
                f"{accuracy(row['best_val_accuracy'])}, test {accuracy(row['test_accuracy'])}; the same "
                f"{plain['configurations']} starting configurations without PBT: best val "
                f"{accuracy(plain['best_val_accuracy'])}, test {accuracy(plain['test_accuracy'])} "
                f"(sweep {harness.format_seconds(plain['sweep_s'])})"
            )
    lines += [""] + [f"Skipped: {line}" for line in summary["skipped"]]
    return "\n".join(lines) + "\n"
