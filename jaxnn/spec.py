"""The static half of a training job: :class:`TrainSpec`, checked once where a job starts.

Everything that shapes the compiled program — the model, epochs, batch size,
optimizer family, loss, schedule, early stopping — lives in a frozen, hashable
:class:`TrainSpec`. ``fit``, ``make_train`` and ``sweep`` build one the same way
(``TrainSpec(model, num_epochs=..., ...)``), it validates its fields on
construction, and ``jax.jit(..., static_argnames="spec")`` reuses one compiled
program for every call with an equal spec, whatever the data values or
hyperparameters (those are traced: :class:`jaxnn.Hyperparams`).

>>> import jaxnn
>>> spec = jaxnn.TrainSpec(jaxnn.mlp([4, 8, 3]), num_epochs=10, optimizer="SGD")
>>> spec.optimizer, spec == jaxnn.TrainSpec(jaxnn.mlp([4, 8, 3]), num_epochs=10, optimizer="sgd")
('sgd', True)
"""

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from jaxnn import _checks, errors, losses, metrics, optim
from jaxnn.models import Model

__all__ = [
    "DEFAULT_LOSS",
    "DEFAULT_METRIC",
    "ZEROABLE",
    "EarlyStopping",
    "TrainSpec",
    "check_metric_defined",
    "class_weights",
    "loss_for",
    "metric_for",
    "zeros_of",
]

DEFAULT_LOSS = {
    "binary": "binary_cross_entropy",
    "multiclass": "softmax_cross_entropy",
    "regression": "mean_squared_error",
}
DEFAULT_METRIC = metrics.DEFAULT
# Hyperparameters whose value 0 removes work from the program (see TrainSpec.zeros).
ZEROABLE = ("momentum", "weight_decay")


class EarlyStopping(NamedTuple):
    """Stop when the monitored validation value has not improved for ``patience`` epochs.

    Attributes:
        patience: epochs without an improvement larger than ``min_delta`` before stopping.
        min_delta: the smallest change that counts as an improvement.
        restore_best: return the parameters of the best epoch instead of the last.
        monitor: ``"val_loss"`` (lower is better) or ``"val_metric"`` (the metric's direction).
    """

    patience: int = 10
    min_delta: float = 0.0
    restore_best: bool = True
    monitor: str = "val_loss"


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Everything static about a training job: what shapes the compiled program.

    Attributes:
        model: a :class:`jaxnn.Model`.
        num_epochs: passes over the training split.
        batch_size: minibatch size; ``None`` is full-batch gradient descent.
        optimizer: a name from :data:`jaxnn.optim.OPTIMIZERS` (lower case after construction).
        loss: a name from :data:`jaxnn.losses.LOSSES`, a function
            ``(outputs, targets, *, mask) -> scalar``, or ``None`` for the task's default.
        metric: a name from :data:`jaxnn.metrics.METRICS` that fits the data's task, or ``None`` for the
            task's default (accuracy for classes, mean squared error for a regression).
        schedule: a learning-rate schedule name (see :func:`jaxnn.schedule`).
        warmup_steps: for ``"warmup_cosine"``.
        nesterov: Nesterov momentum for sgd and rmsprop.
        early_stopping: an :class:`EarlyStopping`, or ``None`` to run every epoch.
        reduce_on_plateau: options of ``optax.contrib.reduce_on_plateau`` (a dict is
            stored as a sorted tuple of items, so the spec stays hashable).
        restore_best: return the parameters of the epoch with the best monitored value instead of
            the last epoch's: ``None`` (the default) does so when the data has a validation split
            (or as ``early_stopping.restore_best`` says, when early stopping is given).
        class_weight: a weight per class index (a tuple of floats >= 0) that multiplies each
            example's loss (training and validation), or ``None``; ``fit`` and ``sweep`` resolve
            ``"balanced"`` and mappings (see :func:`jaxnn.fit`).
        data_devices: devices that split every minibatch (data parallelism), or ``None``.
        zeros: hyperparameters of :data:`ZEROABLE` that are exactly 0 in every run of the
            job. The program leaves their work out — no momentum buffer, no weight-decay
            term: a parameter-sized read and write per step each — so any other value of
            them (or of any other hyperparameter) still needs no recompile, and a 0 compiles
            a leaner program once. ``fit`` and ``sweep`` fill it in from the values given.

    Raises:
        TypeError, ValueError: a field of the wrong type or out of range, named in the message.
    """

    model: Model
    num_epochs: int
    batch_size: int | None = 32
    optimizer: str = "adam"
    loss: str | Callable | None = None
    metric: str | None = None
    schedule: str = "constant"
    warmup_steps: int = 0
    nesterov: bool = False
    early_stopping: EarlyStopping | None = None
    reduce_on_plateau: dict[str, Any] | tuple[tuple[str, Any], ...] | None = None
    data_devices: tuple[Any, ...] | None = None
    zeros: tuple[str, ...] = ()
    restore_best: bool | None = None
    class_weight: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, Model):
            raise errors.ArgumentTypeError(
                f"model must be a jaxnn.Model (see jaxnn.mlp, jaxnn.from_flax), got {type(self.model).__name__}"
            )
        normalized = {
            "num_epochs": _checks.positive_int("num_epochs", self.num_epochs),
            "batch_size": None if self.batch_size is None else _checks.positive_int("batch_size", self.batch_size),
            "optimizer": _checks.lookup("optimizer", self.optimizer, {o: o for o in optim.OPTIMIZERS}),
            "schedule": _checks.lookup("schedule", self.schedule, {s: s for s in optim.SCHEDULES}),
            "warmup_steps": _checks.positive_int("warmup_steps", self.warmup_steps, minimum=0),
            "loss": self.loss if self.loss is None or callable(self.loss) else _loss_name(self.loss),
            "metric": None if self.metric is None else _metric_name(self.metric),
            "early_stopping": _check_early_stopping(self.early_stopping),
            "data_devices": None if self.data_devices is None else tuple(self.data_devices),
            "zeros": _check_zeros(self.zeros),
            "restore_best": _check_restore_best(self.restore_best, self.early_stopping),
            "class_weight": _check_class_weight(self.class_weight),
        }
        if isinstance(self.reduce_on_plateau, dict):  # hashable, order-independent
            normalized["reduce_on_plateau"] = tuple(sorted(self.reduce_on_plateau.items()))
        for name, value in normalized.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> "TrainSpec":
        """A copy with ``changes``, validated like the original."""
        return dataclasses.replace(self, **changes)

    def restores_best(self, has_val: bool) -> bool:
        """Whether a run returns its best epoch's parameters (see ``restore_best``)."""
        if self.restore_best is not None:
            return self.restore_best
        if self.early_stopping is not None:
            return self.early_stopping.restore_best
        return has_val

    @property
    def monitor(self) -> str:
        """What picks the best epoch: ``"val_loss"`` unless early stopping monitors ``"val_metric"``."""
        return "val_loss" if self.early_stopping is None else self.early_stopping.monitor

    def loss_for(self, task: str) -> tuple[str, Callable]:
        """``(name, function)`` of the spec's loss for ``task``."""
        return loss_for(self.loss, task)

    def metric_for(self, task: str) -> tuple[str, Callable, bool]:
        """``(name, function, higher_is_better)`` of the spec's metric for ``task``."""
        return metric_for(self.metric, task)


def loss_for(loss: str | Callable | None, task: str) -> tuple[str, Callable]:
    """``(name, function)`` of ``loss`` (a name or a function), or of ``task``'s default when None."""
    loss = DEFAULT_LOSS[task] if loss is None else loss
    if callable(loss):
        return getattr(loss, "__name__", "custom"), loss
    return loss.lower(), losses.get(loss)


def metric_for(metric: str | None, task: str) -> tuple[str, Callable, bool]:
    """``(name, function, higher_is_better)`` of ``metric``, or of ``task``'s default when None; the function
    scores ``task``'s outputs (probabilities of classes where the metric needs them).

    Raises:
        ConfigError: a metric that does not fit ``task`` (the message lists those that do).
    """
    found = metrics.check(metric, task)
    return found.name, metrics.scorer(found.name, task), found.higher_is_better


def class_weights(class_weight: Any, data: Any) -> tuple[float, ...] | None:
    """``class_weight`` as a weight per class index of ``data`` (what ``TrainSpec.class_weight`` holds).

    Args:
        class_weight: None; ``"balanced"``: ``n / (num_classes * count of the class)`` over the training split's
            rows (scikit-learn's ``compute_class_weight``), so each class weighs the same in the loss; or a
            mapping from class labels (as in the data, or as :attr:`jaxnn.Dataset.class_names` spells them) to
            weights, 1 for classes it leaves out.
        data: the :class:`jaxnn.Dataset`.

    Raises:
        ConfigError: a regression task, another string, a label the data does not have, or a weight that is
            negative or not finite (the class named).
        DataError: ``"balanced"`` with a class that has no training rows.
    """
    if class_weight is None:
        return None
    if not data.is_classification:
        raise errors.ConfigError(
            f"{errors.arg('class_weight')} weighs classes, but the data is a regression task; "
            f"weigh rows with {errors.arg('sample_weight')}"
        )
    names = [str(name) for name in data.class_names]
    if isinstance(class_weight, str):
        if class_weight.lower() != "balanced":
            raise errors.ConfigError(
                f"{errors.arg('class_weight')} must be 'balanced' or a mapping from class to weight, "
                f"got {class_weight!r}"
            )
        counts = np.bincount(np.asarray(data.y_train).astype(np.int64), minlength=data.num_classes)
        if not counts.all():
            empty = names[int(np.flatnonzero(counts == 0)[0])]
            raise errors.DataError(
                f"{errors.setting('class_weight', 'balanced')} needs training rows of every class, "
                f"but class {empty!r} has none"
            )
        return tuple(float(w) for w in counts.sum() / (data.num_classes * counts))
    if not hasattr(class_weight, "items"):
        raise errors.ArgumentTypeError(
            f"{errors.arg('class_weight')} must be 'balanced' or a mapping from class to "
            f"weight, got {type(class_weight).__name__}: {class_weight!r}"
        )
    weights = [1.0] * data.num_classes
    labels = list(data.class_labels)
    for label, weight in class_weight.items():
        if label in labels and not isinstance(label, bool):
            index = labels.index(label)
        elif str(label) in names:
            index = names.index(str(label))
        else:
            raise errors.ConfigError(
                f"{errors.arg('class_weight')} names class {label!r}, which the data does not have; "
                f"its classes are {', '.join(names)}"
            )
        try:
            value = float(weight)
        except (TypeError, ValueError):
            value = float("nan")
        if not (np.isfinite(value) and value >= 0):
            raise errors.ConfigError(
                f"{errors.arg('class_weight')} of class {names[index]!r} is {weight!r}; a weight "
                "must be a finite number >= 0"
            )
        weights[index] = value
    if not any(weights):
        raise errors.ConfigError(f"{errors.arg('class_weight')} is 0 for every class; at least one must weigh more")
    return tuple(weights)


def check_metric_defined(spec: "TrainSpec", data: Any) -> None:
    """Refuse a metric that the validation split cannot score (``roc_auc`` without every class), before training."""
    if data.is_classification and np.shape(data.x_val)[0] > 0:
        metrics.check_defined(
            [spec.metric_for(data.task)[0]],
            data.y_val,
            getattr(data, "w_val", None),
            data.num_classes,
            where="the validation split",
            class_names=data.class_names,
        )


def zeros_of(values: dict[str, Any]) -> tuple[str, ...]:
    """The names of :data:`ZEROABLE` whose values (scalars or columns of a sweep) are all exactly 0."""
    return tuple(name for name in ZEROABLE if name in values and np.all(np.asarray(values[name]) == 0))


def _check_zeros(zeros: Any) -> tuple[str, ...]:
    zeros = tuple(sorted(set(zeros)))
    for name in zeros:
        if name not in ZEROABLE:
            raise errors.ConfigError(f"`zeros` may name {', '.join(ZEROABLE)}, got {name!r}")
    return zeros


def _loss_name(name: Any) -> str:
    losses.get(name)
    return name.lower()


def _metric_name(name: Any) -> str:
    return metrics.get(name).name


def _check_class_weight(class_weight: Any) -> tuple[float, ...] | None:
    if class_weight is None:
        return None
    if isinstance(class_weight, (str, dict)) or not all(isinstance(w, (int, float, np.number)) for w in class_weight):
        raise errors.ArgumentTypeError(
            f"TrainSpec.class_weight must be a weight per class index (a tuple of numbers), "
            f"got {class_weight!r}; jaxnn.fit and jaxnn.sweep also take 'balanced' or a mapping"
        )
    weights = tuple(float(w) for w in class_weight)
    if not all(np.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise errors.ConfigError(f"{errors.arg('class_weight')} must be finite numbers >= 0, not all 0, got {weights}")
    return weights


def _check_restore_best(restore_best: Any, early_stopping: Any) -> bool | None:
    if restore_best is None:
        return None
    if not isinstance(restore_best, (bool, np.bool_)):
        raise errors.ArgumentTypeError(
            f"{errors.arg('restore_best')} must be True, False or None, got {restore_best!r}"
        )
    if isinstance(early_stopping, EarlyStopping) and early_stopping.restore_best != restore_best:
        raise errors.ConfigError(
            f"{errors.setting('restore_best', bool(restore_best))} contradicts EarlyStopping(restore_best="
            f"{early_stopping.restore_best}); give it in one place"
        )
    return bool(restore_best)


def _check_early_stopping(early_stopping: Any) -> EarlyStopping | None:
    if early_stopping is None:
        return None
    if not isinstance(early_stopping, EarlyStopping):
        raise errors.ArgumentTypeError(
            f"early_stopping must be a jaxnn.EarlyStopping or None, got {type(early_stopping).__name__}"
        )
    _checks.positive_int("early_stopping.patience", early_stopping.patience)
    _checks.check_range("early_stopping.min_delta", early_stopping.min_delta, 0.0)
    monitor = _checks.lookup(
        "early_stopping.monitor", early_stopping.monitor, {"val_loss": "val_loss", "val_metric": "val_metric"}
    )
    return early_stopping._replace(monitor=monitor)
