"""Building blocks with one contract: ``(init, apply)`` pairs of pure functions.

A :class:`Layer` is a NamedTuple of

* ``init(key, in_features) -> (params, out_features)``: ``params`` is a plain
  pytree of arrays (``None`` for layers without parameters);
* ``apply(params, x, *, key=None, train=False, dropout=None) -> y`` with ``x`` of
  shape ``(..., in_features)``;
* ``config``: a JSON-serializable dict from which :func:`layer_from_config`
  rebuilds the layer;
* ``has_params``: whether ``init`` returns parameters.

:func:`serial` composes layers and keeps parameters only for the layers that
have them, so ``serial(dense(16), activation("relu"), dense(1))`` has params
``[{"w": (d, 16), "b": (16,)}, {"w": (16, 1), "b": (1,)}]``: the MLP layout.

Activations and initializers come from :mod:`jax.nn` and are looked up by name.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "Layer",
    "activation",
    "default_init",
    "dense",
    "dropout",
    "get_activation",
    "get_initializer",
    "layer_from_config",
    "layer_norm",
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

_INIT = jax.nn.initializers
INITIALIZERS: dict[str, Callable[..., Array]] = {
    "he_normal": _INIT.he_normal(),
    "he_uniform": _INIT.he_uniform(),
    "glorot_normal": _INIT.glorot_normal(),
    "glorot_uniform": _INIT.glorot_uniform(),
    "lecun_normal": _INIT.lecun_normal(),
    "lecun_uniform": _INIT.lecun_uniform(),
    "normal": _INIT.normal(stddev=0.01),
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


class Layer(NamedTuple):
    """A building block: pure ``init``/``apply`` functions plus its config."""

    init: Callable[[PRNGKey, int], tuple[Params, int]]
    apply: Callable[..., Array]
    config: dict[str, Any]
    has_params: bool


def get_activation(name: str) -> Callable[[Array], Array]:
    """The :mod:`jax.nn` activation called ``name`` (see :data:`ACTIVATIONS`)."""
    return _checks.lookup("activation", name, ACTIVATIONS)


def canonical_init_name(name: str) -> str:
    """Resolve aliases such as ``"kaiming"`` to the name in :data:`INITIALIZERS`."""
    if not isinstance(name, str):
        raise TypeError(f"init must be a name (str), got {type(name).__name__}: {name!r}")
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
    """
    out_features = _checks.positive_int("out_features", out_features)
    init_name = canonical_init_name(init)
    initializer = INITIALIZERS[init_name]
    dtype = jnp.dtype(dtype)

    def init_fn(key: PRNGKey, in_features: int) -> tuple[Params, int]:
        in_features = _checks.positive_int("in_features", in_features)
        w = initializer(key, (in_features, out_features), dtype)
        return {"w": w, "b": jnp.zeros((out_features,), dtype)}, out_features

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        w, b = params["w"], params["b"]
        x = jnp.asarray(x)
        if x.shape[-1:] != w.shape[:1]:
            raise ValueError(
                f"x has {x.shape[-1] if x.ndim else 0} features but the dense layer expects "
                f"{w.shape[0]} (x.shape={tuple(x.shape)})"
            )
        return x @ w + b

    config = {"type": "dense", "features": out_features, "init": init_name, "dtype": _dtype_name(dtype)}
    return Layer(init_fn, apply_fn, config, has_params=True)


def activation(name: str) -> Layer:
    """An elementwise activation from :mod:`jax.nn`, looked up by ``name``."""
    fn = get_activation(name)

    def init_fn(key: PRNGKey, in_features: int) -> tuple[Params, int]:
        del key
        return None, in_features

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        del params
        return fn(jnp.asarray(x))

    return Layer(init_fn, apply_fn, {"type": "activation", "name": name.lower()}, has_params=False)


def check_rate(name: str, rate: object) -> None:
    """Raise if a concrete dropout rate is not a scalar in [0, 1); traced rates pass."""
    if _checks.is_concrete(rate) and np.size(rate) != 1:
        raise ValueError(f"`{name}` must be a scalar, got an array of shape {np.shape(rate)}")
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

    def init_fn(key: PRNGKey, in_features: int) -> tuple[Params, int]:
        del key
        return None, in_features

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
        if dropout is None:
            if rate == 0.0:
                return x
            current = rate
        else:
            check_rate("dropout", dropout)
            current = dropout
        if key is None:
            raise ValueError("train=True with dropout needs a PRNG key: pass key=jax.random.key(...)")
        keep = 1.0 - jnp.asarray(current, x.dtype)
        mask = jax.random.bernoulli(key, keep, x.shape)
        return jnp.where(mask, x / keep, jnp.zeros_like(x))

    return Layer(init_fn, apply_fn, {"type": "dropout", "rate": rate}, has_params=False)


def layer_norm(*, epsilon: float = 1e-5, dtype: Any = jnp.float32) -> Layer:
    """Layer normalization over the feature axis with a learned scale and bias."""
    dtype = jnp.dtype(dtype)

    def init_fn(key: PRNGKey, in_features: int) -> tuple[Params, int]:
        del key
        params = {"scale": jnp.ones((in_features,), dtype), "bias": jnp.zeros((in_features,), dtype)}
        return params, in_features

    def apply_fn(params: Params, x: ArrayLike, **_: Any) -> Array:
        x = jax.nn.standardize(jnp.asarray(x), axis=-1, epsilon=epsilon)
        return x * params["scale"] + params["bias"]

    config = {"type": "layer_norm", "epsilon": float(epsilon), "dtype": _dtype_name(dtype)}
    return Layer(init_fn, apply_fn, config, has_params=True)


def serial(*layers: Layer) -> Layer:
    """Compose layers left to right.

    Params are a list holding one entry per layer *that has parameters*, in order.
    Dropout layers receive independent keys derived from ``key`` by ``fold_in``.
    """
    if not layers:
        raise ValueError("serial() needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"serial() argument {i} must be a jaxnn Layer, got {type(layer).__name__}")

    def init_fn(key: PRNGKey, in_features: int) -> tuple[Params, int]:
        params = []
        features = in_features
        for i, layer in enumerate(layers):
            layer_params, features = layer.init(jax.random.fold_in(key, i), features)
            if layer.has_params:
                params.append(layer_params)
        return params, features

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
            raise ValueError(f"params has {len(params)} entries but the model has {num_params} layers with parameters")
        index = 0
        for i, layer in enumerate(layers):
            layer_key = None if key is None else jax.random.fold_in(key, i)
            layer_params = None
            if layer.has_params:
                layer_params = params[index]
                index += 1
            x = layer.apply(layer_params, x, key=layer_key, train=train, dropout=dropout)
        return x

    config = {"type": "serial", "layers": [layer.config for layer in layers]}
    return Layer(init_fn, apply_fn, config, has_params=num_params > 0)


def layer_from_config(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from its ``config`` dict."""
    builders: dict[str, Callable[[dict[str, Any]], Layer]] = {
        "dense": lambda c: dense(c["features"], init=c["init"], dtype=c["dtype"]),
        "activation": lambda c: activation(c["name"]),
        "dropout": lambda c: dropout(c["rate"]),
        "layer_norm": lambda c: layer_norm(epsilon=c["epsilon"], dtype=c["dtype"]),
        "serial": lambda c: serial(*[layer_from_config(sub) for sub in c["layers"]]),
    }
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"a layer config must be a dict with a 'type' key, got {config!r}")
    build = _checks.lookup("layer type", config["type"], builders)
    return build(config)

