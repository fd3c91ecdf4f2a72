"""Caches on disk, so a second run starts fast: compiled XLA programs and the built-in datasets' arrays.

Both live under :func:`cache_dir`: ``$JAXNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxnn``, else
``~/.cache/jaxnn``. Hyperparameters are traced data, so a compiled program does not depend on
their values: with :func:`enable_compilation_cache`, a run with another learning rate loads the
program the last run compiled instead of compiling it again. The ``jaxnn`` command line turns the
compilation cache on by default (``--no-compilation-cache`` or ``JAXNN_COMPILATION_CACHE=0`` turn
it off); Python users call :func:`enable_compilation_cache` once, before training.

Writing a cache is best effort: a read-only or full disk costs speed, never a run.

>>> import jaxnn
>>> path = jaxnn.cache.enable_compilation_cache()  # doctest: +SKIP
"""

import contextlib
import io
import os
import pathlib
import warnings

import numpy as np

from jaxnn._io import atomic_write

__all__ = ["cache_dir", "compilation_cache_wanted", "enable_compilation_cache", "load_arrays", "save_arrays"]

_FORMAT = "v1"  # part of every data cache file name: a new layout never reads an old file


def cache_dir() -> pathlib.Path:
    """Where jaxnn caches: ``$JAXNN_CACHE_DIR``, ``$XDG_CACHE_HOME/jaxnn`` or ``~/.cache/jaxnn``."""
    if os.environ.get("JAXNN_CACHE_DIR"):
        return pathlib.Path(os.environ["JAXNN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "jaxnn"


def compilation_cache_wanted() -> bool:
    """False when ``JAXNN_COMPILATION_CACHE`` is ``0``, ``off``, ``false`` or ``no``."""
    return os.environ.get("JAXNN_COMPILATION_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Turn on JAX's persistent compilation cache in ``directory`` (default: ``cache_dir() / "xla"``).

    Every program is cached, however fast it compiled (JAX's default skips those under a
    second, which is most of jaxnn's). Call it before the first compile; it applies to the
    whole process. A directory that cannot be written (a file in its place, no permission)
    costs speed, never a run: one warning, and compiling goes on without the cache.

    Returns:
        The cache directory, or None when it cannot be used.
    """
    import jax

    path = pathlib.Path(directory) if directory is not None else cache_dir() / "xla"
    problem = _unwritable(path)
    if problem is not None:
        warnings.warn(f"jaxnn: the compilation cache {path} cannot be used ({problem}); compiling without it",
                      stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
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
    np.savez(buffer, **arrays)
    with contextlib.suppress(OSError):
        atomic_write(_data_path(key), buffer.getvalue())
