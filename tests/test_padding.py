"""Padded models (jaxnn.sweeps.padding): the masked units and skipped layers of a row contribute exactly nothing."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import optim
from jaxnn.sweeps import architecture, padding

SHAPES = [(5,), (16, 12), (3, 3, 7)]  # widths padded to 16, 12, 7; a (5,) row skips the last two layers


def padded_parts(params, shape):
    """Every entry of a padded row's params outside its own shape (what must stay exactly 0)."""
    parts = []
    rows = params[0]["w"].shape[0]
    for depth, layer in enumerate(params[:-1]):
        if depth < len(shape):
            parts += [layer["w"][:rows, shape[depth] :], layer["w"][rows:], layer["b"][shape[depth] :]]
            rows = shape[depth]
        else:
            parts += [layer["w"], layer["b"]]
    return [*parts, params[-1]["w"][rows:]]


# sigmoid(0) = 0.5: only the mask keeps a padded unit silent; relu(0) = 0 would hide a missing mask
@pytest.mark.parametrize("variant, activation", [(0, "sigmoid"), (0, "relu"), (2, "sigmoid")])
def test_a_padded_row_computes_its_own_models_outputs_and_gradients(variant, activation):
    base = jaxnn.mlp([6, 4, 3], activation=activation)
    model, shape = padding.padded_model(base, SHAPES), SHAPES[variant]
    own = architecture.with_sizes(base, shape)
    key, x = jax.random.key(7), jax.random.normal(jax.random.key(1), (9, 6))

    @jax.jit
    def both(key):
        def loss(model, params):
            return jnp.mean((model.apply(params, x) - 1.0) ** 2)

        params, own_params = model.init(key, variant), own.init(key)
        outputs = model.apply(params, x), own.apply(own_params, x)
        grads = jax.grad(lambda p: loss(model, p))(params), jax.grad(lambda p: loss(own, p))(own_params)
        return (params, own_params), outputs, grads

    (params, own_params), outputs, (grads, own_grads) = both(key)
    # Its own shape's initial weights, drawn as its own model draws them, with zeros around them
    chex.assert_trees_all_equal(padding.unpad(params, shape), own_params)
    assert all(not np.any(part) for part in padded_parts(params, shape))
    np.testing.assert_allclose(*outputs, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(padding.unpad(grads, shape), own_grads, rtol=1e-5, atol=1e-6)
    assert all(not np.any(part) for part in padded_parts(grads, shape))  # exactly 0, not merely small
    assert all(not np.any(layer[name]) for layer in grads[:-1] for name in padding.MASK_KEYS)  # masks are not trained


def test_no_optimizer_moves_a_padded_entry_or_its_state():
    """Weight decay (decoupled or as an L2 gradient), momentum, adaptive scaling and clipping: an entry whose
    gradient is always 0 and whose value is 0 stays 0, and so does every state entry for it."""
    base = jaxnn.mlp([6, 4, 3], activation="tanh")
    model, shape = padding.padded_model(base, SHAPES), SHAPES[0]
    x, y = jax.random.normal(jax.random.key(1), (16, 6)), jax.random.randint(jax.random.key(2), (16,), 0, 3)
    transforms = {
        name: optim.optimizer(
            name, learning_rate=0.1, weight_decay=0.1, clip_norm=1.0, momentum=0.9 if name in ("sgd", "rmsprop") else 0
        )
        for name in optim.OPTIMIZERS
    }

    @jax.jit
    def train_each():  # every optimizer, 5 steps each, in one program
        start = model.init(jax.random.key(3), 0)
        out = {}
        for name, transform in transforms.items():

            def step(_, carry, transform=transform):
                params, state = carry
                grads = jax.grad(lambda p: jaxnn.losses.softmax_cross_entropy(model.apply(p, x), y))(params)
                updates, state = transform.update(grads, state, params)
                return optax.apply_updates(params, updates), state

            initial = transform.init(start)
            out[name] = (*jax.lax.fori_loop(0, 5, step, (start, initial)), initial)
        return start, out

    start, trained = train_each()
    structure = jax.tree.structure(start)
    for name, (params, state, initial) in trained.items():
        assert all(not np.any(part) for part in padded_parts(params, shape)), name
        assert np.any(padding.unpad(params, shape)[0]["w"] != start[0]["w"][:, :5]), name  # it trained
        moments = list(zip(like_params(state, structure), like_params(initial, structure), strict=True))
        assert moments or name == "gd"  # every optimizer but plain descent keeps per-entry state
        for moved, first in moments:  # momentum, moments, accumulators: where the entry is padding, as they started
            for a, b in zip(padded_parts(moved, shape), padded_parts(first, shape), strict=True):
                np.testing.assert_array_equal(a, b, err_msg=name)
            for layer, layer_first in zip(moved[:-1], first[:-1], strict=True):
                for key in padding.MASK_KEYS:
                    np.testing.assert_array_equal(layer[key], layer_first[key], err_msg=name)


def like_params(tree, structure):
    """The parts of an optimizer state shaped like the params (its per-entry momenta and moments)."""
    if jax.tree.structure(tree) == structure:
        yield tree
    elif isinstance(tree, (tuple, list)):
        for part in tree:
            yield from like_params(part, structure)


def test_fit_of_a_padded_model_is_the_fit_of_its_own_shape(iris):
    """Through the whole training loop (minibatches, L2 weight decay, early stopping's best epoch): a padded
    model's first shape trains as that shape's own MLP, and its padding stays 0."""
    base = jaxnn.mlp([4, 8, 3], activation="sigmoid")
    options = dict(optimizer="adam", weight_decay=0.01, num_epochs=4, batch_size=16, key=0, progress=False)
    padded = jaxnn.fit(padding.padded_model(base, SHAPES), iris, **options)
    own = jaxnn.fit(architecture.with_sizes(base, SHAPES[0]), iris, **options)
    assert all(not np.any(part) for part in padded_parts(padded.params, SHAPES[0]))
    chex.assert_trees_all_close(padding.unpad(padded.params, SHAPES[0]), own.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(padded.history["val_loss"], own.history["val_loss"], rtol=1e-5)


def test_the_padded_layout_and_what_can_be_padded():
    assert padding.positions([(32,), (128, 16)]) == [128, 32]  # the (32,) row's output passes the second layer
    assert padding.positions([(4, 4, 4), (8,)]) == [8, 8, 8]
    assert padding.can_pad(jaxnn.mlp([4, 8, 3]), [(2,), (3, 3)])
    assert not padding.can_pad(jaxnn.mlp([4, 8, 3]), [(2,), ()])  # no hidden layer to pass through
    assert not padding.can_pad(jaxnn.mlp([4, 8, 8, 3], activation=["relu", "tanh"]), [(2, 2), (3, 3)])
    assert padding.padded_model(jaxnn.mlp([4, 8, 3]), [(2,), (3,)]) is padding.padded_model(
        jaxnn.mlp([4, 8, 3]), [(2,), (3,)]
    )  # one model object: a second sweep of the same shapes reuses the compiled programs
    with pytest.raises(jaxnn.ConfigError, match="only an MLP built by jaxnn.mlp"):
        padding.padded_model(jaxnn.mlp([4, 8, 3]), [(2,), ()])


def test_the_partition_pads_shapes_of_similar_cost_together_and_keeps_a_costly_one_alone():
    counts = {(8,): 8, (256, 256): 8, (16,): 8}
    machine = dict(num_seeds=1, num_examples=1000, devices=jax.devices("cpu"))

    def programs(epochs):
        return padding.partition(jaxnn.mlp([64, 8, 10]), counts, num_epochs=epochs, **machine)

    assert [sorted(group) for group in programs(1)] == [sorted(counts)]  # a short sweep: one padded program
    assert sorted(programs(100)) == [((8,), (16,)), ((256, 256),)]  # padding (8,) to 16 costs little; to 256 much
    assert sorted(programs(10**6)) == [((8,),), ((16,),), ((256, 256),)]  # compiles are nothing beside the training


def test_a_padded_model_refuses_inputs_as_its_mlp_does():
    base = jaxnn.mlp([4, 8, 3])
    model = padding.padded_model(base, [(2,), (3, 3)])
    for x in (np.ones((5, 6)), np.ones(4)):  # the wrong width; one example, not a batch
        with pytest.raises(jaxnn.DataError) as own:
            base.apply(base.init(jax.random.key(0)), x)
        with pytest.raises(jaxnn.DataError) as padded:
            model.apply(model.init(jax.random.key(0), 1), x)
        assert str(padded.value) == str(own.value)
