"""Small argument checks that produce the house error messages."""

import difflib
import math
from collections.abc import Iterable
from typing import cast

from jaxnn import errors


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> errors.ConfigError:
    """The error for a name that is not one of `valid`, listing the valid ones."""
    valid = sorted(valid)
    hint = ""
    if isinstance(name, str):
        close = difflib.get_close_matches(name, valid, n=1)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    return errors.ConfigError(f"unknown {kind} {name!r}{hint}; valid names: {', '.join(valid)}")


def lookup(kind: str, name: object, table: dict):
    """`table[name]`, or a ValueError that lists the valid names."""
    if not isinstance(name, str):
        raise errors.ArgumentTypeError(f"{kind} must be a name (str), got {type(name).__name__}: {name!r}")
    try:
        return table[name.lower()]
    except KeyError:
        raise unknown_name(kind, name, table) from None


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or a ValueError/TypeError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise errors.ArgumentTypeError(
                f"{errors.arg(name)} must be an int, got {type(value).__name__}: {value!r}"
            ) from None
    if value < minimum:
        raise errors.ConfigError(f"{errors.arg(name)} (={value}) must be >= {minimum}")
    return value


def is_concrete(value: object) -> bool:
    """Whether `value` has a known value at trace time (not a tracer)."""
    import jax.core

    return not isinstance(value, jax.core.Tracer)


def _in_interval(value: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> bool:
    if not math.isfinite(value):
        return False
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or (value < high if high_open else value <= high)


def check_range(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = True,
) -> None:
    """Raise ValueError unless every entry of a concrete `value` lies in the interval.

    Tracers, callables (schedules) and None pass: they are checked where they are concrete.
    Works for scalars and for arrays of sweep values alike.
    """
    import numpy as np

    if value is None or callable(value):
        return
    if type(value) in (int, float) and _in_interval(cast(float, value), low, high, low_open, high_open):
        return  # the common case, without NumPy's per-call cost
    if not is_concrete(value):
        return
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise errors.ArgumentTypeError(
            f"{errors.arg(name)} must be a number, got {type(value).__name__}: {value!r}"
        ) from None
    ok = np.isfinite(array)
    if low is not None:
        ok &= array > low if low_open else array >= low
    if high is not None:
        ok &= array < high if high_open else array <= high
    if not np.all(ok):
        bad = array[~ok].flat[0] if array.ndim else float(array)
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        if low is not None and high is not None:
            expected = f"in {left}{low:g}, {high:g}{right}"
        elif low is not None:
            expected = f"{'>' if low_open else '>='} {low:g}"
        elif high is not None:
            expected = f"{'<' if high_open else '<='} {high:g}"
        else:
            expected = "finite"
        if not np.isfinite(bad) and expected != "finite":
            expected = f"a finite number {expected}"
        raise errors.ConfigError(f"{errors.arg(name)} (={float(bad):g}) must be {expected}")
