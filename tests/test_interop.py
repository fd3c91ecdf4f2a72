"""Flax NNX and Equinox modules as jaxnn models: training against hand-written Optax loops, sweeps, dropout, errors."""

import sys

import chex
import equinox as eqx
import flax.linen
import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import optax
import pytest
from flax import nnx

import jaxnn

# Full-batch gradient descent: fit's steps are then those of a plain Optax loop on the whole training split.
GD = {"optimizer": "gd", "batch_size": None, "num_epochs": 5, "progress": False}
CLOSE = {"rtol": 1e-5, "atol": 1e-6}


def numpy_weights(tree, seed=0):
    """``tree`` with every abstract array (``jax.ShapeDtypeStruct``) replaced by random NumPy values.

    Concrete weights without compiling an initializer: eager random initialization
    compiles one small program per shape, which would dominate these tests' time.
    """
    rng = np.random.default_rng(seed)
    fill = lambda leaf: jnp.asarray(0.5 * rng.normal(size=leaf.shape), leaf.dtype)  # noqa: E731
    return jax.tree.map(lambda leaf: fill(leaf) if isinstance(leaf, jax.ShapeDtypeStruct) else leaf, tree)


def initial_params(model, seed=0):
    return numpy_weights(jax.eval_shape(model.init, jax.random.key(0)), seed)


@pytest.fixture(scope="module")
def vectors():
    """A 3-class task with 5 features."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = np.argmax(x[:, :3] + 0.3 * rng.normal(size=(60, 3)), axis=1)
    return jaxnn.datasets.from_arrays(x, y, seed=0)


@pytest.fixture(scope="module")
def images():
    """A 3-class task on 8x8 one-channel images."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(36, 8, 8, 1)).astype(np.float32)
    y = np.arange(36) % 3
    x[:, :3, :3, 0] += y[:, None, None]
    return jaxnn.datasets.from_arrays(x, y, seed=0)


class NNXMLP(nnx.Module):
    def __init__(self, rngs, *, outputs=3, rate=0.0):
        self.hidden = nnx.Linear(5, 8, rngs=rngs)
        self.dropout = nnx.Dropout(rate, rngs=rngs)
        self.out = nnx.Linear(8, outputs, rngs=rngs)

    def __call__(self, x):
        return self.out(self.dropout(nnx.relu(self.hidden(x))))


class NNXCNN(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(1, 4, kernel_size=(3, 3), rngs=rngs)
        self.out = nnx.Linear(8 * 8 * 4, 3, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.conv(x))
        return self.out(x.reshape(x.shape[0], -1))


class EqxDropoutMLP(eqx.Module):
    mlp: eqx.nn.MLP
    dropout: eqx.nn.Dropout

    def __init__(self, key):
        self.mlp = eqx.nn.MLP(5, 3, width_size=8, depth=1, key=key)
        self.dropout = eqx.nn.Dropout(0.5)

    def __call__(self, x, *, key=None):
        return self.mlp(self.dropout(x, key=key))


@pytest.fixture(scope="module")
def nnx_mlp():
    """A factory-built NNX MLP (one model for the module's tests, so their fits share compiled programs)."""
    return jaxnn.from_nnx(NNXMLP, input_shape=(5,))


def make_eqx_mlp(key):
    return eqx.nn.MLP(5, 3, width_size=8, depth=1, key=key)


@pytest.fixture(scope="module")
def eqx_module():
    """An Equinox MLP instance (with NumPy weights)."""
    return numpy_weights(eqx.filter_eval_shape(make_eqx_mlp, jax.random.key(0)))


@pytest.fixture(scope="module")
def eqx_mlp(eqx_module):
    return jaxnn.from_equinox(eqx_module)


def gradient_descent(loss, params, learning_rate, num_epochs):
    """Full-batch gradient descent with Optax, jitted: the final params and the loss before each step."""
    opt = optax.sgd(learning_rate)

    @jax.jit
    def step(params, opt_state):
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    opt_state, losses = opt.init(params), []
    for _ in range(num_epochs):
        params, opt_state, value = step(params, opt_state)
        losses.append(value)
    return params, np.asarray(losses)


def nnx_reference(make, params, data, learning_rate, num_epochs):
    """Train the NNX module ``make(rngs)`` from ``params`` (a pure dict) directly with nnx.update and Optax."""
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)

    def loss(params):
        module = make(nnx.Rngs(0))  # the structure: its initial weights are replaced (and compiled away)
        nnx.update(module, params)
        return optax.softmax_cross_entropy_with_integer_labels(module(x), y).mean()

    return gradient_descent(loss, params, learning_rate, num_epochs)


def test_nnx_fit_equals_a_hand_written_optax_loop(nnx_mlp, vectors):
    assert nnx_mlp.config == {"type": "nnx", "module": "NNXMLP", "input_shape": [5]}
    assert not nnx_mlp.needs_key  # its dropout layer has rate 0
    params = initial_params(nnx_mlp)
    result = jaxnn.fit(nnx_mlp, vectors, params=params, learning_rate=0.1, key=3, **GD)
    expected_params, expected_losses = nnx_reference(NNXMLP, params, vectors, 0.1, GD["num_epochs"])
    chex.assert_trees_all_close(result.params, expected_params, **CLOSE)
    np.testing.assert_allclose(result.history["train_loss"], expected_losses, **CLOSE)


def test_nnx_conv_instance_fit_equals_a_hand_written_optax_loop(images):
    module = nnx.eval_shape(lambda: NNXCNN(nnx.Rngs(0)))
    weights = numpy_weights(nnx.to_pure_dict(nnx.state(module, nnx.Param)))
    nnx.update(module, weights)
    model = jaxnn.from_nnx(module, input_shape=(8, 8, 1))
    assert model.config["module"] == "NNXCNN" and not model.needs_key
    result = jaxnn.fit(model, images, learning_rate=0.1, key=3, **GD)
    expected_params, expected_losses = nnx_reference(NNXCNN, weights, images, 0.1, GD["num_epochs"])
    chex.assert_trees_all_close(result.params, expected_params, **CLOSE)
    np.testing.assert_allclose(result.history["train_loss"], expected_losses, **CLOSE)
    # An instance's init is its weights whatever the key, and training neither changes nor deletes them.
    again = jaxnn.fit(model, images, learning_rate=0.1, key=4, **GD)
    chex.assert_trees_all_equal(again.params, result.params)
    chex.assert_trees_all_equal(nnx.to_pure_dict(nnx.state(module, nnx.Param)), weights, model.init(jax.random.key(9)))


def test_nnx_sweep_rows_equal_fit(nnx_mlp, vectors):
    result = jaxnn.sweep(nnx_mlp, vectors, space={"learning_rate": [0.03, 0.1, 0.3]}, seeds=2, key=7, **GD)
    assert len(result) == 6
    for i in [0, 3, 5]:
        row = result.row(i)
        assert row["best_epoch"] == GD["num_epochs"]  # so the row's (best) params are the last ones, as fit's
        key = jax.random.fold_in(jax.random.key(7), row["seed"])
        single = jaxnn.fit(nnx_mlp, vectors, learning_rate=row["learning_rate"], key=key, **GD)
        chex.assert_trees_all_close(single.params, result.params(i), **CLOSE)
        np.testing.assert_allclose(single.history["val_loss"], result.curves["val_loss"][i], **CLOSE)
    # The factory builds each seed's module from its own key: seeds start from different weights.
    by_seed = {
        row["seed"]: result.params(i) for i, row in enumerate(map(result.row, range(6))) if row["learning_rate"] == 0.1
    }
    assert not np.allclose(by_seed[0]["out"]["kernel"], by_seed[1]["out"]["kernel"])


def test_nnx_dropout_draws_from_the_key():
    model = jaxnn.from_nnx(lambda rngs: NNXMLP(rngs, rate=0.5))
    assert model.needs_key and not model.uses_dropout
    params = initial_params(model)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(16, 5)), jnp.float32)
    keys = jnp.stack([jax.random.key(1), jax.random.key(1), jax.random.key(2)])
    # One program: under jit, the train and eval modes and several keys at once (vmap).
    trained, evaluated = jax.jit(
        jax.vmap(lambda k: (model.apply(params, x, key=k, train=True), model.apply(params, x, key=k)))
    )(keys)
    np.testing.assert_array_equal(trained[0], trained[1])
    assert not np.allclose(trained[0], trained[2])
    np.testing.assert_array_equal(evaluated[0], evaluated[2])
    assert not np.allclose(trained[0], evaluated[0])

    # Pure: with the key fixed, training mode is a differentiable function of the params alone; its gradient
    # agrees with central finite differences of that function (float64), which a mask redrawn per call would break.
    def squared_output(p, key):
        return jnp.sum(model.apply(p, jnp.asarray(x, p["out"]["kernel"].dtype), key=key, train=True) ** 2)

    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), params)
        jax.test_util.check_grads(lambda p: squared_output(p, keys[0]), (params64,), order=1, modes=["rev"], eps=1e-6)
    grads = [jax.jit(jax.grad(squared_output))(params, k) for k in (keys[0], keys[2])]
    assert not np.allclose(grads[0]["hidden"]["kernel"], grads[1]["hidden"]["kernel"])  # another key, another mask
    with pytest.raises(ValueError, match=r"train=True\) of an NNX module with dropout .* needs `key`"):
        model.apply(params, x, train=True)
    # Wrapping an instance leaves its mode alone (the train and eval structures are copies).
    instance = nnx.eval_shape(lambda: NNXMLP(nnx.Rngs(0), rate=0.5))
    with pytest.raises(ValueError, match="weights are abstract"):
        jaxnn.from_nnx(instance)
    nnx.update(instance, numpy_weights(nnx.to_pure_dict(nnx.state(instance, nnx.Param))))
    assert jaxnn.from_nnx(instance).needs_key and instance.dropout.deterministic is False


def eqx_params(module):
    """An ``eqx.nn.MLP``'s arrays as from_equinox names them."""
    return {"layers": {str(i): {"weight": layer.weight, "bias": layer.bias} for i, layer in enumerate(module.layers)}}


def test_equinox_fit_equals_a_hand_written_optax_loop(eqx_mlp, eqx_module, vectors):
    assert eqx_mlp.config == {"type": "equinox", "module": "MLP", "input_shape": []} and not eqx_mlp.needs_key
    chex.assert_trees_all_equal(eqx_mlp.init(jax.random.key(1)), eqx_params(eqx_module))
    result = jaxnn.fit(eqx_mlp, vectors, learning_rate=0.1, key=3, **GD)

    arrays, static = eqx.partition(eqx_module, eqx.is_inexact_array)
    x, y = jnp.asarray(vectors.x_train), jnp.asarray(vectors.y_train)

    def loss(arrays):
        logits = jax.vmap(eqx.combine(arrays, static))(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    arrays, losses = gradient_descent(loss, arrays, 0.1, GD["num_epochs"])
    chex.assert_trees_all_close(result.params, eqx_params(arrays), **CLOSE)
    np.testing.assert_allclose(result.history["train_loss"], losses, **CLOSE)


def test_equinox_sweep_rows_equal_fit(eqx_mlp, vectors):
    result = jaxnn.sweep(eqx_mlp, vectors, space={"learning_rate": [0.05, 0.2]}, seeds=2, key=5, **GD)
    for i in range(4):
        row = result.row(i)
        assert row["best_epoch"] == GD["num_epochs"]
        key = jax.random.fold_in(jax.random.key(5), row["seed"])
        single = jaxnn.fit(eqx_mlp, vectors, learning_rate=row["learning_rate"], key=key, **GD)
        chex.assert_trees_all_close(single.params, result.params(i), **CLOSE)
    # An instance starts every seed from its own weights; full-batch descent has no shuffling: seeds agree.
    by_rate = {}
    for i in range(4):
        by_rate.setdefault(result.row(i)["learning_rate"], []).append(result.params(i))
    for first, second in by_rate.values():
        chex.assert_trees_all_close(first, second, **CLOSE)


def test_equinox_factory_and_dropout_with_a_key_per_example():
    model = jaxnn.from_equinox(EqxDropoutMLP)
    assert model.needs_key and model.config["module"] == "EqxDropoutMLP"
    init = jax.jit(model.init)
    params = init(jax.random.key(0))
    assert not np.allclose(
        params["mlp"]["layers"]["0"]["weight"], init(jax.random.key(1))["mlp"]["layers"]["0"]["weight"]
    )
    x = jnp.ones((8, 5))
    keys = jnp.stack([jax.random.key(1), jax.random.key(1), jax.random.key(2)])
    trained, evaluated = jax.jit(
        jax.vmap(lambda k: (model.apply(params, x, key=k, train=True), model.apply(params, x, key=k)))
    )(keys)
    np.testing.assert_array_equal(trained[0], trained[1])
    assert not np.allclose(trained[0], trained[2])
    assert not np.allclose(trained[0, 0], trained[0, 1])  # identical examples, their own masks
    np.testing.assert_array_equal(evaluated[0], evaluated[2])
    np.testing.assert_allclose(evaluated[0, 0], evaluated[0, 1], **CLOSE)
    assert not np.allclose(trained[0], evaluated[0])
    with pytest.raises(ValueError, match=r"train=True\) of an Equinox module with dropout .* needs `key`"):
        model.apply(params, x, train=True)


def test_output_width_that_does_not_fit_the_task(vectors):
    two_outputs = jaxnn.from_nnx(lambda rngs: NNXMLP(rngs, outputs=2))
    with pytest.raises(
        ValueError, match="the model has 2 outputs but softmax_cross_entropy on this multiclass data needs 3"
    ):
        jaxnn.fit(two_outputs, vectors, key=0, **GD)
    eqx_two = jaxnn.from_equinox(lambda key: eqx.nn.MLP(5, 2, width_size=4, depth=1, key=key))
    with pytest.raises(ValueError, match="the model has 2 outputs"):
        jaxnn.fit(eqx_two, vectors, key=0, **GD)


def test_stateful_modules_are_refused():
    class WithBatchNorm(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(5, 4, rngs=rngs)
            self.norm = nnx.BatchNorm(4, rngs=rngs)

        def __call__(self, x):
            return self.norm(self.linear(x))

    for wrapped in (WithBatchNorm, nnx.eval_shape(lambda: WithBatchNorm(nnx.Rngs(0)))):
        with pytest.raises(
            ValueError, match=r"also has BatchStat \(norm/mean, norm/var\).*carries only parameters.*LayerNorm"
        ):
            jaxnn.from_nnx(wrapped)
    batch_norm = eqx.nn.BatchNorm(4, axis_name="batch", mode="batch")
    with pytest.raises(ValueError, match=r"eqx.nn.StateIndex at .*carries only parameters.*LayerNorm"):
        jaxnn.from_equinox(batch_norm)
    with pytest.raises(TypeError, match="make_with_state"):
        jaxnn.from_equinox(lambda key: eqx.nn.make_with_state(eqx.nn.BatchNorm)(4, axis_name="batch", mode="batch"))


def test_wrong_arguments_and_calls():
    with pytest.raises(TypeError, match="from_nnx expects a flax.nnx.Module or a factory"):
        jaxnn.from_nnx(3)
    with pytest.raises(TypeError, match="jaxnn.from_flax"):
        jaxnn.from_nnx(flax.linen.Dense(3))
    with pytest.raises(TypeError, match="must return a flax.nnx.Module, it returned an array"):
        jaxnn.from_nnx(lambda rngs: jnp.ones(3))
    with pytest.raises(TypeError, match="from_equinox expects an equinox.Module or a factory"):
        jaxnn.from_equinox("mlp")
    with pytest.raises(ValueError, match="has no RNG stream.*rngs=rngs"):
        jaxnn.from_nnx(lambda rngs: nnx.Sequential(nnx.Linear(5, 3, rngs=rngs), nnx.Dropout(0.5)))
    with pytest.raises(TypeError, match="input_shape"):
        jaxnn.from_nnx(NNXMLP, input_shape="5")

    class NoKey(eqx.Module):
        dropout: eqx.nn.Dropout

        def __call__(self, x):
            return self.dropout(x)

    with pytest.raises(ValueError, match="NoKey has eqx.nn.Dropout layers but its __call__ takes no `key`"):
        jaxnn.from_equinox(NoKey(eqx.nn.Dropout(0.5)))

    model = jaxnn.from_nnx(NNXMLP, input_shape=(5,))
    params = initial_params(model)
    with pytest.raises(
        ValueError, match=r"x has examples of shape \(4,\) but the model expects \(5,\) \(input_shape\)"
    ):
        model.apply(params, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="an NNX module fixes its own dropout rate"):
        model.apply(params, jnp.ones((2, 5)), dropout=0.1)
    with pytest.raises(ValueError, match="an Equinox module fixes its own dropout rate"):
        jaxnn.from_equinox(EqxDropoutMLP).apply(params, jnp.ones((2, 5)), dropout=0.1)
    with pytest.raises(ValueError, match="params has no entry hidden/bias"):
        model.apply({"hidden": {"kernel": params["hidden"]["kernel"]}}, jnp.ones((2, 5)))


def test_missing_equinox_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "equinox", None)
    with pytest.raises(ImportError, match=r"pip install 'jaxnn\[equinox\]'"):
        jaxnn.from_equinox(lambda key: None)


def test_save_and_load_an_nnx_model(tmp_path):
    model = jaxnn.from_nnx(lambda rngs: nnx.Sequential(nnx.Linear(5, 4, rngs=rngs), nnx.Linear(4, 3, rngs=rngs)))
    params = initial_params(model)
    assert sorted(params["layers"]) == [0, 1]  # an nnx.Sequential's int keys, which msgpack stores as strings
    path = tmp_path / "nnx.ckpt"
    jaxnn.save(path, model, params)
    loaded = jaxnn.load(path, model=model)
    chex.assert_trees_all_equal(loaded.params, params)
    with pytest.raises(jaxnn.CheckpointError, match="model="):
        jaxnn.load(path)
    # apply takes the int keys as strings too (as another checkpoint format may restore them).
    as_strings = {"layers": {str(i): layer for i, layer in params["layers"].items()}}
    x = jnp.ones((2, 5))
    np.testing.assert_array_equal(model.apply(as_strings, x), model.apply(params, x))


def test_save_and_load_an_equinox_model(tmp_path, eqx_mlp):
    params = initial_params(eqx_mlp, seed=1)
    jaxnn.save(tmp_path / "eqx.ckpt", eqx_mlp, params)
    chex.assert_trees_all_equal(jaxnn.load(tmp_path / "eqx.ckpt", model=eqx_mlp).params, params)
    with pytest.raises(jaxnn.CheckpointError, match="model=jaxnn.from_equinox"):
        jaxnn.load(tmp_path / "eqx.ckpt")


class NNXSmallCNN(nnx.Module):
    """jaxnn.cnn((8, 8, 1), 3, channels=(4,), hidden=(8,)) written in Flax NNX."""

    def __init__(self, rngs):
        self.conv = nnx.Conv(1, 4, kernel_size=(3, 3), rngs=rngs)
        self.hidden = nnx.Linear(4 * 4 * 4, 8, rngs=rngs)
        self.out = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        x = nnx.max_pool(nnx.relu(self.conv(x)), (2, 2), strides=(2, 2))
        return self.out(nnx.relu(self.hidden(x.reshape(x.shape[0], -1))))


def test_the_jaxnn_cnn_written_in_nnx_trains_alike_on_minibatches_and_sweeps_like_fit(images):
    ours = jaxnn.cnn((8, 8, 1), 3, channels=(4,), hidden=(8,))
    theirs = jaxnn.from_nnx(NNXSmallCNN, input_shape=(8, 8, 1))
    start = initial_params(ours)
    nnx_start = {
        "conv": {"kernel": start[0]["w"], "bias": start[0]["b"]},
        "hidden": {"kernel": start[1]["w"], "bias": start[1]["b"]},
        "out": {"kernel": start[2]["w"], "bias": start[2]["b"]},
    }
    options = {"optimizer": "sgd", "batch_size": 8, "num_epochs": 3, "progress": False, "learning_rate": 0.05}
    a = jaxnn.fit(ours, images, params=start, key=5, **options)
    b = jaxnn.fit(theirs, images, params=nnx_start, key=5, **options)  # the same minibatches, in the same order
    for name, index in (("conv", 0), ("hidden", 1), ("out", 2)):
        np.testing.assert_allclose(b.params[name]["kernel"], a.params[index]["w"], **CLOSE)
    np.testing.assert_allclose(b.history["train_loss"], a.history["train_loss"], **CLOSE)

    swept = jaxnn.sweep(
        theirs,
        images,
        space={"learning_rate": [0.02, 0.05]},
        key=5,
        early_stopping=None,
        **{k: v for k, v in options.items() if k != "learning_rate"},
    )
    for i in range(2):
        row = swept.row(i)
        single = jaxnn.fit(
            theirs,
            images,
            key=jax.random.fold_in(jax.random.key(5), 0),
            learning_rate=row["learning_rate"],
            early_stopping=jaxnn.EarlyStopping(patience=99),
            **{k: v for k, v in options.items() if k != "learning_rate"},
        )
        chex.assert_trees_all_close(single.params, swept.params(i), **CLOSE)


class _WrittenForABatch(eqx.Module):
    """A module written for a batch (x of shape (batch, features)), against Equinox's convention."""

    weight: jax.Array

    def __init__(self, key):
        self.weight = jax.random.normal(key, (4, 3))

    def __call__(self, x):
        return jnp.matmul(x.reshape(x.shape[0], -1), self.weight)


def test_an_equinox_module_written_for_a_batch_is_told_to_act_on_one_example(iris):
    model = jaxnn.from_equinox(_WrittenForABatch)
    with pytest.raises(
        jaxnn.ConfigError,
        match=r"the Equinox module _WrittenForABatch failed on one example of shape "
        r"\(4,\) \(TypeError: .*act on ONE example.*x of shape \(4,\)",
    ):
        jaxnn.fit(model, iris, key=0, num_epochs=1, progress=False)
