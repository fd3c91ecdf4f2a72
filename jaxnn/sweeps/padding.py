"""Layer sizes in one program: every row of a sweep padded to the widest shape, with masks.

A sweep whose space varies ``sizes`` either trains each shape as a program of its own (grouping,
see :mod:`jaxnn.sweeps.architecture`) or all of them as one program of a *padded* MLP, built here:
each hidden layer as wide as the widest shape's at that depth, as many hidden layers as the
deepest shape has. A row's params carry its shape:

- ``mask`` (per hidden layer, one entry per unit): 1 for the row's own units, 0 for padding. A
  padded unit's activation is multiplied by 0, and its weights in and out start at zero.
- ``on`` (per hidden layer, a scalar): 0 for a layer deeper than the row's own depth, which then
  passes its input through unchanged (a shallower row skips the deeper layers).

Both sit behind ``stop_gradient``, so a padded unit or skipped layer contributes exactly nothing:
its forward value is 0 (or the layer is the identity), every gradient that reaches its weights is
0, so its weights stay 0, weight decay of a 0 is 0, and the optimizer's state for it stays at its
initial value (no update comes from it). :func:`unpad` cuts a row's params back to its own shape,
on which the row's own :func:`jaxnn.mlp` computes what the padded program computed.

Each row starts from its own shape's initialization (the padded model's ``init(key, variant)`` draws
each layer as the row's own :func:`jaxnn.mlp` draws it, and pads it), so a row's initial weights are
those its shape alone would draw.
Dropout draws its keep-mask over the padded width: the same rate, other random numbers.

>>> import jax, jaxnn
>>> from jaxnn.sweeps import padding
>>> model = padding.padded_model(jaxnn.mlp([4, 8, 3]), [(2,), (5, 3)])
>>> params = model.init(jax.random.key(0), 0)  # the row of shape (2,)
>>> [tuple(layer["w"].shape) for layer in params], [float(layer["on"]) for layer in params[:-1]]
([(4, 5), (5, 3), (3, 3)], [1.0, 0.0])
>>> [tuple(layer["w"].shape) for layer in padding.unpad(params, (2,))]
[(4, 2), (2, 3)]
"""

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import errors, layers, programs
from jaxnn.models import Model, check_input, model_from_config
from jaxnn.sweeps import architecture
from jaxnn.sweeps.space import ARCHITECTURE_KEY
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = [
    "COST",
    "MASK_KEYS",
    "Cost",
    "Padded",
    "can_pad",
    "padded_model",
    "partition",
    "positions",
    "unpad",
    "variants",
]

MASK_KEYS = ("mask", "on")
"""The entries a padded hidden layer has beside ``w`` and ``b`` (never trained; :func:`unpad` drops them)."""


class Padded(NamedTuple):
    """A program setting's shapes trained as one padded program: the sweep's ``base`` model and the ``shapes``."""

    base: Model
    shapes: tuple[tuple[int, ...], ...]

    @property
    def model(self) -> Model:
        """The padded model (:func:`padded_model`)."""
        return padded_model(self.base, self.shapes)


class Cost(NamedTuple):
    """What :func:`partition` assumes of a platform.

    Attributes:
        compile_s: seconds to trace and compile one shape's sweep programs (``init``, ``run``, ``finish``).
        padded_compile: the padded program's compile time, as a multiple of ``compile_s`` (it draws every
            shape's initial weights and carries the masks).
        flops_per_s: multiply-adds x 2 per second that a sweep's training reaches (per core on a CPU).
    """

    compile_s: float
    padded_compile: float
    flops_per_s: float


COST = {
    # Measured with `python -m benchmarks.architecture grouping` on a 2-core AMD EPYC (see the sweeps guide):
    # 6 shapes compiled in 12 s, the padded program in about 1.5 shapes' time, training at 50-80 GFLOP/s.
    "cpu": Cost(compile_s=2.0, padded_compile=1.5, flops_per_s=30e9),
    "gpu": Cost(compile_s=2.0, padded_compile=1.5, flops_per_s=5e12),
}
"""Per platform (``jax.Device.platform``), what :func:`partition` assumes; platforms not named count as ``"gpu"``."""


def partition(
    model: Model,
    counts: Mapping[tuple[int, ...], int],
    *,
    num_seeds: int,
    num_examples: int,
    num_epochs: int,
    devices: Sequence[Any],
) -> list[tuple[tuple[int, ...], ...]]:
    """The shapes ``counts`` (each shape's number of configurations) split into the programs estimated to finish
    soonest: each group of two or more shapes one padded program, each shape alone a program of its own.

    A program of one shape costs a compile and trains its rows at their own width; a padded program costs
    :data:`COST`'s ``padded_compile`` compiles and trains every row at the padded width (forward and backward, about
    3x the forward pass's multiply-adds, per example and epoch). Seconds are estimated from :data:`COST` for
    the devices' platform. Starting from one program per shape, the two groups whose merge saves the most are
    merged, until no merge saves anything: a short sweep pads everything into one program, a long one keeps one
    program per shape, and in between, shapes of similar cost share a program.

    >>> import jax, jaxnn
    >>> shapes = {(32,): 8, (64,): 8, (128, 128): 8}
    >>> machine = dict(num_seeds=1, num_examples=1000, devices=jax.devices("cpu"))
    >>> partition(jaxnn.mlp([64, 8, 10]), shapes, num_epochs=5, **machine)
    [((32,), (64,), (128, 128))]
    >>> partition(jaxnn.mlp([64, 8, 10]), shapes, num_epochs=5000, **machine)
    [((32,),), ((64,),), ((128, 128),)]
    """
    platform = devices[0].platform if devices else "cpu"
    cost = COST.get(platform, COST["gpu"])
    rate = cost.flops_per_s * ((os.cpu_count() or 1) if platform == "cpu" else len(devices))
    work = 3 * num_seeds * num_examples * num_epochs / rate  # seconds per forward multiply-add x 2 of one example
    ends = (model.config["sizes"][0], model.config["sizes"][-1])

    def seconds(group: tuple[tuple[int, ...], ...]) -> float:
        if len(group) == 1:
            return cost.compile_s + counts[group[0]] * _flops(ends, group[0]) * work
        rows = sum(counts[shape] for shape in group)
        return cost.padded_compile * cost.compile_s + rows * _flops(ends, tuple(positions(group))) * work

    groups: list[tuple[tuple[int, ...], ...]] = [(shape,) for shape in counts]
    while len(groups) > 1:
        saving, i, j = max(
            (seconds(a) + seconds(b) - seconds(a + b), i, j)
            for i, a in enumerate(groups)
            for j, b in enumerate(groups)
            if i < j
        )
        if saving <= 0:
            break
        groups[i] += groups.pop(j)
    return groups


def _flops(ends: tuple[int, int], hidden: tuple[int, ...]) -> int:
    """Multiply-adds x 2 of one example through an MLP ``ends[0] -> *hidden -> ends[1]``."""
    widths = [ends[0], *hidden, ends[1]]
    return 2 * sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=False))


def can_pad(model: Model, shapes: Sequence[tuple[int, ...]]) -> bool:
    """Whether ``shapes`` of ``model`` can train as one padded program: an MLP built by :func:`jaxnn.mlp` and every
    shape with at least one hidden layer (a layer without one cannot pass its input through)."""
    activation = model.config.get("activation")
    one_activation = isinstance(activation, str) or len(set(activation or ())) <= 1
    return model.config.get("type") == "mlp" and one_activation and all(len(shape) > 0 for shape in shapes)


def positions(shapes: Sequence[tuple[int, ...]]) -> list[int]:
    """The padded width of each hidden layer: wide enough for every row's own units at that depth, and for the
    output of every shallower row's last layer, which passes through it.

    >>> positions([(32,), (128, 16)])
    [128, 32]
    """
    return [max(shape[min(depth, len(shape) - 1)] for shape in shapes) for depth in range(max(map(len, shapes)))]


def padded_model(model: Model, shapes: Sequence[tuple[int, ...]]) -> Model:
    """``model`` (a :func:`jaxnn.mlp`) padded to hold every shape of ``shapes`` (hidden widths, one tuple each).

    Its ``init(key, variant)`` starts the row of shape ``shapes[variant]`` (``variant`` may be traced); its
    ``apply`` is the MLP's, with each row's masks. The same arguments give the same model object, so a second
    sweep of the same shapes reuses the first's compiled programs.

    Raises:
        ConfigError: ``model`` is not an MLP built by :func:`jaxnn.mlp`, or a shape has no hidden layer.
    """
    shapes = tuple(tuple(int(width) for width in shape) for shape in shapes)
    if not can_pad(model, shapes):
        raise errors.ConfigError(
            "only an MLP built by jaxnn.mlp with one hidden activation, and shapes that each have a hidden layer, "
            f"can be padded; got a {model.config.get('type', 'model')!r} model and sizes {list(shapes)}"
        )
    return _padded(json.dumps(model.config, sort_keys=True), shapes)


@programs.memoize(maxsize=32)  # one model object per (model, shapes): jit's caches key on it
def _padded(config_text: str, shapes: tuple[tuple[int, ...], ...]) -> Model:
    base = json.loads(config_text)
    first = architecture.with_sizes(model_from_config(base), shapes[0])
    name = base["activation"] if isinstance(base["activation"], str) else base["activation"][0]
    config = {"type": "padded_mlp", "model": base, "shapes": [list(shape) for shape in shapes]}
    return Model(
        _padded_init(base, shapes, hidden_init=base["init"] or layers.default_init(name)),
        _padded_apply(base, layers.activation(name)),
        config,
        input_shape=first.input_shape,
        uses_dropout=first.uses_dropout,
        needs_key=first.needs_key,
        output_activation=first.output_activation,
    )


def _padded_init(base: dict[str, Any], shapes: tuple[tuple[int, ...], ...], *, hidden_init: str) -> Callable:
    """The padded model's ``init(key, variant)``: each row's own shape's draws (jaxnn.mlp's serial layers: dense
    ``l`` at index ``3 l``, the output after the last hidden layer), each distinct one drawn once and selected per
    row; zeros around them; the row's masks."""
    in_features, out_features = base["sizes"][0], base["sizes"][-1]
    dtype = jnp.dtype(base["dtype"])
    output_init = base["init"] or layers.default_init(base["output_activation"] or "identity")
    depth_of = jnp.asarray([len(shape) for shape in shapes])

    def draws(key: PRNGKey, variant: Array, rows: int, width: int, options: dict, init_name: str) -> Array:
        """A padded weight matrix: for each distinct own layer ``(index, fan_in, fan_out)`` among ``options`` (those
        layers' variants), that layer's draw as its own model makes it, kept where the row is one of them."""
        w = jnp.zeros((rows, width), dtype)
        for (index, fan_in, fan_out), ids in options.items():
            dense = layers.dense(fan_out, init=init_name, dtype=dtype)
            own = dense.init(jax.random.fold_in(key, index), (fan_in,))[0]["w"]
            padded = jnp.pad(own, ((0, rows - fan_in), (0, width - fan_out)))
            w = jnp.where(jnp.isin(variant, jnp.asarray(ids)), padded, w)
        return w

    def init(key: PRNGKey, variant: ArrayLike | None = None) -> Params:
        variant = jnp.asarray(0 if variant is None else variant, jnp.int32)
        params = []
        rows = in_features
        for depth, width in enumerate(positions(shapes)):
            options: dict[tuple[int, int, int], list[int]] = {}
            for i, shape in enumerate(shapes):
                if depth < len(shape):
                    fan_in = in_features if depth == 0 else shape[depth - 1]
                    options.setdefault((3 * depth, fan_in, shape[depth]), []).append(i)
            own_width = jnp.asarray([shape[depth] if depth < len(shape) else 0 for shape in shapes])[variant]
            w = draws(key, variant, rows, width, options, hidden_init)
            mask = (jnp.arange(width) < own_width).astype(dtype)
            params.append(
                {"w": w, "b": jnp.zeros((width,), dtype), "mask": mask, "on": (depth_of[variant] > depth).astype(dtype)}
            )
            rows = width
        options = {}
        for i, shape in enumerate(shapes):
            options.setdefault((3 * len(shape), shape[-1], out_features), []).append(i)
        w = draws(key, variant, rows, out_features, options, output_init)
        return [*params, {"w": w, "b": jnp.zeros((out_features,), dtype)}]

    return init


def _padded_apply(base: dict[str, Any], hidden_activation: layers.Layer) -> Callable:
    """The padded model's ``apply``: :func:`jaxnn.mlp`'s, each unit times its row's mask, a skipped layer the
    identity."""
    in_features, dtype, output_activation = base["sizes"][0], jnp.dtype(base["dtype"]), base["output_activation"]
    dropout_layer = layers.dropout(base["dropout"])

    def apply(
        params: Params,
        x: ArrayLike,
        *,
        key: PRNGKey | None = None,
        train: bool = False,
        dropout: ArrayLike | None = None,
    ) -> Array:
        x = jnp.asarray(x)
        check_input(x, (in_features,), "sizes[0]")  # as jaxnn.mlp checks it
        h = x.astype(dtype)
        for depth, layer in enumerate(params[:-1]):
            # jaxnn.mlp's layer order (dense, activation, dropout per hidden layer): the same dropout keys
            out = hidden_activation.apply(None, h @ layer["w"] + layer["b"]) * jax.lax.stop_gradient(layer["mask"])
            layer_key = None if key is None else jax.random.fold_in(key, 3 * depth + 2)
            out = dropout_layer.apply(None, out, key=layer_key, train=train, dropout=dropout)
            if depth > 0:  # a row shallower than this layer passes its input through
                out = jnp.where(jax.lax.stop_gradient(layer["on"]) > 0, out, _fit(h, out.shape[-1]))
            h = out
        out = h @ params[-1]["w"] + params[-1]["b"]
        return out if output_activation is None else layers.get_activation(output_activation)(out)

    return apply


def _fit(h: Array, width: int) -> Array:
    """``h`` cut or zero-padded to ``width`` units (a skipped layer's input, as wide as its output)."""
    if h.shape[-1] >= width:
        return h[..., :width]
    return jnp.pad(h, [(0, 0)] * (h.ndim - 1) + [(0, width - h.shape[-1])])


def unpad(params: Params, shape: tuple[int, ...]) -> Params:
    """A padded row's params (any leading axes: one row, or a stack of rows) cut to ``shape``: the params of
    ``jaxnn.mlp`` with those hidden widths, masks and skipped layers dropped."""
    own = []
    rows = None
    for depth, width in enumerate(shape):
        layer = params[depth]
        w = layer["w"] if rows is None else layer["w"][..., :rows, :]
        own.append({"w": w[..., :width], "b": layer["b"][..., :width]})
        rows = width
    last = params[-1]
    own.append({"w": last["w"][..., :rows, :], "b": last["b"]})
    return own


def variants(configs: Sequence[dict[str, Any]], shapes: Sequence[tuple[int, ...]]) -> np.ndarray:
    """Each configuration's index in ``shapes`` (its ``sizes``)."""
    index = {tuple(shape): i for i, shape in enumerate(shapes)}
    return np.asarray([index[tuple(config[ARCHITECTURE_KEY])] for config in configs], np.int32)
