"""sweep: K learning rates of one workload, trained together or one after another.

The workload of the sweeps issue: a [64, 128, 128, 10] ReLU MLP on ``digits``
(jaxnn's default split: 1257 training rows, so 20 minibatches of 64 per epoch),
plain SGD, 10 epochs = 200 steps, a validation pass every epoch, K learning
rates spread log-uniformly over [0.01, 0.3], all from the same seed (so every
configuration sees the same minibatches).

* ``jaxnn-vmap``: ``jaxnn.sweep`` on one device (one ``jit(vmap(train))`` call).
* ``jaxnn-vmap-2dev``: the same, the configurations sharded over 2 host devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=2``).
* ``jax-sequential``: ``jaxnn.fit`` once per learning rate, one compiled program reused.
* ``torch-func``: a ``torch.func`` vmapped ensemble (``stack_module_state``,
  ``functional_call``, ``vmap(grad_and_value)``), when torch is importable.

Time per configuration = a warm whole-sweep time / K (compile excluded; the
first call, which compiles, is reported separately). Peak memory is the worker
process's ``ru_maxrss``.
"""

import math
from typing import Any

from benchmarks import harness

NAME = "sweep"
SIZES = [64, 128, 128, 10]
BATCH = 64
EPOCHS = 10
LABELS = {
    "jaxnn-vmap": "jaxnn.sweep, 1 device",
    "jaxnn-vmap-2dev": "jaxnn.sweep, 2 host devices",
    "jax-sequential": "jaxnn.fit per config (sequential)",
    "torch-func": "torch.func vmapped ensemble",
}
TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def learning_rates(k: int, scale: float = 1.0) -> list[float]:
    import numpy as np

    return [float(v) * scale for v in np.geomspace(0.01, 0.3, k)]


def _digits():
    import jaxnn

    return jaxnn.datasets.load("digits", seed=0)


def run_jaxnn_vmap(params: dict[str, Any]) -> dict[str, Any]:
    import jax

    import jaxnn

    data, model, k = _digits(), jaxnn.mlp(SIZES), params["k"]
    devices = jax.local_devices()[: params["devices"]]
    if len(devices) != params["devices"]:
        raise RuntimeError(f"asked for {params['devices']} devices, JAX has {len(jax.local_devices())}")

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
        assert len(result) == k

    with harness.CompileEvents() as events:
        first = harness.wall_timed(lambda: run(1.0))
    compile_info = events.summary()
    scales = iter(1.0 + 0.01 * i for i in range(1, 1000))  # new values each call: must not recompile
    with harness.CompileEvents() as warm_events:
        samples = harness.measure(lambda: run(next(scales)), repeats=params["repeats"], units_per_call=k)
    return {
        "samples": samples,
        "extra": {
            "first_call_s": first["wall_s"],
            **compile_info,
            "devices": len(devices),
            "recompiles_after_first": warm_events.num_compiles,
        },
    }


def run_jax_sequential(params: dict[str, Any]) -> dict[str, Any]:
    import jaxnn

    data, model, k = _digits(), jaxnn.mlp(SIZES), params["k"]

    def fit(learning_rate: float):
        jaxnn.fit(
            model,
            data,
            optimizer="sgd",
            learning_rate=learning_rate,
            num_epochs=EPOCHS,
            batch_size=BATCH,
            key=0,
            num_chunks=1,
            progress=False,
        )

    with harness.CompileEvents() as events:
        first = harness.wall_timed(lambda: fit(0.05))
    compile_info = events.summary()
    scales = iter(1.0 + 0.01 * i for i in range(1, 1000))

    def all_configs():
        for learning_rate in learning_rates(k, next(scales)):
            fit(learning_rate)

    with harness.CompileEvents() as warm_events:
        samples = harness.measure(all_configs, repeats=params["repeats"], units_per_call=k)
    return {
        "samples": samples,
        "extra": {"first_call_s": first["wall_s"], **compile_info, "recompiles_after_first": warm_events.num_compiles},
    }


def run_torch_func(params: dict[str, Any]) -> dict[str, Any]:
    torch, missing = harness.import_torch(params["num_threads"])
    if torch is None:
        return {"skipped": missing}
    import numpy as np
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    k = params["k"]
    # digits split like jaxnn's default (70/15/15), standardized on the training rows.
    x_all, y_all = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x_all))
    num_val = num_test = round(0.15 * len(x_all))
    train_rows, val_rows = order[num_val + num_test :], order[:num_val]
    mean, std = x_all[train_rows].mean(0), x_all[train_rows].std(0)
    std[std == 0] = 1.0

    def as_x(rows):
        return torch.from_numpy(((x_all[rows] - mean) / std).astype(np.float32))

    x, y = as_x(train_rows), torch.from_numpy(y_all[train_rows]).long()
    x_val, y_val = as_x(val_rows), torch.from_numpy(y_all[val_rows]).long()

    def make():
        return torch.nn.Sequential(
            torch.nn.Linear(SIZES[0], SIZES[1]),
            torch.nn.ReLU(),
            torch.nn.Linear(SIZES[1], SIZES[2]),
            torch.nn.ReLU(),
            torch.nn.Linear(SIZES[2], SIZES[3]),
        )

    stacked, _ = stack_module_state([make() for _ in range(k)])
    initial = {name: value.detach().clone() for name, value in stacked.items()}
    weights = {name: value.clone() for name, value in initial.items()}
    base = make().to("meta")

    def loss_of(p, xb, yb):
        return F.cross_entropy(functional_call(base, p, (xb,)), yb)

    step = vmap(grad_and_value(loss_of), in_dims=(0, None, None))
    evaluate = vmap(lambda p: functional_call(base, p, (x_val,)))

    def train(epochs: int, scale: float) -> None:
        rates = torch.tensor(learning_rates(k, scale), dtype=torch.float32)
        views = {name: rates.view(-1, *[1] * (value.ndim - 1)) for name, value in weights.items()}
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name in weights:
                weights[name].copy_(initial[name])
        for _ in range(epochs):
            permutation = torch.randperm(len(x), generator=generator)
            loss_sum = torch.zeros(k)
            for start in range(0, len(x), BATCH):
                rows = permutation[start : start + BATCH]
                grads, loss = step(weights, x[rows], y[rows])
                with torch.no_grad():
                    for name in weights:
                        weights[name].sub_(views[name] * grads[name])
                    loss_sum += loss * len(rows)
            with torch.no_grad():
                logits = evaluate(weights)
                val_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y_val.repeat(k))
                val_accuracy = (logits.argmax(-1) == y_val).float().mean(-1)
        train.last = (float(val_loss), float(val_accuracy.max()))

    first = harness.wall_timed(lambda: train(EPOCHS, 1.0))
    scales = iter(1.0 + 0.01 * i for i in range(1, 1000))
    samples = harness.measure(lambda: train(EPOCHS, next(scales)), repeats=params["repeats"], units_per_call=k)
    return {
        "samples": samples,
        "extra": {
            "first_call_s": first["wall_s"],
            "val_loss": train.last[0],
            "best_val_accuracy": train.last[1],
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
    }


IMPLEMENTATIONS = {
    "jaxnn-vmap": run_jaxnn_vmap,
    "jaxnn-vmap-2dev": run_jaxnn_vmap,
    "jax-sequential": run_jax_sequential,
    "torch-func": run_torch_func,
}


def ks(settings: harness.Settings) -> list[int]:
    return [8] if settings.quick else [1, 8, 64, 256]


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
                    settings.timing(k=k, repeats=repeats, devices=2 if two else 1),
                    env=TWO_DEVICES if two else {},
                )
            )
    return out


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    skipped = sorted({f"{r['impl']}: {r['skipped']}" for r in records if "skipped" in r})
    rows = []
    for impl in IMPLEMENTATIONS:
        baseline_rss = math.nan
        for k in ks(settings):
            runs = [r for r in grouped.get((impl, f"K{k}"), []) if "samples" in r]
            if not runs:
                continue
            stats = harness.pool([r["samples"] for r in runs])
            rss = sorted(r["peak_rss_bytes"] for r in runs)[len(runs) // 2]
            if k == 1:
                baseline_rss = rss

            def extra(name):
                return sorted(r["extra"].get(name, math.nan) for r in runs)[len(runs) // 2]

            rows.append(
                {
                    "impl": impl,
                    "k": k,
                    **stats,
                    "sweep_s": stats["median"] * k,
                    "first_call_s": extra("first_call_s"),
                    "compile_s": extra("compile_s"),
                    "recompiles_after_first": max(r["extra"].get("recompiles_after_first", 0) for r in runs),
                    "peak_rss_bytes": rss,
                    "rss_increase_over_k1_bytes": rss - baseline_rss if not math.isnan(baseline_rss) else math.nan,
                }
            )
    return {
        "rows": rows,
        "skipped": skipped,
        "workload": {
            "sizes": SIZES,
            "batch_size": BATCH,
            "num_epochs": EPOCHS,
            "steps": EPOCHS * 20,
            "dataset": "digits",
            "optimizer": "sgd",
            "learning_rates": "geomspace(0.01, 0.3, K)",
        },
    }


def markdown(summary: dict[str, Any]) -> str:
    body = []
    for row in sorted(summary["rows"], key=lambda r: (r["k"], list(IMPLEMENTATIONS).index(r["impl"]))):
        body.append(
            [
                row["k"],
                LABELS[row["impl"]],
                harness.format_seconds(row["median"]),
                harness.format_seconds(row["iqr"]),
                harness.format_seconds(row["sweep_s"]),
                harness.format_seconds(row["compile_s"]),
                f"{row['peak_rss_bytes'] / 2**20:.0f} MiB",
                harness.format_number(row["rss_increase_over_k1_bytes"] / 2**20, "+.0f", " MiB"),
                f"{row['num_kept']}/{row['num_samples']}" + (" (forced)" if row["forced"] else ""),
            ]
        )
    header = [
        "K",
        "implementation",
        "per config",
        "IQR",
        "whole sweep",
        "compile",
        "peak RSS",
        "RSS vs K=1",
        "samples kept",
    ]
    work = summary["workload"]
    title = (
        f"### sweep: {work['sizes']} MLP, batch {work['batch_size']}, {work['steps']} SGD steps on digits, "
        f"K learning rates"
    )
    parts = [f"{title}\n\n{harness.markdown_table(header, body)}\n"]
    parts += [f"Skipped: {line}\n" for line in summary["skipped"]]
    return "\n".join(parts)


def plot(summary: dict[str, Any], out_dir) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for impl in IMPLEMENTATIONS:
        points = sorted((r["k"], r["median"] * 1e3) for r in summary["rows"] if r["impl"] == impl)
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=LABELS[impl])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("K (configurations in the sweep)")
    ax.set_ylabel("time per configuration (ms, compile excluded)")
    ax.set_title(f"Sweep of {SIZES} on digits, {EPOCHS * 20} SGD steps per configuration")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return [harness.save_figure(fig, out_dir, "sweep_time_vs_k.png")]
