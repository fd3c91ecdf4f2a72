"""train: time to a trained model on built-in data, five ways, each with its test accuracy.

Two workloads, both plain minibatch SGD with a fixed learning rate and a fixed number of epochs
(the one optimizer every competitor has), on jaxnn's default split of the data (70/15/15,
stratified, standardized on the training rows; the non-JAX workers rebuild the same split with
scikit-learn's ``train_test_split``, which draws exactly as jaxnn does):

* ``cancer``: breast_cancer, [30, 16, 1] ReLU, batch 32, learning rate 0.05, 100 epochs (1,300 steps);
* ``digits``: digits, [64, 128, 10] ReLU, batch 32, learning rate 0.1, 30 epochs (1,200 steps).

Implementations: ``jaxnn-fit`` (``jaxnn.fit``, no progress bar), ``numpy`` (``jaxnn.baseline.train``),
``sklearn`` (``MLPClassifier``, solver sgd without momentum, no early stopping, no L2), ``flax``
(a linen MLP and an Optax step under ``jit`` called from a Python loop over NumPy-shuffled
minibatches, as its users write it) and ``torch-eager`` when torch is importable. A sample is one
whole training run from fresh parameters; ``first_call_s`` is the first run of the process,
compilation included, which is what a user waits for once.
"""

import math
import time
from typing import Any

from benchmarks import harness

NAME = "train"
WORKLOADS = {
    "cancer": {"dataset": "breast_cancer", "sizes": [30, 16, 1], "batch": 32, "learning_rate": 0.05, "epochs": 100},
    "digits": {"dataset": "digits", "sizes": [64, 128, 10], "batch": 32, "learning_rate": 0.1, "epochs": 30},
}
LABELS = {
    "jaxnn-fit": "jaxnn.fit",
    "numpy": "NumPy baseline train",
    "sklearn": "scikit-learn MLPClassifier",
    "flax": "Flax linen + Optax, jit step",
    "torch-eager": "PyTorch eager",
}


def split_like_jaxnn(dataset: str, seed: int = 0) -> dict[str, Any]:
    """jaxnn's default split and standardization of a bundled set, without importing JAX."""
    import numpy as np
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    bunch = getattr(sklearn.datasets, f"load_{dataset}")()
    x, y = bunch.data.astype(np.float64), np.searchsorted(np.unique(bunch.target), bunch.target).astype(np.int32)
    num = len(x)
    count = max(1, math.floor(0.15 * num + 0.5))
    rng = np.random.RandomState(seed)
    rest, test = train_test_split(np.arange(num), test_size=count, random_state=rng, stratify=y)
    train, val = train_test_split(rest, test_size=count, random_state=rng, stratify=y[rest])
    mean = x[train].mean(axis=0).astype(np.float32)
    scale = x[train].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    standardize = lambda rows: (x[rows].astype(np.float32) - mean) / scale  # noqa: E731
    return {
        "x_train": standardize(train),
        "y_train": y[train],
        "x_test": standardize(test),
        "y_test": y[test],
        "num_classes": int(y.max()) + 1,
    }


def _work(params: dict[str, Any]) -> dict[str, Any]:
    """The workload of a job (``--quick`` shortens its epochs)."""
    return WORKLOADS[params["workload"]] | {"epochs": params.get("epochs") or WORKLOADS[params["workload"]]["epochs"]}


def _accuracy(scores, labels) -> float:
    import numpy as np

    scores = np.asarray(scores)
    predicted = (scores[:, 0] > 0) if scores.shape[1] == 1 else scores.argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def _timed_runs(train_once, params: dict[str, Any]) -> dict[str, Any]:
    """``first_call_s`` of the first run, then ``repeats`` samples of one whole run each."""
    started = time.perf_counter()
    accuracy = train_once()
    first = time.perf_counter() - started
    samples = harness.measure(train_once, repeats=params["repeats"])
    return {"samples": samples, "extra": {"first_call_s": first, "test_accuracy": accuracy}}


# --- implementations (run inside a worker) -----------------------------------------------


def run_jaxnn_fit(params: dict[str, Any]) -> dict[str, Any]:
    import jaxnn

    work = _work(params)
    data = jaxnn.datasets.load(work["dataset"], seed=0)
    model = jaxnn.mlp(work["sizes"])

    def train_once():
        # The last epoch's parameters, as every other implementation here returns (fit's default is the best epoch's).
        result = jaxnn.fit(
            model,
            data,
            optimizer="sgd",
            learning_rate=work["learning_rate"],
            num_epochs=work["epochs"],
            batch_size=work["batch"],
            key=0,
            progress=False,
            restore_best=False,
        )
        return jaxnn.evaluate(model, result.params, data)["accuracy"]

    return _timed_runs(train_once, params)


def run_numpy(params: dict[str, Any]) -> dict[str, Any]:
    baseline = harness.load_baseline()
    work = _work(params)
    data = split_like_jaxnn(work["dataset"])
    binary = work["sizes"][-1] == 1
    loss = "binary_cross_entropy" if binary else "softmax_cross_entropy"

    def train_once():
        weights = baseline.init_params(work["sizes"], seed=0)
        result = baseline.train(
            weights,
            data["x_train"],
            data["y_train"],
            loss=loss,
            learning_rate=work["learning_rate"],
            num_epochs=work["epochs"],
            batch_size=work["batch"],
            seed=0,
        )
        return _accuracy(baseline.forward(result.params, data["x_test"]), data["y_test"])

    return _timed_runs(train_once, params)


def run_sklearn(params: dict[str, Any]) -> dict[str, Any]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    work = _work(params)
    data = split_like_jaxnn(work["dataset"])

    def train_once():
        classifier = MLPClassifier(
            hidden_layer_sizes=tuple(work["sizes"][1:-1]),
            activation="relu",
            solver="sgd",
            alpha=0.0,
            batch_size=work["batch"],
            learning_rate_init=work["learning_rate"],
            max_iter=work["epochs"],
            momentum=0.0,
            nesterovs_momentum=False,
            shuffle=True,
            random_state=0,
            tol=0.0,
            n_iter_no_change=work["epochs"] + 1,
            early_stopping=False,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # it runs max_iter epochs, as asked
            classifier.fit(data["x_train"], data["y_train"])
        return float(classifier.score(data["x_test"], data["y_test"]))

    return _timed_runs(train_once, params)


def run_flax(params: dict[str, Any]) -> dict[str, Any]:
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    work = _work(params)
    data = split_like_jaxnn(work["dataset"])
    sizes = work["sizes"]

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            for width in sizes[1:-1]:
                x = nn.relu(nn.Dense(width)(x))
            return nn.Dense(sizes[-1])(x)

    module, opt = MLP(), optax.sgd(work["learning_rate"])
    if sizes[-1] == 1:
        loss_of = lambda logits, y: optax.losses.sigmoid_binary_cross_entropy(logits[:, 0], y).mean()  # noqa: E731
    else:
        loss_of = lambda logits, y: optax.losses.softmax_cross_entropy_with_integer_labels(logits, y).mean()  # noqa: E731

    @jax.jit
    def step(weights, opt_state, x, y):
        grads = jax.grad(lambda w: loss_of(module.apply(w, x), y))(weights)
        updates, opt_state = opt.update(grads, opt_state, weights)
        return optax.apply_updates(weights, updates), opt_state

    x_train, y_train = data["x_train"], data["y_train"].astype(np.float32 if sizes[-1] == 1 else np.int32)

    def train_once():
        weights = module.init(jax.random.key(0), jnp.ones((1, sizes[0])))
        opt_state, rng = opt.init(weights), np.random.default_rng(0)
        for _ in range(work["epochs"]):
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), work["batch"]):
                batch = order[start : start + work["batch"]]
                weights, opt_state = step(weights, opt_state, x_train[batch], y_train[batch])
        return _accuracy(module.apply(weights, data["x_test"]), data["y_test"])

    return _timed_runs(train_once, params)


def run_torch_eager(params: dict[str, Any]) -> dict[str, Any]:
    torch, missing = harness.import_torch(params["num_threads"])
    if torch is None:
        return {"skipped": missing}
    work = _work(params)
    data = split_like_jaxnn(work["dataset"])
    sizes, binary = work["sizes"], work["sizes"][-1] == 1
    x_train, x_test = torch.from_numpy(data["x_train"]), torch.from_numpy(data["x_test"])
    y_train = (
        torch.from_numpy(data["y_train"]).float().reshape(-1, 1) if binary else torch.from_numpy(data["y_train"]).long()
    )
    loss_fn = torch.nn.BCEWithLogitsLoss() if binary else torch.nn.CrossEntropyLoss()

    def train_once():
        layers = []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers += [torch.nn.Linear(d_in, d_out)] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=work["learning_rate"])
        for _ in range(work["epochs"]):
            for batch in torch.randperm(len(x_train)).split(work["batch"]):
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x_train[batch]), y_train[batch]).backward()
                opt.step()
        with torch.no_grad():
            return _accuracy(model(x_test).numpy(), data["y_test"])

    return _timed_runs(train_once, params)


IMPLEMENTATIONS = {
    "jaxnn-fit": run_jaxnn_fit,
    "numpy": run_numpy,
    "sklearn": run_sklearn,
    "flax": run_flax,
    "torch-eager": run_torch_eager,
}


# --- plan and report (in the parent) -----------------------------------------------------


def workloads(settings: harness.Settings) -> list[str]:
    return ["cancer"] if settings.quick else list(WORKLOADS)


def jobs(settings: harness.Settings) -> list[harness.Job]:
    repeats = 2 if settings.quick else min(settings.repeats, 5)
    epochs = 10 if settings.quick else None
    return [
        harness.Job(NAME, impl, name, settings.timing(workload=name, repeats=repeats, epochs=epochs))
        for name in workloads(settings)
        for impl in IMPLEMENTATIONS
    ]


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for name in workloads(settings):
        work = WORKLOADS[name]
        reference = math.nan
        for impl in IMPLEMENTATIONS:
            runs = [r for r in grouped.get((impl, name), []) if "samples" in r]
            if not runs:
                continue
            stats = harness.pool([r["samples"] for r in runs], key="wall_s")
            if impl == "jaxnn-fit":
                reference = stats["median"]
            middle = lambda key: sorted(r["extra"][key] for r in runs)[len(runs) // 2]  # noqa: E731
            epochs = runs[0]["params"].get("epochs") or work["epochs"]
            rows.append(
                {
                    "workload": name,
                    "impl": impl,
                    **work,
                    "epochs": epochs,
                    **stats,
                    "first_call_s": middle("first_call_s"),
                    "test_accuracy": middle("test_accuracy"),
                }
            )
        for row in rows:
            if row["workload"] == name:
                row["times_jaxnn"] = harness.ratio(row["median"], reference)
    skipped = sorted({f"{r['impl']}: {r['skipped']}" for r in records if "skipped" in r})
    return {"rows": rows, "skipped": skipped, "workloads": {name: WORKLOADS[name] for name in workloads(settings)}}


def markdown(summary: dict[str, Any]) -> str:
    header = [
        "workload",
        "implementation",
        "trained in",
        "IQR",
        "first run (compile incl.)",
        "× jaxnn time",
        "test accuracy",
        "samples kept",
    ]
    body = [
        [
            row["workload"],
            LABELS[row["impl"]],
            harness.format_seconds(row["median"]),
            harness.format_seconds(row["iqr"]),
            harness.format_seconds(row["first_call_s"]),
            harness.format_number(row["times_jaxnn"], ".2f", "×"),
            f"{row['test_accuracy']:.3f}",
            f"{row['num_kept']}/{row['num_samples']}" + (" (forced)" if row["forced"] else ""),
        ]
        for row in summary["rows"]
    ]
    lines = [
        f"- `{name}`: {w['dataset']} {w['sizes']}, SGD {w['learning_rate']}, batch {w['batch']}, {w['epochs']} epochs"
        for name, w in summary["workloads"].items()
    ]
    parts = [
        "### train: time to a trained model (whole run, warm), with its test accuracy",
        "",
        *lines,
        "",
        harness.markdown_table(header, body),
        "",
    ]
    parts += [f"Skipped: {line}" for line in summary["skipped"]]
    return "\n".join(parts) + "\n"
