"""The one owner of jaxnn's compiled programs: how they are jitted, where compiled ones are kept, and
the background thread pool that compiles them ahead of their first call.

Everything jaxnn compiles goes through :func:`jit_once` (programs that run once per job:
initialization, a final evaluation) or :func:`jit_loop` (the training loop), and everything it
keeps between calls — programs compiled ahead of time (:func:`compiled`), traces memoized by
static arguments (:func:`memoize`) — lives here, so :func:`clear_caches` can drop all of it.
The compile pool is created on first use: importing jaxnn starts no thread.

XLA options. XLA:CPU compiles every elementwise fusion through LLVM; jaxnn's matmuls are library
calls whatever the optimization level. Measured on 2 CPU cores (first ``jaxnn.sweep`` of a
[30, 16, 1] MLP over 256 learning rates), optimization level 0 compiles the programs that run
once per job in 0.5 s instead of 0.8 s and 0.15 s instead of 0.37 s, and level 1 compiles the
epoch loop in 1.6 s instead of 2.1 s at the same speed (3.06 vs 3.12 µs per
configuration-step; a digits Adam sweep 0.70 vs 0.71 s). The loop's option applies on CPUs
only: GPU kernels were not measured.

>>> import jaxnn
>>> jaxnn.clear_caches()  # the next identical sweep traces and compiles again
"""

import concurrent.futures
import contextlib
import functools
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import jax

from jaxnn import cache, errors

__all__ = [
    "LOOP_ON_CPU",
    "ONCE",
    "clear_caches",
    "compiled",
    "jit_loop",
    "jit_once",
    "memoize",
    "out_of_memory",
    "submit",
]

ONCE = {"xla_backend_optimization_level": 0}
"""Compiler options of programs that run once per job: their compile time is all they cost."""

LOOP_ON_CPU = {"xla_backend_optimization_level": 1}
"""Compiler options of the training loop on a CPU."""

MAX_COMPILED = 32
"""Programs compiled ahead of time that :func:`compiled` keeps (the oldest is dropped beyond)."""

_lock = threading.Lock()
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_compiled: dict[Hashable, Any] = {}
_memoized: list[Any] = []  # functools.lru_cache wrappers, cleared by clear_caches


def jit_once(fun: Callable, **jit_kwargs: Any) -> Callable:
    """``jax.jit`` for a program that runs once per job (initialization, a final evaluation)."""
    jitted = jax.jit(fun, compiler_options=ONCE, **jit_kwargs)
    return _with_cache(fun, lambda: jitted)


def jit_loop(fun: Callable, **jit_kwargs: Any) -> Callable:
    """``jax.jit`` for the training loop: :data:`LOOP_ON_CPU` when the default backend is a CPU."""
    on_cpu = jax.jit(fun, compiler_options=LOOP_ON_CPU, **jit_kwargs)
    elsewhere = jax.jit(fun, **jit_kwargs)
    return _with_cache(fun, lambda: on_cpu if jax.default_backend() == "cpu" else elsewhere)


def _with_cache(fun: Callable, pick: Callable[[], Any]) -> Callable:
    """The jitted program ``pick()`` returns, called, lowered or traced after the persistent compilation
    cache's default is settled (:func:`jaxnn.cache.enable_by_default`: once, before jaxnn's first compile)."""

    def jitted() -> Any:
        cache.enable_by_default()
        return pick()

    @functools.wraps(fun)
    def call(*args: Any, **kwargs: Any) -> Any:
        return jitted()(*args, **kwargs)

    # ahead-of-time compiles hit the same cache; attributes on a function object, as jax.jit's own
    call.lower = lambda *args, **kwargs: jitted().lower(*args, **kwargs)  # type: ignore[attr-defined]  # see above
    call.trace = lambda *args, **kwargs: jitted().trace(*args, **kwargs)  # type: ignore[attr-defined]  # see above
    return call


def memoize(maxsize: int = 64) -> Callable[[Callable], Callable]:
    """``functools.lru_cache`` whose entries :func:`clear_caches` drops (for traces keyed by static arguments)."""

    def decorate(fun: Callable) -> Callable:
        cached = functools.lru_cache(maxsize=maxsize)(fun)
        _memoized.append(cached)
        return cached

    return decorate


def submit(fun: Callable, *args: Any) -> concurrent.futures.Future:
    """Run ``fun(*args)`` in the background compile pool (two threads, created on first use)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="jaxnn-compile")
        return _pool.submit(fun, *args)


def compiled(key: Hashable, compile_program: Callable[[], Any]) -> concurrent.futures.Future:
    """The program kept under ``key``, or ``compile_program()`` run in the pool and kept once it returns.

    ``key`` must hold everything the program depends on (its static arguments and the shapes,
    dtypes and shardings of its inputs): a later sweep of the same shapes then neither traces
    nor compiles it again.
    """
    with _lock:
        program = _compiled.get(key)
    if program is not None:
        done: concurrent.futures.Future = concurrent.futures.Future()
        done.set_result(program)
        return done

    def compile_and_keep() -> Any:
        program = compile_program()
        with _lock:
            _compiled[key] = program
            while len(_compiled) > MAX_COMPILED:
                _compiled.pop(next(iter(_compiled)))
        return program

    return submit(compile_and_keep)


def clear_caches() -> None:
    """Drop every compiled program and cached trace jaxnn keeps, and JAX's own caches (``jax.clear_caches``).

    The next run then traces and compiles again (or loads from the persistent compilation
    cache, when it is on). For long-lived processes that train many different models, and
    for tests.
    """
    with _lock:
        _compiled.clear()
    for cached in _memoized:
        cached.cache_clear()
    jax.clear_caches()


@contextlib.contextmanager
def out_of_memory(what: str, advice: str) -> Iterator[None]:
    """Within the block, a device or host running out of memory is an :class:`~jaxnn.errors.OutOfMemory`
    saying ``what`` did not fit and ``advice`` (what to make smaller), instead of XLA's long error."""
    try:
        yield
    except MemoryError as error:
        if isinstance(error, errors.JaxnnError):
            raise
        raise errors.OutOfMemory(f"{what} did not fit in the host's memory; {advice}") from None
    except RuntimeError as error:  # jax.errors.JaxRuntimeError: RESOURCE_EXHAUSTED
        text = str(error)
        if isinstance(error, errors.JaxnnError) or not ("RESOURCE_EXHAUSTED" in text or "Out of memory" in text):
            raise
        detail = text.strip().splitlines()[0][:200]
        raise errors.OutOfMemory(f"{what} did not fit in memory ({detail}); {advice}") from None
