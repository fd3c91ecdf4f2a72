"""small_sweep: many configurations of a small model, the sweep people run most.

The workload: a [30, 16, 1] ReLU MLP on breast_cancer (jaxnn's default split: 399 training rows,
13 minibatches of 32 per epoch), plain SGD, 20 epochs = 260 steps per configuration, a
validation pass every epoch, K learning rates log-spaced over [0.01, 0.3], one seed. The figure
is microseconds per configuration-step: a whole warm sweep / (K × 260).

* ``jaxnn-vmap`` / ``jaxnn-vmap-2dev``: ``jaxnn.sweep`` on one device / two host devices.
* ``jaxnn-fit``: ``jaxnn.fit`` once per configuration (timed on min(K, 16) configurations).
* ``numpy``: ``jaxnn.baseline.train`` once per configuration (timed on min(K, 8)).
* ``torch-func``: a ``torch.func`` vmapped ensemble over the K configurations, when torch is importable.
* ``jax-prototype``: the floor without bookkeeping: the issue's ``jit(scan)`` prototype of the same
  workload (one SGD step vmapped over the K learning rates, shared shuffled minibatches, no
  validation pass, no early-stopping or best-epoch state).
* ``jax-flat``: the same with no ``vmap`` at all: the first layer's weights of every configuration
  stored as one ``(30, K·16)`` matrix (one flat product forward and one backward), the second
  layer as an einsum. What a hand-specialized program gains over vmap on XLA:CPU.
"""

import math
from typing import Any

from benchmarks import harness

NAME = "small_sweep"
SIZES = [30, 16, 1]
BATCH = 32
EPOCHS = 20
STEPS_PER_EPOCH = 13  # ceil(399 / 32)
LABELS = {
    "jaxnn-vmap": "jaxnn.sweep, 1 device",
    "jaxnn-vmap-2dev": "jaxnn.sweep, 2 host devices",
    "jaxnn-fit": "jaxnn.fit per configuration",
    "numpy": "NumPy baseline train per configuration",
    "torch-func": "torch.func vmapped ensemble",
    "jax-prototype": "jit(scan) of a vmapped SGD step, no bookkeeping",
    "jax-flat": "jit(scan), first layer hand-flattened, no vmap",
}
TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def learning_rates(k: int, scale: float = 1.0) -> list[float]:
    import numpy as np

    return [float(v) * scale for v in np.geomspace(0.01, 0.3, k)]


def _steps(k: int) -> int:
    return k * EPOCHS * STEPS_PER_EPOCH


def run_jaxnn_vmap(params: dict[str, Any]) -> dict[str, Any]:
    import jax

    import jaxnn

    k = params["k"]
    data, model = jaxnn.datasets.load("breast_cancer", seed=0), jaxnn.mlp(SIZES)
    devices = jax.local_devices()[: params["devices"]]

    def run(scale: float):
        result = jaxnn.sweep(
            model,
            data,
            space={"learning_rate": learning_rates(k, scale)},
            optimizer="sgd",
            num_epochs=EPOCHS,
            batch_size=BATCH,
            key=0,
            devices=devices,
            num_chunks=1,
            progress=False,
        )
        return result

    with harness.CompileEvents() as events:
        first = harness.wall_timed(lambda: run(1.0))
    scales = iter(1.0 + 0.001 * i for i in range(1, 10_000))  # new values each call: must not recompile
    with harness.CompileEvents() as warm:
        samples = harness.measure(lambda: run(next(scales)), repeats=params["repeats"], units_per_call=_steps(k))
    best = run(1.0).best["best_val_metric"]
    return {
        "samples": samples,
        "extra": {
            "first_call_s": first["wall_s"],
            **events.summary(),
            "devices": len(devices),
            "recompiles_after_first": warm.num_compiles,
            "best_val_metric": best,
        },
    }


def run_jaxnn_fit(params: dict[str, Any]) -> dict[str, Any]:
    import jaxnn

    k = params["k"]
    data, model = jaxnn.datasets.load("breast_cancer", seed=0), jaxnn.mlp(SIZES)
    timed = min(k, 16)

    def fit(rate):
        return jaxnn.fit(
            model,
            data,
            optimizer="sgd",
            learning_rate=rate,
            num_epochs=EPOCHS,  # noqa: E731
            batch_size=BATCH,
            key=0,
            progress=False,
        )

    with harness.CompileEvents() as events:
        first = harness.wall_timed(lambda: fit(0.05))

    def configurations():
        for rate in learning_rates(k)[:timed]:
            fit(rate)

    samples = harness.measure(configurations, repeats=params["repeats"], units_per_call=_steps(timed))
    return {"samples": samples, "extra": {"first_call_s": first["wall_s"], **events.summary(), "timed": timed}}


def run_numpy(params: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.train import split_like_jaxnn

    baseline = harness.load_baseline()
    data, k = split_like_jaxnn("breast_cancer"), params["k"]
    timed = min(k, 8)

    def configurations():
        for rate in learning_rates(k)[:timed]:
            baseline.train(
                baseline.init_params(SIZES, seed=0),
                data["x_train"],
                data["y_train"],
                loss="binary_cross_entropy",
                learning_rate=rate,
                num_epochs=EPOCHS,
                batch_size=BATCH,
                seed=0,
            )

    samples = harness.measure(configurations, repeats=params["repeats"], units_per_call=_steps(timed))
    return {"samples": samples, "extra": {"timed": timed}}


def run_torch_func(params: dict[str, Any]) -> dict[str, Any]:
    torch, missing = harness.import_torch(params["num_threads"])
    if torch is None:
        return {"skipped": missing}
    import copy

    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    from benchmarks.train import split_like_jaxnn

    data, k = split_like_jaxnn("breast_cancer"), params["k"]
    x_train = torch.from_numpy(data["x_train"])
    y_train = torch.from_numpy(data["y_train"]).float().reshape(-1, 1)
    base = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    rates = torch.tensor(learning_rates(k)).reshape(k, 1)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def loss_of(weights, buffers, x, y):
        return loss_fn(functional_call(base, (weights, buffers), (x,)), y)

    step = vmap(grad_and_value(loss_of), in_dims=(0, 0, None, None))

    def run():
        weights, buffers = stack_module_state([copy.deepcopy(base) for _ in range(k)])
        for _ in range(EPOCHS):
            for batch in torch.randperm(len(x_train)).split(BATCH):
                grads, _ = step(weights, buffers, x_train[batch], y_train[batch])
                with torch.no_grad():
                    for name in weights:
                        weights[name] -= rates.reshape(k, *[1] * (weights[name].ndim - 1)) * grads[name]

    run()
    samples = harness.measure(run, repeats=params["repeats"], units_per_call=_steps(k))
    return {"samples": samples, "extra": {"torch": torch.__version__}}


def _prototype(k: int, flat: bool):
    """``train(rates, key) -> params``, jitted: the small sweep in plain JAX (see the module docstring)."""
    import jax
    import jax.numpy as jnp

    from benchmarks.train import split_like_jaxnn

    data = split_like_jaxnn("breast_cancer")
    x, y = jnp.asarray(data["x_train"], jnp.float32), jnp.asarray(data["y_train"], jnp.float32)
    n, hidden = x.shape[0], SIZES[1]
    assert -(-n // BATCH) == STEPS_PER_EPOCH, n
    slots = STEPS_PER_EPOCH * BATCH
    mask = (jnp.arange(slots) < n).astype(jnp.float32).reshape(STEPS_PER_EPOCH, BATCH)
    he = jax.nn.initializers.he_normal()

    def init():  # every configuration starts from the same weights, as in a sweep with one seed
        k1, k2 = jax.random.split(jax.random.key(0))
        return {
            "w1": he(k1, (SIZES[0], hidden)),
            "b1": jnp.zeros(hidden),
            "w2": he(k2, (hidden, 1))[:, 0],
            "b2": jnp.zeros(()),
        }

    def mean_bce(logits, targets, m):  # binary cross-entropy with logits over the unmasked rows
        return jnp.sum((jax.nn.softplus(logits) - targets * logits) * m, axis=0) / jnp.sum(m)

    if flat:

        def loss(p, xb, yb, m):  # summed over configurations: each one's gradient is its own loss's
            h = jax.nn.relu(xb @ p["w1"] + p["b1"]).reshape(BATCH, k, hidden)
            return jnp.sum(mean_bce(jnp.einsum("bkh,kh->bk", h, p["w2"]) + p["b2"], yb[:, None], m[:, None]))

        def step(p, rates, xb, yb, m):
            scale = {
                "w1": jnp.repeat(rates, hidden),
                "b1": jnp.repeat(rates, hidden),
                "w2": rates[:, None],
                "b2": rates,
            }
            return jax.tree.map(lambda v, g, r: v - r * g, p, jax.grad(loss)(p, xb, yb, m), scale)

        one = init()
        start = {
            "w1": jnp.tile(one["w1"], (1, k)),
            "b1": jnp.tile(one["b1"], k),
            "w2": jnp.tile(one["w2"], (k, 1)),
            "b2": jnp.zeros(k),
        }
    else:

        def loss(p, xb, yb, m):
            return mean_bce(jax.nn.relu(xb @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"], yb, m)

        def one_step(p, rate, xb, yb, m):
            return jax.tree.map(lambda v, g: v - rate * g, p, jax.grad(loss)(p, xb, yb, m))

        step = jax.vmap(one_step, in_axes=(0, 0, None, None, None))
        start = jax.tree.map(lambda v: jnp.broadcast_to(v, (k, *v.shape)), init())

    @jax.jit
    def train(rates, key):
        def epoch(p, epoch_key):
            order = jnp.concatenate([jax.random.permutation(epoch_key, n), jnp.zeros(slots - n, jnp.int32)])
            order = order.reshape(STEPS_PER_EPOCH, BATCH)
            return jax.lax.scan(lambda q, b: (step(q, rates, x[b[0]], y[b[0]], b[1]), None), p, (order, mask))[0], None

        return jax.lax.scan(epoch, start, jax.random.split(key, EPOCHS))[0]

    return train


def run_jax_prototype(params: dict[str, Any]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    k = params["k"]
    train = _prototype(k, flat=params["impl_flat"])
    key = jax.random.key(0)
    first = harness.wall_timed(lambda: jax.block_until_ready(train(jnp.asarray(learning_rates(k)), key)))
    scales = iter(1.0 + 0.001 * i for i in range(1, 10_000))  # new values each call, as for jaxnn.sweep
    samples = harness.measure(
        lambda: jax.block_until_ready(train(jnp.asarray(learning_rates(k, next(scales))), key)),
        repeats=params["repeats"],
        units_per_call=_steps(k),
    )
    return {"samples": samples, "extra": {"first_call_s": first["wall_s"]}}


IMPLEMENTATIONS = {
    "jaxnn-vmap": run_jaxnn_vmap,
    "jaxnn-vmap-2dev": run_jaxnn_vmap,
    "jaxnn-fit": run_jaxnn_fit,
    "numpy": run_numpy,
    "torch-func": run_torch_func,
    "jax-prototype": run_jax_prototype,
    "jax-flat": run_jax_prototype,
}


# --- plan and report (in the parent) -----------------------------------------------------


def ks(settings: harness.Settings) -> list[int]:
    return [8] if settings.quick else [1, 64, 256, 1024, 4096]


def jobs(settings: harness.Settings) -> list[harness.Job]:
    repeats = 2 if settings.quick else 3
    out = []
    for k in ks(settings):
        for impl in IMPLEMENTATIONS:
            two = impl == "jaxnn-vmap-2dev"
            out.append(
                harness.Job(
                    NAME,
                    impl,
                    f"K{k}",
                    settings.timing(k=k, repeats=repeats, devices=2 if two else 1, impl_flat=impl == "jax-flat"),
                    env=TWO_DEVICES if two else {},
                )
            )
    return out


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for k in ks(settings):
        numpy_median = math.nan
        case_rows = []
        for impl in IMPLEMENTATIONS:
            runs = [r for r in grouped.get((impl, f"K{k}"), []) if "samples" in r]
            if not runs:
                continue
            stats = harness.pool([r["samples"] for r in runs])
            if impl == "numpy":
                numpy_median = stats["median"]
            middle = lambda key: sorted(r["extra"].get(key, math.nan) for r in runs)[len(runs) // 2]  # noqa: E731
            case_rows.append(
                {
                    "impl": impl,
                    "k": k,
                    **stats,
                    "compile_s": middle("compile_s"),
                    "peak_rss_bytes": sorted(r["peak_rss_bytes"] for r in runs)[len(runs) // 2],
                    "recompiles_after_first": max(r["extra"].get("recompiles_after_first", 0) for r in runs),
                }
            )
        for row in case_rows:
            row["speedup_vs_numpy"] = harness.ratio(numpy_median, row["median"])
        rows += case_rows
    skipped = sorted({f"{r['impl']}: {r['skipped']}" for r in records if "skipped" in r})
    return {
        "rows": rows,
        "skipped": skipped,
        "workload": {
            "sizes": SIZES,
            "batch_size": BATCH,
            "num_epochs": EPOCHS,
            "steps_per_configuration": EPOCHS * STEPS_PER_EPOCH,
            "dataset": "breast_cancer",
            "optimizer": "sgd",
        },
    }


def markdown(summary: dict[str, Any]) -> str:
    header = ["K", "implementation", "per configuration-step", "IQR", "× NumPy", "compile", "peak RSS", "samples kept"]
    body = [
        [
            row["k"],
            LABELS[row["impl"]],
            harness.format_seconds(row["median"]),
            harness.format_seconds(row["iqr"]),
            harness.format_number(row["speedup_vs_numpy"], ".1f", "×"),
            harness.format_seconds(row["compile_s"]),
            f"{row['peak_rss_bytes'] / 2**20:.0f} MiB",
            f"{row['num_kept']}/{row['num_samples']}" + (" (forced)" if row["forced"] else ""),
        ]
        for row in sorted(summary["rows"], key=lambda r: (r["k"], list(IMPLEMENTATIONS).index(r["impl"])))
    ]
    work = summary["workload"]
    title = (
        f"### small_sweep: {work['sizes']} MLP on breast_cancer, batch {work['batch_size']}, "
        f"{work['steps_per_configuration']} SGD steps per configuration, K learning rates"
    )
    return (
        "\n".join(
            [title, "", harness.markdown_table(header, body), "", *[f"Skipped: {line}" for line in summary["skipped"]]]
        )
        + "\n"
    )
