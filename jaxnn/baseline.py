"""A NumPy multilayer perceptron with backpropagation written by hand.

This module is jaxnn's independent reference: the benchmarks race it against the
JAX training loop, and the tests check jaxnn's gradients and training curves
against it. It is the one place in jaxnn where the math of a neural network is
written out by hand, on purpose; everywhere else the gradients come from
``jax.grad`` and the updates from Optax. Because the two are written
independently, a bug on either side shows up as a disagreement.

It imports only NumPy and the standard library (JAX is imported lazily, inside
:func:`params_to_jax` alone), and nothing from jaxnn, so a benchmark can load it
by file path in a process that never imports JAX. For the same reason it raises Python's
built-in ``ValueError`` and ``TypeError`` rather than :mod:`jaxnn.errors` (whose classes
subclass those, so code catching either works with both).

Parameters use ``jaxnn.mlp``'s layout, a list with one
``{"w": (d_in, d_out), "b": (d_out,)}`` dict per layer, and batches are
``(batch, features)``, so params convert both ways without transposes
(:func:`params_from_jax`, :func:`params_to_jax`). The math is done in the
params' dtype (float32 or float64); ``x`` is cast to it, never the other way.

A well-known textbook listing of this code carries three bugs, each avoided here
and guarded by a test:

* the sigmoid derivative is elementwise, ``σ'(z) = a ⊙ (1 − a)``, never the
  matrix product ``a · (1 − a)``;
* backward uses only what forward kept: each derivative is written in terms of
  the kept activation ``a = f(z)``, never a pre-activation forward threw away;
* training never replaces the inputs by the outputs: ``x`` is read, never written.

>>> import numpy as np
>>> from jaxnn import baseline
>>> params = baseline.init_params([2, 4, 1], activation="sigmoid", dtype=np.float64)
>>> x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
>>> y = np.array([0.0, 1.0, 1.0, 0.0])
>>> params, losses = baseline.train(params, x, y, loss="binary_cross_entropy", learning_rate=2.0,
...                                 num_epochs=2000, activation="sigmoid")
>>> bool(losses[-1] < losses[0])
True
>>> baseline.forward(params, x, activation="sigmoid").shape
(4, 1)
"""

import difflib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, cast

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "LossAndGrads",
    "Params",
    "TrainResult",
    "batch_indices",
    "forward",
    "init_params",
    "loss_and_grads",
    "params_from_jax",
    "params_to_jax",
    "step",
    "train",
]

Params = list[dict[str, np.ndarray]]  # [{"w": (d_in, d_out), "b": (d_out,)}, ...]
_Layers = list[tuple[np.ndarray, np.ndarray]]  # the same arrays as (w, b) pairs, checked


class LossAndGrads(NamedTuple):
    """What :func:`loss_and_grads` returns."""

    loss: np.floating
    """The mean loss over the batch (plus the L2 penalty), in the params' dtype."""
    grads: Params
    """``dL/dparams`` in the params layout."""


class TrainResult(NamedTuple):
    """What :func:`train` returns."""

    params: Params
    """The trained parameters (new arrays; the caller's are untouched)."""
    losses: np.ndarray
    """The loss of every step, measured at the params before that step's update."""


# --- activations -------------------------------------------------------------------------
# Forward: f(z), computed in place over the fresh pre-activation buffer `z`.
# Backward: delta ⊙ f'(z), where f'(z) is written in terms of the activation a = f(z)
# that forward kept (σ' = a(1 − a), tanh' = 1 − a², relu' = [a > 0]), so backward never
# needs a pre-activation. Every product is elementwise.


def _sigmoid(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # exp(-z) overflows to inf for very negative z, and 1 / (1 + inf) = 0 is the right value.
    with np.errstate(over="ignore"):
        np.negative(z, out=out)
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


_ACTIVATE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0, out=z),
    "sigmoid": lambda z: _sigmoid(z, out=z),
    "tanh": lambda z: np.tanh(z, out=z),
}

# f'(z) from a = f(z), as a new array (loss_and_grads: readable, leaves `a` alone).
_DERIVATIVE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda a: np.ones_like(a),
    "relu": lambda a: (a > 0).astype(a.dtype),
    "sigmoid": lambda a: a * (1.0 - a),
    "tanh": lambda a: 1.0 - a * a,
}


def _times_sigmoid_derivative(delta: np.ndarray, a: np.ndarray) -> None:
    delta *= a
    np.subtract(1.0, a, out=a)
    delta *= a


def _times_tanh_derivative(delta: np.ndarray, a: np.ndarray) -> None:
    np.square(a, out=a)
    np.subtract(1.0, a, out=a)
    delta *= a


def _times_relu_derivative(delta: np.ndarray, a: np.ndarray) -> None:
    np.sign(a, out=a)  # a = relu(z) >= 0, so sign(a) = [z > 0]
    delta *= a


# delta *= f'(z) in place, overwriting the activation `a` (step: no temporaries).
_TIMES_DERIVATIVE_IN_PLACE: dict[str, Callable[[np.ndarray, np.ndarray], None]] = {
    "identity": lambda delta, a: None,
    "relu": _times_relu_derivative,
    "sigmoid": _times_sigmoid_derivative,
    "tanh": _times_tanh_derivative,
}

ACTIVATIONS: tuple[str, ...] = tuple(sorted(_ACTIVATE))
"""The activation names this module understands (hidden and output layers)."""


# --- losses ------------------------------------------------------------------------------
# Each loss maps (logits, targets, scale) to (mean loss, delta), where
# delta = scale * batch * dL/dlogits, i.e. scale * d(per-example loss)/dlogits. It is
# computed in place over `logits`, which belongs to the caller's scratch space.
# loss_and_grads passes scale = 1 / batch (the mean); step passes learning_rate / batch,
# so every gradient below the output comes out already multiplied by the learning rate.


def _binary_cross_entropy(logits: np.ndarray, labels: np.ndarray, scale: float) -> tuple[np.floating, np.ndarray]:
    # With e = exp(-|z|), which never overflows, and log σ(z) = -(max(-z, 0) + log1p(e)):
    #   loss = -y log σ(z) - (1 - y) log σ(-z) = max(z, 0) - y z + log1p(e)   (never log(sigmoid(z)))
    #   dL/dz = σ(z) - y = (1 - y) - σ(-|z|) for z >= 0, and σ(-|z|) - y below,
    # where σ(-|z|) = e / (1 + e) is small and accurate: a confident right answer keeps all its
    # digits instead of cancelling 1 - 1.
    e = np.abs(logits)
    np.negative(e, out=e)
    np.exp(e, out=e)
    per_example = np.maximum(logits, 0.0)
    per_example -= labels * logits
    per_example += np.log1p(e)
    value = per_example.sum() / logits.shape[0]
    sigmoid_of_minus_abs = np.divide(e, e + 1.0, out=e)
    positive = logits >= 0
    delta = np.subtract(sigmoid_of_minus_abs, labels, out=logits)
    np.subtract(1.0 - labels, sigmoid_of_minus_abs, out=delta, where=positive)
    delta *= scale
    return value, delta


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, scale: float) -> tuple[np.floating, np.ndarray]:
    shifted = logits - logits.max(axis=1, keepdims=True)  # log-softmax without overflow
    probabilities = np.exp(shifted)
    normalizer = probabilities.sum(axis=1, keepdims=True)
    log_normalizer = np.log(normalizer)
    probabilities /= normalizer
    delta = probabilities
    if labels.ndim == 1:  # integer classes
        rows = np.arange(labels.shape[0])
        value = (log_normalizer[:, 0] - shifted[rows, labels]).sum() / labels.shape[0]
        delta[rows, labels] -= 1.0  # dL/dz = softmax(z) - onehot(y)
    else:  # one-hot or probabilities: L = -Σ y log softmax(z)
        value = np.vdot(labels, log_normalizer - shifted) / labels.shape[0]
        delta *= labels.sum(axis=1, keepdims=True)  # dL/dz = softmax(z) Σy - y
        delta -= labels
    delta *= scale
    return value, delta


def _mean_squared_error(predictions: np.ndarray, targets: np.ndarray, scale: float) -> tuple[np.floating, np.ndarray]:
    delta = np.subtract(predictions, targets, out=predictions)
    value = np.vdot(delta, delta) / delta.shape[0]  # squared error summed over outputs, mean over the batch
    delta *= 2.0 * scale  # dL/dz = 2 (z - t)
    return value, delta


_LOSS_FNS: dict[str, Callable[[np.ndarray, np.ndarray, float], tuple[np.floating, np.ndarray]]] = {
    "binary_cross_entropy": _binary_cross_entropy,
    "mean_squared_error": _mean_squared_error,
    "softmax_cross_entropy": _softmax_cross_entropy,
}

LOSSES: tuple[str, ...] = tuple(sorted(_LOSS_FNS))
"""The loss names this module understands (the same names as ``jaxnn.losses.get``)."""


# --- argument checks ---------------------------------------------------------------------


def _unknown_name(kind: str, name: object, valid: Sequence[str]) -> ValueError:
    valid = sorted(valid)
    hint = ""
    if isinstance(name, str):
        close = difflib.get_close_matches(name, valid, n=1)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    return ValueError(f"unknown {kind} {name!r}{hint}; valid names: {', '.join(valid)}")


def _lookup_name(kind: str, name: object, table: Mapping[str, Any]) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a name (str), got {type(name).__name__}: {name!r}")
    if name.lower() not in table:
        raise _unknown_name(kind, name, list(table))
    return name.lower()


def _hidden_activations(activation: str | Sequence[str], num_hidden: int) -> list[str]:
    if isinstance(activation, str):
        return [_lookup_name("activation", activation, _ACTIVATE)] * num_hidden
    names = [_lookup_name("activation", name, _ACTIVATE) for name in activation]
    if len(names) != num_hidden:
        raise ValueError(
            f"`activation` has {len(names)} names but params has {num_hidden} hidden layers "
            f"({num_hidden + 1} layers); pass one name, or one per hidden layer"
        )
    return names


def _checked_layers(params: object, *, in_place: bool = False) -> tuple[_Layers, np.dtype]:
    """``params`` as checked ``(w, b)`` NumPy pairs, and their common dtype."""
    if isinstance(params, (str, bytes, Mapping)) or not isinstance(params, Sequence) or not params:
        raise ValueError(
            f"params must be a non-empty list of {{'w': (d_in, d_out), 'b': (d_out,)}} dicts, "
            f"got {type(params).__name__}"
        )
    layers: _Layers = []
    dtype = None
    for i, layer in enumerate(params):
        if not isinstance(layer, Mapping) or "w" not in layer or "b" not in layer:
            raise ValueError(f"params[{i}] must be a dict with keys 'w' and 'b', got {type(layer).__name__}")
        pair = []
        for name in ("w", "b"):
            leaf = layer[name]
            if in_place and not (isinstance(leaf, np.ndarray) and leaf.flags.writeable):
                raise TypeError(
                    f"step() updates params in place, so params[{i}][{name!r}] must be a writable NumPy array, "
                    f"got {type(leaf).__name__}; convert with baseline.params_from_jax(params)"
                )
            leaf = np.asarray(leaf)
            if dtype is None:
                dtype = leaf.dtype
                if not np.issubdtype(dtype, np.floating):
                    raise ValueError(f"params[0]['w'] has dtype {dtype}; parameters must be float32 or float64")
            elif leaf.dtype != dtype:
                raise ValueError(
                    f"params[{i}][{name!r}] has dtype {leaf.dtype} but params[0]['w'] has dtype {dtype}; "
                    f"all parameters must share one dtype"
                )
            pair.append(leaf)
        w, b = pair
        if w.ndim != 2:
            raise ValueError(f"params[{i}]['w'] must be a 2-D array (d_in, d_out), got shape {w.shape}")
        if b.shape != w.shape[1:]:
            raise ValueError(
                f"params[{i}]['b'] has shape {b.shape} but params[{i}]['w'] has shape {w.shape}; "
                f"expected b of shape ({w.shape[1]},)"
            )
        if layers and w.shape[0] != layers[-1][0].shape[1]:
            width = layers[-1][0].shape[1]
            raise ValueError(
                f"params[{i}]['w'] has shape {w.shape} but the layer before outputs {width} features "
                f"(params[{i - 1}]['w'].shape[1]); expected params[{i}]['w'].shape[0] == {width}"
            )
        layers.append((w, b))
    assert dtype is not None  # params is non-empty (checked above), so its first leaf set the dtype
    return layers, dtype


def _checked_x(x: object, layers: _Layers, dtype: np.dtype) -> np.ndarray:
    x = np.asarray(x)
    expected = layers[0][0].shape[0]
    if x.ndim != 2:
        raise ValueError(f"x must be a batch of shape (batch, features), got shape {x.shape}")
    if x.shape[1] != expected:
        raise ValueError(
            f"x has {x.shape[1]} features but the model expects {expected} (params[0]['w'].shape[0]); x.shape={x.shape}"
        )
    return x.astype(dtype, copy=False)


def _checked_targets(loss: str, y: object, batch: int, num_outputs: int, dtype: np.dtype) -> np.ndarray:
    """``y`` in the form the loss function takes: ``(batch, k)`` floats, or ``(batch,)`` classes."""
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != batch:
        raise ValueError(f"y has {y.shape[0] if y.ndim else 0} examples but x has {batch}; y.shape={y.shape}")
    if batch == 0:
        raise ValueError("x and y hold no examples; the loss is a mean over at least one")
    if loss == "binary_cross_entropy":
        if num_outputs != 1:
            raise ValueError(
                f"binary_cross_entropy expects one output per example but the model has {num_outputs} "
                f"(params[-1]['w'].shape[1])"
            )
        if y.shape not in ((batch,), (batch, 1)):
            raise ValueError(f"binary_cross_entropy expects labels of shape ({batch},) or ({batch}, 1), got {y.shape}")
        return y.reshape(batch, 1).astype(dtype, copy=False)
    if loss == "mean_squared_error":
        allowed = ((batch,), (batch, 1)) if num_outputs == 1 else ((batch, num_outputs),)
        if y.shape not in allowed:
            raise ValueError(
                f"mean_squared_error expects targets of shape {' or '.join(map(str, allowed))} to match the "
                f"model's {num_outputs} outputs, got {y.shape}"
            )
        return y.reshape(batch, num_outputs).astype(dtype, copy=False)
    # softmax_cross_entropy: integer classes (batch,) or one-hot / probabilities (batch, classes).
    if y.shape == (batch,):
        classes = y.astype(np.intp)
        if not np.issubdtype(y.dtype, np.integer) and not np.array_equal(classes, y):
            raise ValueError("softmax_cross_entropy expects integer class labels of shape (batch,); got fractions")
        if classes.min() < 0 or classes.max() >= num_outputs:
            raise ValueError(
                f"softmax_cross_entropy labels must be classes in [0, {num_outputs}) for a model with "
                f"{num_outputs} outputs, got values from {classes.min()} to {classes.max()}"
            )
        return classes
    if y.shape == (batch, num_outputs):
        return y.astype(dtype, copy=False)
    raise ValueError(
        f"labels of shape {y.shape} do not fit logits of shape {(batch, num_outputs)}: "
        f"expected integer labels ({batch},) or one-hot labels {(batch, num_outputs)}"
    )


def _checked_number(name: str, value: object, *, positive: bool) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number, got {type(value).__name__}: {value!r}") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ValueError(f"`{name}` (={value}) must be {'> 0' if positive else '>= 0'}")
    return number


def _checked_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"`{name}` (={value}) must be >= 1")
    return int(value)


# --- the network -------------------------------------------------------------------------


def _forward(layers: _Layers, x: np.ndarray, hidden: list[str]) -> list[np.ndarray]:
    """``[x, a_1, ..., a_{L-1}, z_L]``: the input, every hidden activation, the output logits."""
    activations = [x]
    for (w, b), name in zip(layers[:-1], hidden, strict=False):
        z = activations[-1] @ w  # a fresh buffer, so the activation can run in place
        z += b
        activations.append(_ACTIVATE[name](z))
    w, b = layers[-1]
    logits = activations[-1] @ w
    logits += b
    activations.append(logits)
    return activations


def _l2_penalty(layers: _Layers) -> np.floating:
    # sum() of NumPy scalars is typed as int | Any; the value is a NumPy float of the params' dtype
    return cast(np.floating, 0.5 * sum(np.vdot(w, w) for w, _ in layers))


def forward(
    params: Params,
    x: Any,
    *,
    activation: str | Sequence[str] = "relu",
    output_activation: str | None = None,
) -> np.ndarray:
    """The MLP's outputs, layer by layer ``z = xW + b, a = f(z)``.

    Args:
        params: ``[{"w": (d_in, d_out), "b": (d_out,)}, ...]``, as ``jaxnn.mlp`` makes them.
        x: a batch ``(batch, params[0]["w"].shape[0])``; cast to the params' dtype.
        activation: hidden activation, one name for all hidden layers or one per
            hidden layer (names in :data:`ACTIVATIONS`).
        output_activation: applied to the last layer; ``None`` returns logits.

    Returns:
        ``(batch, params[-1]["w"].shape[1])`` outputs in the params' dtype.

    Raises:
        ValueError: params whose shapes do not chain, ``x`` of the wrong width, an
            unknown activation.
    """
    layers, dtype = _checked_layers(params)
    hidden = _hidden_activations(activation, len(layers) - 1)
    output_name = None if output_activation is None else _lookup_name("activation", output_activation, _ACTIVATE)
    x = _checked_x(x, layers, dtype)
    outputs = _forward(layers, x, hidden)[-1]
    if output_name is not None:
        outputs = _ACTIVATE[output_name](outputs)
    return outputs


def _prepare(
    params: Params, x: Any, y: Any, loss: str, activation: str | Sequence[str], l2: float, *, in_place: bool
) -> tuple[_Layers, np.ndarray, np.ndarray, Callable, list[str], float]:
    layers, dtype = _checked_layers(params, in_place=in_place)
    hidden = _hidden_activations(activation, len(layers) - 1)
    loss = _lookup_name("loss", loss, _LOSS_FNS)
    l2 = _checked_number("l2", l2, positive=False)
    x = _checked_x(x, layers, dtype)
    targets = _checked_targets(loss, y, x.shape[0], layers[-1][0].shape[1], dtype)
    return layers, x, targets, _LOSS_FNS[loss], hidden, l2


def loss_and_grads(
    params: Params,
    x: Any,
    y: Any,
    *,
    loss: str,
    activation: str | Sequence[str] = "relu",
    l2: float = 0.0,
) -> LossAndGrads:
    """Loss and gradients by backprop: ``dL/dW = aᵀδ``, ``dL/db = Σδ``, ``δ_prev = (δWᵀ) ⊙ f'(z_prev)``.

    ``δ = dL/dz`` starts at the output as ``dL/dlogits`` and moves down one layer at
    a time; ``a`` is the layer's input (``x`` for the first layer) and ``f'(z_prev)``
    is computed from the activation forward kept. The whole batch goes through
    each matrix product at once. The output layer is linear (logits), which is
    what the losses expect, exactly as ``jaxnn.losses``:

    * ``"binary_cross_entropy"``: from logits ``(batch, 1)``, labels ``(batch,)``
      or ``(batch, 1)`` in [0, 1]; computed with log-sigmoid, never ``log(sigmoid)``.
    * ``"softmax_cross_entropy"``: integer labels ``(batch,)`` or one-hot
      ``(batch, classes)``; a stable log-softmax.
    * ``"mean_squared_error"``: squared error summed over outputs.

    Each is the mean over the batch, plus ``l2 * 0.5 * Σ w²`` over the weight
    matrices (biases are not penalized), so ``dL/dW`` gains ``l2 * W``.

    Args:
        params: ``[{"w": (d_in, d_out), "b": (d_out,)}, ...]`` in float32 or float64.
        x: a batch ``(batch, d_in)``; cast to the params' dtype.
        y: targets for ``loss``, one row per example of ``x``.
        loss: one of :data:`LOSSES`.
        activation: hidden activation, one name or one per hidden layer.
        l2: L2 penalty coefficient, >= 0.

    Returns:
        ``LossAndGrads(loss, grads)``: the loss as a NumPy scalar and the
        gradients in the params layout, both in the params' dtype.

    Raises:
        ValueError: shapes that do not fit (params, ``x``, ``y``), an unknown
            activation or loss name, a negative ``l2``.
    """
    layers, x, targets, loss_fn, hidden, l2 = _prepare(params, x, y, loss, activation, l2, in_place=False)
    activations = _forward(layers, x, hidden)
    value, delta = loss_fn(activations[-1], targets, 1.0 / x.shape[0])
    if l2:
        value = value + l2 * _l2_penalty(layers)
    grads: Params = [{} for _ in layers]
    for i in range(len(layers) - 1, -1, -1):
        w, _ = layers[i]
        a = activations[i]
        grad_w = a.T @ delta
        if l2:
            grad_w += l2 * w
        grads[i] = {"w": grad_w, "b": delta.sum(axis=0)}
        if i > 0:
            delta = (delta @ w.T) * _DERIVATIVE[hidden[i - 1]](a)
    return LossAndGrads(value, grads)


def _sgd_step(
    layers: _Layers,
    x: np.ndarray,
    targets: np.ndarray,
    loss_fn: Callable,
    hidden: list[str],
    learning_rate: float,
    l2: float,
) -> np.floating:
    """One in-place SGD step on checked arguments; the loss before the update."""
    activations = _forward(layers, x, hidden)
    # scale = learning_rate / batch: every delta below already carries the learning rate.
    value, delta = loss_fn(activations[-1], targets, learning_rate / x.shape[0])
    if l2:
        value = value + l2 * _l2_penalty(layers)
        decay = 1.0 - learning_rate * l2  # w - lr (dW + l2 w) = decay w - lr dW
    for i in range(len(layers) - 1, -1, -1):
        w, b = layers[i]
        a = activations[i]
        if i > 0:
            delta_below = delta @ w.T  # with w as it was before this step
        if l2:
            w *= decay
        w -= a.T @ delta
        b -= delta.sum(axis=0)
        if i > 0:
            # `a` is not needed any more (never x: the first layer has no delta below).
            _TIMES_DERIVATIVE_IN_PLACE[hidden[i - 1]](delta_below, a)
            delta = delta_below
    return value


def step(
    params: Params,
    x: Any,
    y: Any,
    *,
    loss: str,
    learning_rate: float,
    activation: str | Sequence[str] = "relu",
    l2: float = 0.0,
) -> np.floating:
    """One gradient-descent step ``params -= learning_rate * grads``, done IN PLACE.

    The same math as :func:`loss_and_grads` followed by the update, written for
    the benchmark hot loop: activations are computed in place, the learning rate
    is folded into the output ``δ`` so the weight updates need no extra
    temporaries, and no ``δ`` is computed for the first layer's input.

    Args:
        params: ``[{"w": (d_in, d_out), "b": (d_out,)}, ...]`` of writable NumPy
            arrays; they are overwritten with the updated values.
        x: a batch ``(batch, d_in)``; never modified.
        y: targets for ``loss``.
        loss: one of :data:`LOSSES`.
        learning_rate: step size, > 0.
        activation: hidden activation, one name or one per hidden layer.
        l2: L2 penalty coefficient, >= 0 (decays ``w``, not ``b``).

    Returns:
        The loss at the params before the update (NumPy scalar, params' dtype).

    Raises:
        ValueError: as :func:`loss_and_grads`, or a learning rate <= 0.
        TypeError: params that are not writable NumPy arrays (e.g. JAX arrays).
    """
    layers, x, targets, loss_fn, hidden, l2 = _prepare(params, x, y, loss, activation, l2, in_place=True)
    learning_rate = _checked_number("learning_rate", learning_rate, positive=True)
    return _sgd_step(layers, x, targets, loss_fn, hidden, learning_rate, l2)


def batch_indices(num_examples: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The minibatches of one epoch: a fresh permutation from ``rng``, cut in order.

    The last batch holds the ``num_examples % batch_size`` leftover examples when
    the size does not divide evenly. :func:`train` calls this once per epoch with
    ``rng = np.random.default_rng(seed)``, so the same calls replay its batches.

    Args:
        num_examples: how many examples to split.
        batch_size: examples per batch (the last may be smaller).
        rng: the generator that shuffles; advanced by one permutation.

    Yields:
        Integer index arrays, together covering every example exactly once.
    """
    order = rng.permutation(num_examples)
    for start in range(0, num_examples, batch_size):
        yield order[start : start + batch_size]


def train(
    params: Params,
    x: Any,
    y: Any,
    *,
    loss: str,
    learning_rate: float,
    num_epochs: int,
    batch_size: int | None = None,
    l2: float = 0.0,
    seed: int = 0,
    activation: str | Sequence[str] = "relu",
) -> TrainResult:
    """Gradient descent: full-batch GD, or minibatch SGD shuffled every epoch.

    Args:
        params: initial ``[{"w": (d_in, d_out), "b": (d_out,)}, ...]``; copied, never modified.
        x: inputs ``(num_examples, d_in)``; never modified.
        y: targets for ``loss``, one row per example.
        loss: one of :data:`LOSSES`.
        learning_rate: step size, > 0.
        num_epochs: passes over the data.
        batch_size: ``None`` for one full-batch step per epoch; otherwise
            minibatches from :func:`batch_indices` with ``np.random.default_rng(seed)``
            (the last, smaller batch is used as it is).
        l2: L2 penalty coefficient, >= 0.
        seed: seeds the shuffling.
        activation: hidden activation, one name or one per hidden layer.

    Returns:
        ``TrainResult(params, losses)``: the trained params and the loss of each
        step, measured before that step's update (``num_epochs * ceil(n / batch_size)``
        steps, or ``num_epochs`` for full batch).

    Raises:
        ValueError: as :func:`loss_and_grads`, or a non-positive ``learning_rate``,
            ``num_epochs`` or ``batch_size``.
    """
    layers, _ = _checked_layers(params)
    params = [{"w": np.array(w, copy=True), "b": np.array(b, copy=True)} for w, b in layers]
    layers, x, targets, loss_fn, hidden, l2 = _prepare(params, x, y, loss, activation, l2, in_place=True)
    learning_rate = _checked_number("learning_rate", learning_rate, positive=True)
    num_epochs = _checked_int("num_epochs", num_epochs)
    num_examples = x.shape[0]
    if batch_size is None:
        losses = np.empty(num_epochs, x.dtype)
        for epoch in range(num_epochs):
            losses[epoch] = _sgd_step(layers, x, targets, loss_fn, hidden, learning_rate, l2)
        return TrainResult(params, losses)

    batch_size = _checked_int("batch_size", batch_size)
    rng = np.random.default_rng(seed)
    steps_per_epoch = -(-num_examples // batch_size)
    losses = np.empty(num_epochs * steps_per_epoch, x.dtype)
    index = 0
    for _ in range(num_epochs):
        for batch in batch_indices(num_examples, batch_size, rng):
            losses[index] = _sgd_step(layers, x[batch], targets[batch], loss_fn, hidden, learning_rate, l2)
            index += 1
    return TrainResult(params, losses)


def init_params(
    sizes: Sequence[int],
    *,
    seed: int = 0,
    activation: str | Sequence[str] = "relu",
    dtype: Any = np.float32,
) -> Params:
    """Random params for ``sizes[0] -> ... -> sizes[-1]``, without JAX.

    The schemes of ``jaxnn.mlp``'s defaults (not the same numbers): He normal
    for a layer followed by ReLU, Glorot uniform otherwise; zero biases.

    Args:
        sizes: layer widths, input first, e.g. ``[30, 16, 1]``.
        seed: seeds ``np.random.default_rng``.
        activation: hidden activation(s), which choose each layer's scheme.
        dtype: parameter dtype.

    Returns:
        ``[{"w": (sizes[i], sizes[i + 1]), "b": (sizes[i + 1],)}, ...]``.
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"`sizes` needs at least 2 entries (input and output width), got {sizes!r}")
    sizes = [_checked_int(f"sizes[{i}]", size) for i, size in enumerate(sizes)]
    following = _hidden_activations(activation, len(sizes) - 2) + ["identity"]
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out, name in zip(sizes[:-1], sizes[1:], following, strict=False):
        if name == "relu":
            w = rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, fan_out))
        else:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, (fan_in, fan_out))
        params.append({"w": w.astype(dtype), "b": np.zeros(fan_out, dtype)})
    return params


def _map_leaves(tree: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(tree, Mapping):
        return {name: _map_leaves(value, fn) for name, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_map_leaves(value, fn) for value in tree]
    return fn(tree)


def params_from_jax(params: Any, dtype: Any = None) -> Params:
    """JAX (or any array-like) params as writable NumPy arrays, ready for :func:`step`.

    Args:
        params: a pytree of dicts and lists, e.g. ``jaxnn.mlp(...).init(key)``.
        dtype: cast every leaf to this dtype; ``None`` keeps each leaf's dtype.

    Returns:
        The same structure (lists for sequences) holding new NumPy arrays.
    """
    return _map_leaves(params, lambda leaf: np.array(leaf, dtype=dtype, copy=True))


def params_to_jax(params: Any) -> Any:
    """NumPy params as JAX arrays (imports JAX here, and only here).

    float64 stays float64 only while ``jax.enable_x64`` is on; otherwise JAX
    stores float32.

    Args:
        params: a pytree of dicts and lists of arrays.

    Returns:
        The same structure (lists for sequences) holding ``jax.Array`` leaves.
    """
    import jax.numpy as jnp

    return _map_leaves(params, jnp.asarray)
