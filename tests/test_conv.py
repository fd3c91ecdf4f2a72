"""Inputs of any shape: convolution and pooling layers, the CNN builder, image datasets, and their errors.

Convolutions are checked against finite differences in float64 and against Flax NNX's ``Conv`` and
Flax's pooling on shared weights; image data against the flat arrays it came from.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxnn
from jaxnn import layers
from tests.conftest import tolerance


def _conv_model(input_shape, kernel, strides, padding, dtype=jnp.float32):
    return jaxnn.sequential(
        input_shape,
        layers.conv(3, kernel, strides=strides, padding=padding, dtype=dtype),
        layers.activation("tanh"),
        layers.avg_pool(2, padding="SAME"),
        layers.flatten(),
        layers.dense(2, dtype=dtype),
        dtype=dtype,
    )


@pytest.mark.parametrize(
    "input_shape, kernel, strides, padding",
    [
        ((9, 2), 3, 1, "SAME"),  # 1-D
        ((7, 6, 2), (3, 2), (2, 1), "VALID"),  # 2-D, rectangular kernel, strided (2-D stride 1: the tests below)
    ],
)
def test_conv_gradients_match_finite_differences_in_float64(input_shape, kernel, strides, padding, key):
    with jax.enable_x64(True):
        model = _conv_model(input_shape, kernel, strides, padding, dtype=jnp.float64)
        params = jax.jit(model.init)(key)
        x = jax.random.normal(jax.random.fold_in(key, 1), (3, *input_shape), jnp.float64)
        loss = jax.jit(lambda p, x: jnp.sum(model.apply(p, x) ** 2))
        grad = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
        # Central differences along random directions of (params, x): (f(+h d) - f(-h d)) / 2h = <grad, d>.
        leaves, tree = jax.tree.flatten((params, x))
        for i in range(4):
            keys = jax.random.split(jax.random.fold_in(key, 10 + i), len(leaves))
            direction = jax.tree.unflatten(
                tree, [jax.random.normal(k, leaf.shape, leaf.dtype) for k, leaf in zip(keys, leaves, strict=True)]
            )

            def step(h):
                return loss(*jax.tree.map(lambda v, d: v + h * d, (params, x), direction))

            numeric = (step(1e-6) - step(-1e-6)) / 2e-6
            analytic = sum(
                jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True)
            )
            np.testing.assert_allclose(analytic, numeric, rtol=1e-7)


def _nnx_conv(layer_params, in_channels, kernel, strides, padding):
    conv = nnx.Conv(
        in_channels, layer_params["w"].shape[-1], kernel_size=kernel, strides=strides, padding=padding, rngs=nnx.Rngs(0)
    )
    conv.kernel[...] = layer_params["w"]
    conv.bias[...] = layer_params["b"]
    return conv


@pytest.mark.parametrize(
    "input_shape, kernel, strides, padding",
    [
        ((10, 3), (3,), 1, "SAME"),
        ((8, 8, 2), (3, 3), 1, "SAME"),
        ((9, 7, 1), (2, 3), (2, 2), "VALID"),
    ],
)
def test_conv_equals_flax_nnx_conv_on_shared_weights(input_shape, kernel, strides, padding, key):
    layer = layers.conv(4, kernel, strides=strides, padding=padding)
    params, out_shape = layer.init(key, input_shape)
    flax_conv = _nnx_conv(params, input_shape[-1], kernel, strides, padding)
    x = jax.random.normal(jax.random.fold_in(key, 1), (5, *input_shape))
    ours = layer.apply(params, x)
    assert ours.shape == (5, *out_shape)
    np.testing.assert_allclose(ours, flax_conv(x), **tolerance(np.float32, scale=10))

    # Gradients with respect to the kernel, bias and input agree too.
    graphdef, state = nnx.split(flax_conv)
    flax_grads = jax.grad(lambda state, x: jnp.sum(jnp.sin(nnx.merge(graphdef, state)(x))), argnums=(0, 1))(state, x)
    ours_grads = jax.grad(lambda p, x: jnp.sum(jnp.sin(layer.apply(p, x))), argnums=(0, 1))(params, x)
    for ours, theirs in [
        (ours_grads[0]["w"], flax_grads[0]["kernel"]),
        (ours_grads[0]["b"], flax_grads[0]["bias"]),
        (ours_grads[1], flax_grads[1]),
    ]:
        np.testing.assert_allclose(ours, jnp.asarray(theirs), **tolerance(np.float32, scale=10))


def test_pools_equal_flax_pooling(key):
    import flax.linen as nn

    x = jax.random.normal(key, (2, 7, 6, 3))
    for ours, theirs in [
        (layers.max_pool(2), lambda x: nn.max_pool(x, (2, 2), strides=(2, 2))),
        (
            layers.max_pool(3, strides=1, padding="SAME"),
            lambda x: nn.max_pool(x, (3, 3), strides=(1, 1), padding="SAME"),
        ),
        (layers.avg_pool((2, 3)), lambda x: nn.avg_pool(x, (2, 3), strides=(2, 3))),
        (
            layers.avg_pool(3, strides=2, padding="SAME"),
            lambda x: nn.avg_pool(x, (3, 3), strides=(2, 2), padding="SAME", count_include_pad=False),
        ),
    ]:
        _, out_shape = ours.init(key, x.shape[1:])
        got = ours.apply(None, x)
        assert got.shape == (2, *out_shape)
        np.testing.assert_allclose(got, theirs(x), rtol=1e-6, atol=1e-6)
    # 1-D: (batch, length, channels).
    sequence = jax.random.normal(key, (2, 9, 2))
    np.testing.assert_allclose(layers.max_pool(3).apply(None, sequence), nn.max_pool(sequence, (3,), strides=(3,)))


def test_flatten_and_shapes_through_a_cnn(key):
    model = jaxnn.cnn((8, 8, 1), 10, channels=(4, 6), hidden=(12,))
    params = jax.jit(model.init)(key)  # (compiled: eager initialization compiles every random op on its own)
    assert [jax.tree.map(jnp.shape, p) for p in params] == [
        {"w": (3, 3, 1, 4), "b": (4,)},
        {"w": (3, 3, 4, 6), "b": (6,)},
        {"w": (2 * 2 * 6, 12), "b": (12,)},
        {"w": (12, 10), "b": (10,)},
    ]
    x = jax.random.normal(key, (5, 8, 8, 1))
    assert jax.eval_shape(model.apply, params, x).shape == (5, 10)
    # Flattening is x.reshape(n, -1): a dense layer after it sees the pixels in row-major order.
    flat = jaxnn.sequential((8, 8, 1), layers.flatten(), layers.dense(3))
    flat_params = jax.jit(flat.init)(key)
    np.testing.assert_allclose(
        flat.apply(flat_params, x),
        x.reshape(5, -1) @ flat_params[0]["w"] + flat_params[0]["b"],
        **tolerance(np.float32),
    )


@pytest.mark.parametrize(
    "model",
    [
        lambda: jaxnn.cnn((8, 8, 1), 10, channels=(4,), kernel_size=(3, 2), pool=1, hidden=(), dropout=0.2),
        lambda: jaxnn.cnn((16, 2), 1, channels=(3, 5), output_activation="sigmoid"),
        lambda: jaxnn.sequential(
            (6, 6, 2),
            layers.conv(3, (2, 3), strides=2, padding="VALID"),
            layers.max_pool(1),
            layers.avg_pool(2, strides=1, padding="SAME"),
            layers.flatten(),
            layers.dense(2),
        ),
    ],
    ids=["cnn-2d", "cnn-1d", "sequential"],
)
def test_conv_configs_rebuild_the_same_model(model, key):
    model = model()
    rebuilt = jaxnn.model_from_config(model.config)
    assert rebuilt == model and rebuilt.input_shape == model.input_shape
    params = jax.jit(model.init)(key)
    x = jax.random.normal(key, (3, *model.input_shape))
    np.testing.assert_array_equal(jax.jit(rebuilt.apply)(params, x), jax.jit(model.apply)(params, x))


def test_conv_initializers_count_the_whole_window_as_fan_in(key):
    params, _ = layers.conv(64, 5, init="he_normal").init(key, (20, 20, 8))
    np.testing.assert_allclose(np.std(params["w"]), np.sqrt(2 / (5 * 5 * 8)), rtol=0.05)


def test_layer_errors_say_what_to_do(key):
    with pytest.raises(ValueError, match=r"dense layer takes flat features.*8x8x1.*flatten\(\)"):
        jaxnn.sequential((8, 8, 1), layers.dense(10))
    with pytest.raises(ValueError, match="kernel 5x5 is larger than its 3x3 input"):
        jaxnn.sequential((3, 3, 1), layers.conv(2, 5))
    with pytest.raises(ValueError, match="kernel 4x4 is larger than its 2x2 input"):  # after pooling 8 -> 4 -> 2
        jaxnn.cnn((8, 8, 1), 10, channels=(4, 4, 4), kernel_size=4)
    with pytest.raises(ValueError, match="window 2x2 is larger than its 1x1 input"):  # a pooled size of zero
        jaxnn.cnn((8, 8, 1), 10, channels=(4, 4, 4, 4), kernel_size=1)
    with pytest.raises(ValueError, match=r"channels-last.*\(30,\) per example.*x\[\.\.\., None\]"):
        jaxnn.sequential(30, layers.conv(4))
    with pytest.raises(ValueError, match="`padding` must be 'SAME' or 'VALID'"):
        layers.conv(4, padding="full")
    with pytest.raises(ValueError, match="`kernel_size` must be an int or 2 ints"):
        jaxnn.sequential((8, 8, 1), layers.conv(4, (3, 3, 3)))
    with pytest.raises(ValueError, match=r"`features` \(=0\) must be >= 1"):
        layers.conv(0)
    params, _ = layers.conv(4).init(key, (6, 6, 2))
    with pytest.raises(
        ValueError,
        match=r"conv expects a batch \(batch, \*spatial, 2\) with 2 spatial axes, got x.shape=\(5, 6, 6, 3\)",
    ):
        layers.conv(4).apply(params, jnp.ones((5, 6, 6, 3)))
    with pytest.raises(
        ValueError, match=r"max_pool expects a batch \(batch, \*spatial, channels\), got x.shape=\(3, 4\)"
    ):
        layers.max_pool(2).apply(None, jnp.ones((3, 4)))


def test_an_image_dataset_given_to_an_mlp_says_to_flatten(key):
    images = jaxnn.datasets.load("digits", as_images=True)
    with pytest.raises(ValueError, match=r"examples of shape \(8, 8, 1\).*64 flat features.*flatten"):
        jaxnn.fit(jaxnn.mlp([64, 10]), images, num_epochs=1, key=key, progress=False)
    with pytest.raises(
        ValueError, match=r"64 flat features per example but the model takes examples of shape \(8, 8, 1\)"
    ):
        jaxnn.fit(jaxnn.cnn((8, 8, 1), 10), jaxnn.datasets.load("digits"), num_epochs=1, key=key, progress=False)


def test_digits_as_images_are_the_flat_digits_reshaped():
    flat = jaxnn.datasets.load("digits")
    images = jaxnn.datasets.load("digits", as_images=True)
    assert images.input_shape == (8, 8, 1) and images.info.input_shape == (8, 8, 1) and images.num_features == 64
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(images.split(split).x.reshape(-1, 64), flat.split(split).x)
        np.testing.assert_array_equal(images.split(split).y, flat.split(split).y)
    with pytest.raises(ValueError, match="as_images=True is for image datasets"):
        jaxnn.datasets.load("iris", as_images=True)


def test_image_standardization_per_position_global_or_none():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(60, 4, 5, 2)) * np.arange(1, 3)  # channel 1 twice as spread
    y = np.arange(60) % 3
    per_position = jaxnn.datasets.from_arrays(x, y, seed=1)
    train = per_position.x_train
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-4)
    assert per_position.x_mean.shape == (4, 5, 2) and per_position.info.standardizer.mode == "feature"

    whole = jaxnn.datasets.from_arrays(x, y, seed=1, standardize="global")
    assert whole.info.standardizer.mode == "global"
    np.testing.assert_allclose(whole.x_train.mean(), 0, atol=1e-5)
    np.testing.assert_allclose(whole.x_train.std(), 1, atol=1e-4)
    assert np.ptp(whole.x_scale) == 0  # one scale: the contrast between channels is kept
    assert whole.x_train[..., 1].std() > 1.5 * whole.x_train[..., 0].std()

    raw = jaxnn.datasets.from_arrays(x, y, seed=1, standardize="none")
    assert raw.x_mean.shape == (4, 5, 2) and not raw.x_mean.any() and (raw.x_scale == 1).all()
    np.testing.assert_allclose(raw.transform(x), x.astype(np.float32))
    assert raw.info.standardizer.mode == "none"
    with pytest.raises(ValueError, match="`standardize` must be True/'feature'"):
        jaxnn.datasets.from_arrays(x, y, standardize="pixel")


def test_image_data_errors():
    x = np.zeros((20, 4, 4, 1))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"validation x holds examples of shape \(4, 3, 1\) but x holds \(4, 4, 1\)"):
        jaxnn.datasets.from_arrays(x, y, validation=(np.zeros((3, 4, 3, 1)), np.zeros(3)))
    x[3, 1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"row 3, position \(1, 2, 0\) \('x\[1,2,0\]'\)"):
        jaxnn.datasets.from_arrays(x, y)
    with pytest.raises(ValueError, match="no features"):
        jaxnn.datasets.from_arrays(np.zeros((20, 4, 0)), y)
    ds = jaxnn.datasets.from_arrays(np.ones((20, 4, 4, 1)), y)
    with pytest.raises(ValueError, match=r"examples of shape \(4, 4, 1\)"):
        ds.transform(np.ones((2, 16)))


def test_cnn_sweep_rows_equal_fit_and_checkpoint_round_trip(key, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6, 6, 1))
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype(int)
    data = jaxnn.datasets.from_arrays(x, y, seed=0, standardize="global")
    model = jaxnn.cnn(data.input_shape, 1, channels=(3,), hidden=(4,))
    options = dict(optimizer="sgd", num_epochs=3, batch_size=16)
    swept = jaxnn.sweep(model, data, space={"learning_rate": [0.05, 0.2]}, key=key, progress=False, **options)
    for row, rate in enumerate(swept.table["learning_rate"]):
        # Rows of seed 0 train from fold_in(key, 0) and keep their best epoch (as fit's restore_best does).
        single = jaxnn.fit(
            model,
            data,
            key=jax.random.fold_in(key, 0),
            learning_rate=rate,
            progress=False,
            early_stopping=jaxnn.EarlyStopping(patience=99),
            **options,
        )
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, **tolerance(np.float32, scale=10)),
            swept.params(row),
            single.params,
        )
        np.testing.assert_allclose(
            swept.curves["val_loss"][row], single.history["val_loss"], **tolerance(np.float32, scale=10)
        )

    path = tmp_path / "cnn.msgpack"
    jaxnn.save(path, model, single.params, dataset=data)
    restored = jaxnn.load(path)
    assert restored.model == model and restored.info.input_shape == (6, 6, 1)
    assert restored.info.standardizer.mode == "global"
    np.testing.assert_array_equal(
        jaxnn.predict(restored.model, restored.params, x, dataset=restored.info),
        jaxnn.predict(model, single.params, x, dataset=data),
    )


@pytest.mark.parametrize(
    "shape, window, padding",
    [
        ((3, 9, 2), (3,), "SAME"),
        ((2, 8, 7, 3), (3, 3), "VALID"),
        ((2, 6, 6, 1), (4, 2), "SAME"),
    ],
)
def test_stride_one_conv_gradients_equal_autodiff_also_vmapped(shape, window, padding, key):
    """The hand-written backward pass (standard-layout convolutions, fast inside lax.scan) is XLA's own gradient."""
    from jaxnn.layers import _conv, _conv_unit_stride, _explicit_padding

    x = jax.random.normal(key, shape)
    w = jax.random.normal(jax.random.fold_in(key, 1), (3, *window, shape[-1], 4))  # 3 rows of a sweep
    pads = _explicit_padding(padding, window)

    def grads(conv):
        per_row = jax.grad(lambda w, x: jnp.sum(jnp.sin(conv(x, w))), argnums=(0, 1))
        return jax.jit(jax.vmap(per_row, in_axes=(0, None)))(w, x)

    for ours, reference in zip(
        grads(lambda x, w: _conv_unit_stride(x, w, pads)), grads(lambda x, w: _conv(x, w, padding)), strict=True
    ):
        np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_a_cnn_beats_the_mlp_on_the_digits_as_images():
    """The README's CNN: 0.993 test accuracy (the MLP of the quick start: 0.978), about 7 s on 2 cores."""
    images = jaxnn.datasets.load("digits", as_images=True, standardize="global")
    cnn = jaxnn.cnn(images.input_shape, 10, channels=(32, 32), hidden=(128,), dropout=0.25)
    result = jaxnn.fit(
        cnn,
        images,
        optimizer="adamw",
        learning_rate=3e-3,
        weight_decay=1e-4,
        schedule="cosine_decay",
        num_epochs=40,
        batch_size=32,
        key=jax.random.fold_in(jax.random.key(0), 0),
        early_stopping=jaxnn.EarlyStopping(patience=99),
        progress=False,
    )
    # 0.993 (268 of 270) and a loss of 0.047 at this key: room for 4 more mistakes and twice the loss.
    metrics = jaxnn.evaluate(cnn, result.params, images, split="test")
    assert metrics["accuracy"] >= 0.975 and metrics["loss"] < 0.1, metrics
