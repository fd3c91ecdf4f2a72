"""The NumPy baseline against JAX, finite differences and real data.

The baseline is jaxnn's independent reference, so every check here compares it
with something written separately: ``jax.grad`` of the jaxnn model, central
finite differences, an Optax SGD run on the same batches, or a task it must learn.
"""

import ast
import copy
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnn
from jaxnn import baseline

BASELINE_PATH = Path(baseline.__file__)
ACTIVATIONS = ["identity", "relu", "sigmoid", "tanh"]
LOSSES = ["binary_cross_entropy", "mean_squared_error", "softmax_cross_entropy"]
# Max-abs error relative to each gradient leaf's largest entry (floored so an
# all-zero leaf, e.g. behind dead ReLUs, compares absolutely).
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}
FLOOR = 1e-6
# In float32 the output error (e.g. sigmoid(z) - y for soft labels) is a difference of O(1) terms, rounded to
# ~1e-7 absolute however small it is, and every gradient inherits that absolute error: float32 gradients under
# 0.1 are compared to 0.1 (hypothesis found a batch of one whose largest gradient was ~1e-3).
FLOAT32_FLOOR = 0.1


# --- helpers -----------------------------------------------------------------------------


class Case(NamedTuple):
    """One network and batch to compare on; ``label_form`` picks how ``y`` is shaped."""

    sizes: list[int]
    activation: list[str]
    loss: str
    label_form: str
    batch: int
    l2: float
    seed: int


def make_params(sizes, rng, dtype):
    """Random params with random (non-zero) biases, so bias gradients are exercised too."""
    return [
        {
            "w": (rng.normal(size=(fan_in, fan_out)) * 1.5 / np.sqrt(fan_in)).astype(dtype),
            "b": (0.5 * rng.normal(size=fan_out)).astype(dtype),
        }
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def make_targets(loss, label_form, batch, num_outputs, rng, dtype):
    if loss == "binary_cross_entropy":
        if label_form == "flat":
            return rng.integers(0, 2, batch)
        return rng.random((batch, 1)).astype(dtype)  # soft labels in [0, 1]
    if loss == "softmax_cross_entropy":
        classes = rng.integers(0, num_outputs, batch)
        if label_form == "flat":
            return classes
        if label_form == "one_hot":
            return np.eye(num_outputs, dtype=dtype)[classes]
        if label_form == "probabilities":
            return rng.dirichlet(np.ones(num_outputs), batch).astype(dtype)
        return rng.random((batch, num_outputs)).astype(dtype)  # "weights": rows need not sum to 1
    shape = (batch,) if num_outputs == 1 and label_form == "flat" else (batch, num_outputs)
    return rng.normal(size=shape).astype(dtype)


def make_data(case, dtype):
    rng = np.random.default_rng(case.seed)
    params = make_params(case.sizes, rng, dtype)
    x = rng.normal(size=(case.batch, case.sizes[0])).astype(dtype)
    y = make_targets(case.loss, case.label_form, case.batch, case.sizes[-1], rng, dtype)
    return params, x, y


def jax_objective(sizes, activation, loss, l2, dtype):
    """``params, x, y -> loss + l2 * penalty`` built from jaxnn alone (a float64 model built with float64 on: JAX
    would warn that it truncates the dtype where the model checks its shapes)."""
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        model = jaxnn.mlp(sizes, activation=activation, dtype=dtype)
    loss_fn = jaxnn.losses.get(loss)

    def objective(params, x, y):
        return loss_fn(model.apply(params, x), y) + l2 * jaxnn.losses.l2_penalty(params)

    return objective


def jax_loss_and_grads(case, params, x, y, dtype):
    """``jax.value_and_grad`` of the jaxnn model, in float64 when ``dtype`` is."""
    objective = jax_objective(case.sizes, case.activation, case.loss, case.l2, dtype)
    with jax.enable_x64(dtype == np.float64):
        value, grads = jax.jit(jax.value_and_grad(objective))(baseline.params_to_jax(params), x, y)
        assert grads[0]["w"].dtype == dtype
        return float(value), baseline.params_from_jax(grads)


def relative_error(actual, expected, *, per_layer=True, floor=FLOOR):
    """The largest max-abs error of a gradient, relative to the largest expected entry.

    ``per_layer`` divides each layer's error by that layer's largest entry (``w`` and
    ``b`` together: a bias gradient ``Σδ`` can cancel to far less than its terms);
    otherwise by the largest entry of the whole tree. Scales are floored at ``floor``
    so an all-zero layer (dead ReLUs) compares absolutely.
    """
    pairs = list(zip(actual, expected, strict=True))
    tree_scale = max(float(np.max(np.abs(leaf), initial=0.0)) for layer in expected for leaf in layer.values())
    worst = 0.0
    for actual_layer, expected_layer in pairs:
        assert actual_layer.keys() == expected_layer.keys()
        scale = max(float(np.max(np.abs(leaf), initial=0.0)) for leaf in expected_layer.values())
        scale = max(scale if per_layer else tree_scale, floor)
        for name in expected_layer:
            a = np.asarray(actual_layer[name], np.float64)
            e = np.asarray(expected_layer[name], np.float64)
            assert a.shape == e.shape, (name, a.shape, e.shape)
            worst = max(worst, float(np.max(np.abs(a - e), initial=0.0)) / scale)
    return worst


def assert_matches_jax(case, dtype):
    params, x, y = make_data(case, dtype)
    value, grads = baseline.loss_and_grads(params, x, y, loss=case.loss, activation=case.activation, l2=case.l2)
    expected_value, expected_grads = jax_loss_and_grads(case, params, x, y, dtype)
    tolerance = TOLERANCE[dtype]
    assert value.dtype == dtype and all(g[name].dtype == dtype for g in grads for name in ("w", "b"))
    # A loss near 0 is a difference of O(1) terms (log-sum-exp minus the true logit).
    assert abs(float(value) - expected_value) <= tolerance * max(abs(expected_value), 1.0)
    # In float32 a saturated sigmoid or tanh makes f'(z) = 1 - a² (or a(1 - a)) from a rounded
    # `a` inaccurate on both sides, so small gradients deep down disagree by more than 1e-5
    # of themselves; float32 is therefore held to 1e-5 of the largest gradient (or of FLOAT32_FLOOR), float64 to
    # 1e-10 of each layer's.
    if dtype == np.float64:
        assert relative_error(grads, expected_grads) <= tolerance
    else:
        assert relative_error(grads, expected_grads, per_layer=False, floor=FLOAT32_FLOOR) <= tolerance


def finite_difference_grads(params, x, y, *, loss, activation, l2, epsilon=1e-6):
    """Central differences of the baseline loss, one parameter at a time (float64)."""
    grads = []
    for layer in params:
        layer_grads = {}
        for name, value in layer.items():
            grad = np.zeros_like(value)
            for index in np.ndindex(value.shape):
                original = value[index]
                value[index] = original + epsilon
                above = baseline.loss_and_grads(params, x, y, loss=loss, activation=activation, l2=l2).loss
                value[index] = original - epsilon
                below = baseline.loss_and_grads(params, x, y, loss=loss, activation=activation, l2=l2).loss
                value[index] = original
                grad[index] = (above - below) / (2 * epsilon)
            layer_grads[name] = grad
        grads.append(layer_grads)
    return grads


# --- gradients ---------------------------------------------------------------------------


@st.composite
def cases(draw):
    loss = draw(st.sampled_from(LOSSES))
    num_hidden = draw(st.integers(0, 3))
    if loss == "binary_cross_entropy":
        num_outputs, label_form = 1, draw(st.sampled_from(["flat", "column"]))
    elif loss == "softmax_cross_entropy":
        num_outputs = draw(st.integers(2, 4))
        label_form = draw(st.sampled_from(["flat", "one_hot", "probabilities", "weights"]))
    else:
        num_outputs, label_form = draw(st.integers(1, 3)), draw(st.sampled_from(["flat", "column"]))
    widths = draw(st.lists(st.integers(1, 6), min_size=num_hidden + 1, max_size=num_hidden + 1))
    return Case(
        sizes=[*widths, num_outputs],
        activation=draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=num_hidden, max_size=num_hidden)),
        loss=loss,
        label_form=label_form,
        batch=draw(st.sampled_from([1, 1, 2, 3, 5, 8])),
        l2=draw(st.sampled_from([0.0, 0.0, 0.3])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@settings(max_examples=15, deadline=None)  # with the exhaustive activation x loss test below
@given(case=cases())
def test_gradients_match_jax_on_random_networks(case, dtype):
    assert_matches_jax(case, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_jax_for_every_activation_and_loss(activation, loss, dtype):
    num_outputs = {"binary_cross_entropy": 1, "softmax_cross_entropy": 3, "mean_squared_error": 2}[loss]
    # Soft labels and unnormalized class weights: the general forms of each target.
    label_form = "weights" if loss == "softmax_cross_entropy" else "column"
    case = Case([4, 6, 5, num_outputs], [activation, activation], loss, label_form, batch=7, l2=0.1, seed=3)
    assert_matches_jax(case, dtype)


@pytest.mark.parametrize(
    "sizes, activation, loss, y",
    [
        ([3, 4, 3], ["tanh"], "softmax_cross_entropy", np.array([0, 2, 1, 2, 0])),
        ([3, 4, 5, 1], ["sigmoid", "tanh"], "binary_cross_entropy", np.array([0.0, 1.0, 1.0, 0.3, 1.0])),
        ([3, 4, 2], ["identity"], "mean_squared_error", np.arange(10.0).reshape(5, 2) / 10),
    ],
)
def test_gradients_match_finite_differences(sizes, activation, loss, y):
    rng = np.random.default_rng(1)
    params = make_params(sizes, rng, np.float64)
    x = rng.normal(size=(5, sizes[0]))
    _, grads = baseline.loss_and_grads(params, x, y, loss=loss, activation=activation, l2=0.1)
    expected = finite_difference_grads(params, x, y, loss=loss, activation=activation, l2=0.1)
    assert relative_error(grads, expected) < 1e-7


def test_sigmoid_derivative_is_elementwise_with_a_non_square_hidden_layer():
    # The textbook writes σ'(z) as sigmoid(Z).dot(1 - sigmoid(Z)): with a (4, 5) hidden
    # layer that product does not even have a shape; elementwise it is a ⊙ (1 − a).
    rng = np.random.default_rng(2)
    params = make_params([3, 5, 2], rng, np.float64)
    x, targets = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    _, grads = baseline.loss_and_grads(params, x, targets, loss="mean_squared_error", activation="sigmoid")

    (w1, b1), (w2, b2) = [(p["w"], p["b"]) for p in params]
    hidden = 1 / (1 + np.exp(-(x @ w1 + b1)))
    delta_out = 2 * (hidden @ w2 + b2 - targets) / len(x)
    delta_hidden = (delta_out @ w2.T) * hidden * (1 - hidden)
    np.testing.assert_allclose(grads[1]["w"], hidden.T @ delta_out, rtol=1e-12)
    np.testing.assert_allclose(grads[0]["w"], x.T @ delta_hidden, rtol=1e-12)
    np.testing.assert_allclose(grads[0]["b"], delta_hidden.sum(axis=0), rtol=1e-12)


def test_sigmoid_derivative_is_elementwise_when_the_matrix_product_would_fit():
    # batch == hidden width: a matrix-product derivative would run and be silently wrong.
    rng = np.random.default_rng(4)
    params = make_params([3, 5, 1], rng, np.float64)
    x, labels = rng.normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    _, grads = baseline.loss_and_grads(params, x, labels, loss="binary_cross_entropy", activation="sigmoid")
    expected = finite_difference_grads(params, x, labels, loss="binary_cross_entropy", activation="sigmoid", l2=0.0)
    assert relative_error(grads, expected) < 1e-7


def test_binary_cross_entropy_gradient_keeps_its_digits_for_confident_answers():
    # σ(z) - y for z = 12, y = 1 cancels to ~6e-6 and would keep only 2 digits in float32.
    x = np.array([[12.0], [-12.0], [9.0]])
    labels = np.array([1, 0, 1])
    grads = {
        dtype: baseline.loss_and_grads(
            [{"w": np.ones((1, 1), dtype), "b": np.zeros(1, dtype)}], x, labels, loss="binary_cross_entropy"
        ).grads
        for dtype in (np.float32, np.float64)
    }
    assert relative_error(grads[np.float32], grads[np.float64]) < 1e-6


# --- forward -----------------------------------------------------------------------------


@pytest.mark.parametrize("output_activation", [None, *ACTIVATIONS])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_matches_jaxnn_apply(key, activation, output_activation):
    model = jaxnn.mlp([5, 7, 4, 3], activation=activation, output_activation=output_activation)
    params = model.init(key)
    x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    outputs = baseline.forward(
        baseline.params_from_jax(params), x, activation=activation, output_activation=output_activation
    )
    assert outputs.dtype == np.float32
    np.testing.assert_allclose(outputs, model.apply(params, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_matches_jaxnn_apply_in_float64(activation):
    rng = np.random.default_rng(5)
    params = make_params([5, 7, 4, 3], rng, np.float64)
    x = rng.normal(size=(6, 5))
    with jax.enable_x64(True):
        model = jaxnn.mlp([5, 7, 4, 3], activation=[activation, "tanh"], output_activation="sigmoid", dtype=jnp.float64)
        expected = np.asarray(model.apply(baseline.params_to_jax(params), x))
    outputs = baseline.forward(params, x, activation=[activation, "tanh"], output_activation="sigmoid")
    np.testing.assert_allclose(outputs, expected, rtol=1e-13)


def test_forward_keeps_the_params_dtype_and_casts_x():
    params = baseline.init_params([2, 3, 1], dtype=np.float32)
    outputs = baseline.forward(params, np.array([[1, 0], [0, 1]]))  # integer x
    assert outputs.dtype == np.float32 and outputs.shape == (2, 1)
    _, grads = baseline.loss_and_grads(params, np.ones((2, 2)), [0, 1], loss="binary_cross_entropy")
    assert all(g[name].dtype == np.float32 for g in grads for name in ("w", "b"))


def test_losses_are_stable_for_huge_logits():
    params = [{"w": np.array([[1.0]]), "b": np.zeros(1)}]
    x = np.array([[1000.0], [-1000.0], [800.0]])
    multi = [{"w": np.array([[1.0, -1.0, 0.5]]), "b": np.zeros(3)}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = baseline.loss_and_grads(params, x, [1, 0, 0], loss="binary_cross_entropy")
        assert np.isclose(value, 800 / 3)  # only the third example is wrong, by a logit of 800
        np.testing.assert_allclose(grads[0]["w"], [[800 / 3]])
        value, grads = baseline.loss_and_grads(multi, x, [0, 1, 0], loss="softmax_cross_entropy")
        assert np.isfinite(value) and all(np.isfinite(g[n]).all() for g in grads for n in ("w", "b"))
        outputs = baseline.forward(params, -x, activation="sigmoid", output_activation="sigmoid")
        np.testing.assert_array_equal(outputs, [[0.0], [1.0], [0.0]])


# --- step and train ----------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_step_is_loss_and_grads_then_an_in_place_update(activation, loss):
    num_outputs = 1 if loss == "binary_cross_entropy" else 3
    case = Case([4, 6, 5, num_outputs], [activation, "tanh"], loss, "flat", batch=9, l2=0.05, seed=7)
    params, x, y = make_data(case, np.float64)
    x_before = x.copy()
    value, grads = baseline.loss_and_grads(params, x, y, loss=loss, activation=case.activation, l2=case.l2)
    arrays = [(p["w"], p["b"]) for p in params]
    expected = [{name: p[name] - 0.1 * g[name] for name in p} for p, g in zip(params, grads, strict=True)]

    step_value = baseline.step(params, x, y, loss=loss, learning_rate=0.1, activation=case.activation, l2=case.l2)

    assert step_value == pytest.approx(value, rel=1e-14)
    assert all(p["w"] is w and p["b"] is b for p, (w, b) in zip(params, arrays, strict=True))  # updated in place
    assert relative_error(params, expected) < 1e-13
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("loss", LOSSES)
def test_sgd_loss_curve_matches_optax(loss):
    sizes = [5, 8, 6, 1 if loss == "binary_cross_entropy" else 3]
    activation, learning_rate, l2, batch_size, seed = ["tanh", "relu"], 0.1, 0.01, 7, 11
    label_form = "column" if loss == "mean_squared_error" else "flat"
    rng = np.random.default_rng(6)
    params = make_params(sizes, rng, np.float64)
    x = rng.normal(size=(30, sizes[0]))  # 30 / 7: four full batches and one of 2
    y = make_targets(loss, label_form, 30, sizes[-1], rng, np.float64)

    trained, losses = baseline.train(
        params, x, y, loss=loss, learning_rate=learning_rate, num_epochs=10,
        batch_size=batch_size, l2=l2, seed=seed, activation=activation,
    )  # fmt: skip

    objective = jax_objective(sizes, activation, loss, l2, np.float64)
    optimizer = optax.sgd(learning_rate)
    jax_losses = []
    with jax.enable_x64(True):

        @jax.jit
        def update(params, opt_state, x, y):
            value, grads = jax.value_and_grad(objective)(params, x, y)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, value

        jax_params = baseline.params_to_jax(params)
        opt_state = optimizer.init(jax_params)
        replay = np.random.default_rng(seed)
        for _ in range(10):
            for batch in baseline.batch_indices(len(x), batch_size, replay):
                jax_params, opt_state, value = update(jax_params, opt_state, x[batch], y[batch])
                jax_losses.append(float(value))
        jax_params = baseline.params_from_jax(jax_params)

    assert len(losses) == len(jax_losses) == 50
    np.testing.assert_allclose(losses, jax_losses, rtol=1e-8)
    assert relative_error(trained, jax_params) < 1e-8
    assert losses[-5:].mean() < losses[:5].mean()


def test_full_batch_training_reads_the_same_inputs_every_epoch():
    # The textbook overwrites X with the outputs after each epoch; replaying the
    # updates on the original x must reproduce every loss.
    rng = np.random.default_rng(8)
    params = make_params([4, 6, 2], rng, np.float64)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 2))
    x_before, y_before, params_before = x.copy(), y.copy(), copy.deepcopy(params)

    trained, losses = baseline.train(
        params, x, y, loss="mean_squared_error", learning_rate=0.05, num_epochs=6, activation="sigmoid"
    )

    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)
    for layer, layer_before, layer_trained in zip(params, params_before, trained, strict=True):
        for name in ("w", "b"):
            np.testing.assert_array_equal(layer[name], layer_before[name])  # the caller's params untouched
            assert not np.shares_memory(layer_trained[name], layer[name])
    replayed = copy.deepcopy(params_before)
    for epoch in range(6):
        value, grads = baseline.loss_and_grads(replayed, x_before, y, loss="mean_squared_error", activation="sigmoid")
        assert losses[epoch] == pytest.approx(value, rel=1e-13)
        replayed = [{name: p[name] - 0.05 * g[name] for name in p} for p, g in zip(replayed, grads, strict=True)]
    assert relative_error(trained, replayed) < 1e-13


def test_minibatch_training_does_not_mutate_its_inputs():
    rng = np.random.default_rng(9)
    params = make_params([3, 4, 3], rng, np.float32)
    x, y = rng.normal(size=(10, 3)).astype(np.float32), rng.integers(0, 3, 10)
    before = (x.copy(), y.copy(), copy.deepcopy(params))
    trained, losses = baseline.train(
        params, x, y, loss="softmax_cross_entropy", learning_rate=0.1, num_epochs=3, batch_size=4, activation="relu"
    )
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])
    assert relative_error(params, before[2]) == 0.0
    assert losses.shape == (9,) and losses.dtype == np.float32  # 3 epochs of batches of 4, 4 and 2
    assert trained[0]["w"].dtype == np.float32


def test_batch_indices_cover_every_example_once_per_epoch():
    rng = np.random.default_rng(0)
    epochs = [list(baseline.batch_indices(10, 4, rng)) for _ in range(2)]
    for batches in epochs:
        assert [len(batch) for batch in batches] == [4, 4, 2]
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))
    assert not np.array_equal(np.concatenate(epochs[0]), np.concatenate(epochs[1]))  # reshuffled


def test_learns_xor_with_a_2_4_1_sigmoid_network():
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    params = baseline.init_params([2, 4, 1], seed=0, activation="sigmoid", dtype=np.float64)
    trained, losses = baseline.train(
        params, x, y, loss="binary_cross_entropy", learning_rate=2.0, num_epochs=3000, activation="sigmoid"
    )
    logits = baseline.forward(trained, x, activation="sigmoid")[:, 0]
    np.testing.assert_array_equal(logits > 0, y.astype(bool))
    assert losses[-1] < 0.05 < losses[0]


def test_learns_breast_cancer_about_as_well_as_logistic_regression():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    params = baseline.init_params([30, 16, 1], seed=0, dtype=np.float64)
    trained, _ = baseline.train(
        params, x_train, y_train, loss="binary_cross_entropy", learning_rate=0.05, num_epochs=30, batch_size=32
    )
    predicted = baseline.forward(trained, x_test)[:, 0] > 0
    # A reference fitted by scikit-learn on the same split: 6 of 143 wrong; the baseline's 30 epochs, 7.
    reference = LogisticRegression(max_iter=1000).fit(x_train, y_train).predict(x_test)
    assert np.sum(predicted != y_test) <= np.sum(reference != y_test) + 5


# --- conversion, imports, docs -----------------------------------------------------------


def test_params_round_trip_through_jax(key):
    params = jaxnn.mlp([4, 3, 2]).init(key)
    numpy_params = baseline.params_from_jax(params)
    assert all(isinstance(p[n], np.ndarray) and p[n].flags.writeable for p in numpy_params for n in ("w", "b"))
    numpy_params[0]["w"] += 0.0  # writable: step() can update it in place
    back = baseline.params_to_jax(numpy_params)
    assert all(isinstance(p[n], jax.Array) for p in back for n in ("w", "b"))
    for original, converted in zip(params, back, strict=True):
        for name in ("w", "b"):
            np.testing.assert_array_equal(original[name], converted[name])
    assert baseline.params_from_jax(params, dtype=np.float64)[1]["b"].dtype == np.float64


def test_imports_only_numpy_and_the_standard_library():
    tree = ast.parse(BASELINE_PATH.read_text())
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    module_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [alias.name for node in module_level if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in module_level if isinstance(node, ast.ImportFrom)]
    assert "numpy" in names
    assert all(name.split(".")[0] in allowed for name in names), names
    assert all(node.level == 0 for node in module_level if isinstance(node, ast.ImportFrom))
    # Anywhere else, only params_to_jax may import (JAX, lazily).
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node not in module_level:
            assert node in list(ast.walk(functions["params_to_jax"]))
    assert not re.search(r"^\s*(import|from)\s+jaxnn", BASELINE_PATH.read_text(), re.MULTILINE)


def test_loads_by_file_path_without_importing_jax():
    script = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("numpy_baseline", {str(BASELINE_PATH)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
params = module.init_params([3, 4, 1])
module.step(params, [[1.0, 2.0, 3.0]], [1.0], loss="binary_cross_entropy", learning_rate=0.1)
assert "jax" not in sys.modules and "jaxnn" not in sys.modules, sorted(sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_docstring_examples_run():
    import doctest

    results = doctest.testmod(baseline)
    assert results.failed == 0 and results.attempted > 0


# --- bad input ---------------------------------------------------------------------------


def _params(*sizes, dtype=np.float64):
    return baseline.init_params(list(sizes), dtype=dtype)


BAD_INPUTS = {
    "x features": (
        lambda: baseline.forward(_params(30, 4, 1), np.ones((2, 7))),
        "x has 7 features but the model expects 30 (params[0]['w'].shape[0]); x.shape=(2, 7)",
    ),
    "x features in step": (
        lambda: baseline.step(_params(3, 1), np.ones((2, 7)), [0, 1], loss="binary_cross_entropy", learning_rate=0.1),
        "x has 7 features but the model expects 3 (params[0]['w'].shape[0])",
    ),
    "x not a batch": (
        lambda: baseline.forward(_params(3, 1), np.ones(3)),
        "x must be a batch of shape (batch, features), got shape (3,)",
    ),
    "layers do not chain": (
        lambda: baseline.forward(_params(3, 4, 1)[:1] + _params(5, 1), np.ones((2, 3))),
        "params[1]['w'] has shape (5, 1) but the layer before outputs 4 features (params[0]['w'].shape[1]); "
        "expected params[1]['w'].shape[0] == 4",
    ),
    "bias shape": (
        lambda: baseline.forward([{"w": np.ones((3, 2)), "b": np.ones(3)}], np.ones((2, 3))),
        "params[0]['b'] has shape (3,) but params[0]['w'] has shape (3, 2); expected b of shape (2,)",
    ),
    "w not 2-D": (
        lambda: baseline.forward([{"w": np.ones(3), "b": np.ones(3)}], np.ones((2, 3))),
        "params[0]['w'] must be a 2-D array (d_in, d_out), got shape (3,)",
    ),
    "empty params": (
        lambda: baseline.forward([], np.ones((2, 3))),
        "params must be a non-empty list of {'w': (d_in, d_out), 'b': (d_out,)} dicts, got list",
    ),
    "missing key": (
        lambda: baseline.forward([{"w": np.ones((3, 1))}], np.ones((2, 3))),
        "params[0] must be a dict with keys 'w' and 'b', got dict",
    ),
    "integer params": (
        lambda: baseline.forward([{"w": np.ones((3, 1), int), "b": np.ones(1, int)}], np.ones((2, 3))),
        "params[0]['w'] has dtype int64; parameters must be float32 or float64",
    ),
    "mixed dtypes": (
        lambda: baseline.forward(_params(3, 4) + _params(4, 1, dtype=np.float32), np.ones((2, 3))),
        "params[1]['w'] has dtype float32 but params[0]['w'] has dtype float64; all parameters must share one dtype",
    ),
    "y length": (
        lambda: baseline.loss_and_grads(_params(3, 1), np.ones((4, 3)), np.ones(5), loss="mean_squared_error"),
        "y has 5 examples but x has 4; y.shape=(5,)",
    ),
    "y length in train": (
        lambda: baseline.train(
            _params(3, 1), np.ones((4, 3)), np.ones(3), loss="binary_cross_entropy", learning_rate=0.1, num_epochs=1
        ),
        "y has 3 examples but x has 4; y.shape=(3,)",
    ),
    "unknown activation": (
        lambda: baseline.forward(_params(3, 4, 1), np.ones((2, 3)), activation="foo"),
        "unknown activation 'foo'; valid names: identity, relu, sigmoid, tanh",
    ),
    "misspelled activation": (
        lambda: baseline.forward(_params(3, 4, 1), np.ones((2, 3)), activation=["sigmoyd"]),
        "unknown activation 'sigmoyd' (did you mean 'sigmoid'?); valid names: identity, relu, sigmoid, tanh",
    ),
    "unknown output activation": (
        lambda: baseline.forward(_params(3, 1), np.ones((2, 3)), output_activation="softmax"),
        "unknown activation 'softmax'; valid names: identity, relu, sigmoid, tanh",
    ),
    "activation count": (
        lambda: baseline.forward(_params(3, 4, 4, 1), np.ones((2, 3)), activation=["relu"]),
        "`activation` has 1 names but params has 2 hidden layers (3 layers); pass one name, or one per hidden layer",
    ),
    "unknown loss": (
        lambda: baseline.loss_and_grads(_params(3, 1), np.ones((2, 3)), [0, 1], loss="cross_entropy"),
        "unknown loss 'cross_entropy'",
    ),
    "binary cross-entropy with several outputs": (
        lambda: baseline.loss_and_grads(_params(3, 2), np.ones((2, 3)), [0, 1], loss="binary_cross_entropy"),
        "binary_cross_entropy expects one output per example but the model has 2 (params[-1]['w'].shape[1])",
    ),
    "binary cross-entropy labels": (
        lambda: baseline.loss_and_grads(_params(3, 1), np.ones((2, 3)), np.ones((2, 2)), loss="binary_cross_entropy"),
        "binary_cross_entropy expects labels of shape (2,) or (2, 1), got (2, 2)",
    ),
    "squared error targets": (
        lambda: baseline.loss_and_grads(_params(3, 2), np.ones((2, 3)), np.ones(2), loss="mean_squared_error"),
        "mean_squared_error expects targets of shape (2, 2) to match the model's 2 outputs, got (2,)",
    ),
    "softmax labels shape": (
        lambda: baseline.loss_and_grads(_params(3, 3), np.ones((2, 3)), np.ones((2, 2)), loss="softmax_cross_entropy"),
        "labels of shape (2, 2) do not fit logits of shape (2, 3): "
        "expected integer labels (2,) or one-hot labels (2, 3)",
    ),
    "softmax labels range": (
        lambda: baseline.loss_and_grads(_params(3, 3), np.ones((2, 3)), [0, 3], loss="softmax_cross_entropy"),
        "softmax_cross_entropy labels must be classes in [0, 3) for a model with 3 outputs, got values from 0 to 3",
    ),
    "softmax fractional labels": (
        lambda: baseline.loss_and_grads(_params(3, 3), np.ones((2, 3)), [0.5, 1], loss="softmax_cross_entropy"),
        "softmax_cross_entropy expects integer class labels of shape (batch,); got fractions",
    ),
    "empty batch": (
        lambda: baseline.loss_and_grads(_params(3, 1), np.ones((0, 3)), np.ones(0), loss="mean_squared_error"),
        "x and y hold no examples; the loss is a mean over at least one",
    ),
    "negative l2": (
        lambda: baseline.loss_and_grads(_params(3, 1), np.ones((2, 3)), [0, 1], loss="mean_squared_error", l2=-1),
        "`l2` (=-1) must be >= 0",
    ),
    "learning rate": (
        lambda: baseline.step(_params(3, 1), np.ones((2, 3)), [0, 1], loss="mean_squared_error", learning_rate=0),
        "`learning_rate` (=0) must be > 0",
    ),
    "batch size": (
        lambda: baseline.train(
            _params(3, 1),
            np.ones((2, 3)),
            [0, 1],
            loss="mean_squared_error",
            learning_rate=0.1,
            num_epochs=1,
            batch_size=0,
        ),
        "`batch_size` (=0) must be >= 1",
    ),
    "number of epochs": (
        lambda: baseline.train(
            _params(3, 1), np.ones((2, 3)), [0, 1], loss="mean_squared_error", learning_rate=0.1, num_epochs=0
        ),
        "`num_epochs` (=0) must be >= 1",
    ),
    "sizes": (
        lambda: baseline.init_params([3]),
        "`sizes` needs at least 2 entries (input and output width), got [3]",
    ),
}


@pytest.mark.parametrize("call, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_step_refuses_params_it_cannot_update_in_place(key):
    jax_params = jaxnn.mlp([3, 1]).init(key)
    message = "step() updates params in place, so params[0]['w'] must be a writable NumPy array, got "
    with pytest.raises(TypeError, match=re.escape(message)):
        baseline.step(jax_params, np.ones((2, 3)), [0, 1], loss="binary_cross_entropy", learning_rate=0.1)
