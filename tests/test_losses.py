"""Losses and metrics against NumPy/float64 references, finite differences, extremes and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxnn
from jaxnn import losses
from tests.conftest import EAGER_AND_JIT


def reference_bce(logits, labels):
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.float64)
    # log(1 + exp(-|z|)) + max(z, 0) - z * y, written independently of optax.
    return np.mean(np.log1p(np.exp(-np.abs(logits))) + np.maximum(logits, 0) - logits * labels)


def reference_softmax_ce(logits, labels):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(labels)), labels])


@EAGER_AND_JIT
def test_binary_cross_entropy_matches_reference(transform, key):
    logits = 3 * jax.random.normal(key, (32, 1))
    labels = jax.random.bernoulli(jax.random.key(1), 0.5, (32,)).astype(jnp.int32)
    got = transform(losses.binary_cross_entropy)(logits, labels)
    np.testing.assert_allclose(got, reference_bce(logits[:, 0], labels), rtol=1e-6)
    # (batch,) logits and (batch, 1) labels are the same loss.
    np.testing.assert_allclose(losses.binary_cross_entropy(logits[:, 0], labels[:, None]), got, rtol=1e-6)


@pytest.mark.parametrize("logit", [100.0, 1000.0, -100.0, -1000.0, 88.8, -104.0])
def test_binary_cross_entropy_is_exact_for_extreme_logits(logit):
    for label in (0, 1):
        value = float(losses.binary_cross_entropy(jnp.array([[logit]]), jnp.array([label])))
        wrong_side = (logit > 0) != (label == 1)
        expected = abs(logit) if wrong_side else np.log1p(np.exp(-abs(logit)))
        assert np.isfinite(value)
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-30)
        grad = jax.grad(lambda z: losses.binary_cross_entropy(z, jnp.array([label])))(jnp.array([[logit]]))
        assert np.all(np.isfinite(grad))


@EAGER_AND_JIT
def test_softmax_cross_entropy_integer_and_one_hot(transform, key):
    logits = 5 * jax.random.normal(key, (16, 4))
    labels = jax.random.randint(jax.random.key(1), (16,), 0, 4)
    expected = reference_softmax_ce(logits, np.asarray(labels))
    np.testing.assert_allclose(transform(losses.softmax_cross_entropy)(logits, labels), expected, rtol=1e-5)
    one_hot = jax.nn.one_hot(labels, 4)
    np.testing.assert_allclose(transform(losses.softmax_cross_entropy)(logits, one_hot), expected, rtol=1e-5)
    big = jnp.array([[1000.0, -1000.0, 0.0]])
    np.testing.assert_allclose(losses.softmax_cross_entropy(big, jnp.array([1])), 2000.0, rtol=1e-6)


def test_mean_squared_error_shapes():
    predictions = jnp.array([[1.0], [2.0], [4.0]])
    targets = jnp.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(losses.mean_squared_error(predictions, targets), (0 + 4 + 9) / 3)
    multi = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(losses.mean_squared_error(multi, jnp.zeros((2, 2))), (1 + 4) / 2)


def test_mask_restricts_the_mean():
    logits = jnp.array([[2.0], [-1.0], [50.0]])
    labels = jnp.array([1, 0, 0])
    mask = jnp.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(
        losses.binary_cross_entropy(logits, labels, mask=mask), reference_bce([2.0, -1.0], [1, 0]), rtol=1e-6
    )
    # A NaN in a masked-out example does not leak into the result.
    poisoned = logits.at[2, 0].set(jnp.nan)
    assert np.isfinite(losses.binary_cross_entropy(poisoned, labels, mask=mask))
    with pytest.raises(ValueError, match=r"mask has shape \(2,\) but the batch has shape \(3,\)"):
        losses.binary_cross_entropy(logits, labels, mask=jnp.ones(2))


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_loss_gradients_match_finite_differences(name, key):
    with jax.enable_x64(True):
        if name == "softmax_cross_entropy":
            outputs = jax.random.normal(key, (6, 3), jnp.float64)
            targets = jnp.array([0, 1, 2, 2, 1, 0])
        else:
            outputs = jax.random.normal(key, (6, 1), jnp.float64)
            targets = jnp.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
        fn = losses.get(name)
        check_grads(lambda o: fn(o, targets), (outputs,), order=2, modes=["rev"], eps=1e-5)


def test_l2_penalty_counts_weights_not_biases(key):
    params = jaxnn.mlp([3, 4, 2]).init(key)
    params = jax.tree.map(lambda p: p + 1.0, params)
    expected = 0.5 * sum(np.sum(np.square(p["w"])) for p in params)
    np.testing.assert_allclose(losses.l2_penalty(params), expected, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(losses.l2_penalty)(params)[0]["w"], params[0]["w"])
    np.testing.assert_array_equal(jax.grad(losses.l2_penalty)(params)[0]["b"], 0.0)


def test_accuracy_binary_and_multiclass():
    np.testing.assert_allclose(losses.accuracy(jnp.array([[2.0], [-1.0], [0.5]]), jnp.array([1, 1, 1])), 2 / 3)
    scores = jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.9, 0.1]])
    np.testing.assert_allclose(losses.accuracy(scores, jnp.array([1, 0, 0, 0])), 0.75)
    np.testing.assert_allclose(losses.accuracy(scores, jax.nn.one_hot(jnp.array([1, 0, 0, 0]), 2)), 0.75)
    np.testing.assert_allclose(losses.accuracy(scores, jnp.array([1, 0, 0, 1]), mask=jnp.array([1, 1, 1, 0])), 2 / 3)


def test_get_by_name_and_errors():
    assert losses.get("Binary_Cross_Entropy") is losses.binary_cross_entropy
    with pytest.raises(
        ValueError,
        match="unknown loss 'cross_entropy'.*; valid names: binary_cross_entropy, mean_squared_error, softmax_cross_entropy",
    ):
        losses.get("cross_entropy")
    with pytest.raises(ValueError, match=r"labels of shape \(4, 3\) do not fit logits of shape \(4, 2\)"):
        losses.softmax_cross_entropy(jnp.zeros((4, 2)), jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"binary_cross_entropy expects one output per example.*got outputs \(4, 3\)"):
        losses.binary_cross_entropy(jnp.zeros((4, 3)), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"targets \(5,\)"):
        losses.mean_squared_error(jnp.zeros((4, 1)), jnp.zeros(5))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\) do not fit outputs of shape \(4, 2\)"):
        losses.accuracy(jnp.zeros((4, 2)), jnp.zeros(3))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy expects labels in \[0, 1\], got 2"):
        losses.softmax_cross_entropy(jnp.zeros((2, 2)), jnp.array([0, 2]))
    with pytest.raises(ValueError, match="expects integer class labels, got fractional values such as 0.5"):
        losses.softmax_cross_entropy(jnp.zeros((2, 2)), jnp.array([0.0, 0.5]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy expects labels in \[0, 1\], got 2"):
        losses.binary_cross_entropy(jnp.zeros((2, 1)), jnp.array([0, 2]))
