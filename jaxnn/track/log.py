"""The log of one run: its trackers, fed in order by one background writer thread.

``fit`` and ``sweep`` open a :class:`Log` before training (:func:`open_log`: every tracker's
``start`` runs then, so a bad log is reported before any time is spent), hand it finished rows
after each chunk (:meth:`Log.rows` returns at once: the rows are written while the next chunk
trains), and close it at the end (:meth:`Log.close`, which waits for the rows handed so far).
Interrupted (Ctrl-C) or failed, the run still closes its log with the rows of every finished
chunk written.

A tracker that fails while the run trains is not called again; the run goes on, and
:meth:`Log.close` raises :class:`jaxnn.errors.LogError` with the run's result once it has
finished (its checkpoints are written by then), so a log never costs a result.
"""

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from jaxnn import errors
from jaxnn.track.base import Outcome, Row, RunInfo, Tracker
from jaxnn.track.mlflow import MLflow
from jaxnn.track.tensorboard import TensorBoard

__all__ = ["CHOICES", "Log", "from_option", "how_to_look", "logged", "open_log", "resolve"]

CHOICES = ("tensorboard", "mlflow", "none")
"""What the command line's ``--log`` takes."""


def resolve(log: Any) -> list[Tracker]:
    """The trackers ``log`` names: None -> none; a path -> :class:`TensorBoard`; a tracker; or a list of these.

    Raises:
        jaxnn.errors.ArgumentTypeError: anything else.
    """
    if log is None:
        return []
    if isinstance(log, (list, tuple)):
        return [tracker for item in log for tracker in resolve(item)]
    if isinstance(log, (str, os.PathLike)):
        return [TensorBoard(log)]
    if isinstance(log, Tracker):
        return [log]
    raise errors.ArgumentTypeError(
        f"{errors.arg('log')} must be None, a directory path (a TensorBoard log), jaxnn.track.TensorBoard(...), "
        f"jaxnn.track.MLflow(...) or a list of them; got {type(log).__name__}"
    )


def from_option(
    choice: str, *, out: str | os.PathLike, tracking_uri: str | None = None, experiment: str = "jaxnn"
) -> list[Tracker]:
    """The trackers of the command line's ``--log tensorboard|mlflow|none`` for a run writing to ``out``.

    ``tensorboard`` writes ``out/tensorboard`` (replacing the log of an earlier run there; a resumed
    run appends to its own), ``mlflow`` logs to ``tracking_uri`` (MLflow's default when None).
    """
    if choice == "tensorboard":
        return [TensorBoard(os.path.join(os.fspath(out), "tensorboard"), replace=True)]
    if choice == "mlflow":
        return [MLflow(tracking_uri, experiment)]
    if choice == "none":
        return []
    raise errors.ConfigError(f"{errors.arg('log')} must be one of {', '.join(CHOICES)}, got {choice!r}")


def how_to_look(trackers: Sequence[Tracker]) -> list[str]:
    """The commands that show the logs of ``trackers`` (e.g. ``tensorboard --logdir runs/sweep/tensorboard``)."""
    return [line for line in (tracker.how_to_look() for tracker in trackers) if line]


def open_log(log: Any, run: RunInfo) -> "Log":
    """Start every tracker ``log`` names for ``run`` (see :func:`resolve`), before training.

    Raises:
        jaxnn.errors.MissingExtraError, jaxnn.errors.LogError: a tracker cannot log.
    """
    trackers = resolve(log)
    import jax

    if jax.process_index() != 0:  # in a job of several processes, process 0 logs
        trackers = []
    for number, tracker in enumerate(trackers):
        try:
            tracker.start(run)
        except BaseException:
            for started in trackers[:number]:  # the logs opened so far end as failed (an MLflow run not left running)
                with contextlib.suppress(Exception):
                    started.finish(Outcome("failed"))
            raise
    return Log(trackers, run)


def logged(log: "Log | None", train: Callable[[], Any], outcome: Callable[[Any], Outcome]) -> Any:
    """``train()`` with its log closed after it: with ``outcome(result)`` once it returned (raising
    :class:`jaxnn.errors.LogError` with the result if the log failed), as interrupted or failed if it raised
    (the rows handed so far written first, the run's own exception then propagating)."""
    if log is None:
        return train()
    try:
        result = train()
    except BaseException as error:
        log.close(Outcome("interrupted" if isinstance(error, KeyboardInterrupt) else "failed"))
        raise
    log.close(outcome(result), result)
    return result


class Log:
    """The trackers of one run, fed by one writer thread (started with the first rows)."""

    def __init__(self, trackers: Sequence[Tracker], run: RunInfo):
        self.trackers = list(trackers)
        self.run = run
        self._pending: list[list[Row]] = []
        self._failures: dict[int, str] = {}  # tracker index -> why it failed
        self._busy = threading.Condition()
        self._writing = False

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def rows(self, rows: Sequence[Row]) -> None:
        """Write ``rows`` in the background (in order with earlier ones)."""
        if not self.trackers or not rows:
            return
        with self._busy:
            self._pending.append(list(rows))
            if not self._writing:
                self._writing = True
                threading.Thread(target=self._drain, name="jaxnn-log", daemon=True).start()

    def flush(self) -> None:
        """Wait until every row handed so far is written."""
        with self._busy:
            self._busy.wait_for(lambda: not self._writing)

    def _drain(self) -> None:
        while True:
            with self._busy:
                if not self._pending:
                    self._writing = False
                    self._busy.notify_all()
                    return
                rows = self._pending.pop(0)
            for index, tracker in enumerate(self.trackers):
                if index not in self._failures:
                    self._call(index, tracker.rows, rows)

    def _call(self, index: int, method: Any, *args: Any) -> None:
        try:
            method(*args)
        except Exception as error:  # noqa: BLE001 - any failure of a log is reported, never lost, never fatal
            self._failures[index] = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

    def close(self, outcome: Outcome, result: Any = None) -> None:
        """Write what waits, finish every tracker, and report failures.

        Raises:
            jaxnn.errors.LogError: a tracker failed (for a finished run, ``.result`` is ``result``). An
                interrupted or failed run raises nothing here: its own exception is the one to see.
        """
        self.flush()
        for index, tracker in enumerate(self.trackers):
            if index not in self._failures:
                self._call(index, tracker.finish, outcome)
        if self._failures and outcome.status == "finished":
            what = "; ".join(f"{self.trackers[i].describe()}: {why}" for i, why in sorted(self._failures.items()))
            raise errors.LogError(
                f"the {self.run.kind} finished, but its log could not be written ({what}); its result is this error's "
                "`.result`, and running it again with the same arguments (and checkpoint_dir) writes only what "
                "the log is missing",
                result,
            )
