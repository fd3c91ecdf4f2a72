"""Scoring a trained model on labelled data: files and other datasets prepared as training did
(jaxnn.datasets.read_labelled, as_trained), jaxnn.evaluate on a file, and the confusion matrix, each
against scikit-learn's metrics of the model's own predictions."""

import csv
import os
import re

import numpy as np
import pytest
from sklearn import metrics as sk

import jaxnn


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def iris_model(iris):
    model = jaxnn.mlp([4, 8, 3])
    return model, jaxnn.fit(model, iris, num_epochs=15, key=0, progress=False).params


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory):
    """Every iris row as a CSV: the columns in another order, an extra column, the class names as labels."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    names = [str(name) for name in bunch.feature_names]
    header = ["id", "species", *reversed(names)]
    rows = [
        [i, bunch.target_names[t], *reversed(row.tolist())]
        for i, (row, t) in enumerate(zip(bunch.data, bunch.target, strict=True))
    ]
    path = write_csv(tmp_path_factory.mktemp("data") / "iris.csv", header, rows)
    return path, bunch.data, bunch.target_names[bunch.target]


def test_a_file_is_scored_as_its_rows_predicted_one_by_one(iris, iris_model, iris_file):
    model, params = iris_model
    path, raw_x, labels = iris_file
    scores = jaxnn.evaluate(model, params, path, dataset=iris.info)
    predicted = jaxnn.predict(model, params, raw_x, dataset=iris.info)  # the raw features, as predict takes them
    proba = jaxnn.predict(model, params, raw_x, dataset=iris.info, proba=True)
    assert scores["num_examples"] == 150
    assert scores["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted), abs=1e-6)
    assert scores["loss"] == pytest.approx(sk.log_loss(labels, proba, labels=list(iris.class_names)), rel=1e-4)
    # The same rows as the built-in dataset (standardized by its own statistics), prepared with the training's.
    everything = jaxnn.datasets.load("iris", seed=1, val_fraction=0.0, test_fraction=0.0)
    assert not np.allclose(everything.x_mean, iris.x_mean)
    again = jaxnn.evaluate(model, params, everything, dataset=iris.info, split="train")
    assert again["num_examples"] == 150 and again["accuracy"] == pytest.approx(scores["accuracy"], abs=1e-6)
    assert again["loss"] == pytest.approx(scores["loss"], rel=1e-5)


def test_the_confusion_matrix_is_scikit_learns_of_the_predicted_labels(iris, iris_model, iris_file, tmp_path):
    model, params = iris_model
    path, raw_x, labels = iris_file
    matrix = jaxnn.confusion_matrix(model, params, path, dataset=iris.info)
    predicted = jaxnn.predict(model, params, raw_x, dataset=iris.info)
    expected = sk.confusion_matrix(labels, predicted, labels=list(iris.class_names))
    np.testing.assert_array_equal(matrix.counts, expected)
    assert matrix.labels == iris.class_names
    lines = matrix.format().splitlines()
    assert lines[0].split() == ["true", "\\", "predicted", *iris.class_names]
    assert [line.split() for line in lines[1:]] == [
        [name, *map(str, row)] for name, row in zip(iris.class_names, expected, strict=True)
    ]
    split = jaxnn.confusion_matrix(model, params, iris, split="val")
    np.testing.assert_array_equal(
        split.counts,
        sk.confusion_matrix(iris.y_val, jaxnn.predict(model, params, iris.x_val, task="multiclass"), labels=[0, 1, 2]),
    )
    written = matrix.plot(tmp_path / "confusion.png")
    assert os.path.getsize(written) > 1000 and not list(tmp_path.glob("*.tmp"))


def test_a_table_file_gets_the_training_column_plan(tmp_path):
    rng = np.random.default_rng(0)
    colors = rng.choice(["red", "green", "blue"], size=120)
    size = rng.normal(size=120)
    label = np.where((colors == "red") ^ (size > 0), "yes", "no")
    rows = [
        [c, "" if i % 10 == 0 else f"{s:.3f}", y] for i, (c, s, y) in enumerate(zip(colors, size, label, strict=True))
    ]
    data = jaxnn.datasets.from_csv(
        write_csv(tmp_path / "train.csv", ["color", "size", "bought"], rows), "bought", seed=0
    )
    model = jaxnn.mlp([data.num_features, 8, 1])
    params = jaxnn.fit(model, data, num_epochs=5, key=0, progress=False).params
    new = write_csv(
        tmp_path / "new.csv",
        ["bought", "size", "color"],
        [["yes", "", "red"], ["no", "0.5", "green"], ["no", "-1", "blue"], ["yes", "2", "purple"]],
    )
    with pytest.warns(jaxnn.errors.DataWarning, match="purple"):  # unseen: all zeros, as predict does it
        scores = jaxnn.evaluate(model, params, new, dataset=data.info)
    with pytest.warns(jaxnn.errors.DataWarning, match="purple"):
        features = jaxnn.datasets.read_features(new, data.info).x
    predicted = jaxnn.predict(model, params, features, dataset=data.info)
    assert scores["accuracy"] == pytest.approx(sk.accuracy_score(["yes", "no", "no", "yes"], predicted))
    with pytest.raises(jaxnn.DataError, match="category 'purple'|'purple'"):
        jaxnn.datasets.read_labelled(new, data.info, strict=True)


def test_regression_is_scored_in_the_targets_units(diabetes_model, tmp_path):
    model, params, data, raw_x, raw_y = diabetes_model
    path = write_csv(
        tmp_path / "diabetes.csv",
        [*data.feature_names, "progression"],
        [[*row, target] for row, target in zip(raw_x.tolist(), raw_y.tolist(), strict=True)],
    )
    scores = jaxnn.evaluate(model, params, path, dataset=data.info, target="progression")
    predicted = jaxnn.predict(model, params, raw_x, dataset=data.info)
    assert scores["mean_squared_error"] == pytest.approx(sk.mean_squared_error(raw_y, predicted), rel=1e-4)
    with pytest.raises(jaxnn.DataError, match="regression model"):
        jaxnn.evaluate(
            model,
            params,
            write_csv(tmp_path / "text.csv", [*data.feature_names, "progression"], [[*raw_x[0].tolist(), "high"]]),
            dataset=data.info,
            target="progression",
        )
    with pytest.raises(jaxnn.ConfigError, match="a confusion matrix counts classes, but 'diabetes' is a regression"):
        jaxnn.confusion_matrix(model, params, data)


@pytest.fixture(scope="module")
def diabetes_model():
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    data = jaxnn.datasets.load("diabetes", seed=0)
    model = jaxnn.mlp([10, 8, 1])
    params = jaxnn.fit(model, data, num_epochs=5, key=0, progress=False).params
    return model, params, data, bunch.data[:60], bunch.target[:60]


def test_bad_labelled_data_is_refused_naming_what_differs(iris, iris_model, iris_file, tmp_path):
    model, params = iris_model
    path, raw_x, _ = iris_file
    names = list(iris.feature_names)
    with pytest.raises(jaxnn.DataError, match="has no target column 'flower'; its columns are id, species"):
        jaxnn.evaluate(model, params, path, dataset=iris.info, target="flower")
    renamed = write_csv(tmp_path / "renamed.csv", ["sepal length", *names[1:], "species"], [[*raw_x[0], "setosa"]])
    with pytest.raises(
        jaxnn.DataError,
        match=r"columns differ from the training data's: it has no column "
        r"'sepal length \(cm\)' that the model was trained on",
    ):
        jaxnn.evaluate(model, params, renamed, dataset=iris.info, target="species")
    unknown = write_csv(tmp_path / "unknown.csv", [*names, "species"], [[*raw_x[0], "setosa"], [*raw_x[1], "rose"]])
    with pytest.raises(
        jaxnn.DataError,
        match=r"target column 'species' holds 'rose' \(at line 3\), not one of the "
        r"model's classes \(setosa, versicolor, virginica\)",
    ):
        jaxnn.evaluate(model, params, unknown, dataset=iris.info, target="species")
    with pytest.raises(jaxnn.ConfigError, match="evaluating the file .* needs `dataset`"):
        jaxnn.evaluate(model, params, path)
    with pytest.raises(jaxnn.ConfigError, match="`dataset` prepares a file or a Dataset .* a tuple of prepared arrays"):
        jaxnn.evaluate(model, params, (iris.x_test, iris.y_test), dataset=iris.info)
    with pytest.raises(jaxnn.ConfigError, match="`target` names a file's target column"):
        jaxnn.evaluate(model, params, iris, target="species")
    with pytest.raises(
        jaxnn.DataError,
        match=r"the model has 3 outputs per example but the data \('breast_cancer'\) "
        r"is binary classification.*which needs 1",
    ):
        jaxnn.evaluate(
            jaxnn.mlp([30, 4, 3]),
            jaxnn.mlp([30, 4, 3]).init(jaxnn.loop.as_key(0)),
            jaxnn.datasets.load("breast_cancer", seed=0),
        )
    with pytest.raises(
        jaxnn.DataError,
        match="the columns of 'wine' differ from the training data's .'iris'.: it has no features 'sepal length",
    ):
        jaxnn.datasets.as_trained(jaxnn.datasets.load("wine"), iris.info)
    relabelled = iris.replace(task="regression", num_classes=0, class_names=(), class_labels=(), name="iris as numbers")
    with pytest.raises(
        jaxnn.DataError,
        match="the model was trained for multiclass .'iris'. but 'iris as numbers' is a regression task",
    ):
        jaxnn.datasets.as_trained(relabelled, iris.info)
    with pytest.raises(TypeError, match="info must be the training data's DataInfo"):
        jaxnn.datasets.read_labelled(path, "iris")


def test_a_weight_column_weighs_the_rows_as_scikit_learns_sample_weight(iris, iris_model, iris_file, tmp_path, capsys):
    from jaxnn import cli

    model, params = iris_model
    _, raw_x, labels = iris_file
    weights = (np.arange(150) % 4).astype(float)  # 0, 1, 2, 3: a quarter of the rows do not count
    names = list(iris.feature_names)
    path = write_csv(
        tmp_path / "weighted.csv",
        ["w", *names, "species"],
        [[w, *row, label] for w, row, label in zip(weights, raw_x.tolist(), labels, strict=True)],
    )
    data = jaxnn.datasets.read_labelled(path, iris.info, weight_column="w")
    np.testing.assert_array_equal(data.w_test, weights)
    scores = jaxnn.evaluate(model, params, data)
    predicted = jaxnn.predict(model, params, raw_x, dataset=iris.info)
    proba = jaxnn.predict(model, params, raw_x, dataset=iris.info, proba=True)
    assert scores["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted, sample_weight=weights), abs=1e-6)
    assert scores["loss"] == pytest.approx(
        sk.log_loss(labels, proba, sample_weight=weights, labels=list(iris.class_names)), rel=1e-4
    )
    unweighted = jaxnn.evaluate(model, params, jaxnn.datasets.read_labelled(path, iris.info))
    assert unweighted["loss"] != pytest.approx(scores["loss"], rel=1e-4)  # the weights changed something
    # The command line: jaxnn evaluate --csv F --weight-column w prints the weighted scores.
    jaxnn.save(tmp_path / "iris.msgpack", model, params, dataset=iris)
    assert (
        cli.main(["evaluate", "--model", str(tmp_path / "iris.msgpack"), "--csv", str(path), "--weight-column", "w"])
        == 0
    )
    out = capsys.readouterr().out
    assert f"accuracy  {scores['accuracy']:.4f}" in out
    for column, message in (
        ("weight", "has no weight column 'weight'; its columns are w, sepal length"),
        ("species", "'species' is the target, so it cannot be the weight column"),
        (names[0], f"{names[0]!r} is one of the model's features, so it cannot be the weight column"),
    ):
        with pytest.raises(jaxnn.DataError, match=re.escape(message)):
            jaxnn.datasets.read_labelled(path, iris.info, weight_column=column)
    with pytest.raises(TypeError, match=r"`weight_column` must be a column name \(str\), got int: 0"):
        jaxnn.datasets.read_labelled(path, iris.info, weight_column=0)
    bad = write_csv(tmp_path / "bad.csv", ["w", *names, "species"], [[-1, *raw_x[0], labels[0]]])
    with pytest.raises(jaxnn.DataError, match=r"weight column 'w' is negative at line 2 \(-1\)"):
        jaxnn.datasets.read_labelled(bad, iris.info, weight_column="w")
    assert (
        cli.main(["evaluate", "--model", str(tmp_path / "iris.msgpack"), "--dataset", "iris", "--weight-column", "w"])
        == 2
    )
    assert "--weight-column is for --csv files" in capsys.readouterr().err
