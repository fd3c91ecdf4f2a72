"""jaxnn.metrics against scikit-learn's implementations: every metric, weighted and not, compiled."""

import csv
import functools

import jax
import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn import metrics as skm

import jaxnn
from jaxnn import metrics

N = 64


def _data(task: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    if task == "binary":
        y = rng.integers(0, 2, N)
        # rounded: many tied scores, which roc_auc must count as halves
        outputs = np.round(rng.normal(size=N) + 1.2 * y, 1).astype(np.float32)
    elif task == "multiclass":
        y = rng.integers(0, 4, N)
        outputs = np.round(rng.normal(size=(N, 4)) + 1.5 * np.eye(4)[y], 1).astype(np.float32)
    else:
        y = rng.normal(size=N).astype(np.float32)
        outputs = (y + 0.5 * rng.normal(size=N)).astype(np.float32)
    return outputs, y, rng.uniform(0.1, 2.0, N)


def _reference(name: str, task: str, outputs, y, weights):
    """scikit-learn's value of metric ``name``, in float64."""
    outputs = np.asarray(outputs, np.float64)
    w = {"sample_weight": weights}
    if task == "regression":
        return {
            "mean_squared_error": skm.mean_squared_error,
            "mae": skm.mean_absolute_error,
            "rmse": skm.root_mean_squared_error,
            "r2": skm.r2_score,
        }[name](y, outputs, **w)
    if task == "binary":
        predicted, proba = (outputs > 0).astype(int), expit(outputs)
        if name == "roc_auc":
            return skm.roc_auc_score(y, outputs, **w)
        if name == "log_loss":
            return skm.log_loss(y, proba, labels=[0, 1], **w)
        if name == "mean_squared_error":
            return skm.brier_score_loss(y, proba, **w)
    else:
        predicted, proba = outputs.argmax(-1), softmax(outputs, axis=-1)
        labels = list(range(outputs.shape[1]))
        if name == "roc_auc":
            return skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels, **w)
        if name == "log_loss":
            return skm.log_loss(y, proba, labels=labels, **w)
        if name == "mean_squared_error":
            return skm.brier_score_loss(y, proba, labels=labels, **w)
    scorer = {
        "accuracy": skm.accuracy_score,
        "balanced_accuracy": skm.balanced_accuracy_score,
        "f1": skm.f1_score,
        "precision": skm.precision_score,
        "recall": skm.recall_score,
        "f1_macro": functools.partial(skm.f1_score, average="macro"),
        "precision_macro": functools.partial(skm.precision_score, average="macro", zero_division=0),
        "recall_macro": functools.partial(skm.recall_score, average="macro"),
    }[name]
    return scorer(y, predicted, **w)


@functools.cache
def _compiled(task: str, weighted: bool):
    """One compiled program per task (and weighting) computing every metric that fits it."""
    names = metrics.for_task(task)

    def all_metrics(outputs, y, weights):
        return {name: metrics.get(name)(outputs, y, mask=weights if weighted else None, task=task) for name in names}

    return jax.jit(all_metrics)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_metric_matches_scikit_learn_under_jit(task, weighted):
    outputs, y, weights = _data(task)
    got = _compiled(task, weighted)(outputs, y, weights)
    assert set(got) == set(metrics.for_task(task))
    for name, value in got.items():
        expected = _reference(name, task, outputs, y, weights if weighted else None)
        np.testing.assert_allclose(float(value), expected, rtol=2e-5, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_masked_rows_are_left_out_even_when_they_hold_nan(task):
    """Padding (weight 0) holding NaN outputs changes nothing: the metric is that of the other rows."""
    outputs, y, weights = _data(task, seed=1)
    keep = np.arange(N) < N - 10
    padded = np.where(keep.reshape(-1, *([1] * (outputs.ndim - 1))), outputs, np.nan).astype(np.float32)
    got = _compiled(task, True)(padded, y, np.where(keep, weights, 0.0))
    for name, value in got.items():
        expected = _reference(name, task, outputs[keep], y[keep], weights[keep])
        np.testing.assert_allclose(float(value), expected, rtol=2e-5, atol=2e-6, err_msg=name)


def test_eager_equals_jit_and_one_output_column_equals_a_flat_one():
    outputs, y, weights = _data("binary", seed=2)
    compiled = _compiled("binary", True)(outputs, y, weights)
    for name in ("accuracy",):  # eagerly every operation compiles on its own: one metric suffices
        column = metrics.get(name)(outputs[:, None], y[:, None], mask=weights, task="binary")
        np.testing.assert_allclose(float(column), float(compiled[name]), rtol=1e-6, err_msg=name)


def test_roc_auc_ties_and_one_hot_labels():
    # Every score tied: 0.5 exactly, as scikit-learn's.
    roc_auc = jax.jit(metrics.roc_auc)
    assert float(roc_auc(np.zeros(6), np.array([0, 1, 0, 1, 1, 0]))) == 0.5
    assert np.isnan(float(roc_auc(np.array([0.1, 0.5, 0.2, 0.0, 0.0, 0.0]), np.ones(6))))  # one class: undefined
    outputs, y, _ = _data("multiclass", seed=3)
    np.testing.assert_allclose(float(roc_auc(outputs, np.eye(4)[y])), float(roc_auc(outputs, y)))
    # A NaN score ranks nothing: NaN, unless its example is masked out. Infinite scores rank as numbers do.
    scores, labels = np.array([0.3, np.nan, 0.1, 0.9, -np.inf, np.inf, 0.3]), np.array([1, 0, 0, 1, 0, 1, 0])
    assert np.isnan(float(roc_auc(scores, labels)))
    kept = np.array([1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # 9 pairs, all ranked right but the tie at 0.3, which counts half:
    assert float(roc_auc(scores, labels, mask=kept)) == pytest.approx(1 - 0.5 / 9, rel=1e-6)


def test_roc_auc_with_one_class_is_nan_and_check_defined_refuses_it():
    with pytest.raises(
        jaxnn.DataError,
        match=r"roc_auc needs examples of every class, but the validation split "
        r"has none of class 0 \(3 examples\)",
    ):
        metrics.check_defined(["roc_auc"], np.array([1, 1, 1]), None, 2, where="the validation split")
    # Weight 0 is no example; other metrics need no class in particular.
    with pytest.raises(jaxnn.DataError, match="has none of classes 0, 2"):
        metrics.check_defined(["accuracy", "roc_auc"], np.array([0, 1, 2]), np.array([0.0, 1.0, 0.0]), 3, where="x")
    metrics.check_defined(["accuracy", "log_loss"], np.array([1, 1]), None, 2, where="x")


def test_degenerate_cases_follow_scikit_learn():
    never = np.full(4, -1.0)  # nothing predicted positive
    y = np.array([0, 1, 0, 1])
    assert float(metrics.precision(never, y)) == skm.precision_score(y, never > 0, zero_division=0) == 0.0
    assert float(metrics.f1(never, np.zeros(4))) == 0.0
    constant = np.full(3, 2.0)
    assert float(metrics.r2(constant, constant)) == skm.r2_score(constant, constant) == 1.0
    assert float(metrics.r2(constant + 1, constant)) == skm.r2_score(constant, constant + 1) == 0.0


def test_registry_directions_and_tasks():
    assert metrics.for_task("binary") == (
        "accuracy",
        "balanced_accuracy",
        "f1",
        "f1_macro",
        "precision",
        "precision_macro",
        "recall",
        "recall_macro",
        "roc_auc",
        "log_loss",
        "mean_squared_error",
    )
    assert "f1" not in metrics.for_task("multiclass")
    lower = {name for name, metric in metrics.METRICS.items() if not metric.higher_is_better}
    assert lower == {"log_loss", "mean_squared_error", "mae", "rmse"}
    assert metrics.check(None, "regression").name == "mean_squared_error"
    assert metrics.check("ROC_AUC", "binary").name == "roc_auc"


def test_a_metric_that_does_not_fit_the_task_is_refused():
    with pytest.raises(
        jaxnn.ConfigError,
        match=r"metric='accuracy' does not fit a regression task \(it fits binary "
        r"and multiclass data\); metrics for regression data: "
        r"mean_squared_error, mae, rmse, r2",
    ):
        metrics.check("accuracy", "regression")
    with pytest.raises(jaxnn.ConfigError, match="metric='f1' does not fit a multiclass task .* f1_macro"):
        metrics.check("f1", "multiclass")
    with pytest.raises(jaxnn.ConfigError, match=r"unknown metric 'rocauc' \(did you mean 'roc_auc'\?\)"):
        metrics.check("rocauc", "binary")


def test_shape_errors_name_the_metric():
    with pytest.raises(jaxnn.DataError, match=r"f1 scores two classes .* use f1_macro"):
        metrics.f1(np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(jaxnn.DataError, match=r"mask has shape \(2,\) but the batch has 3 examples"):
        metrics.accuracy(np.zeros(3), np.zeros(3), mask=np.ones(2))
    with pytest.raises(jaxnn.DataError, match=r"accuracy: labels of shape \(2,\) do not fit outputs of shape \(3, 4\)"):
        metrics.accuracy(np.zeros((3, 4)), np.zeros(2))


# ---------------------------------------------------------------------------
# Metrics in training, sweeps and evaluate


@pytest.fixture(scope="module")
def diabetes():
    return jaxnn.datasets.load("diabetes", seed=0)


def test_fit_refuses_a_metric_that_does_not_fit_the_task_before_training(diabetes, cancer):
    model = jaxnn.mlp([diabetes.num_features, 1])
    with pytest.raises(
        jaxnn.ConfigError,
        match=r"metric='accuracy' does not fit a regression task .* metrics for "
        r"regression data: mean_squared_error, mae, rmse, r2",
    ):
        jaxnn.fit(model, diabetes, metric="accuracy", num_epochs=1, key=0, progress=False)
    with pytest.raises(jaxnn.ConfigError, match=r"metric='r2' does not fit a binary task"):
        jaxnn.sweep(
            jaxnn.mlp([cancer.num_features, 1]),
            cancer,
            space={"learning_rate": [0.1]},
            key=0,
            metric="r2",
            num_epochs=1,
            progress=False,
        )


def test_roc_auc_on_a_validation_split_with_one_class_is_refused_before_training():
    x = np.random.default_rng(0).normal(size=(40, 2))
    y = np.r_[np.zeros(20), np.ones(20)]
    data = jaxnn.datasets.from_arrays(x, y, validation=(x[:5], np.ones(5)), test_fraction=0)
    model = jaxnn.mlp([2, 1])
    with pytest.raises(
        jaxnn.DataError,
        match=r"roc_auc needs examples of every class, but the validation split has "
        r"none of class 0 \(5 examples\): give it more rows",
    ):
        jaxnn.fit(model, data, metric="roc_auc", num_epochs=1, key=0, progress=False)
    params = model.init(jax.random.key(0))
    with pytest.raises(jaxnn.DataError, match=r"roc_auc needs examples of every class, but the 'val' split"):
        jaxnn.evaluate(model, params, data, split="val", metric="roc_auc")
    with pytest.warns(jaxnn.errors.DataWarning, match=r"roc_auc needs .* \(reported as NaN\)"):
        every = jaxnn.evaluate(model, params, data, split="val")
    assert np.isnan(every["roc_auc"]) and every["accuracy"] >= 0


def test_evaluate_returns_every_metric_of_the_task_in_target_units(diabetes):
    model = jaxnn.mlp([diabetes.num_features, 1])
    params = model.init(jax.random.key(1))
    got = jaxnn.evaluate(model, params, diabetes)
    assert list(got) == ["loss", "mean_squared_error", "mae", "rmse", "r2", "num_examples"]
    predicted = diabetes.inverse_transform_y(jaxnn.predict(model, params, diabetes.x_test, task="regression"))
    truth = diabetes.inverse_transform_y(diabetes.y_test)
    np.testing.assert_allclose(got["mae"], skm.mean_absolute_error(truth, predicted), rtol=1e-4)
    np.testing.assert_allclose(got["rmse"], skm.root_mean_squared_error(truth, predicted), rtol=1e-4)
    np.testing.assert_allclose(got["r2"], skm.r2_score(truth, predicted), rtol=1e-4)
    # One metric by name, as before (a dict with its key), and a list of them.
    assert list(jaxnn.evaluate(model, params, diabetes, metric="r2")) == ["loss", "r2", "num_examples"]
    assert list(jaxnn.evaluate(model, params, diabetes, metric=["mae", "r2"])) == ["loss", "mae", "r2", "num_examples"]


def test_mean_squared_error_of_classes_is_the_brier_score_of_probabilities(cancer):
    model = jaxnn.mlp([cancer.num_features, 1])
    result = jaxnn.fit(
        model,
        cancer,
        metric="mean_squared_error",
        num_epochs=3,
        key=0,
        progress=False,
        learning_rate=0.01,
        restore_best=False,
    )
    proba = jaxnn.predict(model, result.params, cancer.x_val, task="binary", proba=True)
    brier = skm.brier_score_loss(cancer.y_val, proba)
    np.testing.assert_allclose(result.history["val_metric"][-1], brier, rtol=1e-5)
    np.testing.assert_allclose(
        jaxnn.evaluate(model, result.params, cancer, split="val")["mean_squared_error"], brier, rtol=1e-5
    )
    assert brier < 0.25  # probabilities, not raw logits


def test_early_stopping_and_a_sweep_follow_a_lower_is_better_metric(cancer):
    """log_loss: the best epoch is the lowest, and the sweep ranks ascending; the other metrics are columns."""
    model = jaxnn.mlp([cancer.num_features, 1])
    result = jaxnn.fit(
        model,
        cancer,
        metric="log_loss",
        num_epochs=12,
        key=0,
        progress=False,
        learning_rate=0.3,
        early_stopping=jaxnn.EarlyStopping(patience=3, monitor="val_metric"),
    )
    curve = result.history["val_metric"]
    assert result.best_epoch == int(np.nanargmin(curve)) + 1
    np.testing.assert_allclose(
        jaxnn.evaluate(model, result.params, cancer, split="val")["log_loss"], curve[result.best_epoch - 1], rtol=1e-5
    )
    swept = jaxnn.sweep(
        model,
        cancer,
        space={"learning_rate": [1e-3, 0.3, 1e-2]},
        key=0,
        num_epochs=4,
        metric="log_loss",
        progress=False,
    )
    ranked = swept.table["best_val_metric"]
    assert np.all(np.diff(ranked) >= 0) and not swept.higher_is_better
    assert "val_roc_auc" in swept.table and "val_log_loss" not in swept.table
    np.testing.assert_allclose(
        swept.table["val_roc_auc"][0], jaxnn.evaluate(model, swept.params(0), cancer, split="val")["roc_auc"], rtol=1e-5
    )
    assert "best_val_log_loss" in swept.format().splitlines()[0]


# ---------------------------------------------------------------------------
# Weights


def test_sample_weights_follow_the_splits_and_bad_ones_are_refused_naming_the_row():
    x = np.arange(40.0).reshape(20, 2)
    y = np.arange(20) % 2
    weights = np.linspace(0.5, 2.0, 20)
    data = jaxnn.datasets.from_arrays(x, y, sample_weight=weights, seed=3)
    train, val, test = jaxnn.datasets.split_rows(y, seed=3)
    for part, rows in zip(data.sample_weight, (train, val, test), strict=True):
        np.testing.assert_allclose(part, weights[rows].astype(np.float32))
    assert jaxnn.datasets.from_arrays(x, y).sample_weight is None
    bad = weights.copy()
    bad[7] = -1
    with pytest.raises(
        jaxnn.DataError,
        match=r"`sample_weight` is negative at row 7: -1.0; a weight must be a "
        r"number >= 0",
    ):
        jaxnn.datasets.from_arrays(x, y, sample_weight=bad)
    bad[7] = np.nan
    with pytest.raises(jaxnn.DataError, match=r"`sample_weight` is not a finite number at row 7: nan"):
        jaxnn.datasets.from_arrays(x, y, sample_weight=bad)
    with pytest.raises(jaxnn.DataError, match=r"`sample_weight` has shape \(3,\) but x has 20 rows"):
        jaxnn.datasets.from_arrays(x, y, sample_weight=[1, 2, 3])


def test_class_weights_match_scikit_learn_and_bad_ones_are_refused(cancer, diabetes):
    from sklearn.utils.class_weight import compute_class_weight

    from jaxnn.spec import class_weights

    expected = compute_class_weight("balanced", classes=np.arange(2), y=np.asarray(cancer.y_train))
    np.testing.assert_allclose(class_weights("balanced", cancer), expected)
    assert class_weights({"malignant": 3}, cancer) == (3.0, 1.0)
    with pytest.raises(
        jaxnn.ConfigError,
        match=r"`class_weight` names class 'cat', which the data does not have; its "
        r"classes are malignant, benign",
    ):
        class_weights({"cat": 2}, cancer)
    with pytest.raises(
        jaxnn.ConfigError,
        match=r"`class_weight` of class 'benign' is -1; a weight must be a "
        r"finite number",
    ):
        class_weights({"benign": -1}, cancer)
    with pytest.raises(jaxnn.ConfigError, match=r"`class_weight` weighs classes, but the data is a regression task"):
        class_weights("balanced", diabetes)
    with pytest.raises(jaxnn.ConfigError, match=r"`class_weight` must be 'balanced' or a mapping"):
        class_weights("even", cancer)


def test_class_and_sample_weights_act_in_the_loss(cancer):
    """Full batch: class_weight='balanced' trains exactly as the same weights given per row, and rows of weight 0
    train as if they were not there."""
    model = jaxnn.mlp([cancer.num_features, 1])
    options = dict(num_epochs=3, batch_size=None, key=0, progress=False, learning_rate=0.05, restore_best=False)
    balanced = jaxnn.fit(model, cancer, class_weight="balanced", **options)
    per_row = np.asarray(jaxnn.spec.class_weights("balanced", cancer), np.float32)[np.asarray(cancer.y_train)]
    as_rows = jaxnn.fit(model, cancer.replace(w_train=per_row), **options)
    chex_close = functools.partial(np.testing.assert_allclose, rtol=2e-5, atol=1e-6)
    jax.tree.map(chex_close, balanced.params, as_rows.params)
    keep = np.arange(cancer.num_train) % 3 != 0
    zeroed = jaxnn.fit(model, cancer.replace(w_train=keep.astype(np.float32)), **options)
    subset = jaxnn.fit(model, cancer.replace(x_train=cancer.x_train[keep], y_train=cancer.y_train[keep]), **options)
    jax.tree.map(chex_close, zeroed.params, subset.params)
    assert not np.allclose(balanced.params[0]["w"], zeroed.params[0]["w"])  # the weights act


def test_weighted_validation_metrics_are_sklearn_weighted_metrics(cancer):
    rng = np.random.default_rng(0)
    data = cancer.replace(w_val=rng.uniform(0.2, 3, cancer.num_val).astype(np.float32))
    model = jaxnn.mlp([cancer.num_features, 1])
    params = model.init(jax.random.key(2))
    got = jaxnn.evaluate(model, params, data, split="val", metric=["accuracy", "roc_auc"])
    logits = np.asarray(model.apply(params, data.x_val))[:, 0]
    expected = skm.roc_auc_score(data.y_val, logits, sample_weight=data.w_val)
    np.testing.assert_allclose(got["roc_auc"], expected, rtol=1e-5)
    np.testing.assert_allclose(
        got["accuracy"], skm.accuracy_score(data.y_val, logits > 0, sample_weight=data.w_val), rtol=1e-5
    )


# ---------------------------------------------------------------------------
# The command line


def jaxnn_command(*args, cwd):
    """The installed ``jaxnn`` console script (the interpreter's module where none is installed)."""
    import pathlib
    import shutil
    import subprocess
    import sys

    script = pathlib.Path(sys.executable).with_name("jaxnn")
    command = (
        [str(script)]
        if script.exists()
        else [shutil.which("jaxnn") or sys.executable, *(() if shutil.which("jaxnn") else ("-m", "jaxnn.cli"))]
    )
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)


def test_cli_metric_class_weight_and_weight_column(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    rows = ["a,b,c,w,y"] + [
        f"{a:.3f},{b:.3f},{c:.3f},{1 + (i % 3)},{'yes' if a + b > 0.8 else 'no'}" for i, (a, b, c) in enumerate(x)
    ]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    common = ["--csv", "t.csv", "--target", "y", "--epochs", "3", "--no-progress", "--log", "none", "--sizes", "3,4,1"]
    done = jaxnn_command(
        "train",
        *common,
        "--metric",
        "log_loss",
        "--class-weight",
        "yes=3",
        "--weight-column",
        "w",
        "--out",
        "run",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "validation log loss" in done.stdout
    metadata = jaxnn.load(tmp_path / "run" / "model.msgpack").metadata
    assert {"roc_auc", "f1", "log_loss"} <= set(metadata["metrics"]["val"])
    from jaxnn import cli

    monkeypatch.chdir(tmp_path)  # refused before anything trains: in this process
    assert cli.main(["sweep", *common, "--learning-rate", "0.01,0.1", "--metric", "r2", "--out", "s"]) == 2
    assert "jaxnn: error: --metric r2 does not fit a binary task" in capsys.readouterr().err
    assert cli.main(["train", *common, "--monitor", "metric", "--out", "s"]) == 2
    assert "jaxnn: error: --monitor metric says what early stopping watches: give --patience N too" in (
        capsys.readouterr().err
    )


def test_cli_early_stopping_follows_the_metric_with_monitor_metric(tmp_path, capsys, monkeypatch):
    """roc_auc reaches its best long before the loss does: --monitor metric stops on it and saves its epoch."""
    from jaxnn import cli

    monkeypatch.chdir(tmp_path)
    flags = ["--dataset", "breast_cancer", "--sizes", "16", "--learning-rate", "0.01", "--no-progress", "--log", "none"]
    status = cli.main(
        ["train", *flags, "--epochs", "12", "--metric", "roc_auc", "--patience", "3", "--monitor", "metric"]
    )
    assert status == 0, capsys.readouterr().err
    metadata = jaxnn.load(tmp_path / "runs" / "train" / "model.msgpack").metadata
    with open(tmp_path / "runs" / "train" / "history.csv") as handle:
        history = list(csv.DictReader(handle))
    auc, loss = (np.array([float(row[name]) for row in history]) for name in ("val_metric", "val_loss"))
    assert metadata["best_epoch"] == 1 + int(np.argmax(auc))  # the first epoch of the highest AUC
    assert len(history) == metadata["best_epoch"] + 3  # stopped 3 epochs without a higher one
    assert np.argmax(auc) != np.argmin(loss)  # the loss would have chosen another epoch
    assert cli.main(["train", *flags, "--monitor", "metric"]) == 2
    assert "jaxnn: error: --monitor metric says what early stopping watches: give --patience N too" in (
        capsys.readouterr().err
    )


def test_cli_refuses_bad_class_weights(tmp_path, capsys, monkeypatch):
    from jaxnn import cli

    monkeypatch.chdir(tmp_path)
    common = ["train", "--dataset", "breast_cancer", "--epochs", "1", "--no-progress", "--log", "none", "--out", "u"]
    assert cli.main([*common, "--class-weight", "yes"]) == 2
    assert "argument --class-weight: expected 'balanced' or class=weight pairs" in capsys.readouterr().err
    assert cli.main([*common, "--class-weight", "maybe=2"]) == 2
    assert "jaxnn: error: --class-weight names class 'maybe', which the data does not have" in capsys.readouterr().err
    regression = ["train", "--dataset", "diabetes", "--epochs", "1", "--class-weight", "balanced", "--out", "r"]
    assert cli.main(regression) == 2
    assert "--class-weight weighs classes, but the data is a regression task" in capsys.readouterr().err
