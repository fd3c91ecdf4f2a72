"""The errors jaxnn raises on purpose: :class:`JaxnnError` and a few subclasses by what went wrong.

Every error the library raises for bad input or a failed run is one of these, and
each is also the built-in exception a Python user would catch without knowing
jaxnn (``except ValueError`` keeps working): a :class:`ConfigError` is a
``ValueError``, an :class:`ArgumentTypeError` also a ``TypeError``, a
:class:`DataFileNotFoundError` also a ``FileNotFoundError``, and so on. Anything
else escaping the library is a bug; the command line reports the two apart (exit
status 2 for a ``JaxnnError``, 1 and "internal error" for anything else).

>>> import jaxnn
>>> try:
...     jaxnn.mlp([4, 0, 3])
... except ValueError as error:
...     isinstance(error, jaxnn.ConfigError)
True
"""

import contextlib
import contextvars
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any, NamedTuple

__all__ = [
    "AllRunsDiverged",
    "ArgumentTypeError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "ClusterError",
    "ConfigError",
    "DataError",
    "DataFileNotFoundError",
    "DataTypeError",
    "DataWarning",
    "Interrupted",
    "JaxnnError",
    "IndexOutOfRange",
    "LogError",
    "MissingExtraError",
    "OutOfMemory",
    "OutputError",
    "OutputExistsError",
    "OutputNotADirectoryError",
    "OutputPermissionError",
    "RankingNoiseWarning",
    "SetupError",
    "TrainingDiverged",
    "Word",
    "arg",
    "can_say",
    "has_word",
    "placeholder",
    "setting",
    "spoken_as",
    "warn",
]


class JaxnnError(Exception):
    """The base of every error jaxnn raises on purpose: bad input, or a run that could not finish."""


class ConfigError(JaxnnError, ValueError):
    """An argument, option or hyperparameter that is invalid, or that does not fit the others."""


class ArgumentTypeError(ConfigError, TypeError):
    """An argument of the wrong type (a ``TypeError`` as well as a :class:`ConfigError`)."""


class IndexOutOfRange(ConfigError, IndexError):
    """An index outside what it indexes, e.g. a sweep row that does not exist."""


class MissingExtraError(ConfigError, ImportError):
    """An optional dependency that is not installed; the message names the ``pip install`` that adds it."""


class SetupError(ConfigError, RuntimeError):
    """A call that comes too late or too early for the process, e.g. choosing CPU devices after JAX started."""


class DataError(JaxnnError, ValueError):
    """Data that cannot be used as given: shapes, non-finite values, labels, a malformed file."""


class DataTypeError(DataError, TypeError):
    """Data of the wrong type, e.g. a list where a :class:`jaxnn.Dataset` is expected."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file that does not exist."""


class DataWarning(UserWarning):
    """Data that was used with a change worth knowing: a column dropped (constant, an ID), a category column
    with thousands of levels, a category at prediction time that training never saw (encoded as all zeros)."""


class RankingNoiseWarning(UserWarning):
    """A rung of ASHA or Hyperband ranked configurations whose validation metrics differ by no more than the
    validation split's sampling noise: which of them went on was chance (see
    :func:`jaxnn.sweeps.schedulers.ranking_is_noise`)."""


def warn(message: str, category: type[Warning] = DataWarning) -> None:
    """Warn, attributed to the first caller outside jaxnn: the warning shows the user's line, however deep
    inside jaxnn it was raised."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame: FrameType | None
    frame, level = sys._getframe(1), 2  # stacklevel 2 is the caller of this function
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class CheckpointError(JaxnnError, ValueError):
    """A checkpoint or run directory that is damaged, of another format, or belongs to another run or model."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint file that does not exist."""


class ClusterError(JaxnnError, ConnectionError):
    """A cluster (Ray) that cannot be reached, or a shard that failed on it more often than it may be retried."""


class OutputError(JaxnnError, OSError):
    """An output path that cannot be written, or that would overwrite what jaxnn did not write."""


class OutputExistsError(OutputError, FileExistsError):
    """An output directory that holds files jaxnn did not write (never emptied)."""


class OutputNotADirectoryError(OutputError, NotADirectoryError):
    """An output directory that is a file, or inside one."""


class OutputPermissionError(OutputError, PermissionError):
    """An output path that this user may not write."""


class LogError(OutputError):
    """A run's log (TensorBoard, MLflow: :mod:`jaxnn.track`) that cannot be written.

    Raised before training when the log cannot be opened (an unwritable directory, an unreachable
    tracking server), and after a run whose log failed while it trained: the run itself finished,
    its checkpoints were written, and ``.result`` holds what ``fit`` or ``sweep`` would have returned.

    Attributes:
        result: the run's result (``None`` when the log was refused before training).
    """

    def __init__(self, message: str, result: object = None):
        self.result = result
        super().__init__(message)

    def __reduce__(self):
        return type(self), (str(self), self.result)


def output_error(error: OSError, message: str) -> OutputError:
    """``message`` as the :class:`OutputError` that matches the kind of ``error`` (permission, exists, ...)."""
    for builtin, kind in (
        (PermissionError, OutputPermissionError),
        (FileExistsError, OutputExistsError),
        (NotADirectoryError, OutputNotADirectoryError),
    ):
        if isinstance(error, builtin):
            return kind(message)
    return OutputError(message)


class TrainingDiverged(JaxnnError, RuntimeError):
    """A run produced a non-finite loss. ``.epoch`` is where; ``.result`` holds the last finite params."""

    def __init__(self, epoch: int | None, result: object, message: str | None = None):
        self.epoch = epoch
        self.result = result
        super().__init__(
            message
            or f"training diverged at epoch {epoch}: the loss became NaN or infinite. Lower the learning rate, "
            f"clip gradients (clip_norm=...), or pass on_divergence='return' to get the last finite parameters"
        )

    def __reduce__(self):  # picklable across processes despite the extra constructor arguments
        return type(self), (self.epoch, self.result, str(self))


class AllRunsDiverged(TrainingDiverged, ValueError):
    """Every run of a sweep diverged, so there is no best row. ``.result`` is the sweep's result (its table)."""

    def __init__(self, result: object, message: str):
        super().__init__(None, result, message)

    def __reduce__(self):
        return type(self), (self.result, str(self))


class OutOfMemory(JaxnnError, MemoryError):
    """A program that did not fit in the device's memory; the message says what to make smaller."""


class Interrupted(JaxnnError, KeyboardInterrupt):
    """A run stopped by Ctrl-C (SIGINT) or SIGTERM at a boundary between compiled calls.

    It is a ``KeyboardInterrupt`` too, so code that handles Ctrl-C keeps working.

    Attributes:
        checkpoint_dir: where the state so far is saved (``None`` when the run kept no checkpoint).
        signal_name: ``"SIGINT"`` or ``"SIGTERM"``.
    """

    def __init__(self, checkpoint_dir: str | None = None, signal_name: str = "SIGINT"):
        self.checkpoint_dir = checkpoint_dir
        self.signal_name = signal_name
        where = f"; the state so far is saved in {checkpoint_dir}" if checkpoint_dir else ""
        super().__init__(f"interrupted by {signal_name}{where}")

    def __reduce__(self):
        return type(self), (self.checkpoint_dir, self.signal_name)


# ---------------------------------------------------------------------------
# Naming arguments in messages: in Python words, or in the caller's (the command line's flags)


class Word(NamedTuple):
    """How a caller (the command line) names an argument: its flag, and how it spells some values.

    Attributes:
        flag: e.g. ``"--batch-size"``.
        values: value -> how to write it after the flag (``{None: "full"}``), or, where it starts
            with ``--``, the whole setting (``{False: "--no-stratify"}``).
    """

    flag: str
    values: Mapping[Any, str] = {}


_WORDS: contextvars.ContextVar[Mapping[str, Word] | None] = contextvars.ContextVar("jaxnn_words", default=None)


@contextlib.contextmanager
def spoken_as(words: Mapping[str, Word]) -> Iterator[None]:
    """Within the block, messages name the arguments of ``words`` as their caller does (e.g. by flag).

    The command line runs its commands inside ``spoken_as(FLAGS)``, so a library message says
    ``--batch-size (=0) must be >= 1`` where Python code is told ``` `batch_size` (=0) must be >= 1```.
    """
    token = _WORDS.set(words)
    try:
        yield
    finally:
        _WORDS.reset(token)


def arg(name: str) -> str:
    """How a message names the argument ``name``: ```name``` in backticks, or its caller's word for it."""
    word = (_WORDS.get() or {}).get(name)
    return f"`{name}`" if word is None else word.flag


def can_say(name: str) -> bool:
    """Whether a message may suggest the argument ``name`` to its caller: always in Python; on the command
    line only when it has a flag for it (a hint never names a flag that does not exist)."""
    words = _WORDS.get()
    return words is None or name in words


def has_word(name: str) -> bool:
    """Whether the caller (a command line) has its own word for the argument ``name`` (see :func:`spoken_as`)."""
    return name in (_WORDS.get() or {})


def setting(name: str, value: Any) -> str:
    """How a message writes "``name`` set to ``value``": ``name=value`` in Python, e.g. ``--batch-size full``
    for the command line."""
    word = (_WORDS.get() or {}).get(name)
    if word is None:
        return f"{name}={value!r}"
    spelled = _lookup(word.values, value)
    if spelled is not None and spelled.startswith("--"):
        return spelled
    return f"{word.flag} {spelled if spelled is not None else value}"


def _lookup(values: Mapping[Any, str], value: Any) -> str | None:
    try:
        return values.get(value)
    except TypeError:  # an unhashable value
        return None


class _Placeholder(str):
    def __repr__(self) -> str:
        return str(self)


def placeholder(text: str) -> Any:
    """A value written as it is in both vocabularies: ``setting("num_samples", placeholder("N"))`` gives
    ``num_samples=N`` or ``--samples N``."""
    return _Placeholder(text)
