"""Losses (and two metrics, kept here for old code: see :mod:`jaxnn.metrics`) as pure functions of ``(outputs, targets)``.

Every loss returns the mean over the batch. ``mask`` (shape ``(batch,)``, 0/1 or
weights) restricts the mean to the examples that count: the trainer uses it for
the padded last minibatch. The math comes from :mod:`optax.losses`; this module
adds shape checks with clear messages and the lookup by name.

>>> import jax.numpy as jnp, jaxnn
>>> float(jaxnn.losses.binary_cross_entropy(jnp.array([[200.0]]), jnp.array([1])))
0.0
"""

from collections.abc import Callable
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import _checks, errors
from jaxnn import metrics as metrics_lib
from jaxnn.typing import Array, ArrayLike, Params

__all__ = [
    "LOSSES",
    "METRICS",
    "accuracy",
    "binary_cross_entropy",
    "get",
    "get_metric",
    "l2_penalty",
    "mean_squared_error",
    "softmax_cross_entropy",
]


def _masked_mean(values: Array, mask: ArrayLike | None) -> Array:
    if mask is None:
        return jnp.mean(values)
    mask = jnp.asarray(mask, values.dtype)
    if mask.shape != values.shape:
        raise errors.DataError(f"mask has shape {mask.shape} but the batch has shape {values.shape}")
    # `where` keeps a NaN in a masked-out example from leaking into the sum.
    total = jnp.sum(jnp.where(mask > 0, values * mask, 0.0))
    # A weighted mean: weights may sum to less than 1 (0/1 masks give what a clamp at 1 gave).
    weight = jnp.sum(jnp.where(mask > 0, mask, 0.0))
    return total / jnp.where(weight > 0, weight, 1.0)


def _one_output_per_example(outputs: Array, targets: Array, loss: str) -> tuple[Array, Array]:
    """Bring ``(batch,)`` / ``(batch, 1)`` outputs and targets to ``(batch,)``."""
    if outputs.ndim == 2 and outputs.shape[-1] == 1:
        outputs = outputs[:, 0]
    if targets.ndim == 2 and targets.shape[-1] == 1:
        targets = targets[:, 0]
    if outputs.ndim != 1 or targets.shape != outputs.shape:
        raise errors.DataError(
            f"{loss} expects one output per example, shape (batch,) or (batch, 1), and targets of the same "
            f"length; got outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)}"
        )
    return outputs, targets


def _check_label_values(labels: Array, low: float, high: float, *, integer: bool, loss: str) -> None:
    """Where labels are concrete (not traced), reject values a loss would silently mishandle."""
    if not _checks.is_concrete(labels) or labels.size == 0:
        return
    values = np.asarray(labels)
    if integer and np.issubdtype(values.dtype, np.floating) and not np.all(values == np.round(values)):
        raise errors.DataError(
            f"{loss} expects integer class labels, got fractional values such as {values[values != np.round(values)][0]}"
        )
    if np.any(values < low) or np.any(values > high):
        bad = values[(values < low) | (values > high)].flat[0]
        raise errors.DataError(f"{loss} expects labels in [{low:g}, {high:g}], got {bad}")


def binary_cross_entropy(logits: ArrayLike, labels: ArrayLike, *, mask: ArrayLike | None = None) -> Array:
    """Mean sigmoid cross-entropy computed from logits (log-sigmoid, never ``log(sigmoid(z))``).

    Args:
        logits: ``(batch,)`` or ``(batch, 1)`` raw scores.
        labels: ``(batch,)`` or ``(batch, 1)`` targets in [0, 1].
        mask: optional ``(batch,)`` weights; the mean is over the weighted examples.
    """
    logits, labels = _one_output_per_example(jnp.asarray(logits), jnp.asarray(labels), "binary_cross_entropy")
    _check_label_values(labels, 0, 1, integer=False, loss="binary_cross_entropy")
    labels = labels.astype(logits.dtype)
    return _masked_mean(optax.losses.sigmoid_binary_cross_entropy(logits, labels), mask)


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, *, mask: ArrayLike | None = None) -> Array:
    """Mean softmax cross-entropy from logits.

    Args:
        logits: ``(batch, num_classes)``.
        labels: integer classes ``(batch,)`` or one-hot / probabilities ``(batch, num_classes)``.
        mask: optional ``(batch,)`` weights.
    """
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    if logits.ndim != 2:
        raise errors.DataError(
            f"softmax_cross_entropy expects logits of shape (batch, num_classes), got {logits.shape}"
        )
    if labels.shape == logits.shape[:1]:
        _check_label_values(labels, 0, logits.shape[1] - 1, integer=True, loss="softmax_cross_entropy")
        per_example = optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))
    elif labels.shape == logits.shape:
        per_example = optax.losses.softmax_cross_entropy(logits, labels.astype(logits.dtype))
    else:
        raise errors.DataError(
            f"labels of shape {tuple(labels.shape)} do not fit logits of shape {tuple(logits.shape)}: "
            f"expected integer labels ({logits.shape[0]},) or one-hot labels {tuple(logits.shape)}"
        )
    return _masked_mean(per_example, mask)


def mean_squared_error(predictions: ArrayLike, targets: ArrayLike, *, mask: ArrayLike | None = None) -> Array:
    """Mean over the batch of the squared error, summed over output dimensions.

    Args:
        predictions: ``(batch,)``, ``(batch, 1)`` or ``(batch, k)``.
        targets: the same shape (``(batch,)`` and ``(batch, 1)`` are interchangeable).
        mask: optional ``(batch,)`` weights.
    """
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    if predictions.ndim == 2 and predictions.shape[-1] > 1:
        if targets.shape != predictions.shape:
            raise errors.DataError(
                f"mean_squared_error got predictions {tuple(predictions.shape)} and targets "
                f"{tuple(targets.shape)}; they must have the same shape"
            )
        per_example = jnp.sum(optax.losses.squared_error(predictions, targets.astype(predictions.dtype)), axis=-1)
    else:
        predictions, targets = _one_output_per_example(predictions, targets, "mean_squared_error")
        per_example = optax.losses.squared_error(predictions, targets.astype(predictions.dtype))
    return _masked_mean(per_example, mask)


def accuracy(outputs: ArrayLike, labels: ArrayLike, *, mask: ArrayLike | None = None) -> Array:
    """Fraction of correct predictions.

    One output per example is read as a binary logit (class 1 when > 0); several
    outputs as class scores (argmax). Labels are integer classes or one-hot.
    """
    outputs, labels = jnp.asarray(outputs), jnp.asarray(labels)
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        outputs, labels = _one_output_per_example(outputs, labels, "accuracy")
        predicted = (outputs > 0).astype(jnp.int32)
        labels = (labels > 0.5).astype(jnp.int32)
    else:
        predicted = jnp.argmax(outputs, axis=-1)
        if labels.shape == outputs.shape:
            labels = jnp.argmax(labels, axis=-1)
        elif labels.shape != outputs.shape[:1]:
            raise errors.DataError(
                f"labels of shape {tuple(labels.shape)} do not fit outputs of shape {tuple(outputs.shape)}"
            )
    correct = (predicted == labels.astype(predicted.dtype)).astype(jnp.float32)
    return _masked_mean(correct, mask)


def l2_penalty(params: Params) -> Array:
    """``0.5 * sum(w ** 2)`` over the weight matrices (leaves with ndim >= 2; biases are not penalized)."""
    leaves = [leaf for leaf in jax.tree.leaves(params) if jnp.ndim(leaf) >= 2]
    if not leaves:
        return jnp.zeros(())
    return cast(Array, 0.5 * sum(jnp.sum(jnp.square(leaf)) for leaf in leaves))  # sum() of arrays is typed int | Array


LossFn = Callable[..., Array]

LOSSES: dict[str, LossFn] = {
    "binary_cross_entropy": binary_cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
    "mean_squared_error": mean_squared_error,
}

# name -> (function, higher_is_better): the registry of jaxnn.metrics, as this module listed it before
METRICS: dict[str, tuple[LossFn, bool]] = {
    name: (m.function, m.higher_is_better) for name, m in metrics_lib.METRICS.items()
}


def get(name: str) -> LossFn:
    """The loss called ``name``; the error lists the valid names.

    >>> import jaxnn
    >>> jaxnn.losses.get("softmax_cross_entropy").__name__
    'softmax_cross_entropy'
    """
    return _checks.lookup("loss", name, LOSSES)


def get_metric(name: str) -> tuple[LossFn, bool]:
    """``(metric_fn, higher_is_better)`` for the metric called ``name`` (see :mod:`jaxnn.metrics`)."""
    metric = metrics_lib.get(name)
    return metric.function, metric.higher_is_better
