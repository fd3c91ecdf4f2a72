"""Building blocks with one contract: ``(init, apply)`` pairs of pure functions.

A :class:`Layer` is a NamedTuple of

* ``init(key, in_shape) -> (params, out_shape)``: ``in_shape`` is the shape of one
  example (``(30,)`` for 30 features, ``(8, 8, 1)`` for an 8x8 one-channel image;
  an int ``d`` means ``(d,)``), ``out_shape`` the shape of one output, and ``params``
  a plain pytree of arrays (``None`` for layers without parameters);
* ``apply(params, x, *, key=None, train=False, dropout=None) -> y`` with ``x`` a
  batch ``(batch, *in_shape)``;
* ``config``: a JSON-serializable dict from which :func:`layer_from_config`
  rebuilds the layer;
* ``has_params``: whether ``init`` returns parameters.

:func:`serial` composes layers and keeps parameters only for the layers that
have them, so ``serial(dense(16), activation("relu"), dense(1))`` has params
``[{"w": (d, 16), "b": (16,)}, {"w": (16, 1), "b": (1,)}]``: the MLP layout.

Images and sequences are channels-last, as in Flax: ``(batch, height, width,
channels)`` for :func:`conv` in 2-D, ``(batch, length, channels)`` in 1-D; the
convolution kernel is ``(*kernel_size, in_channels, features)``. :func:`flatten`
turns them into the flat features a :func:`dense` layer takes.

Activations and initializers come from :mod:`jax.nn` and are looked up by name.
"""

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, errors
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "Layer",
    "activation",
    "avg_pool",
    "conv",
    "default_init",
    "dense",
    "dropout",
    "flatten",
    "get_activation",
    "get_initializer",
    "layer_from_config",
    "layer_norm",
    "max_pool",
    "serial",
]

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jax.nn.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "softplus": jax.nn.softplus,
    "identity": jax.nn.identity,
    # Only meaningful as an output activation (probabilities over the last axis).
    "softmax": jax.nn.softmax,
}


def _drawn_flat(
    scheme: Callable[[float], Callable[..., Array]], scale: float, mode: Literal["fan_in", "fan_avg"] | None = None
) -> Callable[..., Array]:
    """A :mod:`jax.nn.initializers` scheme, the same numbers bit for bit, drawn as one row ``(1, n)`` and reshaped.

    JAX's random numbers are counters run through threefry, numbered along the flattened shape, so a draw does
    not depend on the shape it is drawn in; but XLA's CPU compiler takes several times longer on a draw whose
    last axis is short: a vmapped ``he_normal`` of a (128, 10) output layer compiles in 1.1 s, drawn as one row
    in 0.2 s (2-core AMD EPYC, jax 0.10.2), and every model's ``init`` has such a layer. ``scheme(scale)``
    builds JAX's initializer; for a variance-scaling one (``mode`` given) the scale is divided here by the fans JAX
    would compute for the real shape (the last two axes, times the receptive field), since a ``(1, n)`` draw's
    ``fan_in`` is 1. ``tests/test_models.py`` checks every scheme against JAX's own, bitwise.
    """

    def init(key: PRNGKey, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
        shape = tuple(shape)
        size = math.prod(shape)
        if mode is None:
            return scheme(scale)(key, (1, size), dtype).reshape(shape)
        if len(shape) < 2:
            raise errors.ConfigError(
                f"a variance-scaling initializer needs a weight matrix or kernel (2 or more axes), got shape {shape}"
            )
        receptive = size / shape[-2] / shape[-1]
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        denominator = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
        return scheme(scale / denominator)(key, (1, size), dtype).reshape(shape)

    return init


def _variance_scaling(distribution: Literal["truncated_normal", "uniform"]) -> Callable[[float], Callable[..., Array]]:
    def scheme(scale: float) -> Callable[..., Array]:
        return jax.nn.initializers.variance_scaling(scale, "fan_in", distribution)

    return scheme


def _normal(stddev: float) -> Callable[..., Array]:
    return jax.nn.initializers.normal(stddev)


INITIALIZERS: dict[str, Callable[..., Array]] = {
    # JAX's schemes (he_normal: variance_scaling(2.0, "fan_in", "truncated_normal"), ...), drawn flat (_drawn_flat).
    "he_normal": _drawn_flat(_variance_scaling("truncated_normal"), 2.0, "fan_in"),
    "he_uniform": _drawn_flat(_variance_scaling("uniform"), 2.0, "fan_in"),
    "glorot_normal": _drawn_flat(_variance_scaling("truncated_normal"), 1.0, "fan_avg"),
    "glorot_uniform": _drawn_flat(_variance_scaling("uniform"), 1.0, "fan_avg"),
    "lecun_normal": _drawn_flat(_variance_scaling("truncated_normal"), 1.0, "fan_in"),
    "lecun_uniform": _drawn_flat(_variance_scaling("uniform"), 1.0, "fan_in"),
    "normal": _drawn_flat(_normal, 0.01),
}
# Other names people use for the same schemes.
_INIT_ALIASES = {
    "he": "he_normal",
    "kaiming": "he_normal",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
    "glorot": "glorot_uniform",
    "xavier": "glorot_uniform",
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
    "lecun": "lecun_normal",
}
_RELU_FAMILY = frozenset({"relu", "leaky_relu", "elu", "gelu", "silu", "softplus"})


Shape = tuple[int, ...]


def as_shape(name: str, shape: object) -> Shape:
    """``shape`` as a tuple of positive ints; an int ``d`` is ``(d,)``."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not shape:
        raise errors.ArgumentTypeError(f"`{name}` must be a shape such as (30,) or (8, 8, 1), got {shape!r}")
    return tuple(_checks.positive_int(f"{name}[{i}]", size) for i, size in enumerate(shape))


def _format_shape(shape: Shape) -> str:
    return "x".join(map(str, shape))


class Layer(NamedTuple):
    """A building block: pure ``init``/``apply`` functions plus its config."""

    init: Callable[[PRNGKey, "Shape | int"], tuple[Params, "Shape"]]
    apply: Callable[..., Array]
    config: dict[str, Any]
    has_params: bool


def get_activation(name: str) -> Callable[[Array], Array]:
    """The :mod:`jax.nn` activation called ``name`` (see :data:`ACTIVATIONS`)."""
    return _checks.lookup("activation", name, ACTIVATIONS)


def canonical_init_name(name: str) -> str:
    """Resolve aliases such as ``"kaiming"`` to the name in :data:`INITIALIZERS`."""
    if not isinstance(name, str):
        raise errors.ArgumentTypeError(f"init must be a name (str), got {type(name).__name__}: {name!r}")
    name = _INIT_ALIASES.get(name.lower(), name.lower())
    if name not in INITIALIZERS:
        raise _checks.unknown_name("initializer", name, [*INITIALIZERS, *_INIT_ALIASES])
    return name


def get_initializer(name: str) -> Callable[..., Array]:
    """The :mod:`jax.nn.initializers` initializer called ``name`` (aliases accepted)."""
    return INITIALIZERS[canonical_init_name(name)]


def default_init(activation_name: str) -> str:
    """He initialization for the ReLU family, Glorot for sigmoid, tanh and linear layers."""
    return "he_normal" if activation_name in _RELU_FAMILY else "glorot_uniform"


def _dtype_name(dtype: Any) -> str:
    return np.dtype(dtype).name


def dense(out_features: int, *, init: str = "glorot_uniform", dtype: Any = jnp.float32) -> Layer:
    """A fully connected layer ``y = x @ w + b``.

    Args:
        out_features: width of the output.
        init: name of a :mod:`jax.nn.initializers` scheme for ``w`` (``b`` starts at zero).
        dtype: dtype of the parameters.

    Returns:
        A :class:`Layer` with params ``{"w": (in_features, out_features), "b": (out_features,)}``.
        Its input must be flat, ``(batch, in_features)``: images go through :func:`flatten` first.
    """
    out_features = _checks.positive_int("out_features", out_features)
    init_name = canonical_init_name(init)
    initializer = INITIALIZERS[init_name]
    dtype = jnp.dtype(dtype)

    def init_fn(key: PRNGKey, in_shape: Shape | int) -> tuple[Params, Shape]:
        in_shape = as_shape("in_shape", in_shape)
        if len(in_shape) != 1:
            raise errors.ConfigError(
                f"a dense layer takes flat features, but its input is {_format_shape(in_shape)} per example "
                f"(shape {in_shape}): put jaxnn.layers.flatten() before it, or flatten the data "
                f"(x.reshape(len(x), -1)) and use an MLP"
            )
        w = initializer(key, (in_shape[0], out_features), dtype)
        return {"w": w, "b": jnp.zeros((out_features,), dtype)}, (out_features,)

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        w, b = params["w"], params["b"]
        x = jnp.asarray(x)
        if x.shape[-1:] != w.shape[:1]:
            raise errors.ConfigError(
                f"x has {x.shape[-1] if x.ndim else 0} features but the dense layer expects "
                f"{w.shape[0]} (x.shape={tuple(x.shape)})"
            )
        return x @ w + b

    config = {"type": "dense", "features": out_features, "init": init_name, "dtype": _dtype_name(dtype)}
    return Layer(init_fn, apply_fn, config, has_params=True)


def activation(name: str) -> Layer:
    """An elementwise activation from :mod:`jax.nn`, looked up by ``name``."""
    fn = get_activation(name)

    def init_fn(key: PRNGKey, in_shape: Shape | int) -> tuple[Params, Shape]:
        del key
        return None, as_shape("in_shape", in_shape)

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        del params
        return fn(jnp.asarray(x))

    return Layer(init_fn, apply_fn, {"type": "activation", "name": name.lower()}, has_params=False)


def check_rate(name: str, rate: ArrayLike) -> None:
    """Raise if a concrete dropout rate is not a scalar in [0, 1); traced rates pass."""
    if _checks.is_concrete(rate) and np.size(rate) != 1:
        raise errors.ConfigError(f"`{name}` must be a scalar, got an array of shape {np.shape(rate)}")
    _checks.check_range(name, rate, 0.0, 1.0)


def dropout(rate: float) -> Layer:
    """Inverted dropout: in training, zero each unit with probability ``rate``.

    Kept units are scaled by ``1 / (1 - rate)`` so the expected activation is
    unchanged and evaluation needs no rescaling. At ``train=False`` it is the
    identity. ``apply(..., dropout=r)`` overrides the rate with ``r``, which may
    be a traced array: this is how a sweep varies dropout without recompiling.
    """
    check_rate("dropout", rate)
    rate = float(rate)

    def init_fn(key: PRNGKey, in_shape: Shape | int) -> tuple[Params, Shape]:
        del key
        return None, as_shape("in_shape", in_shape)

    def apply_fn(
        params: Params,
        x: ArrayLike,
        *,
        key: PRNGKey | None = None,
        train: bool = False,
        dropout: ArrayLike | None = None,
        **_: Any,
    ) -> Array:
        del params
        x = jnp.asarray(x)
        if not train:
            return x
        current: ArrayLike
        if dropout is None:
            if rate == 0.0:
                return x
            current = rate
        else:
            check_rate("dropout", dropout)
            current = dropout
        if key is None:
            raise errors.ConfigError("train=True with dropout needs a PRNG key: pass key=jax.random.key(...)")
        keep = 1.0 - jnp.asarray(current, x.dtype)
        # jax.random.bernoulli(key, keep, x.shape) bit for bit, drawn flat: it compiles faster (see _drawn_flat).
        mask = jax.random.bernoulli(key, keep, (1, math.prod(x.shape))).reshape(x.shape)
        return jnp.where(mask, x / keep, jnp.zeros_like(x))

    return Layer(init_fn, apply_fn, {"type": "dropout", "rate": rate}, has_params=False)


def layer_norm(*, epsilon: float = 1e-5, dtype: Any = jnp.float32) -> Layer:
    """Layer normalization over the last axis (the features, or an image's channels) with a learned scale and bias."""
    dtype = jnp.dtype(dtype)

    def init_fn(key: PRNGKey, in_shape: Shape | int) -> tuple[Params, Shape]:
        del key
        in_shape = as_shape("in_shape", in_shape)
        width = in_shape[-1]
        params = {"scale": jnp.ones((width,), dtype), "bias": jnp.zeros((width,), dtype)}
        return params, in_shape

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        x = jax.nn.standardize(jnp.asarray(x), axis=-1, epsilon=epsilon)
        return x * params["scale"] + params["bias"]

    config = {"type": "layer_norm", "epsilon": float(epsilon), "dtype": _dtype_name(dtype)}
    return Layer(init_fn, apply_fn, config, has_params=True)


_PADDINGS = ("SAME", "VALID")


def _window(name: str, value: object, rank: int) -> Shape:
    """An int (the same size along every spatial axis) or one positive int per spatial axis."""
    sizes = (value,) * rank if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if not isinstance(sizes, (tuple, list)) or len(sizes) != rank:
        raise errors.ConfigError(
            f"`{name}` must be an int or {rank} ints (one per spatial axis of the input), got {value!r}"
        )
    return tuple(_checks.positive_int(f"{name}[{i}]", size) for i, size in enumerate(sizes))


def _padding(padding: str) -> str:
    if not isinstance(padding, str) or padding.upper() not in _PADDINGS:
        raise errors.ConfigError(f"`padding` must be 'SAME' or 'VALID', got {padding!r}")
    return padding.upper()


def _spatial(layer: str, in_shape: Shape | int) -> tuple[Shape, int]:
    """The spatial sizes and channels of a channels-last example: ``(length, c)`` or ``(h, w, c)``."""
    in_shape = as_shape("in_shape", in_shape)
    if not 2 <= len(in_shape) <= 4:
        raise errors.ConfigError(
            f"{layer} takes channels-last examples, (length, channels) in 1-D or (height, width, channels) in 2-D, "
            f"but its input is {in_shape} per example"
            + (": give sequences a channel axis, x[..., None]" if len(in_shape) == 1 else "")
        )
    return in_shape[:-1], in_shape[-1]


def _window_output(layer: str, what: str, sizes: Shape, window: Shape, strides: Shape, padding: str) -> Shape:
    """The spatial output sizes of a sliding window; an error where the window does not fit the input."""
    if any(w > n for w, n in zip(window, sizes, strict=False)):
        raise errors.ConfigError(
            f"{layer}: the {what} {_format_shape(window)} is larger than its {_format_shape(sizes)} input "
            f"(use a smaller {what}, or fewer pooling/strided layers before it)"
        )
    if padding == "SAME":
        return tuple(-(-n // s) for n, s in zip(sizes, strides, strict=False))
    return tuple((n - w) // s + 1 for n, w, s in zip(sizes, window, strides, strict=False))


def _batched(x: Array, rank: int) -> tuple[Array, tuple[int, ...]]:
    """``x`` as one batch axis + ``rank`` spatial axes + channels, and the leading axes it had."""
    lead = x.shape[: x.ndim - rank - 1]
    return x.reshape((-1, *x.shape[x.ndim - rank - 1 :])), lead


def _conv(x: Array, w: Array, padding: Any, strides: Shape | None = None) -> Array:
    """``x`` ``(batch, *spatial, in)`` correlated with ``w`` ``(*window, in, out)``: XLA's standard layout."""
    rank = w.ndim - 2
    axes = "DHW"[-rank:]
    return jax.lax.conv_general_dilated(
        x, w, strides or (1,) * rank, padding, dimension_numbers=(f"N{axes}C", f"{axes}IO", f"N{axes}C")
    )


def _explicit_padding(padding: str, window: Shape) -> tuple[tuple[int, int], ...]:
    """(low, high) zeros per spatial axis at stride 1: XLA's split of SAME (the extra one on the high side)."""
    if padding == "VALID":
        return tuple((0, 0) for _ in window)
    return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in window)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_unit_stride(x: Array, w: Array, pads: tuple[tuple[int, int], ...]) -> Array:
    """A stride-1 convolution whose gradients are convolutions in the standard layout too.

    Autodiff writes the gradients as convolutions in transposed layouts. Outside
    a loop XLA:CPU rewrites those to its fast kernels, but not inside the while
    loop a ``lax.scan`` compiles to, where they ran as naive loops: ``fit``'s
    fused epochs were 3-11x slower per step than a jitted step called from
    Python (jax-ml/jax#12868; measured in ``benchmarks/conv.py``). Here both
    gradients are explicit transposes around standard convolutions.
    """
    return _conv(x, w, pads)


def _conv_forward(x, w, pads):
    return _conv(x, w, pads), (x, w)


def _conv_backward(pads, saved, g):
    x, w = saved
    window = w.shape[:-2]
    spatial = tuple(range(w.ndim - 2))
    # d/dx: g correlated with the flipped kernel, in and out swapped, padded to give x's size back.
    flipped = jnp.swapaxes(jnp.flip(w, spatial), -1, -2)
    dx = _conv(g, flipped, tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(window, pads, strict=False)))
    # d/dw: batch and channels swap roles: x's channels are the batch, its examples the input channels.
    order = (x.ndim - 1, *range(1, x.ndim - 1), 0)
    dw = _conv(jnp.transpose(x, order), jnp.transpose(g, (*range(1, g.ndim - 1), 0, g.ndim - 1)), pads)
    return dx, jnp.transpose(dw, (*range(1, dw.ndim - 1), 0, dw.ndim - 1))


_conv_unit_stride.defvjp(_conv_forward, _conv_backward)


def conv(
    features: int,
    kernel_size: int | tuple[int, ...] = 3,
    *,
    strides: int | tuple[int, ...] = 1,
    padding: str = "SAME",
    init: str = "he_normal",
    dtype: Any = jnp.float32,
) -> Layer:
    """A convolution over channels-last inputs, 1-D or 2-D by the input's rank, via :func:`jax.lax.conv_general_dilated`.

    An input of ``(length, channels)`` per example is convolved in 1-D, ``(height, width,
    channels)`` in 2-D (and ``(depth, height, width, channels)`` in 3-D).

    Args:
        features: output channels.
        kernel_size: the window, one int for every spatial axis or one per axis.
        strides: the step of the window, likewise.
        padding: ``"SAME"`` (output size ``ceil(n / stride)``, zero padded) or ``"VALID"``
            (no padding: ``(n - kernel) // stride + 1``).
        init: a :mod:`jax.nn.initializers` scheme for the kernel (fan-in counts the whole
            window: ``kernel_h * kernel_w * in_channels``); the bias starts at zero.
        dtype: dtype of the parameters.

    Returns:
        A :class:`Layer` with params ``{"w": (*kernel_size, in_channels, features), "b": (features,)}``
        (Flax's layout: ``flax.nnx.Conv`` and ``flax.linen.Conv`` kernels load as they are).

    Raises:
        ValueError: at ``init``, an input that is not channels-last 1-D/2-D/3-D, or a kernel
            larger than the input.
    """
    features = _checks.positive_int("features", features)
    padding = _padding(padding)
    init_name = canonical_init_name(init)
    initializer = INITIALIZERS[init_name]
    dtype = jnp.dtype(dtype)

    def init_fn(key: PRNGKey, in_shape: Shape | int) -> tuple[Params, Shape]:
        sizes, channels = _spatial("conv", in_shape)
        kernel = _window("kernel_size", kernel_size, len(sizes))
        stride = _window("strides", strides, len(sizes))
        out_sizes = _window_output("conv", "kernel", sizes, kernel, stride, padding)
        w = initializer(key, (*kernel, channels, features), dtype)
        return {"w": w, "b": jnp.zeros((features,), dtype)}, (*out_sizes, features)

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        w, b = params["w"], params["b"]
        rank = w.ndim - 2
        x = jnp.asarray(x)
        if x.ndim < rank + 2 or x.shape[-1] != w.shape[-2]:
            raise errors.ConfigError(
                f"conv expects a batch (batch, *spatial, {w.shape[-2]}) with {rank} spatial axes, "
                f"got x.shape={tuple(x.shape)}"
            )
        x, lead = _batched(x, rank)
        step = _window("strides", strides, rank)
        if all(s == 1 for s in step):
            y = _conv_unit_stride(x, w, _explicit_padding(padding, w.shape[:-2]))
        else:
            y = _conv(x, w, padding, step)
        return (y + b).reshape((*lead, *y.shape[1:]))

    config = {
        "type": "conv",
        "features": features,
        "kernel_size": kernel_size if isinstance(kernel_size, int) else list(kernel_size),
        "strides": strides if isinstance(strides, int) else list(strides),
        "padding": padding,
        "init": init_name,
        "dtype": _dtype_name(dtype),
    }
    return Layer(init_fn, apply_fn, config, has_params=True)


def _pool(kind: str, window: int | tuple[int, ...], strides: int | tuple[int, ...] | None, padding: str) -> Layer:
    padding = _padding(padding)
    strides = window if strides is None else strides

    def resolve(rank: int) -> tuple[Shape, Shape]:
        return _window("window", window, rank), _window("strides", strides, rank)

    def init_fn(key: PRNGKey, in_shape: Shape | int) -> tuple[Params, Shape]:
        del key
        sizes, channels = _spatial(kind, in_shape)
        size, step = resolve(len(sizes))
        return None, (*_window_output(kind, "window", sizes, size, step, padding), channels)

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        del params
        x = jnp.asarray(x)
        rank = len(window) if isinstance(window, (tuple, list)) else x.ndim - 2
        if rank < 1 or x.ndim < rank + 2:
            raise errors.DataError(f"{kind} expects a batch (batch, *spatial, channels), got x.shape={tuple(x.shape)}")
        size, step = resolve(rank)
        x, lead = _batched(x, rank)
        dims, steps = (1, *size, 1), (1, *step, 1)
        if kind == "max_pool":
            y = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, steps, padding)
        else:  # the mean over the window; with SAME padding, over the window's part inside the input
            total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, steps, padding)
            count = jax.lax.reduce_window(
                jnp.ones(x.shape[1:-1] + (1,), x.dtype)[None], 0.0, jax.lax.add, dims, steps, padding
            )
            y = total / count
        return y.reshape((*lead, *y.shape[1:]))

    config = {
        "type": kind,
        "window": window if isinstance(window, int) else list(window),
        "strides": strides if isinstance(strides, int) else list(strides),
        "padding": padding,
    }
    return Layer(init_fn, apply_fn, config, has_params=False)


def max_pool(
    window: int | tuple[int, ...] = 2, *, strides: int | tuple[int, ...] | None = None, padding: str = "VALID"
) -> Layer:
    """The maximum over each ``window`` of a channels-last input (1-D or 2-D by its rank), channel by channel.

    Args:
        window: the pooling window, one int for every spatial axis or one per axis.
        strides: the step between windows; ``None`` is the window (windows do not overlap).
        padding: ``"VALID"`` (only whole windows) or ``"SAME"``.

    Raises:
        ValueError: at ``init``, a window larger than the input (a pooled size of zero).
    """
    return _pool("max_pool", window, strides, padding)


def avg_pool(
    window: int | tuple[int, ...] = 2, *, strides: int | tuple[int, ...] | None = None, padding: str = "VALID"
) -> Layer:
    """The mean over each ``window`` of a channels-last input; arguments as :func:`max_pool`.

    With ``"SAME"`` padding a border window averages only the inputs it covers.
    """
    return _pool("avg_pool", window, strides, padding)


def flatten() -> Layer:
    """Flatten each example to one axis: ``(batch, h, w, c) -> (batch, h * w * c)``, the input of :func:`dense`."""

    def init_fn(key: PRNGKey, in_shape: Shape | int) -> tuple[Params, Shape]:
        del key
        return None, (int(np.prod(as_shape("in_shape", in_shape))),)

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        del params
        x = jnp.asarray(x)
        return x.reshape((x.shape[0], -1)) if x.ndim > 1 else x

    return Layer(init_fn, apply_fn, {"type": "flatten"}, has_params=False)


def serial(*layers: Layer) -> Layer:
    """Compose layers left to right.

    Params are a list holding one entry per layer *that has parameters*, in order.
    Dropout layers receive independent keys derived from ``key`` by ``fold_in``.
    """
    if not layers:
        raise errors.ConfigError("serial() needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise errors.ArgumentTypeError(f"serial() argument {i} must be a jaxnn Layer, got {type(layer).__name__}")

    def init_fn(key: PRNGKey, in_shape: Shape | int) -> tuple[Params, Shape]:
        params = []
        shape = as_shape("in_shape", in_shape)
        for i, layer in enumerate(layers):
            layer_params, shape = layer.init(jax.random.fold_in(key, i), shape)
            if layer.has_params:
                params.append(layer_params)
        return params, shape

    num_params = sum(layer.has_params for layer in layers)

    def apply_fn(
        params: Params,
        x: ArrayLike,
        *,
        key: PRNGKey | None = None,
        train: bool = False,
        dropout: ArrayLike | None = None,
    ) -> Array:
        if len(params) != num_params:
            raise errors.ConfigError(
                f"params has {len(params)} entries but the model has {num_params} layers with parameters"
            )
        index = 0
        for i, layer in enumerate(layers):
            layer_key = None if key is None else jax.random.fold_in(key, i)
            layer_params = None
            if layer.has_params:
                layer_params = params[index]
                index += 1
            x = layer.apply(layer_params, x, key=layer_key, train=train, dropout=dropout)
        return cast(Array, x)  # the last layer's output (serial has at least one layer)

    config = {"type": "serial", "layers": [layer.config for layer in layers]}
    return Layer(init_fn, apply_fn, config, has_params=num_params > 0)


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def layer_from_config(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from its ``config`` dict."""
    builders: dict[str, Callable[[dict[str, Any]], Layer]] = {
        "dense": lambda c: dense(c["features"], init=c["init"], dtype=c["dtype"]),
        "activation": lambda c: activation(c["name"]),
        "dropout": lambda c: dropout(c["rate"]),
        "layer_norm": lambda c: layer_norm(epsilon=c["epsilon"], dtype=c["dtype"]),
        "conv": lambda c: conv(
            c["features"],
            _tuple(c["kernel_size"]),
            strides=_tuple(c["strides"]),
            padding=c["padding"],
            init=c["init"],
            dtype=c["dtype"],
        ),
        "max_pool": lambda c: max_pool(_tuple(c["window"]), strides=_tuple(c["strides"]), padding=c["padding"]),
        "avg_pool": lambda c: avg_pool(_tuple(c["window"]), strides=_tuple(c["strides"]), padding=c["padding"]),
        "flatten": lambda c: flatten(),
        "serial": lambda c: serial(*[layer_from_config(sub) for sub in c["layers"]]),
    }
    if not isinstance(config, dict) or "type" not in config:
        raise errors.ConfigError(f"a layer config must be a dict with a 'type' key, got {config!r}")
    build = _checks.lookup("layer type", config["type"], builders)
    return build(config)
