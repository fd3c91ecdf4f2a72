"""step: one training step (forward + backward + SGD update) of an MLP, six ways.

Every implementation trains the same ReLU MLP with plain SGD (learning rate
0.01) and the same loss: binary cross-entropy from logits for S, softmax
cross-entropy with integer labels otherwise. Per-step time is the median over
samples pooled from fresh processes; GFLOP/s use the exact count of
:func:`benchmarks.harness.step_flops`.

* ``numpy``: ``jaxnn.baseline.step`` (in place), loaded by file path: no JAX in the process.
* ``jax-op-by-op``: ``jax.value_and_grad`` and an ``optax.sgd`` update, no ``jit``:
  every primitive is dispatched on its own.
* ``jax-jit``: the same step under ``jax.jit`` with donated params and optimizer
  state, called from a Python loop (synchronized once per sample, not per step).
* ``jaxnn-fused``: the program ``jaxnn.fit`` runs: epochs and minibatches inside
  ``lax.scan`` (shuffle, gather, step), timed as ``_run_compiled`` calls on a ready
  state, per step = call time / (epochs × steps per epoch).
* ``flax``: the same MLP as ``flax.linen`` Dense layers, jitted step, donated buffers.
* ``torch-eager``: ``torch.nn`` + ``torch.optim.SGD``, when ``import torch`` works.
"""

import functools
import math
from typing import Any

from benchmarks import harness

NAME = "step"
LEARNING_RATE = 0.01
CASES = {
    "S": {"sizes": [30, 16, 1], "batch": 32, "loss": "binary_cross_entropy", "steps_per_epoch": 16},
    "M": {"sizes": [784, 256, 256, 10], "batch": 128, "loss": "softmax_cross_entropy", "steps_per_epoch": 16},
    "L": {"sizes": [784, 2048, 2048, 10], "batch": 512, "loss": "softmax_cross_entropy", "steps_per_epoch": 8},
}
# The size sweep for the log-log plot: [784, w, w, 10] at batch 128 (w = 256 is M).
SWEEP_WIDTHS = (16, 64, 256, 1024)
LABELS = {
    "numpy": "NumPy baseline",
    "jax-op-by-op": "JAX op by op (no jit)",
    "jax-jit": "JAX jit, Python loop",
    "jaxnn-fused": "jaxnn fused (scan, as fit)",
    "flax": "Flax linen, jit",
    "torch-eager": "PyTorch eager",
}


def _width_case(width: int) -> dict[str, Any]:
    return {"sizes": [784, width, width, 10], "batch": 128, "loss": "softmax_cross_entropy", "steps_per_epoch": 16}


def _batch(params: dict[str, Any], rows: int | None = None):
    """Synthetic ``(x, y)``: standard-normal features; 0/1 labels (BCE) or classes."""
    import numpy as np

    sizes, loss = params["sizes"], params["loss"]
    rows = rows or params["batch"]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rows, sizes[0]), dtype=np.float32)
    if loss == "binary_cross_entropy":
        y = (np.arange(rows) % 2).astype(np.float32)
    else:
        y = (np.arange(rows) % sizes[-1]).astype(np.int32)
    rng.shuffle(y)
    return x, y


def _timed_loop(step_once, finish, params: dict[str, Any]) -> list[dict[str, float]]:
    """Samples of a Python loop of steps, synchronized by ``finish`` once per sample."""

    def one():
        step_once()
        finish()

    for _ in range(3):
        one()
    number = harness.calls_for(one, params["sample_s"])

    def chunk():
        for _ in range(number):
            step_once()
        finish()

    chunk()
    return harness.measure(chunk, repeats=params["repeats"], units_per_call=number)


# --- implementations (run inside a worker) -----------------------------------------------


def run_numpy(params: dict[str, Any]) -> dict[str, Any]:
    baseline = harness.load_baseline()
    weights = baseline.init_params(params["sizes"], seed=0)
    x, y = _batch(params)
    losses = []

    def step():
        return losses.append(baseline.step(weights, x, y, loss=params["loss"], learning_rate=LEARNING_RATE))

    samples = _timed_loop(step, lambda: None, params)
    return {"samples": samples, "extra": {"last_loss": float(losses[-1])}}


def _optax_loss(name: str):
    """``loss(logits, y)`` from Optax, the same math as jaxnn.losses."""
    import optax

    if name == "binary_cross_entropy":
        return lambda logits, y: optax.losses.sigmoid_binary_cross_entropy(logits[:, 0], y).mean()
    return lambda logits, y: optax.losses.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _jax_objective(params: dict[str, Any]):
    """(model, loss_of(weights, x, y)) for the jaxnn MLP."""
    import jaxnn

    model, loss_fn = jaxnn.mlp(params["sizes"]), _optax_loss(params["loss"])
    return model, lambda weights, x, y: loss_fn(model.apply(weights, x), y)


def run_jax_op_by_op(params: dict[str, Any]) -> dict[str, Any]:
    import jax
    import optax

    model, objective = _jax_objective(params)
    x, y = (jax.device_put(a) for a in _batch(params))
    opt = optax.sgd(LEARNING_RATE)
    weights = model.init(jax.random.key(0))
    state = {"params": weights, "opt_state": opt.init(weights), "loss": None}
    value_and_grad = jax.value_and_grad(objective)

    def step():
        loss, grads = value_and_grad(state["params"], x, y)
        updates, state["opt_state"] = opt.update(grads, state["opt_state"], state["params"])
        state["params"] = optax.apply_updates(state["params"], updates)
        state["loss"] = loss

    samples = _timed_loop(step, lambda: jax.block_until_ready(state["params"]), params)
    return {"samples": samples, "extra": {"last_loss": float(state["loss"])}}


def _jitted_loop(params: dict[str, Any], model_init, objective) -> dict[str, Any]:
    import jax
    import optax

    x, y = (jax.device_put(a) for a in _batch(params))
    opt = optax.sgd(LEARNING_RATE)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(weights, opt_state, x, y):
        loss, grads = jax.value_and_grad(objective)(weights, x, y)
        updates, opt_state = opt.update(grads, opt_state, weights)
        return optax.apply_updates(weights, updates), opt_state, loss

    weights = model_init(jax.random.key(0))
    state = [weights, opt.init(weights), None]
    with harness.CompileEvents() as events:
        first = harness.wall_timed(lambda: jax.block_until_ready(train_step(state[0], state[1], x, y)))
    # The timed call above consumed (donated) the initial state: start again from fresh buffers.
    weights = model_init(jax.random.key(0))
    state[:] = [weights, opt.init(weights), None]

    def step():
        state[:] = train_step(state[0], state[1], x, y)

    samples = _timed_loop(step, lambda: jax.block_until_ready(state[0]), params)
    return {
        "samples": samples,
        "extra": {"last_loss": float(state[2]), "first_call_s": first["wall_s"], **events.summary()},
    }


def run_jax_jit(params: dict[str, Any]) -> dict[str, Any]:
    model, objective = _jax_objective(params)
    return _jitted_loop(params, model.init, objective)


def run_flax(params: dict[str, Any]) -> dict[str, Any]:
    import flax.linen as nn
    import jax

    sizes = tuple(params["sizes"])

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            for width in sizes[1:-1]:
                x = nn.relu(nn.Dense(width)(x))
            return nn.Dense(sizes[-1])(x)

    module = MLP()
    sample_x = jax.numpy.zeros((1, sizes[0]), jax.numpy.float32)
    loss_fn = _optax_loss(params["loss"])

    def objective(weights, x, y):
        return loss_fn(module.apply(weights, x), y)

    return _jitted_loop(params, lambda key: module.init(key, sample_x), objective)


def run_jaxnn_fused(params: dict[str, Any]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn import loop

    steps = params["steps_per_epoch"]
    x, y = _batch(params, rows=steps * params["batch"])
    data = jaxnn.datasets.from_arrays(x, y, val_fraction=0.0, test_fraction=0.0, standardize=False, stratify=False)
    data = jax.device_put(data)
    model = jaxnn.mlp(params["sizes"])
    hparams = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), jaxnn.Hyperparams(learning_rate=LEARNING_RATE))
    # num_epochs only caps the run (the state stops at it); the calls below run `epochs` each.
    # As fit builds it for these values: momentum and weight decay are 0, so the program has no work for them.
    spec = jaxnn.TrainSpec(
        model,
        num_epochs=2**30,
        batch_size=params["batch"],
        optimizer="sgd",
        loss=params["loss"],
        zeros=("momentum", "weight_decay"),
    )
    state = loop.init_state_jit(spec, hparams, jax.random.key(0), data)  # the entry points fit calls
    holder = {"state": state, "history": None}

    def run(epochs: int):
        holder["state"], holder["history"] = loop.run_epochs_jit(spec, holder["state"], hparams, data, epochs)
        jax.block_until_ready(holder["state"])

    with harness.CompileEvents() as events:
        first = harness.wall_timed(lambda: run(1))
    # Size one call (one sample) to about sample_s: epochs per call from one epoch's time.
    epoch_s = min(harness.wall_timed(lambda: run(1))["wall_s"] for _ in range(3))
    epochs = max(1, round(params["sample_s"] / epoch_s))
    run(epochs)  # compiles the program for `epochs`
    run(epochs)
    samples = harness.measure(lambda: run(epochs), repeats=params["repeats"], units_per_call=epochs * steps)
    last = float(holder["history"]["train_loss"][-1])
    return {
        "samples": samples,
        "extra": {
            "epochs_per_call": epochs,
            "steps_per_epoch": steps,
            "last_loss": last,
            "first_call_s": first["wall_s"],
            **events.summary(),
        },
    }


def run_torch_eager(params: dict[str, Any]) -> dict[str, Any]:
    torch, missing = harness.import_torch(params["num_threads"])
    if torch is None:
        return {"skipped": missing}
    sizes = params["sizes"]
    layers: list[Any] = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(d_in, d_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    x_np, y_np = _batch(params)
    x = torch.from_numpy(x_np)
    if params["loss"] == "binary_cross_entropy":
        y = torch.from_numpy(y_np).reshape(-1, 1)
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        y = torch.from_numpy(y_np).long()
        loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    last = {}

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        last["loss"] = loss.detach()

    samples = _timed_loop(step, lambda: None, params)
    return {
        "samples": samples,
        "extra": {
            "last_loss": float(last["loss"]),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
    }


IMPLEMENTATIONS = {
    "numpy": run_numpy,
    "jax-op-by-op": run_jax_op_by_op,
    "jax-jit": run_jax_jit,
    "jaxnn-fused": run_jaxnn_fused,
    "flax": run_flax,
    "torch-eager": run_torch_eager,
}


# --- plan and report (in the parent) -----------------------------------------------------


def cases(settings: harness.Settings) -> dict[str, dict[str, Any]]:
    """The measured cases: S, M, L and the size sweep (quick: S and M only; smoke: S)."""
    names = ("S",) if settings.smoke else ("S", "M") if settings.quick else ("S", "M", "L")
    chosen = {name: CASES[name] for name in names}
    if not settings.quick:
        for width in SWEEP_WIDTHS:
            if _width_case(width)["sizes"] != CASES["M"]["sizes"]:
                chosen[f"w{width}"] = _width_case(width)
    return chosen


def jobs(settings: harness.Settings) -> list[harness.Job]:
    return [
        harness.Job(NAME, impl, name, settings.timing(case=name, **case))
        for name, case in cases(settings).items()
        for impl in IMPLEMENTATIONS
    ]


def summarize(records: list[dict[str, Any]], settings: harness.Settings, *, peak_gflops: float) -> dict[str, Any]:
    grouped = harness.group(records)
    skipped = sorted({f"{r['impl']}: {r['skipped']}" for r in records if "skipped" in r})
    rows = []
    for name, case in cases(settings).items():
        flops = harness.step_flops(case["sizes"], case["batch"])
        numpy_median = math.nan
        case_rows = []
        for impl in IMPLEMENTATIONS:
            runs = [r for r in grouped.get((impl, name), []) if "samples" in r]
            if not runs:
                continue
            stats = harness.pool([r["samples"] for r in runs])
            if impl == "numpy":
                numpy_median = stats["median"]
            gflops = flops / stats["median"] / 1e9
            case_rows.append(
                {
                    "case": name,
                    "impl": impl,
                    "sizes": case["sizes"],
                    "batch": case["batch"],
                    "loss": case["loss"],
                    "flops_per_step": flops,
                    "params": harness.num_weights(case["sizes"]),
                    **stats,
                    "gflops": gflops,
                    "percent_of_peak": 100 * gflops / peak_gflops
                    if peak_gflops and not math.isnan(peak_gflops)
                    else math.nan,
                    "first_call_s": _median_extra(runs, "first_call_s"),
                    "compile_s": _median_extra(runs, "compile_s"),
                }
            )
        for row in case_rows:
            row["speedup_vs_numpy"] = harness.ratio(numpy_median, row["median"])
        rows += case_rows
    return {"rows": rows, "peak_gflops": peak_gflops, "skipped": skipped, "learning_rate": LEARNING_RATE}


def _median_extra(runs: list[dict[str, Any]], name: str) -> float:
    values = [r["extra"][name] for r in runs if name in r.get("extra", {})]
    return sorted(values)[len(values) // 2] if values else math.nan


def markdown(summary: dict[str, Any]) -> str:
    parts = []
    for name in [c for c in ("S", "M", "L") if any(r["case"] == c for r in summary["rows"])]:
        rows = [r for r in summary["rows"] if r["case"] == name]
        first = rows[0]
        title = (
            f"### step {name}: sizes {first['sizes']}, batch {first['batch']}, {first['loss']}, "
            f"{first['flops_per_step'] / 1e6:.4g} MFLOP per step"
        )
        body = [
            [
                LABELS[r["impl"]],
                harness.format_seconds(r["median"]),
                harness.format_seconds(r["iqr"]),
                harness.format_number(r["speedup_vs_numpy"], ".2f", "×"),
                harness.format_number(r["gflops"], ".3g"),
                harness.format_number(r["percent_of_peak"], ".0f", "%"),
                f"{r['num_kept']}/{r['num_samples']}" + (" (forced)" if r["forced"] else ""),
            ]
            for r in rows
        ]
        header = ["implementation", "median / step", "IQR", "speedup vs NumPy", "GFLOP/s", "% of peak", "samples kept"]
        parts.append(f"{title}\n\n{harness.markdown_table(header, body)}\n")
    sweep_rows = [r for r in summary["rows"] if r["case"].startswith("w") or r["case"] == "M"]
    widths = sorted({r["sizes"][1] for r in sweep_rows})
    if len(widths) > 1:
        impls = [i for i in IMPLEMENTATIONS if any(r["impl"] == i for r in sweep_rows)]
        body = []
        for width in widths:
            cells = [f"[784, {width}, {width}, 10]"]
            for impl in impls:
                match = [r for r in sweep_rows if r["impl"] == impl and r["sizes"][1] == width]
                cells.append(harness.format_seconds(match[0]["median"]) if match else "n/a")
            body.append(cells)
        table = harness.markdown_table(["sizes (batch 128)", *[LABELS[i] for i in impls]], body)
        parts.append(f"### step: size sweep (median per step)\n\n{table}\n")
    for line in summary["skipped"]:
        parts.append(f"Skipped: {line}\n")
    return "\n".join(parts)


def plot(summary: dict[str, Any], out_dir) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    sweep_rows = [r for r in summary["rows"] if r["case"].startswith("w") or r["case"] == "M"]
    colors = {}
    for impl in IMPLEMENTATIONS:
        points = sorted((r["params"], r["median"]) for r in sweep_rows if r["impl"] == impl)
        if points:
            (line,) = ax.plot(*zip(*points, strict=True), marker="o", label=LABELS[impl])
            colors[impl] = line.get_color()
    for marker, name in (("s", "S"), ("^", "L")):
        for r in summary["rows"]:
            if r["case"] == name and r["impl"] in colors:
                ax.scatter([r["params"]], [r["median"]], marker=marker, color=colors[r["impl"]], s=50)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters (lines: [784, w, w, 10] at batch 128; ■ S at batch 32, ▲ L at batch 512)")
    ax.set_ylabel("median time per training step (s)")
    ax.set_title("One SGD step: time vs model size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return [harness.save_figure(fig, out_dir, "step_time_vs_size.png")]
