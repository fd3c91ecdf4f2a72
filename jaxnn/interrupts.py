"""Ctrl-C and SIGTERM that stop a run at a boundary between compiled calls, never inside Python's machinery.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT arrives —
inside a garbage-collection callback, for instance, where the exception is printed and *ignored*,
and the run goes on as if nothing happened. A run's loop therefore defers the signals
(:func:`deferred`): while it trains, SIGINT and SIGTERM only set a flag, and the loop calls
``check()`` between compiled calls, where the signal's own handler then runs (Python's raises
``KeyboardInterrupt``; the command line's SIGTERM handler raises
:class:`jaxnn.errors.Interrupted`). A signal whose handler is the operating system's default
(SIGTERM outside the command line) or ignored is left alone.

Loops call :func:`check` (the innermost active deferral's), so nested runs (a sweep's groups, a
scheduler's stages) need not pass it along.

>>> from jaxnn import interrupts
>>> with interrupts.deferred():
...     interrupts.check()  # no signal arrived: nothing happens
"""

import contextlib
import contextvars
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

__all__ = ["check", "deferred"]

_ACTIVE: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("jaxnn_interrupts", default=None)


def check() -> None:
    """Run the handler of a signal that arrived during the innermost :func:`deferred` block (it raises)."""
    active = _ACTIVE.get()
    if active is not None:
        active()


@contextlib.contextmanager
def deferred() -> Iterator[Callable[[], None]]:
    """Within the block, SIGINT and SIGTERM (where Python code handles them) wait for ``check()``.

    Yields:
        ``check()``: runs the handler of a signal that arrived (which raises, to stop the run);
        does nothing otherwise. Outside the main thread signals cannot be handled there, and
        ``check`` does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or _ACTIVE.get() is not None:
        yield check  # off the main thread nothing can be handled; nested, the outer block handles it
        return
    arrived: list[tuple[int, FrameType | None]] = []
    installed = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    handlers: dict[int, Callable[[int, FrameType | None], Any]] = {
        number: handler for number, handler in installed.items() if callable(handler)
    }

    def remember(number: int, frame: FrameType | None) -> None:
        arrived.append((number, frame))

    def check_arrived() -> None:
        if arrived:
            number, frame = arrived[0]
            arrived.clear()
            handlers[number](number, frame)

    for number in handlers:
        signal.signal(number, remember)
    token = _ACTIVE.set(check_arrived)
    try:
        yield check_arrived
    finally:
        _ACTIVE.reset(token)
        for number, handler in handlers.items():
            signal.signal(number, handler)
    check_arrived()  # a signal that came as the block ended
