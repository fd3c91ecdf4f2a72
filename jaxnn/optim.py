"""Optimizers and learning-rate schedules by name, built on Optax.

Every numeric hyperparameter may be a traced array. The trainer builds the
optimizer *inside* the compiled program from a :class:`jaxnn.Hyperparams`
pytree, so a new learning rate is new data, not a new program, and
``jax.vmap`` over the hyperparameters trains many configurations at once.

>>> import jax.numpy as jnp, jaxnn, optax
>>> opt = jaxnn.optimizer("sgd", learning_rate=0.1, momentum=0.9, nesterov=True)
>>> isinstance(opt, optax.GradientTransformation)
True
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import _checks, errors, hyperparams
from jaxnn.typing import Array, ArrayLike, Params

__all__ = ["OPTIMIZERS", "SCHEDULES", "build_optimizer", "build_schedule", "decay_mask", "optimizer", "schedule"]

OPTIMIZERS = ("gd", "sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "exponential_decay", "cosine_decay", "warmup_cosine", "piecewise")

LearningRate = ArrayLike | Callable[[Array], Array]


def decay_mask(params: Params) -> Params:
    """True for the leaves weight decay applies to: weight matrices (ndim >= 2), not biases."""
    return jax.tree.map(lambda leaf: jnp.ndim(leaf) >= 2, params)


def schedule(
    name: str,
    *,
    learning_rate: ArrayLike,
    num_steps: int,
    warmup_steps: int = 0,
    decay_rate: ArrayLike = 0.1,
    final_fraction: ArrayLike = 0.0,
    boundaries: Sequence[int] | None = None,
    scale: float = 0.1,
) -> Callable[[Array], Array]:
    """A learning-rate schedule ``step -> learning rate`` by name.

    Each schedule is ``learning_rate * factor(step)`` with a unit-peak Optax
    factor schedule, so ``learning_rate``, ``decay_rate`` and ``final_fraction``
    may be traced (sweepable); step counts are static.

    Args:
        name: one of :data:`SCHEDULES`:

            * ``"constant"``;
            * ``"exponential_decay"``: ``learning_rate * decay_rate ** (step / num_steps)``,
              so the last step runs at ``decay_rate`` times the initial rate;
            * ``"cosine_decay"``: from ``learning_rate`` to ``final_fraction * learning_rate``;
            * ``"warmup_cosine"``: linear warm-up over ``warmup_steps``, then cosine decay;
            * ``"piecewise"``: multiply by ``scale`` at each of ``boundaries`` (default: 50% and 75%
              of ``num_steps``).
        learning_rate: peak learning rate.
        num_steps: total number of optimizer steps in the run.

    Returns:
        A function from the step count to the learning rate.
    """
    kind = _checks.lookup("schedule", name, {s: s for s in SCHEDULES})
    num_steps = _checks.positive_int("num_steps", num_steps)
    warmup_steps = _checks.positive_int("warmup_steps", warmup_steps, minimum=0)
    hyperparams.check_value("learning_rate", learning_rate)
    if kind == "exponential_decay":
        hyperparams.check_value("decay_rate", decay_rate)
    if kind in ("cosine_decay", "warmup_cosine"):
        hyperparams.check_value("final_fraction", final_fraction)
    if kind == "warmup_cosine" and warmup_steps >= num_steps:
        raise errors.ConfigError(f"`warmup_steps` (={warmup_steps}) must be < num_steps (={num_steps})")
    if kind == "piecewise":
        _checks.check_range("scale", scale, 0.0)
    return build_schedule(
        kind,
        learning_rate=learning_rate,
        num_steps=num_steps,
        warmup_steps=warmup_steps,
        decay_rate=decay_rate,
        final_fraction=final_fraction,
        boundaries=boundaries,
        scale=scale,
    )


def build_schedule(
    kind: str,
    *,
    learning_rate: ArrayLike,
    num_steps: int,
    warmup_steps: int = 0,
    decay_rate: ArrayLike = 0.1,
    final_fraction: ArrayLike = 0.0,
    boundaries: Sequence[int] | None = None,
    scale: float = 0.1,
) -> Callable[[Array], Array]:
    """:func:`schedule` without its checks, for values already checked (or traced, inside the training loop)."""
    if kind == "constant":
        factor = optax.constant_schedule(1.0)
    elif kind == "exponential_decay":
        # optax.exponential_decay branches on decay_rate in Python, which a traced value cannot do.
        factor = lambda step: jnp.power(decay_rate, jnp.asarray(step, jnp.float32) / num_steps)  # noqa: E731
    elif kind == "cosine_decay":
        factor = optax.cosine_decay_schedule(1.0, num_steps, alpha=final_fraction)
    elif kind == "warmup_cosine":
        factor = optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps, num_steps, end_value=final_fraction)
    else:  # piecewise
        if boundaries is None:
            boundaries = sorted({max(1, num_steps // 2), max(1, (3 * num_steps) // 4)})
        factor = optax.piecewise_constant_schedule(1.0, {int(b): float(scale) for b in boundaries})

    def learning_rate_at(step: Array) -> Array:
        return learning_rate * factor(step)

    return learning_rate_at


def optimizer(
    name: str,
    *,
    learning_rate: LearningRate,
    momentum: ArrayLike = 0.0,
    nesterov: bool = False,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    decay: ArrayLike = 0.9,
    weight_decay: ArrayLike = 0.0,
    clip_norm: ArrayLike | None = None,
    reduce_on_plateau: dict[str, Any] | None = None,
) -> optax.GradientTransformation:
    """An Optax optimizer by name.

    Args:
        name: one of :data:`OPTIMIZERS`: ``"gd"`` (plain gradient descent; full
            batch when trained with ``batch_size=None``), ``"sgd"`` (with
            ``momentum`` and ``nesterov``), ``"adam"``, ``"adamw"`` (decoupled
            weight decay), ``"rmsprop"`` (``decay``, ``momentum``), ``"adagrad"``.
        learning_rate: a scalar (possibly traced) or a schedule ``step -> rate``
            (see :func:`schedule`).
        momentum: for sgd and rmsprop, in [0, 1).
        nesterov: Nesterov momentum (sgd, rmsprop).
        b1, b2, eps: Adam/AdamW moment decay rates and epsilon.
        decay: RMSProp's squared-gradient decay.
        weight_decay: >= 0. For adamw it is decoupled (applied to the weights
            after the adaptive scaling); for every other optimizer it is the
            gradient of the L2 penalty ``weight_decay * l2_penalty(params)``.
            Biases are never decayed.
        clip_norm: if given, clip the gradient's global norm to this value first.
        reduce_on_plateau: keyword arguments for
            ``optax.contrib.reduce_on_plateau``, chained last; the trainer then
            passes the loss as ``value=``.

    Returns:
        An ``optax.GradientTransformation``.

    Raises:
        ValueError: unknown name (the valid ones are listed) or a hyperparameter out of range.
    """
    kind = _checks.lookup("optimizer", name, {o: o for o in OPTIMIZERS})
    for name, value in (
        ("learning_rate", learning_rate),
        ("weight_decay", weight_decay),
        ("momentum", momentum),
        ("b1", b1),
        ("b2", b2),
        ("clip_norm", clip_norm),
    ):
        hyperparams.check_value(name, value)  # the table's ranges: one rule for every entry point
    _checks.check_range("decay", decay, 0.0, 1.0)  # RMSProp's own option, not a swept hyperparameter
    if kind == "gd" and _is_concrete_zero(momentum) is False:
        raise errors.ConfigError(
            f"{errors.arg('momentum')} (={momentum}) is not used by 'gd'; use optimizer 'sgd' for momentum"
        )
    # A concrete 0 needs no momentum buffer and no decay term; a traced value (a sweep) keeps them.
    return build_optimizer(
        kind,
        learning_rate=learning_rate,
        momentum=None if _is_concrete_zero(momentum) else momentum,
        nesterov=nesterov,
        b1=b1,
        b2=b2,
        eps=eps,
        decay=decay,
        weight_decay=None if _is_concrete_zero(weight_decay) else weight_decay,
        clip_norm=clip_norm,
        reduce_on_plateau=reduce_on_plateau,
    )


def _is_concrete_zero(value: ArrayLike) -> bool | None:
    """True or False for a concrete value, None for a traced one."""
    return float(np.asarray(value)) == 0.0 if _checks.is_concrete(value) else None


def build_optimizer(
    kind: str,
    *,
    learning_rate: LearningRate,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    decay: ArrayLike = 0.9,
    weight_decay: ArrayLike | None = None,
    clip_norm: ArrayLike | None = None,
    reduce_on_plateau: dict[str, Any] | None = None,
) -> optax.GradientTransformation:
    """:func:`optimizer` without its checks, for values already checked (or traced, inside the training loop).

    ``momentum=None`` or ``weight_decay=None`` adds no state and no work; any value, a zero
    included, keeps the momentum buffer or the decay term. The structure depends only on which
    are None, never on whether a value happens to be concrete, so the optimizer built for
    ``init`` and the one built inside a traced loop always agree.
    """
    if kind in ("gd", "sgd"):
        base = optax.sgd(learning_rate, momentum=momentum if kind == "sgd" else None, nesterov=nesterov)
    elif kind == "adam":
        base = optax.adam(learning_rate, b1=b1, b2=b2, eps=eps)
    elif kind == "adamw":
        decoupled = 0.0 if weight_decay is None else weight_decay
        base = optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=decoupled, mask=decay_mask)
    elif kind == "rmsprop":
        base = optax.rmsprop(learning_rate, decay=decay, eps=eps, momentum=momentum, nesterov=nesterov)
    else:  # adagrad
        base = optax.adagrad(learning_rate, eps=eps)
    parts: list[optax.GradientTransformation] = []
    if clip_norm is not None:
        parts.append(optax.clip_by_global_norm(clip_norm))
    if kind != "adamw" and weight_decay is not None:
        parts.append(optax.add_decayed_weights(weight_decay, mask=decay_mask))
    parts.append(base)
    if reduce_on_plateau is not None:
        parts.append(optax.contrib.reduce_on_plateau(**reduce_on_plateau))
    return parts[0] if len(parts) == 1 else optax.chain(*parts)
