"""Models and layers: shapes, forward pass against NumPy, gradients, dropout, Flax interop, errors."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxnn
from jaxnn import layers
from tests.conftest import EAGER_AND_JIT

NUMPY_ACTIVATIONS = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z >= 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "softplus": lambda z: np.logaddexp(z, 0.0),
    "silu": lambda z: z / (1.0 + np.exp(-z)),
    "identity": lambda z: z,
}


def numpy_forward(params, x, activation):
    a = np.asarray(x, np.float64)
    for i, layer in enumerate(params):
        z = a @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        a = NUMPY_ACTIVATIONS[activation](z) if i < len(params) - 1 else z
    return a


def test_mlp_params_are_the_documented_layout(key):
    model = jaxnn.mlp([30, 16, 8, 1])
    params = model.init(key)
    assert isinstance(params, list) and len(params) == 3
    assert [tuple(p["w"].shape) for p in params] == [(30, 16), (16, 8), (8, 1)]
    assert [tuple(p["b"].shape) for p in params] == [(16,), (8,), (1,)]
    assert all(set(p) == {"w", "b"} for p in params)
    assert all(p["w"].dtype == jnp.float32 for p in params)
    np.testing.assert_array_equal(params[0]["b"], 0.0)


@pytest.mark.parametrize("activation", sorted(NUMPY_ACTIVATIONS))
@EAGER_AND_JIT
def test_forward_matches_numpy(activation, transform, key):
    model = jaxnn.mlp([5, 7, 6, 3], activation=activation)
    params = model.init(key)
    x = jax.random.normal(jax.random.key(1), (11, 5))
    got = transform(model.apply)(params, x)
    chex.assert_shape(got, (11, 3))
    np.testing.assert_allclose(got, numpy_forward(params, x, activation), rtol=2e-5, atol=2e-6)


def test_eager_and_jit_are_identical(key):
    model = jaxnn.mlp([5, 16, 3], activation="gelu")
    params = model.init(key)
    x = jax.random.normal(key, (4, 5))
    np.testing.assert_allclose(model.apply(params, x), jax.jit(model.apply)(params, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "gelu", "elu"])
def test_mlp_gradients_match_finite_differences(activation, key):
    with jax.enable_x64(True):
        model = jaxnn.mlp([3, 4, 2], activation=activation, dtype=jnp.float64)
        params = model.init(key)
        x = jax.random.normal(jax.random.key(1), (5, 3), jnp.float64)
        check_grads(lambda p: jnp.sum(model.apply(p, x) ** 2), (params,), order=2, modes=["rev"], eps=1e-4)


def test_per_layer_activations_and_default_initializers(key):
    model = jaxnn.mlp([10, 400, 400, 1], activation=["relu", "tanh"])
    config_layers = model.config["activation"]
    assert config_layers == ["relu", "tanh"]
    params = model.init(key)
    # He normal for a ReLU layer: std sqrt(2 / fan_in); Glorot uniform for tanh: std sqrt(2 / (fan_in + fan_out)).
    np.testing.assert_allclose(np.std(params[0]["w"]), np.sqrt(2 / 10), rtol=0.1)
    np.testing.assert_allclose(np.std(params[1]["w"]), np.sqrt(2 / 800), rtol=0.1)
    assert np.max(np.abs(params[1]["w"])) <= np.sqrt(6 / 800) + 1e-6


@pytest.mark.parametrize(
    "name", ["he", "kaiming", "glorot", "xavier", "lecun", "normal", "he_uniform", "lecun_uniform"]
)
def test_initializers_by_name(name, key):
    params = jaxnn.mlp([50, 60, 2], init=name).init(key)
    assert np.all(np.isfinite(params[0]["w"])) and np.std(params[0]["w"]) > 0


JAX_INITIALIZERS = {
    "he_normal": jax.nn.initializers.he_normal(),
    "he_uniform": jax.nn.initializers.he_uniform(),
    "glorot_normal": jax.nn.initializers.glorot_normal(),
    "glorot_uniform": jax.nn.initializers.glorot_uniform(),
    "lecun_normal": jax.nn.initializers.lecun_normal(),
    "lecun_uniform": jax.nn.initializers.lecun_uniform(),
    "normal": jax.nn.initializers.normal(0.01),
}


def test_every_initializer_draws_jaxs_own_numbers_bitwise(key):
    """jaxnn draws each scheme as one flat row (XLA compiles that several times faster): the same numbers as
    jax.nn.initializers, for dense and conv shapes, a short last axis and odd sizes, in each float width, and with
    JAX's other threefry."""
    assert set(layers.INITIALIZERS) == set(JAX_INITIALIZERS)

    def check(*cases):
        @jax.jit  # one program for the cases
        def draws(key):
            return {
                f"{name} {shape} {dtype.__name__}": (ours(key, shape, dtype), JAX_INITIALIZERS[name](key, shape, dtype))
                for shape, dtype in cases
                for name, ours in layers.INITIALIZERS.items()
            }

        for name, (got, expected) in draws(key).items():
            assert got.dtype == expected.dtype and got.shape == expected.shape, name
            np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(expected, np.float32), err_msg=name)

    check(((49, 13), jnp.float32), ((3, 3, 4, 16), jnp.float32), ((7, 3), jnp.bfloat16))
    with jax.threefry_partitionable(False):
        check(((49, 13), jnp.float32))
    with jax.enable_x64():
        check(((49, 13), jnp.float64))
    with pytest.raises(
        jaxnn.ConfigError, match=r"needs a weight matrix or kernel \(2 or more axes\), got shape \(8,\)"
    ):
        layers.get_initializer("he_normal")(key, (8,))


def test_dropout_keeps_expected_fraction_and_mean(key):
    layer = layers.dropout(0.3)
    x = jnp.ones((200, 500))
    y = layer.apply(None, x, key=key, train=True)
    kept = np.mean(np.asarray(y) != 0)
    assert abs(kept - 0.7) < 0.01
    np.testing.assert_allclose(np.mean(y), 1.0, atol=0.01)  # inverted dropout preserves the mean
    np.testing.assert_array_equal(layer.apply(None, x, train=False), x)


def test_dropout_draws_jaxs_bernoulli_mask_bitwise(key):
    """Drawn as one flat row (it compiles faster), the keep-mask is jax.random.bernoulli's over the input's shape."""
    x = jnp.arange(1.0, 1 + 5 * 3 * 7).reshape(5, 3, 7)
    y = layers.dropout(0.4).apply(None, x, key=key, train=True)
    keep = 1.0 - jnp.asarray(0.4, x.dtype)
    np.testing.assert_array_equal(y != 0, jax.random.bernoulli(key, keep, x.shape))


def test_dropout_rate_may_be_traced(key):
    model = jaxnn.mlp([8, 256, 1], dropout=0.0)
    params = model.init(key)
    x = jnp.ones((64, 8))

    def zero_fraction(rate):
        hidden = jaxnn.sequential(8, layers.dense(256), layers.dropout(0.0)).apply
        return jnp.mean(hidden([params[0]], x, key=key, train=True, dropout=rate) == 0)

    fractions = jax.jit(jax.vmap(zero_fraction))(jnp.array([0.0, 0.5, 0.9]))
    np.testing.assert_allclose(fractions, [0.0, 0.5, 0.9], atol=0.03)
    # The same model output under jit with a traced rate is finite and differs from eval mode.
    out = jax.jit(lambda r: model.apply(params, x, key=key, train=True, dropout=r))(0.5)
    assert out.shape == (64, 1) and not np.allclose(out, model.apply(params, x))


def test_serial_composition_with_layer_norm(key):
    model = jaxnn.sequential(
        4, layers.dense(8), layers.layer_norm(), layers.activation("gelu"), layers.dropout(0.1), layers.dense(3)
    )
    params = model.init(key)
    assert len(params) == 3 and set(params[1]) == {"scale", "bias"}
    x = jax.random.normal(key, (6, 4))
    hidden = x @ params[0]["w"] + params[0]["b"]
    normed = (hidden - hidden.mean(-1, keepdims=True)) / np.sqrt(hidden.var(-1, keepdims=True) + 1e-5)
    expected = jax.nn.gelu(normed) @ params[2]["w"] + params[2]["b"]
    np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-5, atol=1e-5)
    rebuilt = jaxnn.model_from_config(model.config)
    np.testing.assert_array_equal(rebuilt.apply(params, x), model.apply(params, x))


def test_model_from_config_rebuilds_the_same_model(key):
    model = jaxnn.mlp([4, 8, 8, 2], activation=["tanh", "elu"], output_activation="softmax", dropout=0.2, init="lecun")
    rebuilt = jaxnn.model_from_config(model.config)
    assert rebuilt.config == model.config
    params = model.init(key)
    x = jax.random.normal(key, (3, 4))
    np.testing.assert_array_equal(rebuilt.apply(params, x), model.apply(params, x))
    chex.assert_trees_all_equal(rebuilt.init(key), params)


class FlaxMLP(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        x = nn.relu(nn.Dense(self.hidden)(x))
        x = nn.Dropout(0.5, deterministic=deterministic)(x)
        return nn.Dense(1)(x)


def test_from_flax_matches_mlp_with_the_same_weights(key):
    x = jax.random.normal(key, (7, 5))
    wrapped = jaxnn.from_flax(FlaxMLP(hidden=6), x)
    flax_params = wrapped.init(key)
    ours = [
        {"w": flax_params["Dense_0"]["kernel"], "b": flax_params["Dense_0"]["bias"]},
        {"w": flax_params["Dense_1"]["kernel"], "b": flax_params["Dense_1"]["bias"]},
    ]
    expected = jaxnn.mlp([5, 6, 1]).apply(ours, x)
    np.testing.assert_allclose(wrapped.apply(flax_params, x), expected, rtol=1e-6)
    # train=True turns the module's dropout on and uses the key.
    dropped = wrapped.apply(flax_params, x, key=key, train=True)
    assert not np.allclose(dropped, expected)


def test_from_flax_errors(key):
    x = jnp.ones((2, 5))
    wrapped = jaxnn.from_flax(FlaxMLP(hidden=3), x)
    params = wrapped.init(key)
    with pytest.raises(ValueError, match="x has 4 features but the model expects 5"):
        wrapped.apply(params, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="fixes its own dropout rate"):
        wrapped.apply(params, x, dropout=0.1)
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        jaxnn.model_from_config(wrapped.config)
    with pytest.raises(TypeError, match="flax.linen.Module"):
        jaxnn.from_flax(lambda x: x, x)

    class WithBatchNorm(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.BatchNorm(use_running_average=True)(x)

    with pytest.raises(ValueError, match="batch_stats"):
        jaxnn.from_flax(WithBatchNorm(), x).init(key)


def test_bad_input_errors(key):
    model = jaxnn.mlp([30, 16, 1], dropout=0.5)
    params = model.init(key)
    with pytest.raises(ValueError, match=r"x has 7 features but the model expects 30 \(sizes\[0\]\)"):
        model.apply(params, jnp.ones((4, 7)))
    with pytest.raises(ValueError, match="at least 2 entries"):
        jaxnn.mlp([30])
    with pytest.raises(ValueError, match=r"`sizes\[1\]` \(=0\) must be >= 1"):
        jaxnn.mlp([30, 0, 1])
    with pytest.raises(TypeError, match="sizes"):
        jaxnn.mlp("30,1")
    with pytest.raises(ValueError, match="unknown activation 'rleu'.*did you mean 'relu'.*valid names: elu, gelu"):
        jaxnn.mlp([3, 4, 1], activation="rleu")
    with pytest.raises(ValueError, match="unknown activation 'foo'"):
        jaxnn.mlp([3, 1], activation="foo")
    with pytest.raises(ValueError, match="unknown initializer 'orthogonal'; valid names: .*glorot_uniform"):
        jaxnn.mlp([3, 4, 1], init="orthogonal")
    with pytest.raises(ValueError, match=r"`activation` has 1 names but sizes=\[3, 4, 4, 1\] has 2 hidden layers"):
        jaxnn.mlp([3, 4, 4, 1], activation=["relu"])
    with pytest.raises(ValueError, match=r"`dropout` \(=1\) must be in \[0, 1\)"):
        jaxnn.mlp([3, 4, 1], dropout=1.0)
    with pytest.raises(ValueError, match=r"`dropout` \(=-0.1\) must be in \[0, 1\)"):
        jaxnn.mlp([3, 4, 1], dropout=-0.1)
    with pytest.raises(ValueError, match="train=True with dropout needs a PRNG key"):
        model.apply(params, jnp.ones((2, 30)), train=True)
    with pytest.raises(ValueError, match="unknown model type 'rnn'"):
        jaxnn.model_from_config({"type": "rnn"})
    with pytest.raises(TypeError, match="must be a jaxnn Layer"):
        layers.serial(layers.dense(3), "relu")
