"""Models: a pair of pure functions plus a config that rebuilds them.

A :class:`Model` is what every jaxnn entry point (``fit``, ``sweep``, ``save``)
takes. ``init(key) -> params`` returns a plain pytree of arrays and
``apply(params, x, *, key=None, train=False, dropout=None) -> outputs``
maps a batch ``x`` of shape ``(batch, features)`` to outputs (logits unless an
output activation is set).

>>> import jax, jaxnn
>>> model = jaxnn.mlp([30, 16, 1])
>>> params = model.init(jax.random.key(0))
>>> [p["w"].shape for p in params]
[(30, 16), (16, 1)]
>>> model.apply(params, jax.numpy.ones((4, 30))).shape
(4, 1)
"""

import inspect
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, layers
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = ["Model", "from_flax", "has_dropout", "mlp", "model_from_config", "sequential", "uses_key_in_training"]


class Model(NamedTuple):
    """A neural network as two pure functions and a JSON-serializable config."""

    init: Callable[[PRNGKey], Params]
    apply: Callable[..., Array]
    config: dict[str, Any]


def _check_features(x: Array, expected: int, source: str) -> None:
    got = x.shape[-1] if x.ndim else 0
    if x.ndim == 0 or got != expected:
        raise ValueError(
            f"x has {got} features but the model expects {expected} ({source}); x.shape={tuple(x.shape)}"
        )


def _build(in_features: int, body: layers.Layer, dtype: Any, config: dict[str, Any], source: str) -> Model:
    dtype = jnp.dtype(dtype)

    def init(key: PRNGKey) -> Params:
        params, _ = body.init(key, in_features)
        return params

    def apply(
        params: Params,
        x: ArrayLike,
        *,
        key: PRNGKey | None = None,
        train: bool = False,
        dropout: ArrayLike | None = None,
    ) -> Array:
        x = jnp.asarray(x)
        _check_features(x, in_features, source)
        return body.apply(params, x.astype(dtype), key=key, train=train, dropout=dropout)

    return Model(init, apply, config)


def sequential(in_features: int, *body: layers.Layer, dtype: Any = jnp.float32) -> Model:
    """A model from building blocks applied in order (see :mod:`jaxnn.layers`).

    Args:
        in_features: width of the input ``x``.
        *body: the layers, e.g. ``dense(64), layer_norm(), activation("gelu"), dense(10)``.
        dtype: dtype the input is cast to.

    Returns:
        A :class:`Model` whose params list holds one entry per layer with parameters.
    """
    in_features = _checks.positive_int("in_features", in_features)
    config = {
        "type": "sequential",
        "in_features": in_features,
        "layers": [layer.config for layer in body],
        "dtype": np.dtype(dtype).name,
    }
    return _build(in_features, layers.serial(*body), dtype, config, "in_features")


def mlp(
    sizes: Sequence[int],
    *,
    activation: str | Sequence[str] = "relu",
    output_activation: str | None = None,
    dropout: float = 0.0,
    init: str | None = None,
    dtype: Any = jnp.float32,
) -> Model:
    """A multilayer perceptron ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Args:
        sizes: layer widths, input first: ``[30, 16, 1]`` is 30 inputs, one hidden
            layer of 16 units and one output.
        activation: hidden activation, one name for all hidden layers or one per
            hidden layer (names in :data:`jaxnn.layers.ACTIVATIONS`).
        output_activation: applied to the last layer; ``None`` returns logits,
            which is what the losses expect.
        dropout: inverted-dropout rate after each hidden activation, in [0, 1).
            A sweep or ``fit`` may override it with a traced value.
        init: initializer name for every weight matrix; by default He for the
            ReLU family and Glorot for sigmoid, tanh and the output layer.
        dtype: parameter dtype.

    Returns:
        A :class:`Model` with params ``[{"w": (d_in, d_out), "b": (d_out,)}, ...]``.

    Raises:
        ValueError: fewer than 2 sizes, a non-positive width, an unknown
            activation or initializer, a dropout rate outside [0, 1).
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"`sizes` must be a sequence of ints such as [30, 16, 1], got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"`sizes` needs at least 2 entries (input and output width), got {list(sizes)}")
    sizes = [_checks.positive_int(f"sizes[{i}]", size) for i, size in enumerate(sizes)]
    num_hidden = len(sizes) - 2
    if isinstance(activation, str):
        layers.get_activation(activation)  # checked even without hidden layers
        hidden = [activation.lower()] * num_hidden
    else:
        hidden = [str(name).lower() for name in activation]
        if len(hidden) != num_hidden:
            raise ValueError(
                f"`activation` has {len(hidden)} names but sizes={sizes} has {num_hidden} hidden layers"
            )
    for name in hidden:
        layers.get_activation(name)
    if output_activation is not None:
        output_activation = output_activation.lower()
        layers.get_activation(output_activation)
    layers.check_rate("dropout", dropout)
    if init is not None:
        init = layers.canonical_init_name(init)

    body: list[layers.Layer] = []
    for width, name in zip(sizes[1:-1], hidden):
        body.append(layers.dense(width, init=init or layers.default_init(name), dtype=dtype))
        body.append(layers.activation(name))
        # Always present (the identity at rate 0) so a sweep can vary the rate.
        body.append(layers.dropout(dropout))
    body.append(layers.dense(sizes[-1], init=init or layers.default_init(output_activation or "identity"), dtype=dtype))
    if output_activation is not None:
        body.append(layers.activation(output_activation))

    config = {
        "type": "mlp",
        "sizes": sizes,
        "activation": hidden if not isinstance(activation, str) else activation.lower(),
        "output_activation": output_activation,
        "dropout": float(dropout),
        "init": init,
        "dtype": np.dtype(dtype).name,
    }
    return _build(sizes[0], layers.serial(*body), dtype, config, "sizes[0]")


def _flax_mode_kwargs(module: Any) -> Callable[[bool], dict[str, bool]]:
    """How to tell a linen module whether it is training: `train=` or `deterministic=`."""
    parameters = inspect.signature(type(module).__call__).parameters
    if "train" in parameters:
        return lambda train: {"train": train}
    if "deterministic" in parameters:
        return lambda train: {"deterministic": not train}
    return lambda train: {}


def from_flax(module: Any, example_x: ArrayLike) -> Model:
    """Wrap a Flax linen module as a jaxnn :class:`Model`.

    The module is called as ``module.apply({"params": params}, x, ...)``; if its
    ``__call__`` takes ``train`` or ``deterministic`` it is told whether it is
    training, and ``key`` becomes its ``"dropout"`` RNG stream.

    Args:
        module: a ``flax.linen.Module`` whose only variable collection is ``params``.
        example_x: an input batch that fixes the number of features.

    Returns:
        A :class:`Model` usable anywhere a jaxnn model is (``fit``, ``sweep``).
    """
    import flax.linen as nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"from_flax expects a flax.linen.Module, got {type(module).__name__}")
    example_x = jnp.asarray(example_x)
    if example_x.ndim < 2:
        raise ValueError(f"`example_x` must be a batch of shape (batch, features), got shape {example_x.shape}")
    in_features = int(example_x.shape[-1])
    mode = _flax_mode_kwargs(module)

    def init(key: PRNGKey) -> Params:
        variables = module.init({"params": key, "dropout": key}, example_x, **mode(False))
        extra = sorted(set(variables) - {"params"})
        if extra:
            raise ValueError(
                f"from_flax supports modules whose only variable collection is 'params'; this one also has "
                f"{extra} (stateful layers such as BatchNorm are not supported)"
            )
        return variables["params"]

    def apply(
        params: Params,
        x: ArrayLike,
        *,
        key: PRNGKey | None = None,
        train: bool = False,
        dropout: ArrayLike | None = None,
    ) -> Array:
        if dropout is not None:
            raise ValueError("a Flax module fixes its own dropout rate; `dropout=` cannot override it")
        x = jnp.asarray(x)
        _check_features(x, in_features, "example_x.shape[-1]")
        rngs = {} if key is None else {"dropout": key}
        return module.apply({"params": params}, x.astype(example_x.dtype), rngs=rngs, **mode(train))

    config = {"type": "flax", "module": repr(module), "in_features": in_features}
    return Model(init, apply, config)


def _dropout_rates(config: Any) -> list[float]:
    """The static rates of the dropout layers described by a model or layer config."""
    if not isinstance(config, dict):
        return []
    if config.get("type") == "dropout":
        return [config["rate"]]
    if config.get("type") == "mlp":
        return [config["dropout"]] * (len(config["sizes"]) - 2)
    return [rate for sub in config.get("layers", []) for rate in _dropout_rates(sub)]


def has_dropout(model: Model) -> bool:
    """Whether ``model.apply(..., dropout=rate)`` has dropout layers to act on."""
    return bool(_dropout_rates(model.config))


def uses_key_in_training(model: Model) -> bool:
    """Whether ``apply(..., train=True)`` needs a key without a dropout override.

    True when a dropout rate is non-zero, and always for Flax modules (their
    dropout is not visible from outside).
    """
    if model.config.get("type") == "flax":
        return True
    return any(rate > 0 for rate in _dropout_rates(model.config))


def model_from_config(config: dict[str, Any]) -> Model:
    """Rebuild a model from ``model.config`` (a JSON-serializable dict).

    >>> import jaxnn
    >>> model = jaxnn.mlp([4, 8, 3], activation="tanh")
    >>> jaxnn.model_from_config(model.config).config == model.config
    True
    """
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"a model config must be a dict with a 'type' key, got {config!r}")
    kind = config["type"]
    if kind == "mlp":
        kwargs = {k: v for k, v in config.items() if k != "type"}
        return mlp(kwargs.pop("sizes"), **kwargs)
    if kind == "sequential":
        body = [layers.layer_from_config(c) for c in config["layers"]]
        return sequential(config["in_features"], *body, dtype=config["dtype"])
    if kind == "flax":
        raise ValueError(
            "a Flax model cannot be rebuilt from its config; wrap the module again with jaxnn.from_flax(module, example_x)"
        )
    raise _checks.unknown_name("model type", kind, ["mlp", "sequential"])
