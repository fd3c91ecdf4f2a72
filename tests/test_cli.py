"""The command line as users run it: end to end in a subprocess, and in-process for the many error paths."""

import csv
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
from flax import serialization

import jaxnn
from jaxnn import cli, errors
from jaxnn.cli import config as cli_config
from jaxnn.cli import options as cli_options
from jaxnn.cli import sweep as cli_sweep

ROOT = pathlib.Path(__file__).resolve().parents[1]


def jaxnn_cli(*args: str, cwd=None, timeout=300, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=env,
    )


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """``jaxnn ARGS`` in this process (the test process's JAX devices): (status, stdout, stderr)."""
    status = cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status: int, stderr: str, message: str) -> str:
    assert status == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and re.match(r"jaxnn: error: ", lines[0]), stderr
    assert message in lines[0], lines[0]
    return lines[0]


def snapshot(directory: pathlib.Path) -> dict[str, bytes]:
    """Every file under ``directory`` (by relative path) and its bytes."""
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()
    }


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer()


@pytest.fixture(scope="module")
def cancer_csv(cancer, tmp_path_factory):
    """Breast cancer as a CSV file with raw features and string class names."""
    path = tmp_path_factory.mktemp("data") / "cancer.csv"
    return write_csv(
        path,
        [*cancer.feature_names, "diagnosis"],
        [[*row, cancer.target_names[label]] for row, label in zip(cancer.data, cancer.target, strict=True)],
    )


@pytest.fixture(scope="module")
def trained_run(cancer_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    completed = jaxnn_cli(
        "train",
        "--csv",
        cancer_csv,
        "--target",
        "diagnosis",
        "--sizes",
        "16",
        "--epochs",
        "15",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "0.05",
        "--momentum",
        "0.9",
        "--no-progress",
        "--out",
        out,
    )
    assert completed.returncode == 0, completed.stderr
    return out, completed.stdout


def test_train_prints_metrics_and_writes_its_files(trained_run):
    out, stdout = trained_run
    assert "test accuracy" in stdout and "validation accuracy" in stdout
    accuracy = float(stdout.split("test accuracy")[1].split()[0])
    assert accuracy >= 0.9
    assert sorted(os.listdir(out)) == ["curves.png", "history.csv", "model.msgpack", "tensorboard"]  # --log's default
    assert stdout.splitlines()[-1] == f"to look: tensorboard --logdir {out / 'tensorboard'}"
    with open(out / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15 and set(rows[0]) == {"epoch", "train_loss", "val_loss", "val_metric", "learning_rate"}
    checkpoint = jaxnn.load(out / "model.msgpack")
    assert checkpoint.model.config["sizes"] == [30, 16, 1]
    assert checkpoint.dataset.class_names == ("benign", "malignant")
    assert checkpoint.metadata["metrics"]["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    umask = os.umask(0)
    os.umask(umask)
    for path in out.rglob("*"):  # the permissions a plain open() (or mkdir) gives, not 0600
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert stat.S_IMODE(os.stat(path).st_mode) == expected, path


def test_predict_round_trip_on_the_csv(trained_run, cancer_csv, capsys, tmp_path):
    out, _ = trained_run  # trained by a subprocess; predicted here (the command line in this process)
    predictions_path = tmp_path / "predictions.csv"
    status, _, err = run_cli(
        capsys, "predict", "--model", out / "model.msgpack", "--csv", cancer_csv, "--out", predictions_path
    )
    assert status == 0, err
    assert err.splitlines() == ["wrote 569 predictions to " + str(predictions_path)]  # the target: no note
    with open(predictions_path) as handle:
        predicted = [row["diagnosis"] for row in csv.DictReader(handle)]
    with open(cancer_csv) as handle:
        reader = csv.DictReader(handle)
        truth, features = [], []
        for row in reader:
            truth.append(row.pop("diagnosis"))
            features.append([float(v) for v in row.values()])
    assert len(predicted) == len(truth) == 569
    assert np.mean(np.array(predicted) == np.array(truth)) >= 0.9
    # The same as predicting in Python from the checkpoint, which returns the labels themselves.
    checkpoint = jaxnn.load(out / "model.msgpack")
    labels = jaxnn.predict(checkpoint.model, checkpoint.params, np.array(features), dataset=checkpoint.dataset)
    assert predicted == labels.tolist()
    status, proba, err = run_cli(capsys, "predict", "--model", out / "model.msgpack", "--csv", cancer_csv, "--proba")
    assert status == 0, err
    lines = proba.splitlines()
    assert lines[0] == "p(malignant)" and len(lines) == 570 and 0.0 <= float(lines[1]) <= 1.0
    # --out never replaces an input (here the data, by another spelling of its path): refused, the file intact.
    data = tmp_path / "data.csv"
    data.write_bytes(pathlib.Path(cancer_csv).read_bytes())
    for flag, target in (("--csv", tmp_path / "." / "data.csv"), ("--model", out / "model.msgpack")):
        before = pathlib.Path(target).read_bytes()
        assert_one_line_error(
            *run_cli(capsys, "predict", "--model", out / "model.msgpack", "--csv", data, "--out", target)[::2],
            f"--out {target} is the {flag} file: the predictions would replace it; choose another file",
        )
        assert pathlib.Path(target).read_bytes() == before


def test_evaluate_prints_every_metric_and_the_confusion_matrix(trained_run, cancer_csv, capsys, tmp_path):
    from sklearn.metrics import confusion_matrix

    out, _ = trained_run
    status, stdout, err = run_cli(
        capsys, "evaluate", "--model", out / "model.msgpack", "--csv", cancer_csv, "--out", tmp_path / "scores"
    )
    assert status == 0, err
    lines = stdout.splitlines()
    assert lines[0].endswith(f"on {cancer_csv}: 569 examples, binary classification, 2 classes (benign, malignant)")
    checkpoint = jaxnn.load(out / "model.msgpack")
    expected = jaxnn.evaluate(checkpoint.model, checkpoint.params, cancer_csv, dataset=checkpoint.info)
    printed = {line.split()[0]: float(line.split()[1]) for line in lines[1 : len(expected)]}
    assert printed == pytest.approx(
        {name: value for name, value in expected.items() if name != "num_examples"}, abs=1e-4
    )
    with open(cancer_csv) as handle:
        rows = list(csv.DictReader(handle))
    truth = [row.pop("diagnosis") for row in rows]
    predicted = jaxnn.predict(
        checkpoint.model,
        checkpoint.params,
        np.array([[float(v) for v in row.values()] for row in rows]),
        dataset=checkpoint.info,
    )
    counts = confusion_matrix(truth, predicted, labels=["benign", "malignant"])
    table = lines[lines.index("confusion matrix (rows: true class, columns: predicted class):") + 1 :][:3]
    assert table[0].split() == ["true", "\\", "predicted", "benign", "malignant"]
    assert [line.split() for line in table[1:]] == [
        ["benign", *map(str, counts[0])],
        ["malignant", *map(str, counts[1])],
    ]
    assert lines[-1] == f"wrote {tmp_path / 'scores' / 'metrics.json'}, {tmp_path / 'scores' / 'confusion_matrix.png'}"
    document = json.loads((tmp_path / "scores" / "metrics.json").read_text())
    assert document["metrics"]["num_examples"] == 569 and document["metrics"] == pytest.approx(expected)
    assert (tmp_path / "scores" / "confusion_matrix.png").stat().st_size > 1000


def test_evaluate_refuses_bad_input_in_one_line(trained_run, cancer, capsys, tmp_path):
    model = trained_run[0] / "model.msgpack"
    names = list(cancer.feature_names)
    renamed = write_csv(tmp_path / "renamed.csv", ["radius", *names[1:], "diagnosis"], [[*cancer.data[0], "benign"]])
    numbers = write_csv(tmp_path / "numbers.csv", [*names, "diagnosis"], [[*cancer.data[0], 0], [*cancer.data[1], 1]])
    cases = [
        (
            ["--csv", renamed, "--target", "severity"],
            f"{renamed}' has no target column 'severity'; its columns are radius",
        ),
        (
            ["--csv", renamed],
            "columns differ from the training data's: it has no column 'mean radius' that the model "
            "was trained on; its columns are radius, mean texture",
        ),
        (
            ["--csv", numbers],
            "the target column 'diagnosis' holds '0', '1' (at lines 2 and 3), not one of the model's "
            "classes (benign, malignant)",
        ),
        (
            ["--dataset", "iris"],
            "the columns of 'iris' differ from the training data's ('cancer'): it has no features 'mean radius'",
        ),
    ]
    # The first as users meet it, in a process of its own; the others in this one (the same code path).
    completed = jaxnn_cli("evaluate", "--model", model, *cases[0][0])
    assert_one_line_error(completed.returncode, completed.stderr, cases[0][1])
    assert completed.stdout == ""
    for arguments, message in cases[1:]:
        status, stdout, stderr = run_cli(capsys, "evaluate", "--model", model, *arguments)
        assert_one_line_error(status, stderr, message)
        assert stdout == ""
    status, _, stderr = run_cli(capsys, "evaluate", "--model", model, "--csv", numbers, "--split", "val")
    assert_one_line_error(
        status, stderr, "--split selects the rows of a built-in --dataset; a --csv file is scored whole"
    )


def test_evaluate_on_a_built_in_split_scores_the_rows_training_held_out(capsys, tmp_path):
    data = jaxnn.datasets.load("iris", seed=3)
    model = jaxnn.mlp([4, 8, 3])
    params = jaxnn.fit(model, data, num_epochs=5, key=0, progress=False).params
    jaxnn.save(tmp_path / "iris.msgpack", model, params, dataset=data, metadata={"seed": 3})
    status, stdout, stderr = run_cli(
        capsys,
        "evaluate",
        "--model",
        tmp_path / "iris.msgpack",
        "--dataset",
        "iris",
        "--split",
        "val",
        "--confusion-png",
        tmp_path / "matrix.png",
    )
    assert status == 0, stderr
    expected = jaxnn.evaluate(model, params, data, split="val")  # the seed comes from the checkpoint's metadata
    assert stdout.splitlines()[0].endswith(
        "on iris (val split, seed 3): 23 examples, multiclass classification, 3 classes (setosa, versicolor, virginica)"
    )
    assert f"accuracy  {expected['accuracy']:.4f}" in stdout and f"loss  {expected['loss']:.4f}" in stdout
    assert stdout.splitlines()[-1] == f"wrote {tmp_path / 'matrix.png'}" and (tmp_path / "matrix.png").exists()


def test_predict_matches_csv_columns_by_name(trained_run, cancer, capsys, tmp_path):
    model = trained_run[0] / "model.msgpack"
    names, rows = list(cancer.feature_names), cancer.data[:40]
    order = np.random.default_rng(0).permutation(len(names))
    reference = run_cli(capsys, "predict", "--model", model, "--csv", write_csv(tmp_path / "a.csv", names, rows))
    assert reference[0] == 0, reference[2]
    # The same columns in another order, plus a column the model never saw: the same labels, and a note.
    shuffled = write_csv(
        tmp_path / "b.csv", [*(names[i] for i in order), "patient"], [[*row[order], 7] for row in rows]
    )
    status, stdout, stderr = run_cli(capsys, "predict", "--model", model, "--csv", shuffled)
    assert status == 0 and stdout == reference[1]
    assert "note: ignoring 1 column(s) the model was not trained on: patient" in stderr
    # A renamed column is missing, by name.
    renamed = write_csv(tmp_path / "c.csv", ["radius", *names[1:]], rows)
    assert_one_line_error(
        *run_cli(capsys, "predict", "--model", model, "--csv", renamed)[::2],
        "has no column 'mean radius' that the model was trained on",
    )
    # Headerless input only with --no-header, in training order.
    headerless = write_csv(tmp_path / "d.csv", None, rows)
    status, stdout, _ = run_cli(capsys, "predict", "--model", model, "--csv", headerless, "--no-header")
    assert status == 0 and stdout == reference[1]
    status, _, stderr = run_cli(capsys, "predict", "--model", model, "--csv", headerless)  # its first row as names:
    warning, error = stderr.splitlines()  # said, then refused by name
    assert status == 2 and warning.startswith("jaxnn: warning: the first row of CSV file") and "all numbers" in warning
    assert error.startswith("jaxnn: error: ") and "has no column" in error


def test_predict_refuses_non_finite_features(trained_run, cancer, capsys, tmp_path):
    model = trained_run[0] / "model.msgpack"
    names = list(cancer.feature_names)
    rows = cancer.data[:5].astype(object)
    rows[3, 2] = "nan"
    bad_csv = write_csv(tmp_path / "nan.csv", names, rows)
    assert_one_line_error(
        *run_cli(capsys, "predict", "--model", model, "--csv", bad_csv)[::2],
        "line 5, column 'mean perimeter': 'nan' is not a finite number",
    )
    x = cancer.data[:5].copy()
    x[1, 4] = np.inf
    np.savez(tmp_path / "inf.npz", x=x)
    assert_one_line_error(
        *run_cli(capsys, "predict", "--model", model, "--npz", tmp_path / "inf.npz")[::2],
        "the first is inf at row 1, column 4 ('mean smoothness')",
    )


def test_a_failed_train_keeps_the_previous_run_whole(trained_run, cancer_csv, capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copytree(trained_run[0], out, dirs_exist_ok=True)
    before = snapshot(out)
    status, stdout, stderr = run_cli(
        capsys,
        "train",
        "--csv",
        cancer_csv,
        "--target",
        "diagnosis",
        "--sizes",
        "16",
        "--epochs",
        "3",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "1e30",
        "--no-progress",
        "--out",
        out,
    )
    assert_one_line_error(
        status, stderr, "training diverged at epoch 1: the loss became NaN or infinite; lower --learning-rate"
    )
    assert snapshot(out) == before  # the previous run's files and its TensorBoard log, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging directory left behind


def test_the_output_directory_is_checked_before_training(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    status, stdout, stderr = run_cli(capsys, "train", "--dataset", "iris", "--out", blocker / "run")
    assert_one_line_error(status, stderr, f"cannot write the output directory '{blocker / 'run'}'")
    assert "model:" not in stdout  # nothing trained
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    status, stdout, stderr = run_cli(capsys, "sweep", "--dataset", "iris", "--learning-rate", "0.1,0.2", "--out", mine)
    assert_one_line_error(status, stderr, "is not empty and holds files jaxnn did not write")
    assert "sweeping" not in stdout and (mine / "notes.txt").read_text() == "keep me"


def test_a_second_sweep_replaces_the_first_as_a_unit(capsys, tmp_path):
    out = tmp_path / "sweep"
    common = ["--dataset", "iris", "--sizes", "8", "--epochs", "2", "--no-progress", "--out", out]
    assert run_cli(capsys, "sweep", "--weight-decay", "0,1e-3", "--seeds", "2", *common)[0] == 0
    assert {"metric_vs_weight_decay.png", "configs.csv"} <= set(os.listdir(out))
    first_table = (out / "sweep.csv").read_bytes()
    again = ["sweep", "--weight-decay", "0,1e-3", "--seeds", "2", *common[:-1], tmp_path / "again"]
    assert run_cli(capsys, *again)[0] == 0
    assert (tmp_path / "again" / "sweep.csv").read_bytes() == first_table  # the same command repeats bit for bit
    # An evaluation written into the run's directory is jaxnn's too: the next run replaces it with the rest.
    assert run_cli(capsys, "evaluate", "--model", out / "best.msgpack", "--dataset", "iris", "--out", out)[0] == 0
    assert {"metrics.json", "confusion_matrix.png"} <= set(os.listdir(out))
    assert run_cli(capsys, "sweep", "--learning-rate", "0.01,0.1", *common)[0] == 0
    assert sorted(os.listdir(out)) == [
        "best.msgpack",
        "curves.png",
        "metric_vs_learning_rate.png",
        "sweep.csv",
        "sweep.json",
        "tensorboard",
    ]


def test_a_sweep_where_every_run_diverged_fails_and_writes_no_best_model(capsys, tmp_path):
    out = tmp_path / "sweep"
    status, stdout, stderr = run_cli(
        capsys,
        "sweep",
        "--dataset",
        "iris",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "1e30,1e31",
        "--epochs",
        "2",
        "--no-progress",
        "--out",
        out,
    )
    assert_one_line_error(status, stderr, "all 2 runs diverged (NaN or infinite loss), so there is no best model")
    assert "best.msgpack" not in os.listdir(out)
    with open(out / "sweep.csv") as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["diverged", "diverged"]


def test_regression_on_whole_number_targets_needs_task_and_says_so_in_cli_words(capsys, tmp_path):
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    path = write_csv(
        tmp_path / "diabetes.csv",
        [*bunch.feature_names, "progression"],
        [[*row, int(target)] for row, target in zip(bunch.data, bunch.target, strict=True)],
    )
    common = ["--csv", path, "--target", "progression", "--epochs", "2", "--no-progress"]
    line = assert_one_line_error(*run_cli(capsys, "train", *common, "--out", tmp_path / "a")[::2], "--task regression")
    assert "task=" not in line
    status, stdout, stderr = run_cli(
        capsys, "train", *common, "--task", "regression", "--metric", "mean_squared_error", "--out", tmp_path / "b"
    )
    assert status == 0, stderr
    assert "regression" in stdout and "test mean squared error" in stdout
    status, stdout, stderr = run_cli(capsys, "predict", "--model", tmp_path / "b" / "model.msgpack", "--csv", path)
    assert status == 0 and stdout.splitlines()[0] == "progression" and len(stdout.splitlines()) == len(bunch.data) + 1
    assert_one_line_error(
        *run_cli(capsys, "predict", "--model", tmp_path / "b" / "model.msgpack", "--csv", path, "--proba")[::2],
        "--proba gives class probabilities, but this is a regression task",
    )


def test_scheduled_sweeps_from_the_command_line(capsys, tmp_path):
    common = [
        "--dataset",
        "iris",
        "--sizes",
        "8",
        "--epochs",
        "6",
        "--no-progress",
        "--learning-rate",
        "1e-3:3e-1:log:6",
    ]
    status, out, err = run_cli(
        capsys, "sweep", *common, "--scheduler", "asha", "--min-epochs", "2", "--out", tmp_path / "asha"
    )
    assert status == 0, err
    with open(tmp_path / "asha" / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(row["epochs_run"]) for row in rows) == [2, 2, 2, 2, 6, 6]  # rungs (2, 6): the best 2 of 6 go on
    assert {row["status"] for row in rows} == {"pruned", "completed"} and "| epochs_run | rung |" in out
    status, out, err = run_cli(
        capsys,
        "sweep",
        *common,
        "--scheduler",
        "hyperband",
        "--min-epochs",
        "2",
        "--reduction-factor",
        "3",
        "--brackets",
        "2",
        "--out",
        tmp_path / "hyperband",
    )
    assert status == 0, err
    with open(tmp_path / "hyperband" / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    by_bracket = {b: sorted(int(row["epochs_run"]) for row in rows if row["bracket"] == b) for b in ("0", "1")}
    assert by_bracket == {"0": [2, 2, 2, 6], "1": [6, 6]}  # rungs (2, 6); 4 and 2 configurations
    assert "| epochs_run | bracket | rung |" in out
    status, out, err = run_cli(
        capsys,
        "sweep",
        *common,
        "--scheduler",
        "pbt",
        "--pbt-interval",
        "2",
        "--pbt-perturb",
        "0.5,2",
        "--out",
        tmp_path / "pbt",
    )
    assert status == 0, err
    best = jaxnn.load(tmp_path / "pbt" / "best.msgpack")
    schedule = best.metadata["hyperparameter_schedule"]
    assert [epoch for epoch, _ in schedule] == [0, 2, 4]
    assert best.metadata["row"]["learning_rate"] == pytest.approx(schedule[-1][1]["learning_rate"])
    for args, message in [
        (["--min-epochs", "2"], "--min-epochs has no effect without --scheduler asha"),
        (["--scheduler", "asha", "--pbt-interval", "2"], "--pbt-interval has no effect without --scheduler pbt"),
        (["--scheduler", "asha", "--brackets", "2"], "--brackets has no effect without --scheduler hyperband"),
        (
            ["--scheduler", "pbt", "--min-epochs", "2"],
            "--min-epochs has no effect without --scheduler asha or hyperband",
        ),
        (
            ["--scheduler", "hyperband", "--brackets", "4"],
            "--brackets (=4) is more than --epochs (=6) can hold: with --min-epochs (=1) and --reduction-factor (=3) there "
            "are 3 rungs (1, 3, 6 epochs)",
        ),
        (["--scheduler", "hyperband", "--min-epochs", "6"], "--min-epochs (=6) must be less than --epochs (=6)"),
        (["--scheduler", "hyperband", "--val-fraction", "0"], "Hyperband ranks rows by their validation metric"),
        (["--scheduler", "asha", "--reduction-factor", "1"], "--reduction-factor must be a number > 1"),
        (["--scheduler", "pbt", "--pbt-fraction", "0.9"], "--pbt-fraction must be in (0, 0.5]"),
        (["--scheduler", "pbt", "--pbt-perturb", "a,b"], "expected factors such as 0.8,1.25"),
        (["--scheduler", "asha", "--val-fraction", "0"], "no validation split"),
        (["--scheduler", "asha", "--min-epochs", "6"], "--min-epochs (=6) must be less than --epochs (=6)"),
        (["--scheduler", "pbt", "--pbt-interval", "6"], "--pbt-interval (=6) must be shorter than --epochs (=6)"),
    ]:
        assert_one_line_error(*run_cli(capsys, "sweep", *common, *args, "--out", tmp_path / "bad")[::2], message)
    assert not (tmp_path / "bad").exists()


def test_bad_input_fails_cleanly_in_cli_words_and_keeps_earlier_results(trained_run, cancer_csv, capsys, tmp_path):
    out, _ = trained_run
    model_path = out / "model.msgpack"
    before = snapshot(out)
    bad_csv = write_csv(tmp_path / "bad.csv", ["a", "b", "diagnosis"], [[1, 2, "x"], [3, "oops", "y"]])
    no_target = write_csv(tmp_path / "no_target.csv", ["a", "b"], [[1, 2], [3, 4]])
    (tmp_path / "truncated.msgpack").write_bytes(model_path.read_bytes()[:300])
    (tmp_path / "corrupted.msgpack").write_bytes(b"\x00" * 64)
    state = serialization.msgpack_restore(model_path.read_bytes())
    (tmp_path / "future.msgpack").write_bytes(serialization.msgpack_serialize(state | {"version": 3}))
    raw = bytearray(model_path.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # inside the params
    (tmp_path / "flipped.msgpack").write_bytes(bytes(raw))
    cases = [
        (["train", "--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
        (["train", "--optimizer", "adamm"], "argument --optimizer: invalid choice: 'adamm'"),
        (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["sweep", "--learning-rate", "1e-4:1e-1:logg:8"], "malformed range '1e-4:1e-1:logg:8'"),
        (["sweep", "--learning-rate", "0.1,fast"], "'fast' is not a number"),
        (["sweep", "--learning-rate", "1e-1:1e-4:log:3"], "needs LOW <= HIGH"),
        (["sweep", "--learning-rate", "1e-3:1e-1:log", "--dataset", "iris"], "pass --samples N for random search"),
        (["train", "--csv", tmp_path / "missing.csv", "--target", "y"], "missing.csv"),
        (["train", "--csv", no_target, "--target", "diagnosis", "--out", out], "target column 'diagnosis'"),
        (["train", "--csv", bad_csv, "--target", "diagnosis", "--out", out], "'oops'"),
        (
            ["train", "--dataset", "iris", "--batch-size", "5000"],
            "use --batch-size full for full-batch gradient descent",
        ),
        (
            ["train", "--dataset", "iris", "--learning-rate", "inf"],
            "--learning-rate (=inf) must be a finite number > 0",
        ),
        (["train", "--learning-rate", "0"], "--learning-rate (=0) must be > 0"),
        (["sweep", "--learning-rate", "0,0.1"], "--learning-rate (=0) must be > 0"),
        (
            ["train", "--momentum", "0.9"],
            "--momentum has no effect with --optimizer adam; it is used only by --optimizer sgd or --optimizer rmsprop",
        ),
        (["train", "--optimizer", "sgd", "--b1", "0.8"], "--b1 has no effect with --optimizer sgd"),
        (["train", "--nesterov"], "--nesterov has no effect with --optimizer adam"),
        (["train", "--optimizer", "sgd", "--nesterov"], "--nesterov has no effect without momentum (--momentum is 0"),
        (["train", "--final-fraction", "0.1"], "--final-fraction has no effect with --schedule constant"),
        (["train", "--warmup-steps", "10"], "--warmup-steps has no effect with --schedule constant"),
        (["train", "--task", "regression"], "--task is for --csv or --npz data"),
        (["train", "--csv", cancer_csv, "--target", "diagnosis", "--dataset", "iris"], "not --csv and --dataset"),
        (
            ["train", "--dataset", "iris", "--channels", "16"],
            "--channels describe a convolutional network, but the data has flat",
        ),
        (
            ["train", "--dataset", "iris", "--batch-size", "0"],
            "argument --batch-size: expected a positive integer or 'full'",
        ),
        (
            ["sweep", "--dataset", "iris", "--learning-rate", "1e-5:1e-1:log", "--samples", "100000000"],
            "rows (100,000,000 configurations x 1 seeds)",
        ),
        (
            ["train", "--csv", cancer_csv, "--npz", cancer_csv, "--target", "diagnosis"],
            "give one of --csv, --npz and --dataset, not --csv and --npz",
        ),
        (["train", "--npz", cancer_csv, "--target", "y"], "--target is for --csv data; --npz"),
        (
            ["train", "--csv", cancer_csv, "--target", "diagnosis", "--images"],
            "--images is for the built-in --dataset digits",
        ),
        (["train", "--dataset", "iris", "--patience", "2", "--val-fraction", "0"], "has none (--val-fraction 0)"),
        (
            ["predict", "--model", tmp_path / "truncated.msgpack", "--csv", cancer_csv],
            "not a readable jaxnn checkpoint",
        ),
        (["predict", "--model", tmp_path / "corrupted.msgpack", "--csv", cancer_csv], "jaxnn checkpoint"),
        (
            ["predict", "--model", tmp_path / "future.msgpack", "--csv", cancer_csv],
            "format version 3; this jaxnn reads versions 1 and 2",
        ),
        (
            ["predict", "--model", tmp_path / "flipped.msgpack", "--csv", cancer_csv],
            "its checksum does not match its contents",
        ),
        (["predict", "--model", model_path, "--npz", cancer_csv], "is not a NumPy .npz archive"),
        (
            ["predict", "--model", model_path, "--csv", cancer_csv, "--key", "features"],
            "--key names an array of an --npz file",
        ),
        (["predict", "--model", tmp_path / "nope.msgpack", "--csv", cancer_csv], "no such file"),
    ]
    for args, message in cases:
        line = assert_one_line_error(*run_cli(capsys, *args)[::2], message)
        # The command line's own words: no Python keyword spellings, no backticked argument names.
        assert not re.search(r"\b[a-z_]+=(None|True|False|'|\"|\d)|`\w+`|allow_pickle", line), line
    assert snapshot(out) == before


def test_library_messages_name_flags_on_the_command_line_and_keywords_in_python():
    def messages():
        return (
            f"use {errors.setting('batch_size', None)}",
            f"pass {errors.setting('task', 'regression')}",
            f"{errors.arg('weight_decay')} (=-1)",
            f"pass {errors.setting('num_samples', errors.placeholder('N'))}",
            f"or {errors.setting('stratify', False)}",
            f"{errors.arg('other')}",
        )

    assert messages() == (
        "use batch_size=None",
        "pass task='regression'",
        "`weight_decay` (=-1)",
        "pass num_samples=N",
        "or stratify=False",
        "`other`",
    )
    with errors.spoken_as(cli_options.FLAGS):
        assert messages() == (
            "use --batch-size full",
            "pass --task regression",
            "--weight-decay (=-1)",
            "pass --samples N",
            "or --no-stratify",
            "`other`",
        )
    assert messages()[0] == "use batch_size=None"  # only inside the block


def test_seeds_alone_repeat_one_configuration_and_nothing_else_is_refused(capsys):
    parser = cli.build_parser()
    args = cli_config.parse_arguments(parser, ["sweep", "--seeds", "3", "--learning-rate", "0.05", "--momentum", "0.9"])
    assert cli_sweep.space_of(args) == ({"learning_rate": [0.05]}, {"momentum": 0.9})  # a one-row table, 3 seeds
    args = cli_config.parse_arguments(parser, ["sweep", "--seeds", "2"])
    assert cli_sweep.space_of(args) == ({"learning_rate": [jaxnn.Hyperparams().learning_rate]}, {})
    status, _, stderr = run_cli(capsys, "sweep", "--learning-rate", "0.05")
    assert_one_line_error(status, stderr, "nothing to sweep: give a range such as --learning-rate 1e-4:1e-1:log:8")
    assert "--seeds N to repeat one configuration" in stderr


def test_sweep_files_use_the_command_line_option_names(tmp_path):
    parser = cli.build_parser()
    example = [line[4:] for line in cli_config.EXAMPLE.splitlines() if line.startswith("    ")]  # the indented file
    (tmp_path / "sweep.toml").write_text("\n".join(example))
    args = cli_config.parse_arguments(parser, ["sweep", "--config", str(tmp_path / "sweep.toml"), "--seeds", "3"])
    assert (args.dataset, args.sizes, args.epochs, args.batch_size, args.samples, args.patience) == (
        "digits",
        [[64, 64]],
        30,
        64,
        16,
        5,
    )
    assert args.seeds == 3  # the command line wins over the file
    assert (args.learning_rate, args.weight_decay, args.out) == ("1e-4:1e-1:log", "0.0,0.0001", "runs/digits-sweep")
    assert args.program_space == {"optimizer": ["adam", "adamw"]}
    space, fixed = cli_sweep.space_of(args)
    assert space["learning_rate"] == jaxnn.loguniform(1e-4, 1e-1) and space["weight_decay"] == [0.0, 1e-4] and not fixed
    assert "sizes" not in space  # one --sizes: the model's
    (tmp_path / "sizes.toml").write_text("[space]\nsizes = [[8], [16, 8]]\nlearning-rate = [0.1]")
    args = cli_config.parse_arguments(parser, ["sweep", "--config", str(tmp_path / "sizes.toml")])
    assert cli_sweep.space_of(args)[0]["sizes"] == [(8,), (16, 8)]
    args = cli_config.parse_arguments(parser, ["sweep", "--config", str(tmp_path / "sizes.toml"), "--sizes", "4"])
    assert args.sizes == [[4]]  # the command line's --sizes replace the file's
    bad = [
        ("num_epochs = 3", "unknown option 'num_epochs' (did you mean 'epochs'?)"),
        ("epochs = 0", "argument --epochs: expected a positive integer, got '0'"),
        ("nesterov = 1", "'nesterov' is a switch: write nesterov = true or false"),
        (
            "[space]\nsizes = [8, 16]",
            "[space] sizes is a list of hidden layer widths lists, such as [[32], [64], [128, 64]], got [8, 16]",
        ),
        ("[space]\noptimizer = ['sgd', 'adamm']", "[space] optimizer: invalid choice 'adamm'"),
        ("epochs = ", "is not a readable TOML file"),
    ]
    for text, message in bad:
        (tmp_path / "bad.toml").write_text(text)
        with pytest.raises(cli_options.UsageError, match=re.escape(message)):
            cli_config.parse_arguments(parser, ["sweep", "--config", str(tmp_path / "bad.toml")])


def test_sweep_end_to_end(capsys, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('optimizer = "sgd"\nepochs = 5\n[space]\nmomentum = [0.0, 0.9]\n')
    # Without XLA_FLAGS (which the suite may set to test other device counts), a sweep uses every core.
    env = {name: value for name, value in os.environ.items() if name != "XLA_FLAGS"}
    completed = jaxnn_cli(
        "sweep",
        "--dataset",
        "iris",
        "--learning-rate",
        "1e-2:1e-1:log:3",
        "--config",
        config,
        "--seeds",
        "2",
        "--sizes",
        "8",
        "--seed",
        "3",
        "--val-fraction",
        "0.2",
        "--no-progress",
        "--out",
        tmp_path / "out",
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    assert "12 runs" in completed.stdout and "configurations ranked by the mean over 2 seeds" in completed.stdout
    assert "| learning_rate | momentum | seeds | best_val_metric (mean ± std) |" in completed.stdout
    assert f"on {os.cpu_count()} cpu device(s)" in completed.stdout  # every core by default
    files = sorted(os.listdir(tmp_path / "out"))
    assert files == [
        "best.msgpack",
        "configs.csv",
        "curves.png",
        "metric_vs_learning_rate.png",
        "metric_vs_momentum.png",
        "sweep.csv",
        "sweep.json",
        "tensorboard",
    ]
    assert completed.stdout.splitlines()[-1] == f"to look: tensorboard --logdir {tmp_path / 'out' / 'tensorboard'}"
    document = json.loads((tmp_path / "out" / "sweep.json").read_text())
    rows = document["rows"]
    assert len(rows) == 12
    # The configuration with the best mean validation accuracy over its two seeds (ties: the lower mean loss),
    # computed here row by row; best.msgpack holds its better seed.
    groups = {}
    for row in rows:
        groups.setdefault(row["config"], []).append(row)
    mean = lambda group, name: sum(row[name] for row in group) / len(group)  # noqa: E731
    chosen = min(
        groups.values(), key=lambda g: (-mean(g, "best_val_metric"), mean(g, "best_val_loss"), rows.index(g[0]))
    )
    best = jaxnn.load(tmp_path / "out" / "best.msgpack")
    assert best.metadata["row"] == chosen[0] and "best mean over 2 seeds" in best.metadata["selected"]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("best.msgpack:"))
    assert "the best configuration by its mean validation accuracy over 2 seeds" in line
    assert f"its best seed {chosen[0]['seed']} (validation accuracy {chosen[0]['best_val_metric']:.4f})" in line
    with open(tmp_path / "out" / "configs.csv") as handle:
        configs = list(csv.DictReader(handle))
    assert len(configs) == 6 and int(configs[0]["config"]) == chosen[0]["config"]
    assert float(configs[0]["best_val_metric_mean"]) == pytest.approx(mean(chosen, "best_val_metric"))
    # best.msgpack holds the weights whose validation accuracy its row reports.
    data = jaxnn.datasets.load("iris", seed=3, val_fraction=0.2)
    validation = jaxnn.evaluate(best.model, best.params, data, split="val")
    assert validation["accuracy"] == pytest.approx(chosen[0]["best_val_metric"], abs=1e-6)
    # `evaluate --dataset` scores the rows the sweep held out: its seed and shares come from the checkpoint.
    for split, reported in (("val", chosen[0]["best_val_metric"]), ("test", chosen[0]["test_metric"])):
        status, stdout, stderr = run_cli(
            capsys, "evaluate", "--model", tmp_path / "out" / "best.msgpack", "--dataset", "iris", "--split", split
        )
        assert status == 0, stderr
        expected_rows = {"val": len(data.y_val), "test": len(data.y_test)}[split]
        assert f"on iris ({split} split, seed 3): {expected_rows} examples" in stdout.splitlines()[0]
        assert f"accuracy  {reported:.4f}" in stdout


@pytest.mark.parametrize("command", [[], ["train"], ["sweep"], ["predict"], ["evaluate"], ["info"], ["demo"]])
def test_every_help(command, capsys):
    status, stdout, _ = run_cli(capsys, *command, "--help")
    assert status == 0 and "usage: jaxnn" in stdout
    if command in (["train"], ["sweep"]):
        for flag in (
            "--dataset",
            "--csv",
            "--target",
            "--task",
            "--metric",
            "--sizes",
            "--activation",
            "--optimizer",
            "--learning-rate",
            "--schedule",
            "--epochs",
            "--batch-size",
            "--patience",
            "--seed",
            "--out",
        ):
            assert flag in stdout, flag
        for row in jaxnn.hyperparams.TABLE:  # every hyperparameter has its flag and its help line
            assert cli_options.flag(row.name) in stdout and row.help.split(" (")[0][:30] in " ".join(stdout.split())
    if command == ["sweep"]:
        assert "--seeds" in stdout and "--config" in stdout and "LOW:HIGH:log" in stdout and "[space]" in stdout


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_ctrl_c_saves_the_state_and_resume_finishes_the_run_bitwise(command, capsys, tmp_path, monkeypatch):
    common = ["--dataset", "iris", "--sizes", "8", "--epochs", "6", "--no-progress", "--batch-size", "16"]
    common += ["--checkpoint-every", "2"] if command == "train" else ["--learning-rate", "0.01,0.1", "--seeds", "2"]
    assert run_cli(capsys, command, *common, "--out", tmp_path / "reference")[0] == 0
    out, checkpoint = tmp_path / "run", tmp_path / "run" / "checkpoint"
    status, _, stderr = run_cli(capsys, command, *common, "--resume", "--out", out)
    assert_one_line_error(status, stderr, f"--resume: there is nothing to resume in {checkpoint}")
    module, name = (jaxnn.loop, "advance_jit") if command == "train" else (jaxnn.sweeps.rows, "run_rows")
    real, calls = getattr(module, name), []
    monkeypatch.setattr(
        module,
        name,
        lambda *a, **k: (
            (calls.append(1), real(*a, **k))[1] if len(calls) < 2 else (_ for _ in ()).throw(KeyboardInterrupt)
        ),
    )
    status, _, stderr = run_cli(capsys, command, *common, "--out", out)
    assert status == 130 and f"the state so far is saved in {checkpoint}: run the same command with --resume" in stderr
    monkeypatch.setattr(module, name, real)
    status, _, stderr = run_cli(capsys, command, *common, "--out", out)
    assert_one_line_error(
        status, stderr, f"{checkpoint} holds the state of an interrupted run: continue it with --resume"
    )
    status, _, stderr = run_cli(capsys, command, *common, "--resume", "--out", out, "--weight-decay", "0.1")
    assert_one_line_error(
        status,
        stderr,
        "holds a run with other arguments (--weight-decay: saved 0.0, now 0.1)"
        if command == "train"
        else "holds a run with other arguments (`fixed`: saved",
    )
    assert run_cli(capsys, command, *common, "--resume", "--out", out)[0] == 0
    assert not checkpoint.exists()  # the finished run's state is gone with the old output
    for name in ("history.csv", "model.msgpack") if command == "train" else ("sweep.csv", "best.msgpack"):
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name
    status, _, stderr = run_cli(capsys, command, *common, "--no-checkpoint", "--resume", "--out", out)
    assert_one_line_error(status, stderr, "--no-checkpoint cannot be combined with --resume")


def test_train_a_cnn_on_npz_images_then_predict_them(capsys, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 6, 6, 1))
    y = np.where(x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3)), "top", "bottom")
    np.savez(tmp_path / "images.npz", x=x, y=y)
    out = tmp_path / "run"
    status, stdout, stderr = run_cli(
        capsys,
        "train",
        "--npz",
        tmp_path / "images.npz",
        "--channels",
        "4",
        "--sizes",
        "8",
        "--standardize",
        "global",
        "--epochs",
        "2",
        "--out",
        out,
        "--no-progress",
    )
    assert status == 0, stderr
    assert "examples of shape (6, 6, 1)" in stdout and "model: cnn (6, 6, 1): conv [4]" in stdout
    checkpoint = jaxnn.load(out / "model.msgpack")
    assert checkpoint.model.config["type"] == "cnn" and checkpoint.info.input_shape == (6, 6, 1)
    assert checkpoint.info.standardizer.mode == "global"

    np.savez(tmp_path / "new.npz", x=x[:5])
    status, stdout, stderr = run_cli(capsys, "predict", "--model", out / "model.msgpack", "--npz", tmp_path / "new.npz")
    assert status == 0, stderr
    expected = jaxnn.predict(checkpoint.model, checkpoint.params, x[:5], dataset=checkpoint.info)
    assert stdout.split() == ["y", *expected.tolist()]
    # Labelled arrays: evaluate --npz scores every row, as predict labels them.
    np.savez(tmp_path / "labelled.npz", x=x[:20], y=y[:20])
    status, stdout, stderr = run_cli(
        capsys, "evaluate", "--model", out / "model.msgpack", "--npz", tmp_path / "labelled.npz"
    )
    assert status == 0, stderr
    labels = jaxnn.predict(checkpoint.model, checkpoint.params, x[:20], dataset=checkpoint.info)
    assert f"on {tmp_path / 'labelled.npz'}: 20 examples, binary classification" in stdout.splitlines()[0]
    assert f"accuracy  {np.mean(labels == y[:20]):.4f}" in stdout
    status, _, stderr = run_cli(
        capsys, "evaluate", "--model", out / "model.msgpack", "--npz", tmp_path / "labelled.npz", "--seed", "1"
    )
    assert_one_line_error(
        status, stderr, "--seed selects the rows of a built-in --dataset; a --npz file is scored whole"
    )

    np.savez(tmp_path / "flat.npz", x=x[:5].reshape(5, -1))
    status, _, stderr = run_cli(capsys, "predict", "--model", out / "model.msgpack", "--npz", tmp_path / "flat.npz")
    assert_one_line_error(
        status, stderr, "x must hold examples of shape (6, 6, 1) (the dataset's), got x.shape=(5, 36)"
    )
    status, _, stderr = run_cli(
        capsys, "train", "--npz", tmp_path / "images.npz", "--model", "mlp", "--out", tmp_path / "m"
    )
    assert_one_line_error(
        status, stderr, "--model mlp takes flat features, but the data holds examples of shape (6, 6, 1)"
    )
    status, _, stderr = run_cli(capsys, "train", "--dataset", "iris", "--model", "cnn", "--out", tmp_path / "c")
    assert_one_line_error(status, stderr, "--model cnn needs images or sequences")
    status, _, stderr = run_cli(
        capsys, "train", "--images", "--channels", "4", "--model", "mlp", "--out", tmp_path / "d"
    )
    assert_one_line_error(status, stderr, "--channels describe a convolutional network, but this is --model mlp")


@pytest.mark.parametrize("command", ["train", "sweep", "predict", "info", "demo"])
def test_a_bug_inside_the_library_is_an_internal_error_and_debug_shows_its_traceback(
    command, trained_run, cancer_csv, capsys, tmp_path, monkeypatch
):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    target, args = {
        "train": (("jaxnn", "fit"), ["--dataset", "iris", "--epochs", "1", "--no-progress", "--out", tmp_path / "t"]),
        "sweep": (
            ("jaxnn", "sweep"),
            [
                "--dataset",
                "iris",
                "--learning-rate",
                "0.1,0.2",
                "--epochs",
                "1",
                "--no-progress",
                "--out",
                tmp_path / "s",
            ],
        ),
        "predict": (("jaxnn", "predict"), ["--model", trained_run[0] / "model.msgpack", "--csv", cancer_csv]),
        "info": (("platform", "python_version"), []),
        "demo": (("jaxnn.demo", "functional_training"), ["--steps", "1"]),
    }[command]
    import importlib

    monkeypatch.setattr(importlib.import_module(target[0]), target[1], boom)
    status, _, stderr = run_cli(capsys, command, *args)
    assert status == 1 and stderr.strip().splitlines()[-1] == (
        "jaxnn: internal error: RuntimeError: boom (run again with --debug for the traceback)"
    ), stderr
    with pytest.raises(RuntimeError, match="boom"):
        cli.main([command, *map(str, args), "--debug"])
    assert not (tmp_path / "t").exists() and not (tmp_path / "s").exists()


def test_a_run_that_fails_before_its_first_save_leaves_nothing_to_resume(capsys, tmp_path, monkeypatch):
    common = ["--dataset", "iris", "--sizes", "8", "--epochs", "4", "--no-progress", "--out", tmp_path / "run"]

    def out_of_memory(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 123456789 bytes.")

    import jax

    monkeypatch.setattr(jaxnn.loop, "advance_jit", out_of_memory)
    status, _, stderr = run_cli(capsys, "train", *common)
    assert_one_line_error(
        status,
        stderr,
        "training this model did not fit in memory (RESOURCE_EXHAUSTED: Out of memory "
        "allocating 123456789 bytes.); use a smaller model or a smaller --batch-size",
    )
    assert not (tmp_path / "run").exists()
    monkeypatch.undo()
    status, stdout, stderr = run_cli(capsys, "train", *common)  # no --resume asked for: nothing was saved
    assert status == 0, stderr
    assert "saving the best epoch" in stdout or "was also the best" in stdout
    saved = jaxnn.load(tmp_path / "run" / "model.msgpack").metadata
    assert saved["params_epoch"] == saved["best_epoch"]
    status, stdout, _ = run_cli(capsys, "train", *common, "--keep-last")
    assert status == 0 and jaxnn.load(tmp_path / "run" / "model.msgpack").metadata["params_epoch"] == 4


def test_a_directory_in_use_by_another_process_is_refused_naming_it(capsys, tmp_path):
    import socket

    checkpoint = tmp_path / "run" / "checkpoint"
    checkpoint.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (checkpoint / "lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
        status, _, stderr = run_cli(
            capsys, "train", "--dataset", "iris", "--epochs", "1", "--no-progress", "--out", tmp_path / "run"
        )
        assert_one_line_error(status, stderr, f"{checkpoint} is in use by process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    status, _, stderr = run_cli(
        capsys, "train", "--dataset", "iris", "--epochs", "1", "--no-progress", "--out", tmp_path / "run"
    )
    assert status == 0, stderr  # a dead process's lock is taken over


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_run_at_the_next_chunk_even_without_a_progress_bar(signal_name, tmp_path):
    """2000 epochs take a while on any machine; the signal arrives once training runs, and the run stops at once
    (it would otherwise finish and exit 0); SIGTERM, what schedulers send, saves the state like Ctrl-C."""
    import signal
    import time

    args = ["train", "--sizes", "64", "--epochs", "2000", "--no-progress", "--out", tmp_path / "run"]
    args += ["--no-checkpoint"] if signal_name == "SIGINT" else ["--checkpoint-every", "5"]
    # `python -m jaxnn.cli` as a terminal starts it, with Python's Ctrl-C handler: a pytest-xdist worker may
    # ignore SIGINT, and a child inherits that (then no Python code ever sees the signal).
    with_ctrl_c = "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    with_ctrl_c += "runpy.run_module('jaxnn.cli', run_name='__main__', alter_sys=True)"
    process = subprocess.Popen(
        [sys.executable, "-c", with_ctrl_c, *map(str, args)],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1"),
    )
    lines = [process.stdout.readline()]
    while lines[-1] and not lines[-1].startswith("model:") and len(lines) < 20:  # then training starts
        lines.append(process.stdout.readline())
    assert lines[-1].startswith("model:"), lines
    checkpoint = tmp_path / "run" / "checkpoint"
    deadline = time.monotonic() + 120
    while signal_name == "SIGTERM" and not (checkpoint / "state.msgpack").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(getattr(signal, signal_name))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == (130 if signal_name == "SIGINT" else 143), stderr
    assert "completed after" not in stdout
    if signal_name == "SIGTERM":
        assert f"the state so far is saved in {checkpoint}: run the same command with --resume" in stderr
        assert (checkpoint / "state.msgpack").exists() and not (checkpoint / "lock").exists()
