"""jaxnn.track: TensorBoard and MLflow logs of sweeps and fits, read back the way their own tools read them.

Event files are read with TensorBoard's own loader, MLflow runs with ``mlflow.search_runs`` and
``MlflowClient`` from a SQLite store in a temporary directory; what they hold is compared with the
sweep's own table and curves (what the log must say is what the result says).
"""

import json
import os
import socket
import sys

import numpy as np
import pytest

import jaxnn
from jaxnn import errors, track
from jaxnn.sweeps import rows as sweep_rows
from jaxnn.track import rows as track_rows

pytest.importorskip("tensorboard")

SPACE = {"learning_rate": [0.003, 0.03, 0.3, 1e4]}  # 1e4 diverges, 0.3 stops early
SWEEP = dict(
    space=SPACE,
    optimizer="sgd",
    momentum=0.9,
    seeds=2,
    num_epochs=6,
    batch_size=64,
    key=0,
    progress=False,
    max_parallel=2,
    num_chunks=2,
    early_stopping=jaxnn.EarlyStopping(patience=1),
    devices=1,  # chunks of 2 rows on any machine (on more devices a chunk is a multiple of their count)
)  # 4 chunks of 2 rows
FIT = dict(key=0, num_epochs=5, learning_rate=0.05, progress=False)
MODEL = [30, 8, 1]


@pytest.fixture(scope="module")
def model():
    return jaxnn.mlp(MODEL)


@pytest.fixture(scope="module")
def plain(cancer, model):
    """The sweep without a log: what every logged sweep must equal, and its log must say."""
    return jaxnn.sweep(model, cancer, **SWEEP)


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    """One SQLite tracking store for the module (creating one costs seconds); each test its own experiment."""
    pytest.importorskip("mlflow")
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture(scope="module")
def logged(cancer, model, tmp_path_factory, mlflow_uri):
    """The same sweep logged to TensorBoard and MLflow at once (one run, two logs)."""
    folder = tmp_path_factory.mktemp("logged")
    result = jaxnn.sweep(model, cancer, **SWEEP, log=[folder / "tb", track.MLflow(mlflow_uri, "sweeps")])
    return result, folder / "tb", mlflow_uri


# --- reading logs back ---------------------------------------------------------------------


def read_run(folder):
    """A TensorBoard run's scalars ``{tag: {step: value}}``, HParams session values, texts, and event files."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.plugins.hparams import plugin_data_pb2

    files = sorted(name for name in os.listdir(folder) if "tfevents" in name)
    scalars, hparams, texts, experiment = {}, {}, {}, None
    for name in files:
        for event in event_file_loader.LegacyEventFileLoader(os.path.join(folder, name)).Load():
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    if data.HasField("experiment"):
                        experiment = data.experiment
                    for key, v in data.session_start_info.hparams.items():
                        hparams[key] = getattr(v, v.WhichOneof("kind"))
                elif plugin == "text":
                    texts[value.tag] = value.tensor.string_val[0].decode()
                elif value.HasField("simple_value"):
                    steps = scalars.setdefault(value.tag, {})
                    assert event.step not in steps, f"{folder}: {value.tag} logged twice at step {event.step}"
                    steps[event.step] = value.simple_value
    return {"scalars": scalars, "hparams": hparams, "texts": texts, "experiment": experiment, "files": files}


def search_runs(uri, experiment="jaxnn"):
    """``mlflow.search_runs`` of ``experiment`` in the store at ``uri`` (a pandas frame, one run a row)."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=[experiment])
    finally:
        mlflow.set_tracking_uri(previous)


def row_number(result, i, num_seeds=2):
    return int(result.table["config"][i]) * num_seeds + int(result.table["seed"][i])


def assert_run_matches_row(run, result, i, metric="accuracy"):
    """A row's TensorBoard run against row ``i`` of the sweep's table and curves."""
    table = {name: column[i] for name, column in result.table.items()}
    epochs = int(table["epochs_run"])
    assert run["hparams"]["learning_rate"] == pytest.approx(float(table["learning_rate"]), rel=1e-12)
    assert run["hparams"]["seed"] == table["seed"]
    assert run["hparams"]["status"] == track.STATUS[table["status"]]
    for name, tag in (("train_loss", "train/loss"), ("val_loss", "val/loss"), ("val_metric", f"val/{metric}")):
        curve = result.curves[name][i, :epochs]
        finite = {e + 1: float(v) for e, v in enumerate(curve) if np.isfinite(v)}
        assert run["scalars"].get(tag, {}) == pytest.approx(finite, rel=1e-6), tag
    for column, tag in (
        ("best_val_loss", "best/val_loss"),
        ("test_metric", f"test/{metric}"),
        ("epochs_run", "epochs_run"),
        ("best_epoch", "best_epoch"),
    ):
        value = float(table[column])
        if np.isfinite(value):
            assert list(run["scalars"][tag].values()) == pytest.approx([value], rel=1e-6), tag
        else:
            assert tag not in run["scalars"]
    # Every other measure the table holds (val_<name>: the returned params', at the best epoch).
    measures = [name for name in result.table if name.startswith("val_")]
    assert {"val_roc_auc", "val_f1", "val_log_loss"} <= set(measures)
    for column in measures:
        value = float(table[column])
        if np.isfinite(value):
            assert run["scalars"][f"best/{column}"] == pytest.approx({int(table["best_epoch"]): value}, rel=1e-6)
        else:
            assert f"best/{column}" not in run["scalars"]


# --- what the logs hold ---------------------------------------------------------------------


def test_logging_changes_nothing_in_the_result(plain, logged):
    result, _, _ = logged
    for name in plain.table:
        np.testing.assert_array_equal(result.table[name], plain.table[name], err_msg=name)
    for name in plain.curves:
        np.testing.assert_array_equal(result.curves[name], plain.curves[name])


def test_tensorboard_holds_every_row_with_its_values_and_the_experiment(logged):
    result, logdir, _ = logged
    assert sorted(os.listdir(logdir)) == sorted(
        [
            track.tensorboard.MANIFEST,
            *[f for f in os.listdir(logdir) if "tfevents" in f],
            *[f"row-{n:03d}" for n in range(8)],
        ]
    )
    for i in range(len(result)):
        run = read_run(logdir / f"row-{row_number(result, i):03d}")
        assert len(run["files"]) == 1
        assert_run_matches_row(run, result, i)
    statuses = {track.STATUS[s] for s in result.table["status"]}
    assert statuses == {"ok", "stopped_early", "diverged"}
    root = read_run(logdir)
    hparams = {info.name: info for info in root["experiment"].hparam_infos}
    assert set(hparams) == {"learning_rate", "seed", "status"}
    assert (
        list(hparams["learning_rate"].domain_discrete.values) == [v for v in SPACE["learning_rate"]]
        or [v.number_value for v in hparams["learning_rate"].domain_discrete.values] == SPACE["learning_rate"]
    )
    metrics = [info.name.tag for info in root["experiment"].metric_infos]
    assert {"best/val_accuracy", "best/val_loss", "test/accuracy", "epochs_run"} <= set(metrics)
    assert {f"best/{name}" for name in result.table if name.startswith("val_")} <= set(metrics)  # and the others
    assert "| optimizer | sgd |" in root["texts"]["settings"] and "| momentum | 0.9 |" in root["texts"]["settings"]
    manifest = json.loads((logdir / track.tensorboard.MANIFEST).read_text())
    assert manifest["finished"] and sorted(manifest["complete"]) == [".", *[f"row-{n:03d}" for n in range(8)]]


def test_mlflow_has_a_parent_run_and_a_child_per_row_read_back_with_search_runs(logged):
    mlflow = pytest.importorskip("mlflow")
    result, _, uri = logged
    runs = search_runs(uri, "sweeps")
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1 and len(children) == len(result)
    parent = parents.iloc[0]
    assert parent["status"] == "FINISHED" and parent["params.optimizer"] == "sgd"
    assert parent["params.momentum"] == "0.9" and parent["params.num_epochs"] == "6"
    best = f"row-{row_number(result, 0):03d}"
    assert parent["tags.jaxnn.best_row"] == best
    assert parent["metrics.best/val_accuracy"] == pytest.approx(result.table["best_val_metric"][0])
    assert parent["metrics.best/val_roc_auc"] == pytest.approx(result.table["val_roc_auc"][0])
    client = mlflow.MlflowClient(uri)
    for i in range(len(result)):
        child = children[children["tags.mlflow.runName"] == f"row-{row_number(result, i):03d}"].iloc[0]
        assert child["tags.mlflow.parentRunId"] == parent["run_id"]
        assert float(child["params.learning_rate"]) == pytest.approx(result.table["learning_rate"][i])
        assert child["params.seed"] == str(result.table["seed"][i])
        status = track.STATUS[result.table["status"][i]]
        assert child["tags.jaxnn.status"] == status
        assert child["status"] == ("FAILED" if status == "diverged" else "FINISHED")
        history = client.get_metric_history(child["run_id"], "val/loss")
        epochs = int(result.table["epochs_run"][i])
        expected = {e + 1: v for e, v in enumerate(result.curves["val_loss"][i, :epochs]) if np.isfinite(v)}
        assert [m.step for m in history] == list(expected)  # once per epoch, epochs that ran only (finite values)
        np.testing.assert_allclose([m.value for m in history], list(expected.values()), rtol=1e-6)
    # The best configuration's model file, an artifact of the parent, holds the best row's parameters.
    path = client.download_artifacts(parent["run_id"], "best.msgpack")
    checkpoint = jaxnn.load(path)
    for saved, expected in zip(jax_leaves(checkpoint.params), jax_leaves(result.params(0)), strict=True):
        np.testing.assert_array_equal(saved, expected)


def test_mlflows_database_gets_the_runs_its_own_client_writes(cancer, model, logged, monkeypatch):
    """The children written in one transaction (a database store) equal those ``MlflowClient`` writes call by call:
    the same runs, statuses, params, tags, every metric's history and latest value."""
    mlflow = pytest.importorskip("mlflow")
    _, _, uri = logged
    monkeypatch.setattr(track.mlflow_sql, "sql_store", lambda client: None)  # MlflowClient's calls, as any store
    jaxnn.sweep(model, cancer, **SWEEP, log=track.MLflow(uri, "sweeps-client"))
    client = mlflow.MlflowClient(uri)

    def children(experiment):
        found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
        parent = next(run.info.run_id for run in found if "mlflow.parentRunId" not in run.data.tags)
        out = {}
        for run in found:
            if run.data.tags.get("mlflow.parentRunId") != parent:
                continue
            tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.parentRunId"}
            histories = {
                key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
                for key in run.data.metrics
            }
            info = (run.info.status, run.info.lifecycle_stage, run.info.user_id, run.info.run_name)
            assert run.info.artifact_uri.endswith(f"/{run.info.run_id}/artifacts") and run.info.end_time
            out[run.info.run_name] = (info, run.data.params, tags, run.data.metrics, histories)
        return out

    in_one_transaction, call_by_call = children("sweeps"), children("sweeps-client")
    assert len(in_one_transaction) == 8 and sum(len(c[4]) for c in in_one_transaction.values()) > 8 * 3
    assert in_one_transaction == call_by_call


def test_mlflows_database_gets_all_of_a_chunks_children_or_none(mlflow_uri):
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.MlflowClient(mlflow_uri)
    experiment = client.create_experiment("all-or-none")
    parent = client.create_run(experiment).info.run_id
    store = track.mlflow_sql.sql_store(client)
    assert store is not None  # a sqlite:/// store: the one-transaction path
    good = track.mlflow_sql.ChildRun("row-0", {"jaxnn.status": "ok"}, {"lr": "0.1"}, [("val/loss", 0.5, 1)], "FINISHED")
    twice = track.mlflow_sql.ChildRun("row-1", {}, {}, [("val/loss", 0.5, 1), ("val/loss", 0.5, 1)], "FINISHED")
    # The same value logged twice at one step breaks MLflow's key on its metrics: the transaction fails whole.
    with pytest.raises(mlflow.exceptions.MlflowException, match="UNIQUE constraint failed: metrics"):
        track.mlflow_sql.write_children(store, experiment, parent, [good, twice], now=1)
    assert [run.info.run_id for run in client.search_runs([experiment])] == [parent]  # row-0 is not there either
    track.mlflow_sql.write_children(store, experiment, parent, [good], now=1)
    (child,) = [run for run in client.search_runs([experiment]) if run.info.run_id != parent]
    assert child.info.run_name == "row-0" and child.data.tags["mlflow.parentRunId"] == parent
    assert child.data.params == {"lr": "0.1"} and child.data.metrics == {"val/loss": 0.5}


def jax_leaves(tree):
    import jax

    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_asha_rows_log_only_the_epochs_they_ran(cancer, model, tmp_path):
    space = {"learning_rate": list(np.geomspace(0.01, 0.3, 6))}
    result = jaxnn.sweep(
        model,
        cancer,
        space=space,
        optimizer="sgd",
        num_epochs=8,
        batch_size=64,
        key=0,
        progress=False,
        scheduler=jaxnn.ASHA(reduction_factor=2),
        log=tmp_path,
    )
    assert "pruned" in result.table["status"]
    for i in range(len(result)):
        run = read_run(tmp_path / f"row-{row_number(result, i, 1):03d}")
        epochs = int(result.table["epochs_run"][i])
        assert sorted(run["scalars"]["train/loss"]) == list(range(1, epochs + 1))
        assert run["hparams"]["status"] == track.STATUS[result.table["status"][i]]
        assert_run_matches_row(run, result, i)
    assert len(set(result.table["epochs_run"])) > 1


def test_pbt_rows_log_their_schedule_and_lineage(cancer, model, tmp_path):
    space = {"learning_rate": list(np.geomspace(0.01, 0.3, 4))}
    result = jaxnn.sweep(
        model,
        cancer,
        space=space,
        optimizer="sgd",
        num_epochs=6,
        batch_size=64,
        key=0,
        seeds=2,
        progress=False,
        scheduler=jaxnn.PBT(interval=2),
        log=tmp_path,
    )
    lineages = set()
    for i in range(len(result)):
        run = read_run(tmp_path / f"row-{row_number(result, i):03d}")
        schedule = result.schedule(i)
        chain = str(result.table["lineage"][i]).split(">")
        lineages.add(result.table["lineage"][i])
        # The learning rate the row trained with at every epoch, interval by interval, as its schedule says.
        rates = {}
        for k, (first, values) in enumerate(schedule):
            stop = schedule[k + 1][0] if k + 1 < len(schedule) else 6
            rates |= {epoch + 1: values.get("learning_rate", rates.get(first)) for epoch in range(first, stop)}
        assert run["scalars"]["pbt/learning_rate"] == pytest.approx(rates, rel=1e-6)
        # The row that trained each epoch: the configurations of the lineage column, in order, same seed.
        trained_by = [int(v) for _, v in sorted(run["scalars"]["pbt/trained_by_row"].items())]
        owners = [n // 2 for n in trained_by]
        assert [c for k, c in enumerate(owners) if k == 0 or c != owners[k - 1]] == [int(c) for c in chain]
        assert {n % 2 for n in trained_by} == {int(result.table["seed"][i])}
        assert run["hparams"]["lineage"] == result.table["lineage"][i]
        assert "| from epoch | trained by |" in run["texts"]["pbt/lineage"]
    assert any(">" in lineage for lineage in lineages)  # some rows did copy another


def test_a_fit_is_one_run_in_the_log_directory(cancer, model, tmp_path, mlflow_uri):
    log = lambda: [tmp_path, track.MLflow(mlflow_uri, "fit")]  # noqa: E731
    result = jaxnn.fit(model, cancer, **FIT, schedule="cosine_decay", log=log())
    again = jaxnn.fit(model, cancer, **FIT, schedule="cosine_decay", log=log())  # the same run: nothing new
    np.testing.assert_array_equal(again.history["train_loss"], result.history["train_loss"])
    runs = search_runs(mlflow_uri, "fit")
    assert len(runs) == 1  # one run, no children
    logged = runs.iloc[0]
    assert logged["status"] == "FINISHED" and logged["params.learning_rate"] == "0.05"
    assert logged["metrics.epochs_run"] == 5 and logged["metrics.best_epoch"] == result.best_epoch
    import mlflow

    artifacts = [a.path for a in mlflow.MlflowClient(mlflow_uri).list_artifacts(logged["run_id"])]
    assert artifacts == ["model.msgpack"]
    run = read_run(tmp_path)
    assert len(run["files"]) == 1
    assert run["hparams"]["learning_rate"] == 0.05 and run["hparams"]["status"] == "ok"
    for name, tag in (("train_loss", "train/loss"), ("val_metric", "val/accuracy"), ("learning_rate", "learning_rate")):
        expected = {e + 1: float(v) for e, v in enumerate(result.history[name])}
        assert run["scalars"][tag] == pytest.approx(expected, rel=1e-6)  # the decaying rate is logged
    assert run["scalars"]["best_epoch"] == {result.best_epoch: result.best_epoch}
    assert {info.name for info in run["experiment"].hparam_infos} >= {"learning_rate", "status"}


def test_a_constant_learning_rate_is_not_logged(logged):
    result, logdir, _ = logged
    assert "learning_rate" not in read_run(logdir / "row-000")["scalars"]


# --- resuming, interrupting, failing ---------------------------------------------------------


def interrupt_at(monkeypatch, module, name, call):
    """Make the ``call``-th call of ``module.name`` raise KeyboardInterrupt (as Ctrl-C would)."""
    real, calls = getattr(module, name), [0]

    def flaky(*args, **kwargs):
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return lambda: monkeypatch.setattr(module, name, real)


def test_an_interrupted_sweep_leaves_its_log_complete_and_a_resumed_one_appends_never_duplicates(
    cancer, model, plain, tmp_path, monkeypatch, mlflow_uri
):
    mlflow = pytest.importorskip("mlflow")
    uri, experiment = mlflow_uri, "resumed"
    options = SWEEP | {"checkpoint_dir": tmp_path / "state"}
    log = lambda: [tmp_path / "tb", track.MLflow(uri, experiment)]  # noqa: E731
    restore = interrupt_at(monkeypatch, sweep_rows, "run_rows", 5)  # in the third chunk (2 calls a chunk)
    with pytest.raises(KeyboardInterrupt):
        jaxnn.sweep(model, cancer, **options, log=log())
    restore()
    # Ctrl-C: the rows of the two finished chunks (configurations 0 and 1, two seeds each) are in both logs, whole.
    first = [f"row-{n:03d}" for n in range(4)]
    manifest = json.loads((tmp_path / "tb" / track.tensorboard.MANIFEST).read_text())
    assert sorted(manifest["complete"]) == [".", *first] and not manifest["finished"]
    runs = search_runs(uri, experiment)
    assert sorted(runs["tags.mlflow.runName"].dropna()) == sorted([*first, runs["tags.mlflow.runName"].iloc[-1]])
    assert (runs[runs["tags.mlflow.parentRunId"].isna()]["status"] == "KILLED").all()
    # A row file a crash cut short (not listed in the manifest) is replaced, never appended to.
    (tmp_path / "tb" / "row-005").mkdir()
    (tmp_path / "tb" / "row-005" / f"events.out.tfevents.1.host.1.0{track.tensorboard.SUFFIX}").write_bytes(b"\x00" * 7)

    result = jaxnn.sweep(model, cancer, **options, log=log())
    for i in range(len(result)):  # the resumed sweep's rows, each logged once (read_run refuses a repeated step)
        run = read_run(tmp_path / "tb" / f"row-{row_number(result, i):03d}")
        assert len(run["files"]) == 1
        assert_run_matches_row(run, plain, i)
    runs = search_runs(uri, experiment)
    assert len(runs) == 1 + len(result) and runs["tags.mlflow.runName"].is_unique
    parent = runs[runs["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert parent["status"] == "FINISHED"
    client = mlflow.MlflowClient(uri)
    for run_id in runs["run_id"]:
        steps = [m.step for m in client.get_metric_history(run_id, "train/loss")]
        assert len(steps) == len(set(steps))
    # The same sweep once more adds nothing to either log.
    jaxnn.sweep(model, cancer, **options, log=log())
    assert len(search_runs(uri, experiment)) == 1 + len(result)
    assert all(len(read_run(tmp_path / "tb" / f"row-{n:03d}")["files"]) == 1 for n in range(8))


class FailingTracker(track.Tracker):
    """A log whose writes fail (a full disk, a server gone) once training has started."""

    def __init__(self):
        self.calls = []

    def start(self, run):
        self.calls.append("start")

    def rows(self, rows):
        self.calls.append("rows")
        raise OSError(28, "No space left on device")

    def finish(self, outcome):
        self.calls.append(f"finish {outcome.status}")

    def describe(self):
        return "the failing log"


def test_a_failing_log_never_loses_the_sweeps_result(cancer, model, plain, tmp_path):
    failing = FailingTracker()
    with pytest.raises(
        errors.LogError,
        match=r"the sweep finished, but its log could not be written \(the failing "
        r"log: \[Errno 28\] No space left on device\); its result is",
    ) as caught:
        jaxnn.sweep(model, cancer, **SWEEP, checkpoint_dir=tmp_path / "state", log=[failing, tmp_path / "tb"])
    result = caught.value.result
    np.testing.assert_array_equal(result.table["best_val_loss"], plain.table["best_val_loss"])
    assert failing.calls == ["start", "rows"]  # never called again once it failed
    assert (tmp_path / "state" / "group0-chunk3.msgpack").exists()  # the checkpoints are written
    assert len(read_run(tmp_path / "tb" / "row-007")["files"]) == 1  # the other log is whole
    assert isinstance(caught.value, OSError)


# --- bad input, before training ----------------------------------------------------------------


@pytest.fixture
def never_trains(monkeypatch):
    """Training fails the test: the error must come before it."""

    def train(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(sweep_rows, "init_rows", train)
    monkeypatch.setattr(jaxnn.loop, "init_state_jit", train)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_mlflow_server_is_one_line_before_training(cancer, model, never_trains):
    pytest.importorskip("mlflow")
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        errors.LogError,
        match=rf"^cannot reach the MLflow tracking server at {uri}: Connection refused; "
        r"start it \(mlflow server\) or give another tracking_uri$",
    ):
        jaxnn.sweep(model, cancer, **SWEEP, log=track.MLflow(uri))
    with pytest.raises(errors.LogError, match="cannot reach the MLflow tracking server"):
        jaxnn.fit(model, cancer, **FIT, log=track.MLflow(uri))


def test_an_unusable_mlflow_store_is_one_line_before_training(cancer, model, tmp_path, never_trains):
    pytest.importorskip("mlflow")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(errors.LogError, match=r"^cannot log to MLflow at sqlite:///.*/file/mlflow.db: [^\n]+$"):
        jaxnn.sweep(model, cancer, **SWEEP, log=track.MLflow(f"sqlite:///{tmp_path}/file/mlflow.db"))


def test_an_unwritable_log_directory_is_one_line_before_training(cancer, model, tmp_path, never_trains):
    (tmp_path / "file").write_text("")
    with pytest.raises(
        errors.LogError, match=r"^cannot write the TensorBoard log directory '.*/file/tb': Not a directory$"
    ):
        jaxnn.sweep(model, cancer, **SWEEP, log=tmp_path / "file" / "tb")
    with pytest.raises(errors.LogError, match=r"log directory '.*/file' exists and is not a directory"):
        jaxnn.fit(model, cancer, **FIT, log=tmp_path / "file")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("")
    with pytest.raises(errors.LogError, match="is not empty and holds files jaxnn did not write"):
        jaxnn.sweep(model, cancer, **SWEEP, log=tmp_path / "theirs")


def test_another_runs_log_directory_is_refused_unless_replaced(cancer, model, logged, tmp_path):
    _, logdir, _ = logged
    other = tmp_path / "other"
    jaxnn.fit(model, cancer, **FIT, log=other)
    with pytest.raises(
        errors.LogError,
        match=r"holds the log of another run \(a fit with other arguments\); give each "
        r"run its own directory, or TensorBoard\(.*, replace=True\)",
    ):
        jaxnn.sweep(model, cancer, **SWEEP, log=other)
    (other / "notes.txt").write_text("kept")
    result = jaxnn.sweep(model, cancer, **SWEEP, log=track.TensorBoard(other, replace=True))
    assert not [name for name in os.listdir(other) if "tfevents" in name and name != read_run(other)["files"][0]]
    assert (other / "notes.txt").read_text() == "kept"
    assert len(read_run(other / "row-000")["files"]) == 1 and len(result) == 8


def not_installed(monkeypatch, package):
    """Imports of ``package`` fail from here on, as if it were not installed."""
    for name in [name for name in sys.modules if name == package or name.startswith(package + ".")] + [package]:
        monkeypatch.setitem(sys.modules, name, None)


def test_a_missing_extra_names_the_pip_install(cancer, model, monkeypatch, never_trains, tmp_path):
    not_installed(monkeypatch, "tensorboard")
    with pytest.raises(errors.MissingExtraError, match=r'tensorboard package: pip install -e "\.\[tracking\]"$'):
        jaxnn.sweep(model, cancer, **SWEEP, log=tmp_path / "never")
    not_installed(monkeypatch, "mlflow")
    with pytest.raises(errors.MissingExtraError, match=r'mlflow package: pip install -e "\.\[mlflow\]"$'):
        jaxnn.fit(model, cancer, **FIT, log=track.MLflow())
    assert not os.path.exists(tmp_path / "never")


@pytest.mark.parametrize(
    "log, message",
    [
        (
            3,
            r"`log` must be None, a directory path \(a TensorBoard log\), jaxnn.track.TensorBoard\(...\), "
            r"jaxnn.track.MLflow\(...\) or a list of them; got int",
        ),
        ([track.TensorBoard("x"), {"tb": "x"}], "or a list of them; got dict"),
    ],
)
def test_a_log_of_the_wrong_type_is_refused(cancer, model, log, message):
    with pytest.raises(errors.ArgumentTypeError, match=message):
        jaxnn.sweep(model, cancer, **SWEEP, log=log)


def test_tracker_arguments_are_checked():
    with pytest.raises(errors.ArgumentTypeError, match="TensorBoard's logdir must be a path, got int"):
        track.TensorBoard(3)
    with pytest.raises(errors.ConfigError, match="MLflow's experiment must be a non-empty name, got ''"):
        track.MLflow(experiment="")
    with pytest.raises(errors.ArgumentTypeError, match="MLflow's tracking_uri must be a string, got int"):
        track.MLflow(5)


# --- what the command line calls ---------------------------------------------------------------


def test_the_command_lines_log_choices(tmp_path):
    (tensorboard,) = track.from_option("tensorboard", out=tmp_path / "runs")
    assert tensorboard.logdir == str(tmp_path / "runs" / "tensorboard") and tensorboard.replace
    assert track.how_to_look([tensorboard]) == [f"tensorboard --logdir {tmp_path / 'runs' / 'tensorboard'}"]
    (mlflow,) = track.from_option("mlflow", out=tmp_path, tracking_uri="sqlite:///x.db")
    assert mlflow.how_to_look() == "mlflow ui --backend-store-uri sqlite:///x.db"
    assert track.from_option("none", out=tmp_path) == []
    with pytest.raises(errors.ConfigError, match="`log` must be one of tensorboard, mlflow, none, got 'wandb'"):
        track.from_option("wandb", out=tmp_path)


def test_row_names_are_stable_and_padded():
    assert track_rows.row_name(7, 16) == "row-007"
    assert track_rows.row_name(7, 1000) == "row-007" and track_rows.row_name(7, 1001) == "row-0007"
