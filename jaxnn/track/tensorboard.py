"""TensorBoard: one run per row, its curves as scalars, and HParams summaries for the whole sweep.

Written with TensorBoard's own record writer, event and summary protos and HParams summaries
(``tensorboard`` only, no TensorFlow): the ``tracking`` extra. A log directory holds one jaxnn run::

    LOGDIR/jaxnn-log.json                          what the directory holds (see below)
    LOGDIR/events.out.tfevents.*.jaxnn             the HParams experiment summary and the fixed settings
                                                   (a fit: the whole run)
    LOGDIR/row-007/events.out.tfevents.*.jaxnn     row 7: its hyperparameters (HParams session), its
                                                   curves per epoch, its best, final and test values

Every row is written whole, in one event file, once it is final (renamed into place: a server
watching the directory never reads half a row). ``jaxnn-log.json`` names the
run (its fingerprint) and the rows whose files are complete; it is rewritten atomically after
every batch of rows. A resumed run (the same fingerprint) skips complete rows and rewrites rows
whose file a crash cut short (files jaxnn did not list are removed first), so nothing is logged
twice; a run with another fingerprint is refused (or, with ``replace=True``, replaces jaxnn's
files).
"""

import contextlib
import io
import json
import math
import os
import shlex
import socket
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnn import errors
from jaxnn._io import atomic_write, missing_directories
from jaxnn.track.base import Outcome, Row, RunInfo, Tracker, summary_tags

__all__ = ["MANIFEST", "SUFFIX", "TensorBoard"]

MANIFEST = "jaxnn-log.json"
SUFFIX = ".jaxnn"
"""The end of the name of every event file jaxnn writes (TensorBoard reads any file named ``*tfevents*``)."""
_FORMAT = "jaxnn-tensorboard-log"
_HOST = socket.gethostname()
INSTALL = 'pip install -e ".[tracking]"'


def _tensorboard() -> Any:
    """TensorBoard's writer and protos, imported on first use (the ``tracking`` extra)."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import summary_v2 as hparams_api
        from tensorboard.plugins.text import metadata as text_metadata
        from tensorboard.summary.writer.record_writer import RecordWriter
        from tensorboard.util import tensor_util
    except ImportError:
        raise errors.MissingExtraError(f"logging to TensorBoard needs the tensorboard package: {INSTALL}") from None
    return event_pb2, summary_pb2, hparams_api, text_metadata, RecordWriter, tensor_util


class TensorBoard(Tracker):
    """Log a sweep (or a fit) to a TensorBoard log directory: ``tensorboard --logdir LOGDIR`` shows it.

    Each row of a sweep is a run named by its row number (``row-007``) with its curves per epoch
    (``train/loss``, ``val/loss``, ``val/<metric>``; ``learning_rate`` where a schedule or PBT
    changes it; an ASHA row only the epochs it ran), its best, final and test values
    (``best/val_<metric>``, ``epochs_run``, ...) and an HParams session with its
    hyperparameters, seed and status; the directory itself holds the HParams experiment
    summary, so the HParams dashboard lists every row with its values. A PBT row also logs
    its hyperparameters per epoch (``pbt/<name>``), the row that trained each epoch
    (``pbt/trained_by_row``) and its lineage as a text table. ``fit`` writes one run into the
    directory itself.

    Args:
        logdir: the log directory (created if needed). It holds one jaxnn run: another run's
            log there is refused unless ``replace``.
        replace: when ``logdir`` holds the log of another jaxnn run, remove jaxnn's files from
            it first (what the command line does for a new run).

    ``start`` (before training) raises :class:`jaxnn.errors.MissingExtraError` when tensorboard
    is not installed, and :class:`jaxnn.errors.LogError` when the directory cannot be written,
    holds files jaxnn did not write, or holds another run's log.
    """

    def __init__(self, logdir: str | os.PathLike, *, replace: bool = False):
        if not isinstance(logdir, (str, os.PathLike)):
            raise errors.ArgumentTypeError(f"TensorBoard's logdir must be a path, got {type(logdir).__name__}")
        self.logdir = os.fspath(logdir)
        self.replace = bool(replace)
        self._run: RunInfo | None = None
        self._complete: list[str] = []

    def __repr__(self) -> str:
        return f"TensorBoard({self.logdir!r}" + (", replace=True)" if self.replace else ")")

    def describe(self) -> str:
        return f"the TensorBoard log {self.logdir}"

    def how_to_look(self) -> str:
        return f"tensorboard --logdir {shlex.quote(self.logdir)}"

    # --- start ---------------------------------------------------------------------------

    def start(self, run: RunInfo) -> None:
        _tensorboard()
        self._created = missing_directories(self.logdir)  # what a run that logs nothing takes away again
        manifest = self._open_directory(run)
        self._run = run
        self._complete = list(manifest.get("complete", [])) if manifest.get("fingerprint") == run.fingerprint else []
        self._remove_incomplete()
        self._write_manifest(finished=False)
        if run.kind == "sweep" and "." not in self._complete:
            self._write_run(".", self._experiment_events(run))
            self._complete.append(".")
            self._write_manifest(finished=False)

    def _open_directory(self, run: RunInfo) -> dict[str, Any]:
        """The directory's manifest (``{}`` for a new directory), after checking the directory may hold this run."""
        if os.path.exists(self.logdir) and not os.path.isdir(self.logdir):
            raise errors.LogError(f"the TensorBoard log directory {self.logdir!r} exists and is not a directory")
        try:
            os.makedirs(self.logdir, exist_ok=True)
            entries = [name for name in os.listdir(self.logdir) if not name.startswith(".")]  # not temporaries
        except OSError as error:
            raise errors.LogError(
                f"cannot write the TensorBoard log directory {self.logdir!r}: {error.strerror or error}"
            ) from None
        manifest = self._read_manifest() if MANIFEST in entries else None
        if manifest is None:
            if entries:
                raise errors.LogError(
                    f"the TensorBoard log directory {self.logdir!r} is not empty and holds files "
                    "jaxnn did not write; give each run a new or empty directory"
                )
            return {}
        if manifest.get("fingerprint") != run.fingerprint:
            if not self.replace:
                raise errors.LogError(
                    f"the TensorBoard log directory {self.logdir!r} holds the log of another run "
                    f"(a {manifest.get('kind', 'run')} with other arguments); give each run its own directory, "
                    f"or TensorBoard({self.logdir!r}, replace=True) to replace it"
                )
            self._remove_files(lambda name: True)
        return manifest

    def _read_manifest(self) -> dict[str, Any]:
        path = os.path.join(self.logdir, MANIFEST)
        try:
            with open(path) as file:
                manifest = json.load(file)
        except (OSError, ValueError) as error:
            raise errors.LogError(
                f"{path} is not readable ({error}); remove {self.logdir} to start its log over"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise errors.LogError(f"{path} is not a jaxnn TensorBoard log manifest; give the run another directory")
        return manifest

    def _write_manifest(self, *, finished: bool) -> None:
        run = self._run
        assert run is not None, "start() sets the run before any manifest is written"
        document = {
            "format": _FORMAT,
            "version": 1,
            "kind": run.kind,
            "fingerprint": run.fingerprint,
            "complete": self._complete,
            "finished": finished,
        }
        try:
            atomic_write(os.path.join(self.logdir, MANIFEST), json.dumps(document, indent=1))
        except OSError as error:
            raise errors.LogError(f"cannot write the TensorBoard log in {self.logdir!r}: {error}") from None

    def _remove_incomplete(self) -> None:
        """Remove jaxnn's event files of runs the manifest does not list as complete (a crash cut them short)."""
        self._remove_files(lambda name: name not in self._complete)

    def _remove_files(self, which: Any) -> None:
        """Remove jaxnn's event files of the runs (``"."`` or a row's directory name) for which ``which`` is true."""
        for folder, _, _ in list(os.walk(self.logdir)):
            run = os.path.relpath(folder, self.logdir)
            if which(run):
                _remove_own_files(folder, remove_folder=run != ".")

    # --- rows and finish ---------------------------------------------------------------------

    def rows(self, rows: Sequence[Row]) -> None:
        written = False
        for row in rows:
            if row.name in self._complete:
                continue
            assert self._run is not None, "start() sets the run before any rows"
            events = self._experiment_events(self._run) if row.name == "." else []
            self._write_run(row.name, events + self._row_events(row))
            self._complete.append(row.name)
            written = True
        if written:
            self._write_manifest(finished=False)

    def finish(self, outcome: Outcome) -> None:
        if outcome.status == "failed" and set(self._complete) <= {"."}:  # failed before any row: leave nothing
            self._remove_files(lambda name: True)
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self.logdir, MANIFEST))
            for directory in self._created:  # innermost first, once empty
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
            return
        self._write_manifest(finished=outcome.status == "finished")

    def _write_run(self, name: str, events: list[Any]) -> None:
        """Write ``events`` as the one event file of run ``name`` (``"."``: the log directory itself).

        The file is framed by TensorBoard's own record writer (the layer under its ``EventFileWriter``,
        without the thread that one starts per file: 5 ms a row), built in memory, written under a
        temporary name TensorBoard does not read and renamed: a server watching the log never sees
        half a row.
        """
        event_pb2, _, _, _, RecordWriter, _ = _tensorboard()
        buffer = io.BytesIO()
        records = RecordWriter(buffer)
        now = time.time()
        for event in [event_pb2.Event(wall_time=now, file_version="brain.Event:2"), *events]:
            records.write(event.SerializeToString())
        folder = os.path.join(self.logdir, name)
        os.makedirs(folder, exist_ok=True)
        if name != ".":  # a row file a crash left unlisted: replaced, never appended to
            _remove_own_files(folder)
        temporary = os.path.join(folder, f".jaxnn-{os.getpid()}.tmp")
        with open(temporary, "wb") as file:
            file.write(buffer.getvalue())
        os.replace(
            temporary, os.path.join(folder, f"events.out.tfevents.{int(now):010d}.{_HOST}.{os.getpid()}{SUFFIX}")
        )

    # --- what the files hold ------------------------------------------------------------------

    def _experiment_events(self, run: RunInfo) -> list[Any]:
        """The HParams experiment summary (every hyperparameter with its domain, every metric) and the
        settings the rows share, as a text table."""
        event_pb2, summary_pb2, hp, _, _, _ = _tensorboard()
        names = dict(run.hyperparameters)
        names.setdefault("status", ["ok", "stopped_early", "diverged", "pruned"])
        if run.kind == "sweep" and "lineage" in names:
            names["lineage"] = None
        hparams = [hp.HParam(name, _domain(hp, domain)) for name, domain in names.items()]
        metrics = [
            hp.Metric(tag, display_name=tag.replace("/", " ").replace("_", " "))
            for tag in [*summary_tags(run.metric).values(), *(f"best/val_{name}" for name in run.measures)]
        ]
        experiment = hp.hparams_config_pb(hparams, metrics, time_created_secs=time.time())
        settings = "\n".join(
            ["| setting | value |", "|---|---|"]
            + [f"| {name} | {_cell(value)} |" for name, value in run.settings.items()]
        )
        text = _text(summary_pb2, "settings", settings)
        return [event_pb2.Event(wall_time=time.time(), step=0, summary=summary) for summary in (experiment, text)]

    def _row_events(self, row: Row) -> list[Any]:
        """A row's HParams session (its hyperparameters, seed and status), curves, summary values and lineage."""
        event_pb2, summary_pb2, hp, _, _, _ = _tensorboard()
        now = time.time()
        event = lambda step, summary: event_pb2.Event(wall_time=now, step=step, summary=summary)  # noqa: E731
        values = {name: value for name, value in row.hyperparameters.items() if value is not None}
        values["status"] = row.status
        if "lineage" in row.tags and row.schedule is not None:
            values["lineage"] = row.tags["lineage"]
        events = [event(0, hp.hparams_pb(values, trial_id=row.name if row.name != "." else "fit", start_time_secs=now))]
        curves = [(tag, curve.tolist()) for tag, curve in row.curves.items()]  # Python floats: the fast path
        for epoch in range(row.epochs_run):
            events.append(event_pb2.Event(wall_time=now, step=epoch + 1))
            add = events[-1].summary.value.add  # one event per epoch holds every curve's value
            for tag, series in curves:
                if epoch < len(series) and math.isfinite(series[epoch]):
                    add(tag=tag, simple_value=series[epoch])
        by_step: dict[int, list[tuple[str, float]]] = {}
        for tag, value in row.metrics.items():
            by_step.setdefault(row.steps.get(tag, 0), []).append((tag, value))
        for step, step_values in sorted(by_step.items()):
            events.append(event_pb2.Event(wall_time=now, step=step))
            for tag, value in step_values:
                events[-1].summary.value.add(tag=tag, simple_value=value)
        if row.schedule is not None:
            events.append(event(0, _text(summary_pb2, "pbt/lineage", _lineage_table(row))))
        return events


def _remove_own_files(folder: str, *, remove_folder: bool = False) -> None:
    """Remove jaxnn's event files (and temporaries) from ``folder``, and the folder if that empties it."""
    for name in os.listdir(folder):
        if ("tfevents" in name and name.endswith(SUFFIX)) or (name.startswith(".jaxnn-") and name.endswith(".tmp")):
            os.remove(os.path.join(folder, name))
    if remove_folder and not os.listdir(folder):
        os.rmdir(folder)


def _domain(hp: Any, domain: Any) -> Any:
    """TensorBoard's domain of a hyperparameter: discrete values (numbers as floats), an interval, or None."""
    if domain is None:
        return None
    if isinstance(domain, tuple) and len(domain) == 2 and all(isinstance(v, (int, float)) for v in domain):
        return hp.RealInterval(float(domain[0]), float(domain[1]))
    values = list(dict.fromkeys(domain))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return hp.Discrete([float(v) for v in values])
    if all(isinstance(v, str) for v in values):
        return hp.Discrete(values)
    if all(isinstance(v, bool) for v in values):
        return hp.Discrete(values)
    return None


def _text(summary_pb2: Any, tag: str, markdown: str) -> Any:
    """A text summary (Markdown) readable by TensorBoard's Text dashboard."""
    _, _, _, text_metadata, _, tensor_util = _tensorboard()
    return summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=tag,
                metadata=text_metadata.create_summary_metadata(display_name=tag, description=""),
                tensor=tensor_util.make_tensor_proto(np.array(markdown, dtype=object)),
            )
        ]
    )


def _lineage_table(row: Row) -> str:
    """A PBT row's lineage as Markdown: from which epoch which row trained it, with which hyperparameters."""
    lines = ["| from epoch | trained by | hyperparameters |", "|---|---|---|"]
    assert row.schedule is not None and row.parents is not None, "only PBT rows, which carry both, have a lineage"
    for (epoch, values), (_, parent) in zip(row.schedule, row.parents, strict=False):
        lines.append(f"| {epoch} | {parent} | {', '.join(f'{k}={_cell(v)}' for k, v in values.items())} |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value).replace("|", "\\|")
