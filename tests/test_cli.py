"""The command line, run as a user runs it: in a subprocess."""

import csv
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from flax import serialization

import jaxnn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def jaxnn_cli(*args: str, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT
    )


def assert_clean_failure(completed: subprocess.CompletedProcess, message: str) -> None:
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr, completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and re.match(r"jaxnn( \w+)?: error: ", lines[0]), completed.stderr
    assert message in lines[-1], lines[-1]


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory):
    """Breast cancer as a CSV file with raw features and string class names."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    path = tmp_path_factory.mktemp("data") / "cancer.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*bunch.feature_names, "diagnosis"])
        for row, label in zip(bunch.data, bunch.target):
            writer.writerow([*row, bunch.target_names[label]])
    return path


@pytest.fixture(scope="module")
def trained_run(cancer_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    completed = jaxnn_cli(
        "train", "--csv", cancer_csv, "--target", "diagnosis", "--sizes", "16", "--epochs", "15", "--optimizer", "sgd",
        "--learning-rate", "0.05", "--momentum", "0.9", "--no-progress", "--out", out,
    )
    assert completed.returncode == 0, completed.stderr
    return out, completed.stdout


def test_train_prints_metrics_and_writes_its_files(trained_run):
    out, stdout = trained_run
    assert "test accuracy" in stdout and "validation accuracy" in stdout
    accuracy = float(stdout.split("test accuracy")[1].split()[0])
    assert accuracy >= 0.9
    assert sorted(os.listdir(out)) == ["curves.png", "history.csv", "model.msgpack"]
    with open(out / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15 and set(rows[0]) == {"epoch", "train_loss", "val_loss", "val_metric", "learning_rate"}
    checkpoint = jaxnn.load(out / "model.msgpack")
    assert checkpoint.model.config["sizes"] == [30, 16, 1]
    assert checkpoint.dataset.class_names == ("benign", "malignant")
    assert checkpoint.metadata["metrics"]["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_predict_round_trip_on_the_csv(trained_run, cancer_csv, tmp_path):
    out, _ = trained_run
    predictions_path = tmp_path / "predictions.csv"
    completed = jaxnn_cli("predict", "--model", out / "model.msgpack", "--csv", cancer_csv, "--out", predictions_path)
    assert completed.returncode == 0, completed.stderr
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
    # The same as predicting in Python from the checkpoint.
    checkpoint = jaxnn.load(out / "model.msgpack")
    labels = jaxnn.predict(checkpoint.model, checkpoint.params, np.array(features), dataset=checkpoint.dataset)
    assert predicted == [checkpoint.dataset.class_names[i] for i in labels]
    proba = jaxnn_cli("predict", "--model", out / "model.msgpack", "--csv", cancer_csv, "--proba")
    assert proba.returncode == 0, proba.stderr
    lines = proba.stdout.splitlines()
    assert lines[0] == "p(malignant)" and len(lines) == 570 and 0.0 <= float(lines[1]) <= 1.0


def test_sweep_end_to_end(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('optimizer = "sgd"\n[space]\nmomentum = [0.0, 0.9]\n')
    completed = jaxnn_cli(
        "sweep", "--dataset", "iris", "--learning-rate", "1e-2:1e-1:log:3", "--config", config, "--seeds", "2",
        "--epochs", "5", "--sizes", "8", "--no-progress", "--out", tmp_path / "out",
    )
    assert completed.returncode == 0, completed.stderr
    assert "12 runs" in completed.stdout and "| learning_rate | momentum | seed |" in completed.stdout
    assert "on 2 cpu device(s)" in completed.stdout  # every core by default
    files = sorted(os.listdir(tmp_path / "out"))
    assert files == ["best.msgpack", "curves.png", "metric_vs_learning_rate.png", "metric_vs_momentum.png", "sweep.csv", "sweep.json"]
    document = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert len(document["rows"]) == 12
    best = jaxnn.load(tmp_path / "out" / "best.msgpack")
    assert best.metadata["row"] == document["rows"][0]


@pytest.mark.parametrize("command", [[], ["train"], ["sweep"], ["predict"], ["info"], ["demo"]])
def test_every_help(command):
    completed = jaxnn_cli(*command, "--help", timeout=60)
    assert completed.returncode == 0 and "usage: jaxnn" in completed.stdout
    if command in (["train"], ["sweep"]):
        for flag in ("--dataset", "--csv", "--target", "--sizes", "--activation", "--optimizer", "--learning-rate",
                     "--schedule", "--epochs", "--batch-size", "--weight-decay", "--dropout", "--patience", "--seed", "--out"):
            assert flag in completed.stdout, flag
    if command == ["sweep"]:
        assert "--seeds" in completed.stdout and "--config" in completed.stdout and "LOW:HIGH:log" in completed.stdout


def test_bad_input_fails_cleanly_and_keeps_earlier_results(trained_run, cancer_csv, tmp_path):
    out, _ = trained_run
    model_path = out / "model.msgpack"
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("a,b,diagnosis\n1,2,x\n3,oops,y\n")
    no_target = tmp_path / "no_target.csv"
    no_target.write_text("a,b\n1,2\n3,4\n")
    truncated = tmp_path / "truncated.msgpack"
    truncated.write_bytes(model_path.read_bytes()[:300])
    corrupted = tmp_path / "corrupted.msgpack"
    corrupted.write_bytes(b"\x00" * 64)
    state = serialization.msgpack_restore(model_path.read_bytes())
    state["version"] = 3
    future = tmp_path / "future.msgpack"
    future.write_bytes(serialization.msgpack_serialize(state))
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("a,b,c\n1,2,3\n")
    cases = [
        (["train", "--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
        (["train", "--optimizer", "adamm"], "argument --optimizer: invalid choice: 'adamm'"),
        (["sweep", "--learning-rate", "1e-4:1e-1:logg:8"], "malformed range '1e-4:1e-1:logg:8'"),
        (["sweep", "--learning-rate", "0.1,fast"], "'fast' is not a number"),
        (["sweep", "--learning-rate", "1e-1:1e-4:log:3"], "needs LOW <= HIGH"),
        (["train", "--csv", tmp_path / "missing.csv", "--target", "y"], "missing.csv"),
        (["train", "--csv", no_target, "--target", "diagnosis", "--out", out], "target column 'diagnosis'"),
        (["train", "--csv", bad_csv, "--target", "diagnosis", "--out", out], "'oops'"),
        (["predict", "--model", truncated, "--csv", cancer_csv], "not a readable jaxnn checkpoint"),
        (["predict", "--model", corrupted, "--csv", cancer_csv], "jaxnn checkpoint"),
        (["predict", "--model", future, "--csv", cancer_csv], "format version 3; this jaxnn reads versions 1 and 2"),
        (["predict", "--model", model_path, "--csv", narrow], "the data has 3 features but the model expects 30"),
        (["predict", "--model", tmp_path / "nope.msgpack", "--csv", cancer_csv], "no such file"),
    ]
    for args, message in cases:
        assert_clean_failure(jaxnn_cli(*args, timeout=120), message)
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before
