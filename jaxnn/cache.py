"""Caches on disk, so a second run starts fast: compiled XLA programs and the built-in datasets' arrays.

Both live under :func:`cache_dir`: ``$JAXNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxnn``, else
``~/.cache/jaxnn``. Hyperparameters are traced data, so a compiled program does not depend on
their values: a run with another learning rate loads the program the last run compiled instead
of compiling it again. JAX's persistent compilation cache is on by default, in ``cache_dir() /
"xla"``, for the Python API and the ``jaxnn`` command line alike: jaxnn turns it on just before
its first program compiles, unless it is opted out of (:func:`disable_compilation_cache`,
``JAXNN_COMPILATION_CACHE=0``, ``--no-compilation-cache``) or JAX's own cache directory is already
set (``jax_compilation_cache_dir``: yours is kept). Delete the directory to clear it.

Writing a cache is best effort: a read-only or full disk costs speed, never a run (one warning).

>>> import jaxnn
>>> jaxnn.cache.disable_compilation_cache()  # doctest: +SKIP
"""

import contextlib
import io
import os
import pathlib
import warnings

import numpy as np

from jaxnn._io import atomic_write

__all__ = [
    "cache_dir",
    "compilation_cache_wanted",
    "disable_compilation_cache",
    "enable_by_default",
    "enable_compilation_cache",
    "load_arrays",
    "save_arrays",
]

_FORMAT = "v1"  # part of every data cache file name: a new layout never reads an old file


def cache_dir() -> pathlib.Path:
    """Where jaxnn caches: ``$JAXNN_CACHE_DIR``, ``$XDG_CACHE_HOME/jaxnn`` or ``~/.cache/jaxnn``."""
    if os.environ.get("JAXNN_CACHE_DIR"):
        return pathlib.Path(os.environ["JAXNN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "jaxnn"


_OFF = ("0", "off", "false", "no")
_opted_out = False  # disable_compilation_cache() was called: the process-wide setting it stands for is JAX's
_default_tried = False  # enable_by_default() has run (it acts once per process)
_warned: set[str] = set()  # cache directories already warned about
_enabled_by_jaxnn: pathlib.Path | None = None  # the directory jaxnn set as JAX's, to undo


def compilation_cache_wanted() -> bool:
    """False after :func:`disable_compilation_cache`, or when ``JAXNN_COMPILATION_CACHE`` is ``0``, ``off``,
    ``false`` or ``no``."""
    return not _opted_out and os.environ.get("JAXNN_COMPILATION_CACHE", "1").strip().lower() not in _OFF


def disable_compilation_cache() -> None:
    """Compile without the persistent compilation cache in this process (jaxnn turns it on by default).

    Call it before training; called later, it turns off the cache jaxnn turned on, so the next
    programs compile afresh. A cache directory set through JAX's own ``jax_compilation_cache_dir``
    is the caller's, and stays. ``JAXNN_COMPILATION_CACHE=0`` does the same for every process.
    """
    global _opted_out, _enabled_by_jaxnn
    _opted_out = True
    if _enabled_by_jaxnn is None:
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    if jax.config.jax_compilation_cache_dir == str(_enabled_by_jaxnn):  # type: ignore[attr-defined]  # jax.config's options are set at runtime; its stub lists few
        jax.config.update("jax_compilation_cache_dir", None)
        compilation_cache.reset_cache()
    _enabled_by_jaxnn = None


def enable_by_default() -> None:
    """The default, once per process, before jaxnn's first compile: :func:`enable_compilation_cache` unless
    opted out, or unless JAX's cache is configured already (a directory of the caller's, or turned off)."""
    global _default_tried
    if _default_tried:
        return
    _default_tried = True
    if not compilation_cache_wanted():
        return
    import jax

    if jax.config.jax_compilation_cache_dir or not jax.config.jax_enable_compilation_cache:  # type: ignore[attr-defined]  # jax.config's options are set at runtime; its stub lists few
        return
    enable_compilation_cache()


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Turn on JAX's persistent compilation cache in ``directory`` (default: ``cache_dir() / "xla"``).

    jaxnn does this by default (see the module's description); call it to choose another directory.
    Every program is cached, however fast it compiled (JAX's default skips those under a
    second, which is most of jaxnn's). Call it before the first compile; it applies to the
    whole process. A directory that cannot be written (a file in its place, no permission)
    costs speed, never a run: one warning (once per directory and process), and compiling goes on
    without the cache.

    Returns:
        The cache directory, or None when it cannot be used.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    global _default_tried, _enabled_by_jaxnn, _opted_out
    _default_tried, _opted_out = True, False  # an explicit choice: the default leaves it alone
    path = pathlib.Path(directory) if directory is not None else cache_dir() / "xla"
    problem = _unwritable(path)
    if problem is not None:
        if str(path) not in _warned:
            _warned.add(str(path))
            warnings.warn(
                f"jaxnn: the compilation cache {path} cannot be used ({problem}); compiling without it", stacklevel=2
            )
        return None
    if jax.config.jax_compilation_cache_dir not in (None, str(path)):  # type: ignore[attr-defined]  # jax.config's options are set at runtime; its stub lists few
        compilation_cache.reset_cache()  # JAX opened the other directory already: open this one instead
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    _enabled_by_jaxnn = path
    return path


def _unwritable(path: pathlib.Path) -> str | None:
    """Why ``path`` cannot hold the cache, or None when it can (created if needed, and writable)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return (error.strerror or str(error)).lower()
    if not os.access(path, os.W_OK | os.X_OK):
        return "not writable"
    return None


def _data_path(key: str) -> pathlib.Path:
    return cache_dir() / "datasets" / f"{key}.{_FORMAT}.npz"


def load_arrays(key: str) -> dict[str, np.ndarray] | None:
    """The arrays saved under ``key``, or None if there are none (or they cannot be read)."""
    path = _data_path(key)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError):
        return None


def save_arrays(key: str, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` under ``key`` (atomically; silently not at all if the cache cannot be written)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # NumPy's stub reads **kwds as its allow_pickle keyword
    with contextlib.suppress(OSError):
        atomic_write(_data_path(key), buffer.getvalue())
