"""conv: one training step (forward + backward + optimizer update) of a small CNN, four ways.

Every implementation trains the same network, ``jaxnn.cnn(input_shape, 10, channels=...,
hidden=...)``: per entry of ``channels`` a 3x3 SAME convolution, ReLU and a 2x2 max-pool,
then a flatten, ReLU dense layers of ``hidden`` and a dense layer of 10 logits, with
softmax cross-entropy on integer labels and the case's optimizer (plain SGD, learning rate
0.01, as the ``step`` suite), all JAX ones from the same start weights (He-normal kernels
drawn by NumPy in jaxnn's layout). Per-step time is the median over samples pooled from
fresh processes; GFLOP/s use the exact count of :func:`step_flops`.

* ``jaxnn-fused``: the program ``jaxnn.fit`` runs: epochs and minibatches inside
  ``lax.scan`` (shuffle, gather, step), timed as in the ``step`` suite: ``run_epochs_jit``
  calls on a ready state, per step = call time / (epochs × steps per epoch).
* ``jax-jit``: one optax update of ``model.apply`` under ``jax.jit`` with donated params and
  optimizer state, called from a Python loop (synchronized once per sample).
* ``flax-nnx``: the same CNN as an ``nnx.Module`` (``nnx.Conv``, ``nnx.max_pool``,
  ``nnx.Linear``) trained the idiomatic way, ``nnx.Optimizer(..., wrt=nnx.Param)`` and an
  ``nnx.jit`` step. Its first step (SGD) is checked against jaxnn's jitted step on the same
  batch from the same weights: loss and updated params must agree to 1e-4.
* ``torch-eager``: ``torch.nn`` (NCHW, its native layout) + ``torch.optim``, when ``import torch`` works.

Case S is the digits as 8x8x1 images (``jaxnn.datasets.load("digits", as_images=True)``,
the first rows of the training split); case M is synthetic 28x28x1 images.
"""

import functools
import math
from typing import Any

from benchmarks import harness, step

NAME = "conv"
LEARNING_RATES = {"sgd": 0.01, "adam": 0.001}
KERNEL_SIZE = 3
POOL = 2
CHECK_TOLERANCE = 1e-4
CASES = {
    "S": {
        "images": "digits",
        "input_shape": [8, 8, 1],
        "channels": [16, 32],
        "hidden": [64],
        "outputs": 10,
        "batch": 128,
        "optimizer": "sgd",
        "steps_per_epoch": 8,
    },
    "M": {
        "images": "synthetic",
        "input_shape": [28, 28, 1],
        "channels": [32, 64],
        "hidden": [128],
        "outputs": 10,
        "batch": 128,
        "optimizer": "sgd",
        "steps_per_epoch": 4,
    },
}
LABELS = {
    "jaxnn-fused": "jaxnn fused (scan, as fit)",
    "jax-jit": "jaxnn model, jit step, Python loop",
    "flax-nnx": "Flax NNX, nnx.jit",
    "torch-eager": "PyTorch eager",
}


# --- exact FLOP counts -------------------------------------------------------------------


def layer_shapes(case: dict[str, Any]) -> tuple[list[tuple[int, int, int, int]], list[int]]:
    """``(convs, dense)``: per convolution ``(height, width, in_channels, out_channels)`` of its
    output (SAME padding keeps the input's size), and the dense widths from the flatten on."""
    height, width, channels = case["input_shape"]
    convs = []
    for out_channels in case["channels"]:
        convs.append((height, width, channels, out_channels))
        height, width, channels = height // POOL, width // POOL, out_channels
    return convs, [height * width * channels, *case["hidden"], case["outputs"]]


def forward_flops(case: dict[str, Any]) -> int:
    """Multiply-adds of the convolutions and dense layers, 2 FLOPs each, for a batch."""
    convs, dense = layer_shapes(case)
    per_conv = [2 * h * w * KERNEL_SIZE**2 * c_in * c_out for h, w, c_in, c_out in convs]
    return case["batch"] * sum(per_conv) + harness.forward_flops(dense, case["batch"])


def step_flops(case: dict[str, Any]) -> int:
    """FLOPs of one step: forward, then per layer a weight gradient and an input gradient of the
    forward's size each, except the first convolution's input gradient (the data's), never computed.

    A SAME convolution counts every tap, the zero padding's included (as XLA computes it);
    ReLU, pooling, biases, the loss and the update are O(activations) and not counted.
    """
    convs, _ = layer_shapes(case)
    height, width, c_in, c_out = convs[0]
    first = 2 * case["batch"] * height * width * KERNEL_SIZE**2 * c_in * c_out
    return 3 * forward_flops(case) - first


def num_weights(case: dict[str, Any]) -> int:
    convs, dense = layer_shapes(case)
    return sum(KERNEL_SIZE**2 * c_in * c_out + c_out for _, _, c_in, c_out in convs) + harness.num_weights(dense)


# --- data and the networks (run inside a worker) -----------------------------------------


def _images(case: dict[str, Any], rows: int, *, load_digits=None):
    """``(x, y)``: ``rows`` channels-last images ``(rows, h, w, c)`` float32 and int32 labels.

    ``load_digits()`` returns the digits' training split as ``(x, y)`` (jaxnn's, or the same
    split read without JAX for a torch worker).
    """
    import numpy as np

    if case["images"] == "digits":
        x, y = load_digits()
        if rows > len(x):
            raise ValueError(f"case asks for {rows} digits but the training split has {len(x)}")
        return np.asarray(x[:rows], np.float32).reshape(rows, *case["input_shape"]), np.asarray(y[:rows], np.int32)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rows, *case["input_shape"]), dtype=np.float32)
    y = (np.arange(rows) % case["outputs"]).astype(np.int32)
    rng.shuffle(y)
    return x, y


def _jaxnn_digits():
    import jaxnn

    data = jaxnn.datasets.load("digits", as_images=True)
    return data.x_train, data.y_train


def _jax_images(case: dict[str, Any], rows: int | None = None):
    return _images(case, rows or case["batch"], load_digits=_jaxnn_digits)


def _jaxnn_model(case: dict[str, Any]):
    import jaxnn

    return jaxnn.cnn(
        case["input_shape"],
        case["outputs"],
        channels=case["channels"],
        kernel_size=KERNEL_SIZE,
        pool=POOL,
        hidden=case["hidden"],
    )


def _optax_optimizer(name: str):
    import optax

    return {"sgd": optax.sgd, "adam": optax.adam}[name](LEARNING_RATES[name])


def _loss(logits, y):
    import optax

    return optax.losses.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _jax_train_step(apply, opt):
    """``train_step(weights, opt_state, x, y) -> (weights, opt_state, loss)``, jitted, state donated."""
    import jax
    import optax

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(weights, opt_state, x, y):
        loss, grads = jax.value_and_grad(lambda w: _loss(apply(w, x), y))(weights)
        updates, opt_state = opt.update(grads, opt_state, weights)
        return optax.apply_updates(weights, updates), opt_state, loss

    return train_step


def _jaxnn_start(case: dict[str, Any]):
    """``(model, weights)``: the case's jaxnn CNN and start weights in its layout, He-normal kernels
    and zero biases drawn by NumPy: ``model.init`` costs seconds of compiles (eagerly, one per
    initializer and shape; jitted, one of the whole threefry program), which the timed loop
    never repeats. (``jaxnn-fused`` keeps the state ``fit`` builds.)"""
    import jax
    import numpy as np

    model = _jaxnn_model(case)
    rng = np.random.default_rng(0)

    def draw(leaf):
        if len(leaf.shape) == 1:
            return np.zeros(leaf.shape, leaf.dtype)
        fan_in = math.prod(leaf.shape[:-1])  # the whole window times the input channels, or d_in
        return (rng.standard_normal(leaf.shape) * math.sqrt(2 / fan_in)).astype(leaf.dtype)

    return model, jax.tree.map(lambda leaf: jax.device_put(draw(leaf)), jax.eval_shape(model.init, jax.random.key(0)))


def _nnx_cnn(case: dict[str, Any], weights):
    """The case's CNN as an ``nnx.Module`` holding jaxnn's ``weights`` (kernels are ``(kh, kw, in, out)``
    in both; one ``{"w", "b"}`` per conv/dense layer, in order)."""
    from flax import nnx

    class CNN(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            convs, dense = layer_shapes(case)
            self.convs = nnx.List(
                [
                    nnx.Conv(c_in, c_out, (KERNEL_SIZE, KERNEL_SIZE), padding="SAME", rngs=rngs)
                    for _, _, c_in, c_out in convs
                ]
            )
            self.dense = nnx.List(
                [nnx.Linear(d_in, d_out, rngs=rngs) for d_in, d_out in zip(dense[:-1], dense[1:], strict=True)]
            )

        def __call__(self, x):
            for conv in self.convs:
                x = nnx.max_pool(nnx.relu(conv(x)), (POOL, POOL), strides=(POOL, POOL))
            x = x.reshape(x.shape[0], -1)
            for layer in self.dense[:-1]:
                x = nnx.relu(layer(x))
            return self.dense[-1](x)

    model = nnx.eval_shape(lambda: CNN(nnx.Rngs(0)))  # shapes only: every value is replaced below
    for layer, params in zip([*model.convs, *model.dense], weights, strict=True):
        if layer.kernel.get_value().shape != params["w"].shape:
            raise ValueError(f"kernel shapes differ: NNX {layer.kernel.get_value().shape}, jaxnn {params['w'].shape}")
        layer.kernel.set_value(params["w"])
        layer.bias.set_value(params["b"])
    return model


def _nnx_weights(model) -> list[dict[str, Any]]:
    return [{"w": layer.kernel.get_value(), "b": layer.bias.get_value()} for layer in [*model.convs, *model.dense]]


def _nnx_train_step():
    from flax import nnx

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(lambda m: _loss(m(x), y))(model)
        optimizer.update(model, grads)
        return loss

    return train_step


def _max_difference(a, b) -> float:
    import jax
    import numpy as np

    return max(
        float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def jaxnn_reference(case: dict[str, Any], x, y) -> dict[str, Any]:
    """What jaxnn computes from its initial weights on ``(x, y)``: the weights, and the weights
    and the loss (of the weights before it) after one SGD step. SGD, whatever the case's
    optimizer: its step is the gradient scaled, where Adam's first is ±lr wherever a gradient is not ~0."""
    import jax

    model, weights = _jaxnn_start(case)
    opt = _optax_optimizer("sgd")
    stepped, _, loss = _jax_train_step(model.apply, opt)(
        jax.tree.map(lambda a: a.copy(), weights), opt.init(weights), x, y
    )
    return {"weights": weights, "stepped": stepped, "loss": loss}


def compare(reference: dict[str, Any], stepped, loss) -> dict[str, float]:
    """The largest absolute differences from :func:`jaxnn_reference`'s stepped params and loss,
    and the gradients' difference that the params' implies (it divided by the learning rate).

    Raises:
        AssertionError: the params or the loss differ by more than :data:`CHECK_TOLERANCE`.
    """
    params = _max_difference(reference["stepped"], stepped)
    found = {
        "params_max_abs_diff": params,
        "loss_abs_diff": abs(float(reference["loss"]) - float(loss)),
        "grads_max_abs_diff": params / LEARNING_RATES["sgd"],
    }
    if max(found["params_max_abs_diff"], found["loss_abs_diff"]) > CHECK_TOLERANCE:
        raise AssertionError(f"jaxnn and Flax NNX disagree after one SGD step from the same weights: {found}")
    return found


# --- implementations (run inside a worker) -----------------------------------------------


def run_jaxnn_fused(params: dict[str, Any]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn import loop

    steps = params["steps_per_epoch"]
    x, y = _jax_images(params, rows=steps * params["batch"])
    data = jaxnn.datasets.from_arrays(x, y, val_fraction=0.0, test_fraction=0.0, standardize=False, stratify=False)
    data = jax.device_put(data)
    hparams = jax.tree.map(
        lambda v: jnp.asarray(v, jnp.float32), jaxnn.Hyperparams(learning_rate=LEARNING_RATES[params["optimizer"]])
    )
    # As fit builds it for these values (see benchmarks.step); num_epochs only caps the run.
    model, start = _jaxnn_start(params)
    spec = jaxnn.TrainSpec(
        model,
        num_epochs=2**30,
        batch_size=params["batch"],
        optimizer=params["optimizer"],
        loss="softmax_cross_entropy",
        zeros=("momentum", "weight_decay"),
    )
    # The state fit builds, from the start weights of the other implementations.
    holder = {"state": loop.init_state_jit(spec, hparams, jax.random.key(0), data, start), "history": None}

    def run(epochs: int):
        holder["state"], holder["history"] = loop.run_epochs_jit(spec, holder["state"], hparams, data, epochs)
        jax.block_until_ready(holder["state"])

    with harness.CompileEvents() as events:
        first = harness.wall_timed(lambda: run(1))
    epoch_s = min(harness.wall_timed(lambda: run(1))["wall_s"] for _ in range(3))
    epochs = max(1, round(params["sample_s"] / epoch_s))
    if epochs > 1:
        run(epochs)  # compiles the program for `epochs`
    run(epochs)
    samples = harness.measure(lambda: run(epochs), repeats=params["repeats"], units_per_call=epochs * steps)
    return {
        "samples": samples,
        "extra": {
            "epochs_per_call": epochs,
            "steps_per_epoch": steps,
            "last_loss": float(holder["history"]["train_loss"][-1]),
            "first_call_s": first["wall_s"],
            **events.summary(),
        },
    }


def run_jax_jit(params: dict[str, Any]) -> dict[str, Any]:
    import jax

    model, start = _jaxnn_start(params)
    x, y = (jax.device_put(a) for a in _jax_images(params))
    opt = _optax_optimizer(params["optimizer"])
    train_step = _jax_train_step(model.apply, opt)

    def fresh():
        weights = jax.tree.map(lambda a: a.copy(), start)
        return [weights, opt.init(weights), None]

    state = fresh()
    with harness.CompileEvents() as events:
        first = harness.wall_timed(lambda: jax.block_until_ready(train_step(state[0], state[1], x, y)))
    state = fresh()  # the timed call consumed (donated) the first state

    def one_step():
        state[:] = train_step(state[0], state[1], x, y)

    samples = step._timed_loop(one_step, lambda: jax.block_until_ready(state[0]), params)
    return {
        "samples": samples,
        "extra": {"last_loss": float(state[2]), "first_call_s": first["wall_s"], **events.summary()},
    }


def run_flax_nnx(params: dict[str, Any]) -> dict[str, Any]:
    import jax
    from flax import nnx

    x, y = (jax.device_put(a) for a in _jax_images(params))
    reference = jaxnn_reference(params, x, y)
    model = _nnx_cnn(params, reference["weights"])
    train_step = _nnx_train_step()
    optimizer = nnx.Optimizer(model, _optax_optimizer("sgd"), wrt=nnx.Param)
    last = {}

    def one_step():
        last["loss"] = train_step(model, optimizer, x, y)

    with harness.CompileEvents() as events:  # the first call is the checked step
        first = harness.wall_timed(lambda: (one_step(), jax.block_until_ready(last["loss"])))
    check = compare(reference, _nnx_weights(model), last["loss"])
    if params["optimizer"] != "sgd":
        optimizer = nnx.Optimizer(model, _optax_optimizer(params["optimizer"]), wrt=nnx.Param)
    samples = step._timed_loop(one_step, lambda: jax.block_until_ready(last["loss"]), params)
    return {
        "samples": samples,
        "extra": {
            "last_loss": float(last["loss"]),
            "first_call_s": first["wall_s"],
            "check": check,
            **events.summary(),
        },
    }


def run_torch_eager(params: dict[str, Any]) -> dict[str, Any]:
    torch, missing = harness.import_torch(params["num_threads"])
    if torch is None:
        return {"skipped": missing}
    from benchmarks.train import split_like_jaxnn  # the digits without JAX

    def digits():
        split = split_like_jaxnn("digits")
        return split["x_train"], split["y_train"]

    convs, dense = layer_shapes(params)
    modules: list[Any] = []
    for _, _, c_in, c_out in convs:
        modules += [
            torch.nn.Conv2d(c_in, c_out, KERNEL_SIZE, padding=KERNEL_SIZE // 2),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(POOL),
        ]
    modules.append(torch.nn.Flatten())
    for i, (d_in, d_out) in enumerate(zip(dense[:-1], dense[1:], strict=True)):
        modules.append(torch.nn.Linear(d_in, d_out))
        if i < len(dense) - 2:
            modules.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*modules)
    x_np, y_np = _images(params, params["batch"], load_digits=digits)
    x = torch.from_numpy(x_np.transpose(0, 3, 1, 2).copy())  # NCHW, torch's own layout
    y = torch.from_numpy(y_np).long()
    loss_fn = torch.nn.CrossEntropyLoss()
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[params["optimizer"]]
    opt = make(model.parameters(), lr=LEARNING_RATES[params["optimizer"]])
    last = {}

    def one_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        last["loss"] = loss.detach()

    samples = step._timed_loop(one_step, lambda: None, params)
    return {
        "samples": samples,
        "extra": {
            "last_loss": float(last["loss"]),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
    }


IMPLEMENTATIONS = {
    "jaxnn-fused": run_jaxnn_fused,
    "jax-jit": run_jax_jit,
    "flax-nnx": run_flax_nnx,
    "torch-eager": run_torch_eager,
}
QUICK_IMPLEMENTATIONS = ("jaxnn-fused", "flax-nnx", "torch-eager")


# --- plan and report (in the parent) -----------------------------------------------------


def cases(settings: harness.Settings) -> dict[str, dict[str, Any]]:
    """The measured cases: S and M (quick: S only)."""
    return {name: CASES[name] for name in (("S",) if settings.quick else ("S", "M"))}


def implementations(settings: harness.Settings) -> tuple[str, ...]:
    """All of them; quick leaves out ``jax-jit`` (each JAX worker is seconds of imports and compiles,
    and the Flax NNX worker's check runs jaxnn's jitted step anyway)."""
    return QUICK_IMPLEMENTATIONS if settings.quick else tuple(IMPLEMENTATIONS)


def jobs(settings: harness.Settings) -> list[harness.Job]:
    return [
        harness.Job(NAME, impl, name, settings.timing(case=name, **case))
        for name, case in cases(settings).items()
        for impl in implementations(settings)
    ]


def summarize(
    records: list[dict[str, Any]], settings: harness.Settings, *, peak_gflops: float = math.nan
) -> dict[str, Any]:
    """Rows per (case, implementation): pooled median and IQR per step, GFLOP/s, ratio to jaxnn fused.

    ``peak_gflops`` (the ``gemm`` suite's, when it ran too) gives each row a percent of matmul peak.
    """
    grouped = harness.group(records)
    skipped = sorted({f"{r['impl']}: {r['skipped']}" for r in records if "skipped" in r})
    rows, checks = [], {}
    for name, case in cases(settings).items():
        flops = step_flops(case)
        case_rows = []
        for impl in IMPLEMENTATIONS:
            runs = [r for r in grouped.get((impl, name), []) if "samples" in r]
            if not runs:
                continue
            if impl == "flax-nnx":
                checks[name] = [r["extra"]["check"] for r in runs]
            stats = harness.pool([r["samples"] for r in runs])
            gflops = flops / stats["median"] / 1e9
            case_rows.append(
                {
                    "case": name,
                    "impl": impl,
                    **{
                        key: case[key]
                        for key in ("images", "input_shape", "channels", "hidden", "outputs", "batch", "optimizer")
                    },
                    "learning_rate": LEARNING_RATES[case["optimizer"]],
                    "flops_per_step": flops,
                    "params": num_weights(case),
                    **stats,
                    "gflops": gflops,
                    "percent_of_peak": 100 * gflops / peak_gflops
                    if peak_gflops and not math.isnan(peak_gflops)
                    else math.nan,
                    "first_call_s": step._median_extra(runs, "first_call_s"),
                    "compile_s": step._median_extra(runs, "compile_s"),
                }
            )
        fused = next((r["median"] for r in case_rows if r["impl"] == "jaxnn-fused"), math.nan)
        for row in case_rows:
            row["times_jaxnn_fused"] = harness.ratio(row["median"], fused)
        rows += case_rows
    return {
        "rows": rows,
        "peak_gflops": peak_gflops,
        "skipped": skipped,
        "checks": checks,
        "check_tolerance": CHECK_TOLERANCE,
    }


def markdown(summary: dict[str, Any]) -> str:
    parts = []
    for name in [c for c in CASES if any(r["case"] == c for r in summary["rows"])]:
        rows = [r for r in summary["rows"] if r["case"] == name]
        first = rows[0]
        title = (
            f"### conv {name}: {first['images']} images {tuple(first['input_shape'])}, channels {first['channels']}, "
            f"hidden {first['hidden']}, {first['outputs']} outputs, batch {first['batch']}, "
            f"{first['optimizer']} (lr {first['learning_rate']:g}), {first['flops_per_step'] / 1e6:.4g} MFLOP per step"
        )
        body = [
            [
                LABELS[r["impl"]],
                harness.format_seconds(r["median"]),
                harness.format_seconds(r["iqr"]),
                harness.format_number(r["times_jaxnn_fused"], ".2f", "×"),
                harness.format_number(r["gflops"], ".3g"),
                harness.format_number(r["percent_of_peak"], ".0f", "%"),
                harness.format_seconds(r["first_call_s"]),
                f"{r['num_kept']}/{r['num_samples']}" + (" (forced)" if r["forced"] else ""),
            ]
            for r in rows
        ]
        header = [
            "implementation",
            "median / step",
            "IQR",
            "time vs jaxnn fused",
            "GFLOP/s",
            "% of peak",
            "first call",
            "samples kept",
        ]
        parts.append(f"{title}\n\n{harness.markdown_table(header, body)}\n")
        parts.append(
            f"First call: compile and run of the first call (jaxnn fused: one epoch, "
            f"{CASES[name]['steps_per_epoch']} steps).\n"
        )
        for check in summary["checks"].get(name, [])[:1]:
            parts.append(
                f"Checked: after one SGD step from the same weights, jaxnn and Flax NNX differ by at most "
                f"{check['params_max_abs_diff']:.1e} in params and {check['loss_abs_diff']:.1e} in the loss "
                f"(tolerance {summary['check_tolerance']:g}).\n"
            )
    for line in summary["skipped"]:
        parts.append(f"Skipped: {line}\n")
    return "\n".join(parts)
