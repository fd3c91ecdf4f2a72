"""jaxnn.metrics against scikit-learn's implementations: every metric, weighted and not, compiled."""

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
        return {"mean_squared_error": skm.mean_squared_error, "mae": skm.mean_absolute_error,
                "rmse": skm.root_mean_squared_error, "r2": skm.r2_score}[name](y, outputs, **w)
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
    scorer = {"accuracy": skm.accuracy_score, "balanced_accuracy": skm.balanced_accuracy_score,
              "f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score,
              "f1_macro": functools.partial(skm.f1_score, average="macro"),
              "precision_macro": functools.partial(skm.precision_score, average="macro", zero_division=0),
              "recall_macro": functools.partial(skm.recall_score, average="macro")}[name]
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


def test_roc_auc_with_one_class_is_nan_and_check_defined_refuses_it():
    with pytest.raises(jaxnn.DataError, match=r"roc_auc needs examples of every class, but the validation split "
                                              r"has none of class 0 \(3 examples\)"):
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
    assert metrics.for_task("binary") == ("accuracy", "balanced_accuracy", "f1", "f1_macro", "precision",
                                          "precision_macro", "recall", "recall_macro", "roc_auc", "log_loss",
                                          "mean_squared_error")
    assert "f1" not in metrics.for_task("multiclass")
    lower = {name for name, metric in metrics.METRICS.items() if not metric.higher_is_better}
    assert lower == {"log_loss", "mean_squared_error", "mae", "rmse"}
    assert metrics.check(None, "regression").name == "mean_squared_error"
    assert metrics.check("ROC_AUC", "binary").name == "roc_auc"


def test_a_metric_that_does_not_fit_the_task_is_refused():
    with pytest.raises(jaxnn.ConfigError, match=r"metric='accuracy' does not fit a regression task \(it fits binary "
                                                r"and multiclass data\); metrics for regression data: "
                                                r"mean_squared_error, mae, rmse, r2"):
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
