"""Atomic writes: a crash or an error never leaves half a file, half a run, or destroys the old one.

Two tools:

* :func:`atomic_write` writes one file through a temporary file in the same
  directory that is fsynced and renamed over the destination.
* :func:`staged_directory` does the same for a whole output directory: a run's
  files are written into a hidden staging directory that replaces the
  destination in one rename when the run succeeds, so a failed or interrupted
  run leaves the previous run's outputs exactly as they were.

Temporary names carry the host name and process id
(``.{name}.{host}-{pid}.{random hex}.tmp``, ``.staging``, ``.old``). A process
killed with SIGKILL cannot clean up after itself, so the next write to the same
destination removes such leftovers: only this host's, and only those whose
process is gone. Files of live processes and of other hosts (a filesystem
shared between machines, where a process id means nothing) are never touched.
"""

import contextlib
import os
import re
import shutil
import socket
import stat
from collections.abc import Callable, Iterator

from jaxnn import errors

# Flags for a new temporary file: fail rather than reuse an existing name; binary
# on Windows; not inherited by child processes.
_CREATE_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory, fsynced and renamed.

    The rename is atomic on POSIX and Windows, so readers see either the old
    file or the complete new one. The new file gets the permissions a plain
    ``open(path, "w")`` would give it (``0o666`` less the umask), or, when
    ``path`` already exists, the mode it has now: a user who ran ``chmod`` on
    it keeps that. Temporary files that a killed process of this host left
    next to ``path`` are removed first.

    Args:
        path: the file to write; its directory is created if needed.
        data: the contents; a ``str`` is written as UTF-8.

    Raises:
        jaxnn.errors.OutputError: the file cannot be written (an ``OSError``; its message names ``path``
            and the reason); ``path`` is then left unchanged and no temporary file remains.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        _write_through_temporary(path, directory, data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as error:
        if isinstance(error, errors.JaxnnError):
            raise
        # The temporary's name is ours, not the user's: say which file could not be written, and why.
        raise errors.output_error(error, f"cannot write {path!r}: {_reason(error)}") from None


def _write_through_temporary(path: str, directory: str, payload: bytes) -> None:
    os.makedirs(directory, exist_ok=True)
    basename = os.path.basename(path)
    _remove_stale(directory, basename, ("tmp",), os.remove)
    temporary = os.path.join(directory, _hidden_name(basename, "tmp"))
    handle = os.open(temporary, _CREATE_FLAGS, 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        _copy_mode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


@contextlib.contextmanager
def staged_directory(out: str | os.PathLike, *, replaceable: Callable[[str], bool]) -> Iterator[str]:
    """Write a whole output directory as one unit: all of a run's files, or none of them.

    On entry the destination is checked and a hidden staging directory is
    created next to it, before the caller does any expensive work, so that an
    unwritable or occupied destination is reported before training starts,
    not after. The caller writes every file into the staging directory. On
    success the staging directory replaces ``out`` (the previous contents are
    removed, including files the new run does not write); on any exception,
    KeyboardInterrupt included, the staging directory is removed and ``out``
    is left untouched.

    Args:
        out: the final directory; it and its parents are created if needed.
            A symbolic link to a directory is followed: the directory it
            points to is replaced and the link kept.
        replaceable: called with ``out`` when it exists and is not empty;
            returns whether its contents may be replaced (for example, it holds
            only files an earlier run wrote).

    Yields:
        The staging directory's path, to write the run's files into.

    Raises:
        NotADirectoryError: ``out`` exists and is not a directory, or one of
            its parents is not a directory.
        FileExistsError: ``out`` is not empty and ``replaceable(out)`` is False.
        OSError: ``out`` cannot be written (e.g. PermissionError), with a
            message naming ``out`` and the reason.

    Example:
        >>> with staged_directory("runs/train", replaceable=lambda path: True) as staging:  # doctest: +SKIP
        ...     atomic_write(os.path.join(staging, "history.csv"), "epoch,loss\\n")
    """
    out = os.fspath(out)
    final = os.path.realpath(out)
    _check_destination(out, final, replaceable)
    parent, name = os.path.split(final)
    staging = _create_staging(out, parent, name)
    try:
        yield staging
        _fsync_directory(staging)
        _move_into_place(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _check_destination(out: str, final: str, replaceable: Callable[[str], bool]) -> None:
    """Raise if ``out`` is a file, or a non-empty directory that may not be replaced."""
    if not os.path.lexists(final):
        return
    if not os.path.isdir(final):
        raise errors.OutputNotADirectoryError(f"{out!r} exists and is not a directory")
    try:
        occupied = bool(os.listdir(final))
    except OSError as error:
        raise errors.output_error(
            error, f"cannot write the output directory {out!r}: {_reason(error)} in {final!r}"
        ) from None
    if occupied and not replaceable(out):
        raise errors.OutputExistsError(
            f"{out!r} is not empty and holds files jaxnn did not write; choose a new or empty directory"
        )


def _create_staging(out: str, parent: str, name: str) -> str:
    """Create ``parent`` if needed and an empty staging directory in it; remove stale ones first."""
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        blocker = _nearest_existing(parent)
        if not os.path.isdir(blocker):
            message = f"cannot write the output directory {out!r}: {blocker!r} is not a directory"
            raise errors.OutputNotADirectoryError(message) from None
        raise errors.output_error(
            error, f"cannot write the output directory {out!r}: {_reason(error)} in {blocker!r}"
        ) from None
    _remove_stale(parent, name, ("staging", "old"), lambda path: shutil.rmtree(path, ignore_errors=True))
    staging = os.path.join(parent, _hidden_name(name, "staging"))
    try:
        os.mkdir(staging, 0o777)  # the umask applies, as for any new directory
    except OSError as error:
        raise errors.output_error(
            error, f"cannot write the output directory {out!r}: {_reason(error)} in {parent!r}"
        ) from None
    return staging


def _move_into_place(staging: str, final: str) -> None:
    """Rename ``staging`` to ``final``, replacing what is there; restore it if the rename fails."""
    parent, name = os.path.split(final)
    if not os.path.lexists(final):
        os.rename(staging, final)
    elif not os.listdir(final):
        os.rmdir(final)
        os.rename(staging, final)
    else:
        old = os.path.join(parent, _hidden_name(name, "old"))
        os.rename(final, old)
        try:
            os.rename(staging, final)
        except BaseException:
            os.rename(old, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    _fsync_directory(parent)


def _hidden_name(name: str, suffix: str) -> str:
    """A fresh hidden name for a temporary of ``name``: ``.{name}.{host}-{pid}.{hex}.{suffix}``."""
    return f".{name}.{_host()}-{os.getpid()}.{os.urandom(6).hex()}.{suffix}"


def _host() -> str:
    """This machine's name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "localhost"


def _remove_stale(directory: str, name: str, suffixes: tuple[str, ...], remove: Callable[[str], None]) -> None:
    """Remove temporaries of ``name`` in ``directory`` left by dead processes of this host.

    Best effort: a write must not fail because an old leftover cannot be removed.
    """
    pattern = re.compile(
        re.escape(f".{name}.{_host()}-") + r"(\d+)\.[0-9a-f]+\.(?:" + "|".join(map(re.escape, suffixes)) + ")"
    )
    with contextlib.suppress(OSError):
        for entry in os.listdir(directory):
            match = pattern.fullmatch(entry)
            if match and not _process_is_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    remove(os.path.join(directory, entry))


def _process_is_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists; True whenever that cannot be told."""
    if os.name != "posix":
        # On Windows os.kill(pid, 0) terminates the process instead of probing it.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: alive, another user's
        return True
    return True


def _copy_mode(source: str, target: str) -> None:
    """Give ``target`` the permission bits of ``source`` if ``source`` exists."""
    try:
        mode = stat.S_IMODE(os.stat(source).st_mode)
    except FileNotFoundError:
        return
    os.chmod(target, mode)


def missing_directories(path: str | os.PathLike) -> list[str]:
    """``path`` and its ancestors that do not exist yet, innermost first: what creating ``path`` would make
    (and what to take away again, once empty, when a run that made it leaves nothing)."""
    missing, path = [], os.path.abspath(os.fspath(path))
    while not os.path.exists(path) and os.path.dirname(path) != path:
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def _nearest_existing(path: str) -> str:
    """``path`` or its closest ancestor that exists."""
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _reason(error: OSError) -> str:
    """The OS's reason for ``error`` in lower case, e.g. 'permission denied'."""
    return (error.strerror or str(error)).lower()


def _fsync_directory(directory: str) -> None:
    """Make renames in ``directory`` durable; some platforms and filesystems cannot fsync a directory."""
    with contextlib.suppress(OSError):
        directory_handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_handle)
        finally:
            os.close(directory_handle)
