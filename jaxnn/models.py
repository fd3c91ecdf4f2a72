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
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _checks, errors, layers
from jaxnn.programs import memoize
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = [
    "Footprint",
    "Model",
    "check_input",
    "cnn",
    "ensemble",
    "footprint",
    "from_flax",
    "mlp",
    "model_for",
    "model_from_config",
    "sequential",
]


class Model(NamedTuple):
    """A neural network as two pure functions, a JSON-serializable config and what the trainer must know.

    Attributes:
        init: ``init(key) -> params``, a plain pytree of arrays.
        apply: ``apply(params, x, *, key=None, train=False, dropout=None) -> outputs``.
        config: rebuilds the model (:func:`model_from_config`) when its ``"type"`` is
            ``"mlp"`` or ``"sequential"``.
        input_shape: the shape of one example, e.g. ``(30,)``.
        uses_dropout: whether it has dropout layers whose rate ``apply(..., dropout=rate)`` sets.
        needs_key: whether ``apply(..., train=True)`` draws random numbers (a non-zero
            dropout rate, or a Flax module's own dropout) and so needs ``key``.
        output_activation: the activation applied to the outputs (``None``: logits).

    Two models are equal when their configs rebuild the same network (so a second
    ``jaxnn.mlp([...])`` reuses the first one's compiled programs); models that
    cannot be rebuilt from their config (Flax) are equal only to themselves.
    """

    init: Callable[[PRNGKey], Params]
    apply: Callable[..., Array]
    config: dict[str, Any]
    input_shape: tuple[int, ...] = ()
    uses_dropout: bool = False
    needs_key: bool = False
    output_activation: str | None = None

    @property
    def rebuildable(self) -> bool:
        """Whether :func:`model_from_config` can rebuild this model from ``config``."""
        if self.config.get("type") == "ensemble":
            return all(member.get("type") in ("mlp", "sequential", "cnn") for member in self.config["members"])
        return self.config.get("type") in ("mlp", "sequential", "cnn")

    def _identity(self) -> Any:
        return json.dumps(self.config, sort_keys=True) if self.rebuildable else (id(self.init), id(self.apply))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())


class Footprint(NamedTuple):
    """What one example costs a model, from its traced forward pass (see :func:`footprint`).

    Attributes:
        num_params: parameters in all.
        num_outputs: outputs per example.
        activations: every intermediate value of the forward pass, per example.
        flops: multiply-adds x 2 of the matrix products and convolutions of the forward pass, per example.
    """

    num_params: int
    num_outputs: int
    activations: int
    flops: int


@memoize()
def footprint(model: Model, input_shape: tuple[int, ...]) -> Footprint:
    """The model's :class:`Footprint` for examples of ``input_shape``: traced once per model (no compile)."""
    shapes = jax.eval_shape(model.init, jax.random.key(0))
    sample = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    jaxpr = jax.make_jaxpr(lambda p, x: model.apply(p, x))(shapes, sample)
    outputs = jaxpr.out_avals[0]
    activations = sum(
        math.prod(var.aval.shape) for eqn in jaxpr.eqns for var in eqn.outvars if hasattr(var.aval, "shape")
    )
    num_params = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
    return Footprint(num_params, int(np.prod(outputs.shape)), activations, _flops(jaxpr.jaxpr))


def _flops(jaxpr: Any) -> int:
    """2 x the multiply-adds of the products and convolutions in ``jaxpr`` (and the jaxprs inside it)."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contracting, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in contracting)
        elif eqn.primitive.name == "conv_general_dilated":
            kernel = eqn.invars[1].aval.shape
            out_features = eqn.outvars[0].aval.shape[eqn.params["dimension_numbers"].out_spec[1]]
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(kernel) // max(1, out_features)
        for inner in _inner(eqn.params):  # scan, cond, custom_jvp and pjit bodies
            total += _flops(inner)
    return total


def _inner(params: dict[str, Any]) -> list[Any]:
    found = []
    for value in params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            inner = getattr(item, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                found.append(inner)
            elif hasattr(item, "eqns"):
                found.append(item)
    return found


def _check_features(x: Array, expected: int, source: str) -> None:
    check_input(x, (expected,), source)


def check_input(x: Array, expected: tuple[int, ...], source: str) -> None:
    """Raise unless ``x`` is a batch ``(batch, *expected)``; the message says how to fix the common mix-ups.

    ``source`` names where ``expected`` comes from (``"sizes[0]"``, ``"input_shape"``). Every model jaxnn
    builds checks its input with it, so they all say the same.

    Raises:
        DataError: ``x`` is one example rather than a batch, or its examples have another shape.
    """
    if tuple(x.shape[-len(expected) :]) == expected and x.ndim >= len(expected) + 1:
        return
    if tuple(x.shape) == expected:
        raise errors.DataError(
            f"x is one example of shape {expected} ({source}), but apply takes a batch: x[None] (shape "
            f"(1, {', '.join(map(str, expected))})) is a batch of one; jaxnn.predict takes one example as it is"
        )
    if len(expected) == 1:
        got = x.shape[-1] if x.ndim else 0
        if x.ndim > 2 and int(np.prod(x.shape[1:])) == expected[0]:
            raise errors.DataError(
                f"x holds examples of shape {tuple(x.shape[1:])} but the model takes {expected[0]} flat features "
                f"({source}): flatten the data (x.reshape(len(x), -1)) or start the model with jaxnn.layers.flatten()"
            )
        if x.ndim > 2:
            raise errors.DataError(
                f"x holds examples of shape {tuple(x.shape[1:])} but the model takes {expected[0]} flat features "
                f"({source}); x.shape={tuple(x.shape)}"
            )
        raise errors.DataError(
            f"x has {got} features but the model expects {expected[0]} ({source}); x.shape={tuple(x.shape)}"
        )
    if x.ndim == 2 and x.shape[1] == int(np.prod(expected)):
        raise errors.DataError(
            f"x holds {x.shape[1]} flat features per example but the model takes examples of shape {expected} "
            f"({source}): reshape the data, x.reshape(len(x), {', '.join(map(str, expected))}) (for the built-in "
            f"digits: load('digits', as_images=True))"
        )
    raise errors.DataError(
        f"x must be a batch of examples of shape {expected} ({source}), i.e. (batch, {', '.join(map(str, expected))}); "
        f"got x.shape={tuple(x.shape)}"
    )


def _build(
    input_shape: tuple[int, ...],
    body: layers.Layer,
    dtype: Any,
    config: dict[str, Any],
    source: str,
    output_activation: str | None = None,
) -> Model:
    dtype = jnp.dtype(dtype)
    rates = _dropout_rates(config)

    def init(key: PRNGKey) -> Params:
        params, _ = body.init(key, input_shape)
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
        check_input(x, input_shape, source)
        return body.apply(params, x.astype(dtype), key=key, train=train, dropout=dropout)

    # Shapes are checked where the model is built: a kernel larger than its input fails here, not in fit.
    jax.eval_shape(lambda key: body.init(key, input_shape), jax.random.key(0))
    return Model(
        init,
        apply,
        config,
        input_shape=input_shape,
        uses_dropout=bool(rates),
        needs_key=any(rate > 0 for rate in rates),
        output_activation=output_activation,
    )


def sequential(input_shape: int | Sequence[int], *body: layers.Layer, dtype: Any = jnp.float32) -> Model:
    """A model from building blocks applied in order (see :mod:`jaxnn.layers`).

    Args:
        input_shape: the shape of one example: an int ``d`` (or ``(d,)``) for ``d`` features,
            ``(height, width, channels)`` for images, ``(length, channels)`` for sequences.
        *body: the layers, e.g. ``dense(64), layer_norm(), activation("gelu"), dense(10)``, or
            ``conv(16), activation("relu"), max_pool(2), flatten(), dense(10)``.
        dtype: dtype the input is cast to.

    Returns:
        A :class:`Model` whose params list holds one entry per layer with parameters.

    Raises:
        ValueError: a layer that does not fit its input (a dense layer on images, a kernel or
            pooling window larger than its input), named in the message.
    """
    input_shape = layers.as_shape("input_shape", input_shape)
    config: dict[str, Any] = {"type": "sequential"}
    # A flat input keeps the key it always had, so earlier configs and checkpoints compare equal.
    config.update({"in_features": input_shape[0]} if len(input_shape) == 1 else {"input_shape": list(input_shape)})
    config.update({"layers": [layer.config for layer in body], "dtype": np.dtype(dtype).name})
    last = body[-1].config if body else {}
    output_activation = last.get("name") if last.get("type") == "activation" else None
    return _build(input_shape, layers.serial(*body), dtype, config, "input_shape", output_activation)


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
    sizes, hidden, output_activation, init = _mlp_options(sizes, activation, output_activation, dropout, init)
    body: list[layers.Layer] = []
    for width, name in zip(sizes[1:-1], hidden, strict=False):
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
    return _build((sizes[0],), layers.serial(*body), dtype, config, "sizes[0]", output_activation)


def model_for(
    data: Any,
    *,
    kind: str = "auto",
    hidden: Sequence[int] = (128,),
    activation: str = "relu",
    dropout: float = 0.0,
    channels: Sequence[int] | None = None,
    kernel_size: int | None = None,
    pool: int | None = None,
) -> Model:
    """A model whose input and output fit ``data``: an MLP for flat features, a CNN for images and sequences.

    The output width follows the task (1 for binary and regression, one per class otherwise), so
    the default loss fits. This is what ``jaxnn train`` and ``jaxnn sweep`` build.

    Args:
        data: a :class:`jaxnn.Dataset` (or its :class:`~jaxnn.DataInfo`).
        kind: ``"mlp"``, ``"cnn"`` or ``"auto"`` (a CNN for examples with more than one axis).
        hidden: widths of the hidden dense layers.
        activation: hidden activation. dropout: rate after each hidden dense layer.
        channels, kernel_size, pool: a CNN's convolution blocks (see :func:`cnn`); given for an
            MLP they are refused, not ignored.

    Raises:
        ConfigError: a CNN for flat features, an MLP for images, CNN options for an MLP.

    >>> import jaxnn
    >>> jaxnn.model_for(jaxnn.datasets.load("iris", seed=0), hidden=(8,)).config["sizes"]
    [4, 8, 3]
    """
    info = getattr(data, "info", data)
    outputs = 1 if info.task in ("binary", "regression") else info.num_classes
    shape = tuple(info.input_shape)
    kind = _checks.lookup("model kind", kind, {"auto": "auto", "mlp": "mlp", "cnn": "cnn"})
    if kind == "auto":
        kind = "cnn" if len(shape) > 1 else "mlp"
    options: dict[str, Any] = {"channels": channels, "kernel_size": kernel_size, "pool": pool}
    given = [name for name, value in options.items() if value is not None]
    if kind == "cnn":
        if len(shape) == 1:
            raise errors.ConfigError(
                f"{errors.setting('kind', 'cnn')} needs images or sequences, but the data has {shape[0]} flat features; "
                "give the data as (n, height, width, channels) or (n, length, channels), or build an mlp"
            )
        return cnn(
            shape,
            outputs,
            hidden=tuple(hidden),
            activation=activation,
            dropout=dropout,
            **{name: options[name] for name in given},
        )
    if given:
        names = ", ".join(errors.arg(name) for name in given)
        why = "the data has flat features" if len(shape) == 1 else f"this is {errors.setting('kind', 'mlp')}"
        raise errors.ConfigError(
            f"{names} describe a convolutional network, but {why}; "
            f"drop {'them' if len(given) > 1 else 'it'} or build a cnn"
        )
    if len(shape) > 1:
        raise errors.ConfigError(
            f"{errors.setting('kind', 'mlp')} takes flat features, but the data holds examples of shape {shape}: "
            f"build a cnn ({errors.setting('kind', 'cnn')}), or flatten the examples"
        )
    return mlp([shape[0], *hidden, outputs], activation=activation, dropout=dropout)


def cnn(
    input_shape: Sequence[int],
    outputs: int,
    *,
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    pool: int = 2,
    hidden: Sequence[int] = (64,),
    activation: str = "relu",
    output_activation: str | None = None,
    dropout: float = 0.0,
    init: str | None = None,
    dtype: Any = jnp.float32,
) -> Model:
    """A small convolutional classifier (or regressor) for channels-last images or sequences.

    Each entry of ``channels`` is a block ``conv(c, kernel_size, padding="SAME") -> activation
    -> max_pool(pool)``; then ``flatten()``, a dense layer per entry of ``hidden`` (activation and
    dropout after each) and a dense layer of ``outputs`` units. 2-D for ``(height, width,
    channels)`` inputs, 1-D for ``(length, channels)``.

    Args:
        input_shape: one example's shape, e.g. ``(8, 8, 1)`` for the digits as images
            (``jaxnn.datasets.load("digits", as_images=True)``).
        outputs: output units (classes; 1 for binary or regression).
        channels: output channels of each convolution block.
        kernel_size: the convolution window (the same along every spatial axis).
        pool: the max-pooling window after each convolution; 1 for none.
        hidden: widths of the dense layers after the flatten.
        activation: hidden activation (a name in :data:`jaxnn.layers.ACTIVATIONS`).
        output_activation: applied to the outputs; ``None`` returns logits.
        dropout: inverted-dropout rate after each hidden dense layer (a sweep may vary it).
        init: initializer name for every kernel; by default He for the ReLU family, Glorot otherwise.
        dtype: parameter dtype.

    Returns:
        A :class:`Model` rebuildable from its config (``jaxnn.load`` needs no ``model=``).

    >>> import jax, jaxnn
    >>> model = jaxnn.cnn((8, 8, 1), 10)
    >>> model.apply(model.init(jax.random.key(0)), jax.numpy.zeros((2, 8, 8, 1))).shape
    (2, 10)
    """
    input_shape = layers.as_shape("input_shape", input_shape)
    outputs = _checks.positive_int("outputs", outputs)
    channels = [_checks.positive_int(f"channels[{i}]", c) for i, c in enumerate(channels)]
    hidden = [_checks.positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden)]
    pool = _checks.positive_int("pool", pool)
    layers.get_activation(activation)
    activation = activation.lower()
    if output_activation is not None:
        output_activation = output_activation.lower()
        layers.get_activation(output_activation)
    layers.check_rate("dropout", dropout)
    init = None if init is None else layers.canonical_init_name(init)
    hidden_init = init or layers.default_init(activation)
    body: list[layers.Layer] = []
    for width in channels:
        body += [layers.conv(width, kernel_size, init=hidden_init, dtype=dtype), layers.activation(activation)]
        if pool > 1:
            body.append(layers.max_pool(pool))
    body.append(layers.flatten())
    for width in hidden:
        body += [
            layers.dense(width, init=hidden_init, dtype=dtype),
            layers.activation(activation),
            layers.dropout(dropout),
        ]
    body.append(layers.dense(outputs, init=init or layers.default_init(output_activation or "identity"), dtype=dtype))
    if output_activation is not None:
        body.append(layers.activation(output_activation))
    config = {
        "type": "cnn",
        "input_shape": list(input_shape),
        "outputs": outputs,
        "channels": channels,
        "kernel_size": kernel_size,
        "pool": pool,
        "hidden": hidden,
        "activation": activation,
        "output_activation": output_activation,
        "dropout": float(dropout),
        "init": init,
        "dtype": np.dtype(dtype).name,
    }
    return _build(input_shape, layers.serial(*body), dtype, config, "input_shape", output_activation)


def _mlp_options(
    sizes: Any, activation: Any, output_activation: str | None, dropout: float, init: str | None
) -> tuple[list[int], list[str], str | None, str | None]:
    """Check :func:`mlp`'s arguments: (sizes, hidden activations, output activation, initializer)."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise errors.ArgumentTypeError(f"`sizes` must be a sequence of ints such as [30, 16, 1], got {sizes!r}")
    if len(sizes) < 2:
        raise errors.ConfigError(f"`sizes` needs at least 2 entries (input and output width), got {list(sizes)}")
    sizes = [_checks.positive_int(f"sizes[{i}]", size) for i, size in enumerate(sizes)]
    num_hidden = len(sizes) - 2
    if isinstance(activation, str):
        layers.get_activation(activation)  # checked even without hidden layers
        hidden = [activation.lower()] * num_hidden
    else:
        hidden = [str(name).lower() for name in activation]
        if len(hidden) != num_hidden:
            raise errors.ConfigError(
                f"`activation` has {len(hidden)} names but sizes={sizes} has {num_hidden} hidden layers"
            )
    for name in hidden:
        layers.get_activation(name)
    if output_activation is not None:
        output_activation = output_activation.lower()
        layers.get_activation(output_activation)
    layers.check_rate("dropout", dropout)
    return sizes, hidden, output_activation, None if init is None else layers.canonical_init_name(init)


def _flax_mode_kwargs(module: Any) -> Callable[[bool], dict[str, Any]]:
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
        raise errors.ArgumentTypeError(f"from_flax expects a flax.linen.Module, got {type(module).__name__}")
    example_x = jnp.asarray(example_x)
    if example_x.ndim < 2:
        raise errors.DataError(f"`example_x` must be a batch of shape (batch, features), got shape {example_x.shape}")
    in_features = int(example_x.shape[-1])
    mode = _flax_mode_kwargs(module)

    def init(key: PRNGKey) -> Params:
        variables = module.init({"params": key, "dropout": key}, example_x, **mode(False))
        extra = sorted(set(variables) - {"params"})
        if extra:
            raise errors.ConfigError(
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
            raise errors.ConfigError("a Flax module fixes its own dropout rate; `dropout=` cannot override it")
        x = jnp.asarray(x)
        _check_features(x, in_features, "example_x.shape[-1]")
        rngs = {} if key is None else {"dropout": key}
        # one output array: the module's variables are not mutable here, so apply returns no (output, state) pair
        return cast(Array, module.apply({"params": params}, x.astype(example_x.dtype), rngs=rngs, **mode(train)))

    config = {"type": "flax", "module": repr(module), "in_features": in_features}
    return Model(init, apply, config, input_shape=tuple(example_x.shape[1:]), needs_key=True)


def _dropout_rates(config: Any) -> list[float]:
    """The static rates of the dropout layers described by a model or layer config."""
    if not isinstance(config, dict):
        return []
    if config.get("type") == "dropout":
        return [config["rate"]]
    if config.get("type") == "mlp":
        return [config["dropout"]] * (len(config["sizes"]) - 2)
    if config.get("type") == "cnn":
        return [config["dropout"]] * len(config["hidden"])
    return [rate for sub in config.get("layers", []) for rate in _dropout_rates(sub)]


# Models wrapped from other libraries, which no config rebuilds: type -> (the library, how to wrap one again).
WRAPPED = {
    "flax": ("Flax linen", "jaxnn.from_flax(module, example_x)"),
    "nnx": ("Flax NNX", "jaxnn.from_nnx(module)"),
    "equinox": ("Equinox", "jaxnn.from_equinox(model)"),
}


def model_from_config(config: dict[str, Any]) -> Model:
    """Rebuild a model from ``model.config`` (a JSON-serializable dict).

    >>> import jaxnn
    >>> model = jaxnn.mlp([4, 8, 3], activation="tanh")
    >>> jaxnn.model_from_config(model.config).config == model.config
    True
    """
    if not isinstance(config, dict) or "type" not in config:
        raise errors.ConfigError(f"a model config must be a dict with a 'type' key, got {config!r}")
    kind = config["type"]
    if kind == "mlp":
        kwargs = {k: v for k, v in config.items() if k != "type"}
        return mlp(kwargs.pop("sizes"), **kwargs)
    if kind == "sequential":
        body = [layers.layer_from_config(c) for c in config["layers"]]
        shape = config.get("input_shape", config.get("in_features"))  # neither: as_shape refuses the None
        return sequential(cast(Any, shape), *body, dtype=config["dtype"])
    if kind == "cnn":
        kwargs = {k: v for k, v in config.items() if k != "type"}
        return cnn(**kwargs)
    if kind == "ensemble":
        return ensemble([model_from_config(member) for member in config["members"]], task=config["task"])
    if kind in WRAPPED:
        library, wrap = WRAPPED[kind]
        raise errors.ConfigError(
            f"a {library} model cannot be rebuilt from its config; wrap the module again with {wrap}"
        )
    raise _checks.unknown_name("model type", kind, ["mlp", "sequential", "cnn", "ensemble"])


ENSEMBLE_TASKS = ("binary", "multiclass", "regression")


def ensemble(members: Sequence[Model], *, task: str) -> Model:
    """A model whose prediction averages its members': probabilities for classes, outputs for regression.

    Its params are the list of the members' params. For a classification task, ``apply`` returns
    the logits of the averaged probabilities (``log`` of the mean softmax, or the log-odds of the
    mean sigmoid), so :func:`jaxnn.predict` (labels or ``proba=True``) and the losses treat it like
    any classifier; members with an output activation average their outputs as they are. It is
    rebuilt from its config (:func:`model_from_config`), so :func:`jaxnn.save` and :func:`jaxnn.load`
    round-trip it when its members are jaxnn-built models. ``SweepResult.ensemble(top=k)`` builds one
    from a sweep's best rows.

    Args:
        members: the models, each taking the same input shape (their hidden layers may differ).
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.

    Raises:
        ConfigError: no members, members of different input shapes or output activations, an unknown task.

    >>> import jax, jaxnn
    >>> members = [jaxnn.mlp([4, 8, 3]), jaxnn.mlp([4, 16, 3])]
    >>> model = jaxnn.ensemble(members, task="multiclass")
    >>> params = model.init(jax.random.key(0))
    >>> probabilities = jaxnn.predict(model, params, jax.numpy.ones((2, 4)), proba=True)
    >>> mean = sum(jaxnn.predict(m, p, jax.numpy.ones((2, 4)), proba=True) for m, p in zip(members, params)) / 2
    >>> bool(abs(probabilities - mean).max() < 1e-6)
    True
    """
    members = list(members)
    task = _checks.lookup("task", task, {name: name for name in ENSEMBLE_TASKS})
    if not members or not all(isinstance(member, Model) for member in members):
        raise errors.ConfigError(f"an ensemble needs at least one jaxnn.Model, got {members!r}")
    shapes = {tuple(member.input_shape) for member in members}
    activations = {member.output_activation for member in members}
    if len(shapes) > 1 or len(activations) > 1:
        raise errors.ConfigError(
            f"an ensemble's members must take the same input and end alike; got input shapes "
            f"{sorted(shapes)} and output activations {sorted(map(str, activations))}"
        )
    output_activation = activations.pop()
    count = len(members)

    def init(key: PRNGKey) -> Params:
        return [member.init(k) for member, k in zip(members, jax.random.split(key, count), strict=False)]

    def apply(
        params: Params,
        x: ArrayLike,
        *,
        key: PRNGKey | None = None,
        train: bool = False,
        dropout: ArrayLike | None = None,
    ) -> Array:
        outputs = jnp.stack([member.apply(p, x) for member, p in zip(members, params, strict=False)])
        if task == "regression" or output_activation is not None:
            return jnp.mean(outputs, axis=0)
        log_count = jnp.log(count)
        if task == "multiclass":  # log of the mean probability: softmax gives the mean back exactly
            return jax.nn.logsumexp(jax.nn.log_softmax(outputs, axis=-1), axis=0) - log_count
        log_p = jax.nn.logsumexp(jax.nn.log_sigmoid(outputs), axis=0) - log_count
        log_not_p = jax.nn.logsumexp(jax.nn.log_sigmoid(-outputs), axis=0) - log_count
        return log_p - log_not_p  # the log-odds of the mean probability: sigmoid gives it back

    config = {"type": "ensemble", "task": task, "members": [member.config for member in members]}
    return Model(init, apply, config, input_shape=next(iter(shapes)), output_activation=output_activation)
