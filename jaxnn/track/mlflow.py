"""MLflow: a parent run for the sweep, a child run per row, batched writes.

The ``mlflow`` extra. Any tracking URI works (a server, ``sqlite:///path.db``, ...). The parent
run carries the settings every row shares (as params), the tag ``jaxnn.fingerprint`` (what
makes the run the one it is), and, once the sweep finished, the best row's metrics and its
model file (``best.msgpack``, written with :func:`jaxnn.save`) as an artifact. Every row is a
child run named ``row-007`` with its hyperparameters as params, its curves and summary values
as metrics (per epoch: ``train/loss``, ``val/loss``, ``val/<metric>``; once: ``best/...``,
``test/...``, ``epochs_run``), and tags ``jaxnn.status`` (``ok``, ``diverged``, ``stopped_early``, ``pruned``),
``jaxnn.row``, ``jaxnn.config`` (and ``jaxnn.lineage`` under PBT). A diverged row's run ends
``FAILED``, every other ``FINISHED``. ``fit`` logs one run, without children.

A database store (``sqlite:///``, ``postgresql://``, ...) gets the children of a chunk of rows in one
transaction (:mod:`jaxnn.track.mlflow_sql`); any other store, through ``MlflowClient``'s ``log_batch``
(a few calls per row, never one per value).

Resuming: a sweep with the fingerprint of a parent already in the experiment continues that
parent: children that ended are kept, a child a crash left ``RUNNING`` is deleted and written
again, and a parent that finished is not finished twice (a fit, logged whole at its end, is
written again unless it finished). So a resumed run appends, never duplicates.
"""

import math
import os
import socket
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

from jaxnn import errors
from jaxnn.track import mlflow_sql
from jaxnn.track.base import Outcome, Row, RunInfo, Tracker

__all__ = ["MLflow"]

INSTALL = 'pip install -e ".[mlflow]"'
CONNECT_TIMEOUT_S = 5.0
_BATCH = 1000  # MLflow's most metrics per log_batch
_PARAMS = 100  # its most params (and tags) per log_batch
_RUN_STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


def _mlflow() -> Any:
    try:
        import mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param, RunTag
    except ImportError:
        raise errors.MissingExtraError(f"logging to MLflow needs the mlflow package: {INSTALL}") from None
    return mlflow, MlflowClient, Metric, Param, RunTag


class MLflow(Tracker):
    """Log a sweep (or a fit) to an MLflow experiment: a parent run, a child run per row.

    Args:
        tracking_uri: where MLflow keeps runs: a server (``http://host:5000``), a database
            (``sqlite:///runs/mlflow.db``), ...; None: MLflow's own default
            (``MLFLOW_TRACKING_URI``, else its local store).
        experiment: the experiment's name (created if it does not exist).
        artifact_location: where a new experiment keeps its artifacts; None: MLflow's default,
            except for a ``sqlite:///`` database, whose artifacts go to ``mlartifacts/`` next to it
            (MLflow's default is a folder in the current directory).

    ``start`` (before training) raises :class:`jaxnn.errors.MissingExtraError` when mlflow is not
    installed, and :class:`jaxnn.errors.LogError` when the tracking server cannot be reached, or
    the store or the experiment cannot be used (the message gives MLflow's reason).
    """

    def __init__(
        self, tracking_uri: str | None = None, experiment: str = "jaxnn", *, artifact_location: str | None = None
    ):
        for name, value in (("tracking_uri", tracking_uri), ("artifact_location", artifact_location)):
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise errors.ArgumentTypeError(f"MLflow's {name} must be a string, got {type(value).__name__}")
        if not isinstance(experiment, str) or not experiment:
            raise errors.ConfigError(f"MLflow's experiment must be a non-empty name, got {experiment!r}")
        self.tracking_uri = None if tracking_uri is None else os.fspath(tracking_uri)
        self.experiment = experiment
        self.artifact_location = artifact_location
        self._client: Any = None
        self._parent: Any = None
        self._children: dict[str, dict[str, float]] = {}  # row name -> its summary metrics, for rows logged

    def __repr__(self) -> str:
        return f"MLflow(tracking_uri={self.tracking_uri!r}, experiment={self.experiment!r})"

    def describe(self) -> str:
        return f"MLflow ({self._uri()}, experiment {self.experiment!r})"

    def how_to_look(self) -> str:
        uri = self._uri()
        if uri.startswith(("http://", "https://")):
            return f"open {uri} (experiment {self.experiment!r})"
        return f"mlflow ui --backend-store-uri {uri}"

    def _uri(self) -> str:
        if self.tracking_uri is not None:
            return self.tracking_uri
        mlflow, *_ = _mlflow()
        return mlflow.get_tracking_uri()

    # --- start ---------------------------------------------------------------------------

    def start(self, run: RunInfo) -> None:
        mlflow, MlflowClient, _, Param, _ = _mlflow()
        uri = self._uri()
        _check_reachable(uri)
        try:
            self._client = MlflowClient(tracking_uri=uri)
            experiment_id = self._experiment_id(uri)
            self._parent = self._find_parent(experiment_id, run.fingerprint)
            if self._parent is not None and run.kind == "fit" and self._parent.info.status != "FINISHED":
                self._client.delete_run(self._parent.info.run_id)  # a fit is logged whole at its end: start over
                self._parent = None
            if self._parent is None:
                tags = {"jaxnn.fingerprint": run.fingerprint, "jaxnn.kind": run.kind}
                self._parent = self._client.create_run(
                    experiment_id, run_name=f"{run.kind}-{run.fingerprint[:8]}", tags=tags
                )
                params = [Param(name, _param(value)) for name, value in run.settings.items()]
                self._log(self._parent.info.run_id, params=params)
            elif self._parent.info.status != "FINISHED":
                self._client.update_run(self._parent.info.run_id, status="RUNNING")
            self._children = self._existing_children(experiment_id) if run.kind == "sweep" else {}
        except errors.JaxnnError:
            raise
        except Exception as error:  # noqa: BLE001 - MLflow and its stores raise many kinds
            raise errors.LogError(f"cannot log to MLflow at {uri}: {_reason(error)}") from None
        self._run = run

    def _experiment_id(self, uri: str) -> str:
        experiment = self._client.get_experiment_by_name(self.experiment)
        if experiment is None:
            location = self.artifact_location or _default_artifacts(uri)
            return self._client.create_experiment(self.experiment, artifact_location=location)
        if experiment.lifecycle_stage == "deleted":
            raise errors.LogError(
                f"the MLflow experiment {self.experiment!r} at {uri} is deleted; restore it "
                "(mlflow experiments restore) or log to another experiment"
            )
        return experiment.experiment_id

    def _find_parent(self, experiment_id: str, fingerprint: str) -> Any:
        """The newest run of this fingerprint (not a child), or None."""
        found = self._client.search_runs(
            [experiment_id],
            filter_string=f"tags.`jaxnn.fingerprint` = '{fingerprint}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return found[0] if found else None

    def _existing_children(self, experiment_id: str) -> dict[str, dict[str, float]]:
        """The parent's children: row name -> latest metrics; those a crash left unfinished are deleted (and
        written again later)."""
        children: dict[str, dict[str, float]] = {}
        parent_id = self._parent.info.run_id
        token = None
        while True:
            page = self._client.search_runs(
                [experiment_id],
                filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
                max_results=1000,
                page_token=token,
            )
            for child in page:
                name = child.data.tags.get("jaxnn.row")
                if child.info.status in ("FINISHED", "FAILED") and name and name not in children:
                    children[name] = dict(child.data.metrics)
                else:
                    self._client.delete_run(child.info.run_id)
            token = page.token
            if not token:
                return children

    # --- rows and finish ---------------------------------------------------------------------

    def rows(self, rows: Sequence[Row]) -> None:
        _, _, _, Param, RunTag = _mlflow()
        children = []
        for row in rows:
            if row.name == ".":  # a fit: the run itself
                run_id = self._parent.info.run_id
                if self._parent.info.status == "FINISHED":
                    continue
                self._log(
                    run_id,
                    params=[Param(k, _param(v)) for k, v in row.hyperparameters.items()],
                    tags=[RunTag(k, v) for k, v in self._tags(row).items()],
                )
                self._log(run_id, metrics=self._metrics(row))
            elif row.name not in self._children:
                children.append(row)
        store = mlflow_sql.sql_store(self._client) if children else None
        if store is not None:  # a database: every new child in one transaction
            mlflow_sql.write_children(
                store,
                self._parent.info.experiment_id,
                self._parent.info.run_id,
                [self._child(row) for row in children],
                now=int(time.time() * 1000),
            )
            self._children |= {row.name: dict(row.metrics) for row in children}
            return
        for row in children:
            child = self._child(row)
            tags = {"mlflow.parentRunId": self._parent.info.run_id, **child.tags}
            run_id = self._client.create_run(self._parent.info.experiment_id, run_name=row.name, tags=tags).info.run_id
            self._log(
                run_id,
                metrics=self._metrics(row),
                params=[Param(name, value) for name, value in child.params.items()],
            )
            self._client.set_terminated(run_id, child.status)
            self._children[row.name] = dict(row.metrics)

    def _child(self, row: Row) -> mlflow_sql.ChildRun:
        """A sweep row as a child run: its tags, params (hyperparameters and ``config``), values and status."""
        params = {name: _param(value) for name, value in row.hyperparameters.items()}
        params |= {"config": row.tags["config"]} if "config" in row.tags else {}
        return mlflow_sql.ChildRun(
            name=row.name,
            tags=self._tags(row),
            params=params,
            metrics=_values(row),
            status="FAILED" if row.status == "diverged" else "FINISHED",
        )

    def finish(self, outcome: Outcome) -> None:
        parent_id = self._parent.info.run_id
        if self._parent.info.status == "FINISHED":  # finished before: the same run, logged whole
            return
        if (
            outcome.status == "finished"
            and outcome.model is not None
            and "jaxnn.best_row" not in self._parent.data.tags
        ):
            _, _, Metric, _, RunTag = _mlflow()
            # The tag goes with the metrics in one batch (both or neither): a resumed parent that has it is done.
            tags = [RunTag("jaxnn.best_row", outcome.best)] if self._run.kind == "sweep" else []
            best = self._children.get(outcome.best, {}) if outcome.best is not None else {}
            metrics = [
                Metric(key, value, int(time.time() * 1000), 0)
                for key, value in best.items()
                if "/" not in key or key.split("/", 1)[0] in ("best", "final", "test")
            ]
            self._log(parent_id, metrics=metrics, tags=tags)
            self._log_model(parent_id, outcome)
        self._client.set_terminated(parent_id, _RUN_STATUS[outcome.status])

    def _log_model(self, run_id: str, outcome: Outcome) -> None:
        """The best row's model file (:func:`jaxnn.save`) as an artifact of the run."""
        from jaxnn.checkpoint import save

        name = "model.msgpack" if self._run.kind == "fit" else "best.msgpack"
        with tempfile.TemporaryDirectory(prefix="jaxnn-mlflow-") as folder:
            path = os.path.join(folder, name)
            save(
                path,
                outcome.model,
                outcome.params,
                dataset=outcome.data,
                metadata={"row": outcome.best, "fingerprint": self._run.fingerprint},
            )
            self._client.log_artifact(run_id, path)

    # --- helpers -----------------------------------------------------------------------------

    def _tags(self, row: Row) -> dict[str, str]:
        tags = {"jaxnn.status": row.status} | ({"jaxnn.row": row.name} if row.name != "." else {})
        tags |= {f"jaxnn.{name}": value for name, value in row.tags.items()}
        return tags

    def _metrics(self, row: Row) -> list[Any]:
        """Every finite value of the row as MLflow metrics (:func:`_values`)."""
        _, _, Metric, _, _ = _mlflow()
        now = int(time.time() * 1000)
        return [Metric(key, value, now, step) for key, value, step in _values(row)]

    def _log(
        self, run_id: str, *, metrics: Sequence[Any] = (), params: Sequence[Any] = (), tags: Sequence[Any] = ()
    ) -> None:
        """``log_batch`` within MLflow's limits per call (1000 metrics, 100 params, 100 tags)."""
        metrics, params, tags = list(metrics), list(params), list(tags)
        while metrics or params or tags:
            take_params, take_tags = params[:_PARAMS], tags[:_PARAMS]
            take_metrics = metrics[: _BATCH - len(take_params) - len(take_tags)]
            self._client.log_batch(run_id, metrics=take_metrics, params=take_params, tags=take_tags)
            metrics, params, tags = metrics[len(take_metrics) :], params[len(take_params) :], tags[len(take_tags) :]


def _values(row: Row) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` of every finite value of the row: curves per epoch (step = epoch), summary values
    once (at their own step)."""
    values = [
        (tag, float(value), epoch)
        for tag, curve in row.curves.items()
        for epoch, value in enumerate(curve, start=1)
        if math.isfinite(value)
    ]
    values += [(tag, float(value), row.steps.get(tag, 0)) for tag, value in row.metrics.items()]
    return values


def _check_reachable(uri: str) -> None:
    """For a tracking server, that something listens at its address (MLflow itself would retry for minutes)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise errors.LogError(
            f"cannot reach the MLflow tracking server at {uri}: {error.strerror or error}; "
            "start it (mlflow server) or give another tracking_uri"
        ) from None


def _default_artifacts(uri: str) -> str | None:
    """Artifacts of a new experiment in a ``sqlite:///`` database: ``mlartifacts/`` beside the database."""
    if not uri.startswith("sqlite:///"):
        return None
    database = uri[len("sqlite:///") :]
    if not database or database == ":memory:":
        return None
    folder = os.path.join(os.path.dirname(os.path.abspath(database)), "mlartifacts")
    return "file://" + folder


def _param(value: Any) -> str:
    text = f"{value:.8g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def _reason(error: BaseException) -> str:
    """An exception's message on one line (MLflow's carry tracebacks and SQL)."""
    text = str(getattr(error, "message", None) or error).strip().splitlines()
    reason = text[0] if text else type(error).__name__
    return reason if len(reason) <= 300 else reason[:297] + "..."
