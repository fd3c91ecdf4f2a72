"""The hyperparameters: one table from which everything else is derived.

Each row of :data:`TABLE` gives a hyperparameter's name, default, valid range,
help text and which optimizers or schedules read it. From it come the
:class:`Hyperparams` pytree (its fields and defaults), :func:`check` (the
range checks of ``fit``, ``sweep`` and the CLI), the names a sweep may vary,
and the CLI's flags and their help. Adding a hyperparameter is one row here
plus the code that uses it.

>>> import jaxnn
>>> jaxnn.Hyperparams(learning_rate=0.1).momentum
0.0
>>> "momentum" in jaxnn.hyperparams.NAMES
True
"""

import collections
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from jaxnn import _checks, errors

if TYPE_CHECKING:
    from jax.typing import ArrayLike

__all__ = [
    "BY_NAME",
    "NAMES",
    "TABLE",
    "Hyperparameter",
    "Hyperparams",
    "check",
    "check_used",
    "check_value",
    "describe_range",
    "is_default",
    "resolve",
    "unused",
]


class Hyperparameter(NamedTuple):
    """One row of :data:`TABLE`.

    Attributes:
        name: the field of :class:`Hyperparams`, the keyword of ``fit`` and ``sweep``.
        default: the value when none is given (``None``: off, and static).
        low, high: the valid range's bounds (``None``: unbounded).
        low_open, high_open: whether a bound itself is excluded.
        help: one line for docstrings and the CLI.
        optimizers: the optimizers that read it (``None``: all of them).
        schedules: the learning-rate schedules that read it (``None``: it is not a schedule option).
    """

    name: str
    default: float | None
    low: float | None
    high: float | None
    low_open: bool
    high_open: bool
    help: str
    optimizers: tuple[str, ...] | None = None
    schedules: tuple[str, ...] | None = None


_ALL, _OPEN, _CLOSED = None, True, False
TABLE: tuple[Hyperparameter, ...] = (
    Hyperparameter("learning_rate", 1e-3, 0.0, None, _OPEN, _OPEN, "learning rate (a schedule's peak)"),
    Hyperparameter(
        "weight_decay", 0.0, 0.0, None, _CLOSED, _OPEN, "L2 weight decay on the weight matrices (decoupled for adamw)"
    ),
    Hyperparameter("momentum", 0.0, 0.0, 1.0, _CLOSED, _OPEN, "momentum", ("sgd", "rmsprop")),
    Hyperparameter("b1", 0.9, 0.0, 1.0, _CLOSED, _OPEN, "Adam's first-moment decay", ("adam", "adamw")),
    Hyperparameter("b2", 0.999, 0.0, 1.0, _CLOSED, _OPEN, "Adam's second-moment decay", ("adam", "adamw")),
    Hyperparameter(
        "dropout", None, 0.0, 1.0, _CLOSED, _OPEN, "dropout rate after each hidden layer (default: the model's own)"
    ),
    Hyperparameter("init_scale", 1.0, 0.0, None, _OPEN, _OPEN, "factor on the initial weight matrices"),
    Hyperparameter(
        "decay_rate",
        0.1,
        0.0,
        1.0,
        _OPEN,
        _CLOSED,
        "learning-rate factor reached at the end of exponential_decay",
        schedules=("exponential_decay",),
    ),
    Hyperparameter(
        "final_fraction",
        0.0,
        0.0,
        1.0,
        _CLOSED,
        _CLOSED,
        "final learning-rate fraction of the cosine schedules",
        schedules=("cosine_decay", "warmup_cosine"),
    ),
    Hyperparameter("clip_norm", None, 0.0, None, _OPEN, _OPEN, "clip the gradient's global norm to this value"),
)
BY_NAME: dict[str, Hyperparameter] = {row.name: row for row in TABLE}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def _docstring() -> str:
    lines = [
        "Everything a sweep may vary, as (possibly traced) arrays.",
        "",
        "A scalar per field trains one model; a leading axis of size K on every",
        "field, under ``jax.vmap``, trains K. Fields the optimizer does not use are",
        "ignored. A field whose value is None (``dropout``: keep the model's own",
        "rate; ``clip_norm``: no clipping) is static: absent from the pytree.",
        "",
        "Attributes:",
    ]
    for row in TABLE:
        lines.append(f"    {row.name}: {row.help}; {describe_range(row.name)}, default {row.default}.")
    return "\n".join(lines)


def describe_range(name: str) -> str:
    """The valid range of ``name`` in words, e.g. ``"in [0, 1)"`` or ``">= 0"``."""
    row = BY_NAME[name]
    left, right = "(" if row.low_open else "[", ")" if row.high_open else "]"
    if row.low is not None and row.high is not None:
        return f"in {left}{row.low:g}, {row.high:g}{right}"
    if row.low is not None:
        return f"{'>' if row.low_open else '>='} {row.low:g}"
    return "any finite number"


if TYPE_CHECKING:
    # The type checker's view of the namedtuple built below from TABLE (same fields, order and defaults;
    # keep the two in step when adding a row). Values are (possibly traced) arrays or Python numbers.

    class Hyperparams(NamedTuple):
        learning_rate: ArrayLike = 1e-3
        weight_decay: ArrayLike = 0.0
        momentum: ArrayLike = 0.0
        b1: ArrayLike = 0.9
        b2: ArrayLike = 0.999
        dropout: ArrayLike | None = None
        init_scale: ArrayLike = 1.0
        decay_rate: ArrayLike = 0.1
        final_fraction: ArrayLike = 0.0
        clip_norm: ArrayLike | None = None

else:
    Hyperparams = collections.namedtuple("Hyperparams", NAMES, defaults=[row.default for row in TABLE])
    Hyperparams.__module__ = "jaxnn"
    Hyperparams.__doc__ = _docstring()


def check_value(name: str, value: Any) -> None:
    """Raise ValueError unless every concrete entry of ``value`` lies in ``name``'s range."""
    row = BY_NAME[name]
    _checks.check_range(name, value, row.low, row.high, low_open=row.low_open, high_open=row.high_open)


def check(hparams: Any) -> None:
    """Raise ValueError naming the first field of ``hparams`` whose (concrete) values are out of range.

    Raises:
        TypeError: ``hparams`` is not a :class:`Hyperparams`.
        ValueError: a value outside its range (the message gives the range).
    """
    if not isinstance(hparams, Hyperparams):
        raise errors.ArgumentTypeError(f"hparams must be a jaxnn.Hyperparams, got {type(hparams).__name__}")
    for name in NAMES:
        check_value(name, getattr(hparams, name))


def resolve(hyperparams: Any, given: Mapping[str, Any]) -> tuple[Hyperparams, frozenset[str]]:
    """One configuration from a :class:`Hyperparams` and keyword values, checked once: ``(values, names set)``.

    ``names set`` are the values (keywords or fields of ``hyperparams``) that differ from their
    defaults: what :func:`check_used` checks against the optimizer and schedule.

    >>> values, named = resolve(Hyperparams(momentum=0.9), {"learning_rate": 0.1})
    >>> (values.learning_rate, values.momentum, sorted(named))
    (0.1, 0.9, ['learning_rate', 'momentum'])

    Raises:
        ArgumentTypeError: a name that is not a hyperparameter, or ``hyperparams`` that is not a :class:`Hyperparams`.
        ConfigError: a field given both ways, or a value out of its range.
    """
    for name in given:
        if name not in BY_NAME:
            raise _unknown_keyword(name)
    if hyperparams is None:
        values = Hyperparams(**given)
        named = frozenset(name for name, value in given.items() if not _is_default(BY_NAME[name], value))
    else:
        if not isinstance(hyperparams, Hyperparams):
            raise errors.ArgumentTypeError(
                f"{errors.arg('hyperparams')} must be a jaxnn.Hyperparams, got {type(hyperparams).__name__}"
            )
        in_object = {row.name for row in TABLE if not _is_default(row, getattr(hyperparams, row.name))}
        twice = sorted(in_object & set(given))
        if twice:
            raise errors.ConfigError(
                f"{errors.arg(twice[0])} is given twice: as a keyword and in {errors.arg('hyperparams')}; give it once"
            )
        values = hyperparams._replace(**given)
        named = frozenset(in_object | {name for name, value in given.items() if not _is_default(BY_NAME[name], value)})
    check(values)
    return values, named


def _unknown_keyword(name: str) -> errors.ArgumentTypeError:
    close = _checks.unknown_name("hyperparameter", name, NAMES)
    return errors.ArgumentTypeError(f"unexpected keyword argument {name!r}: {str(close)[len('unknown ') :]}")


def is_default(name: str, value: Any) -> bool:
    """Whether ``value`` is the default of hyperparameter ``name`` (an array of values never is)."""
    return _is_default(BY_NAME[name], value)


def _is_default(row: Hyperparameter, value: Any) -> bool:
    if value is None or row.default is None:
        return value is row.default
    try:  # compared as float32, the dtype values train in (a float32 0.9 is the default 0.9)
        return bool(np.ndim(value) == 0 and np.float32(value) == np.float32(row.default))
    except (TypeError, ValueError):
        return False


def check_used(
    names: Iterable[str],
    *,
    optimizers: Sequence[str],
    schedules: Sequence[str],
    nesterov: bool = False,
    warmup_steps: int = 0,
    names_known: bool = True,
) -> None:
    """Refuse settings that would do nothing: a hyperparameter set (see :func:`resolve`) that no optimizer of
    ``optimizers`` with any schedule of ``schedules`` reads, Nesterov momentum for an optimizer without
    momentum or with ``momentum`` left at its default of 0 (unless ``names_known`` is False: the values come
    later), warm-up steps without a warm-up schedule. One rule for ``fit``, ``sweep`` and the command line.

    Raises:
        ConfigError: naming the setting, what it was combined with, and what reads it.
    """
    names = set(names)
    for name in sorted(names):
        row = BY_NAME[name]
        if row.optimizers is not None and not set(optimizers) & set(row.optimizers):
            readers = " or ".join(errors.setting("optimizer", o) for o in row.optimizers)
            raise errors.ConfigError(
                f"{errors.arg(name)} has no effect with {errors.setting('optimizer', optimizers[0])}; "
                f"it is used only by {readers}"
            )
        if row.schedules is not None and not set(schedules) & set(row.schedules):
            readers = " or ".join(errors.setting("schedule", s) for s in row.schedules)
            raise errors.ConfigError(
                f"{errors.arg(name)} has no effect with {errors.setting('schedule', schedules[0])}; "
                f"it is used only by {readers}"
            )
    if nesterov and not set(optimizers) & {"sgd", "rmsprop"}:
        raise errors.ConfigError(
            f"{errors.arg('nesterov')} has no effect with {errors.setting('optimizer', optimizers[0])}; "
            f"it is used only by {errors.setting('optimizer', 'sgd')} or {errors.setting('optimizer', 'rmsprop')}"
        )
    if nesterov and names_known and "momentum" not in names:
        raise errors.ConfigError(
            f"{errors.arg('nesterov')} has no effect without momentum ({errors.arg('momentum')} is 0 unless given); "
            f"give {errors.arg('momentum')} too, e.g. {errors.setting('momentum', 0.9)}"
        )
    if warmup_steps and "warmup_cosine" not in schedules:
        raise errors.ConfigError(
            f"{errors.arg('warmup_steps')} has no effect with {errors.setting('schedule', schedules[0])}; "
            f"it is used only by {errors.setting('schedule', 'warmup_cosine')}"
        )


def unused(names: Iterable[str], *, optimizer: str, schedule: str) -> list[tuple[str, str]]:
    """The names among ``names`` that ``optimizer`` and ``schedule`` do not read, each with who does.

    >>> unused(["momentum", "learning_rate"], optimizer="adam", schedule="constant")
    [('momentum', 'optimizer sgd or rmsprop')]
    """
    found = []
    for name in names:
        row = BY_NAME[name]
        if row.optimizers is not None and optimizer not in row.optimizers:
            found.append((name, "optimizer " + " or ".join(row.optimizers)))
        elif row.schedules is not None and schedule not in row.schedules:
            found.append((name, "schedule " + " or ".join(row.schedules)))
    return found
