"""Optimizers and schedules: each lowers a loss, traced hyperparameters vmap, schedules are right."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import optim


def regression_problem(key):
    x = jax.random.normal(key, (64, 5))
    true_w = jnp.arange(1.0, 6.0)[:, None]
    y = x @ true_w + 0.5
    model = jaxnn.mlp([5, 8, 1], activation="tanh")
    params = model.init(jax.random.key(7))

    def loss(p):
        return jaxnn.losses.mean_squared_error(model.apply(p, x), y)

    return params, loss


def run(opt, params, loss, steps=100):
    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params, value=value)
        return (optax.apply_updates(params, updates), state), value

    (params, _), values = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    return params, values


OPTIMIZER_SETTINGS = {
    "gd": dict(learning_rate=0.02),
    "sgd": dict(learning_rate=0.01, momentum=0.9, nesterov=True),
    "adam": dict(learning_rate=0.05),
    "adamw": dict(learning_rate=0.05, weight_decay=1e-3),
    "rmsprop": dict(learning_rate=0.01),
    "adagrad": dict(learning_rate=0.5),
}


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_every_optimizer_lowers_the_loss(name, key):
    params, loss = regression_problem(key)
    opt = jaxnn.optimizer(name, **OPTIMIZER_SETTINGS[name])
    _, values = jax.jit(lambda p: run(opt, p, loss))(params)
    assert np.all(np.isfinite(values))
    assert values[-1] < 0.1 * values[0], (name, values[0], values[-1])


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_traced_hyperparameters_under_vmap_equal_separate_runs(name, key):
    params, loss = regression_problem(key)
    rates = jnp.array([0.001, 0.01, 0.03])
    decays = jnp.array([0.0, 1e-3, 1e-2])

    def train(learning_rate, weight_decay):
        opt = jaxnn.optimizer(name, learning_rate=learning_rate, weight_decay=weight_decay, clip_norm=10.0)
        return run(opt, params, loss, steps=30)[1]

    batched = jax.jit(jax.vmap(train))(rates, decays)
    for i in range(len(rates)):
        separate = jaxnn.optimizer(name, learning_rate=float(rates[i]), weight_decay=float(decays[i]), clip_norm=10.0)
        np.testing.assert_allclose(batched[i], run(separate, params, loss, steps=30)[1], rtol=2e-5)


def test_weight_decay_is_the_l2_penalty_gradient(key):
    params, loss = regression_problem(key)
    wd = 0.1
    opt = jaxnn.optimizer("gd", learning_rate=0.1, weight_decay=wd)
    updates, _ = opt.update(jax.grad(loss)(params), opt.init(params), params)
    penalized = jax.grad(lambda p: loss(p) + wd * jaxnn.losses.l2_penalty(p))(params)
    jax.tree.map(lambda u, g: np.testing.assert_allclose(u, -0.1 * g, rtol=1e-5, atol=1e-7), updates, penalized)


def test_schedules_values():
    steps = jnp.array([0, 50, 100])
    const = jaxnn.schedule("constant", learning_rate=0.1, num_steps=100)(steps)
    np.testing.assert_allclose(const, [0.1, 0.1, 0.1])
    exp = jaxnn.schedule("exponential_decay", learning_rate=0.1, num_steps=100, decay_rate=0.25)(steps)
    np.testing.assert_allclose(exp, [0.1, 0.05, 0.025], rtol=1e-6)
    cos = jaxnn.schedule("cosine_decay", learning_rate=0.1, num_steps=100, final_fraction=0.1)(steps)
    np.testing.assert_allclose(cos, [0.1, 0.055, 0.01], rtol=1e-5)
    warm = jaxnn.schedule("warmup_cosine", learning_rate=0.1, num_steps=100, warmup_steps=10)(
        jnp.array([0, 5, 10, 100])
    )
    np.testing.assert_allclose(warm, [0.0, 0.05, 0.1, 0.0], atol=1e-7)
    piece = jaxnn.schedule("piecewise", learning_rate=0.1, num_steps=100)(jnp.array([0, 49, 50, 75]))
    np.testing.assert_allclose(piece, [0.1, 0.1, 0.01, 0.001], rtol=1e-6)


def test_schedule_parameters_may_be_traced():
    def final_rate(learning_rate, decay_rate):
        return jaxnn.schedule("exponential_decay", learning_rate=learning_rate, num_steps=10, decay_rate=decay_rate)(10)

    got = jax.jit(jax.vmap(final_rate))(jnp.array([1.0, 0.1]), jnp.array([0.5, 0.1]))
    np.testing.assert_allclose(got, [0.5, 0.01], rtol=1e-6)
    cosine = jax.jit(
        lambda f: jaxnn.schedule("warmup_cosine", learning_rate=1.0, num_steps=10, warmup_steps=2, final_fraction=f)(10)
    )
    np.testing.assert_allclose(cosine(0.2), 0.2, rtol=1e-6)


def test_schedule_drives_an_optimizer(key):
    params, loss = regression_problem(key)
    rate = jaxnn.schedule("cosine_decay", learning_rate=0.05, num_steps=100)
    _, values = run(jaxnn.optimizer("adam", learning_rate=rate), params, loss)
    assert values[-1] < 0.1 * values[0]


def test_reduce_on_plateau_scales_updates_down(key):
    params, loss = regression_problem(key)
    opt = jaxnn.optimizer(
        "sgd", learning_rate=0.01, reduce_on_plateau=dict(factor=0.5, patience=1, accumulation_size=1)
    )
    state = opt.init(params)
    grads = jax.grad(loss)(params)
    for _ in range(4):  # a loss that never improves
        _, state = opt.update(grads, state, params, value=jnp.asarray(1.0))
    updates, _ = opt.update(grads, state, params, value=jnp.asarray(1.0))
    plain = jax.tree.map(lambda g: -0.01 * g, grads)
    ratio = float(updates[0]["w"][0, 0] / plain[0]["w"][0, 0])
    assert ratio < 0.5


def test_bad_optimizer_arguments():
    with pytest.raises(
        ValueError,
        match="unknown optimizer 'adm'.*did you mean 'adam'.*valid names: adagrad, adam, adamw, gd, rmsprop, sgd",
    ):
        jaxnn.optimizer("adm", learning_rate=0.1)
    with pytest.raises(ValueError, match=r"`learning_rate` \(=-0.1\) must be > 0"):
        jaxnn.optimizer("adam", learning_rate=-0.1)
    with pytest.raises(ValueError, match=r"`weight_decay` \(=-1\) must be >= 0"):
        jaxnn.optimizer("sgd", learning_rate=0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match=r"`momentum` \(=1\) must be in \[0, 1\)"):
        jaxnn.optimizer("sgd", learning_rate=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="not used by 'gd'"):
        jaxnn.optimizer("gd", learning_rate=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="unknown schedule 'linear'; valid names: constant, cosine_decay"):
        jaxnn.schedule("linear", learning_rate=0.1, num_steps=10)
    with pytest.raises(ValueError, match=r"`warmup_steps` \(=10\) must be < num_steps \(=10\)"):
        jaxnn.schedule("warmup_cosine", learning_rate=0.1, num_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match=r"`num_steps` \(=0\) must be >= 1"):
        jaxnn.schedule("constant", learning_rate=0.1, num_steps=0)
    with pytest.raises(ValueError, match=r"`decay_rate` \(=0\) must be in \(0, 1\]"):
        jaxnn.schedule("exponential_decay", learning_rate=0.1, num_steps=10, decay_rate=0.0)


def optax_loop(opt, loss, params, num_steps):
    """``num_steps`` of ``opt`` on ``loss`` in a plain Python loop: the final params and the loss before each step."""
    state, losses = opt.init(params), []
    for _ in range(num_steps):
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        losses.append(value)
    return params, np.asarray(losses)


def weights_only(params):
    """Optax's mask for decaying weight matrices, not biases (written here, not taken from jaxnn)."""
    return jax.tree.map(lambda leaf: leaf.ndim == 2, params)


# Each optimizer as jaxnn's training loop builds it from the hyperparameters, and as Optax's own alias with the
# same settings (weight decay: AdamW's decoupled term, or the L2 penalty's gradient added before the others).
TRAJECTORIES = {
    "gd": (dict(learning_rate=0.1), optax.sgd(0.1)),
    "sgd": (dict(learning_rate=0.05, momentum=0.9), optax.sgd(0.05, momentum=0.9)),
    "nesterov": (
        dict(optimizer="sgd", learning_rate=0.05, momentum=0.9, nesterov=True),
        optax.sgd(0.05, momentum=0.9, nesterov=True),
    ),
    "adam": (dict(learning_rate=0.01, b1=0.8, b2=0.99), optax.adam(0.01, b1=0.8, b2=0.99, eps=1e-8)),
    "adamw": (
        dict(learning_rate=0.01, weight_decay=0.1),
        optax.adamw(0.01, eps=1e-8, weight_decay=0.1, mask=weights_only),
    ),
    "rmsprop": (dict(learning_rate=0.01, momentum=0.5), optax.rmsprop(0.01, decay=0.9, eps=1e-8, momentum=0.5)),
    "adagrad": (dict(learning_rate=0.1), optax.adagrad(0.1, eps=1e-8)),
    "sgd+l2": (
        dict(optimizer="sgd", learning_rate=0.05, momentum=0.9, weight_decay=0.01),
        optax.chain(optax.add_decayed_weights(0.01, mask=weights_only), optax.sgd(0.05, momentum=0.9)),
    ),
}


@pytest.mark.parametrize("name", list(TRAJECTORIES))
def test_fit_follows_optaxs_own_trajectory(name, iris):
    """Full-batch fit (5 steps) equals Optax's alias stepping on the same loss: every hyperparameter arrives."""
    settings, reference = TRAJECTORIES[name]
    settings = {"optimizer": name, **settings}
    model = jaxnn.mlp([4, 8, 3], activation="tanh")
    params = model.init(jax.random.key(1))
    x, y = jnp.asarray(iris.x_train), jnp.asarray(iris.y_train)

    def loss(p):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, x), y).mean()

    result = jaxnn.fit(model, iris, params=params, batch_size=None, num_epochs=5, key=0, progress=False, **settings)
    expected_params, expected_losses = optax_loop(reference, loss, params, 5)
    assert result.best_epoch == 5  # so the returned (best) params are the last step's, as Optax's
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), result.params, expected_params)
    np.testing.assert_allclose(result.history["train_loss"], expected_losses, rtol=1e-5, atol=1e-6)
    # The trajectory moved: a wrong hyperparameter could not pass for a right one.
    assert not np.allclose(expected_params[0]["w"], params[0]["w"], atol=1e-3)
