"""The training program: quality bars on built-in data, exact semantics, no recompiles, errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import baseline
from jaxnn.loop import shuffle_indices
from tests.conftest import tolerance


def test_breast_cancer_binary_sgd_reaches_92_percent(cancer):
    model = jaxnn.mlp([cancer.num_features, 16, 1])
    result = jaxnn.fit(
        model,
        cancer,
        optimizer="sgd",
        learning_rate=0.05,
        momentum=0.9,
        num_epochs=60,
        batch_size=32,
        key=0,
        progress=False,
    )
    assert result.status == "completed" and result.stopped_epoch == 60
    # 0.965 (82 of 85 test examples) at key 0: the bounds leave room for 4 more mistakes and twice the loss.
    metrics = jaxnn.evaluate(model, result.params, cancer)
    assert metrics["accuracy"] >= 0.92 and metrics["loss"] < 0.25, metrics


def test_digits_adam_reaches_94_percent(digits):
    model = jaxnn.mlp([64, 128, 10])
    result = jaxnn.fit(
        model, digits, optimizer="adam", learning_rate=2e-3, num_epochs=60, batch_size=32, key=0, progress=False
    )
    metrics = jaxnn.evaluate(model, result.params, digits)
    # 0.970 (262 of 270) and a loss of 0.12 at key 0: room for 8 more mistakes and twice the loss.
    assert metrics["accuracy"] >= 0.94 and metrics["loss"] < 0.25, metrics
    assert set(result.history) == {"train_loss", "val_loss", "val_metric", "learning_rate"}
    assert result.history["train_loss"][-1] < result.history["train_loss"][0] / 5


def test_xor_with_a_2_4_1_sigmoid_network_and_full_batch_gd():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([0, 1, 1, 0])
    data = jaxnn.datasets.from_arrays(x, y, val_fraction=0.0, test_fraction=0.0, standardize=False)
    model = jaxnn.mlp([2, 4, 1], activation="sigmoid")
    result = jaxnn.fit(
        model, data, optimizer="gd", learning_rate=2.0, num_epochs=3000, batch_size=None, key=1, progress=False
    )
    np.testing.assert_array_equal(jaxnn.predict(model, result.params, x, task="binary"), y)
    assert result.history["train_loss"][-1] < 0.05


@pytest.mark.parametrize(
    "optimizer, options",
    [
        ("gd", dict(learning_rate=0.5, batch_size=None, num_epochs=150)),
        ("sgd", dict(learning_rate=0.05)),
        ("sgd", dict(learning_rate=0.02, momentum=0.9)),
        ("adam", dict(learning_rate=1e-3)),
        ("rmsprop", dict(learning_rate=1e-3)),
        ("adagrad", dict(learning_rate=0.05)),
    ],
    ids=["gd", "sgd", "sgd-momentum", "adam", "rmsprop", "adagrad"],
)
def test_every_optimizer_trains_digits_to_90_percent(optimizer, options, digits):
    model = jaxnn.mlp([64, 64, 10])
    settings = dict(num_epochs=15, batch_size=32) | options
    result = jaxnn.fit(model, digits, optimizer=optimizer, key=0, progress=False, **settings)
    assert jaxnn.evaluate(model, result.params, digits)["accuracy"] >= 0.90


@pytest.fixture(scope="module")
def overfit_data():
    # 60 noisy training points and a wide network: it memorizes the noise.
    return jaxnn.datasets.load("moons", num_samples=600, noise=0.35, seed=0, val_fraction=0.45, test_fraction=0.45)


def gaps(model, data, **options):
    """(validation - train) loss and (train - validation) accuracy after training."""
    result = jaxnn.fit(
        model,
        data,
        optimizer="adam",
        learning_rate=3e-3,
        num_epochs=200,
        batch_size=20,
        key=0,
        progress=False,
        restore_best=False,
        **options,
    )  # the last epoch: what 200 epochs of overfitting made
    train = jaxnn.evaluate(model, result.params, data, split="train")
    val = jaxnn.evaluate(model, result.params, data, split="val")
    return val["loss"] - train["loss"], train["accuracy"] - val["accuracy"]


def test_weight_decay_and_dropout_narrow_the_generalization_gap(overfit_data):
    model = jaxnn.mlp([2, 128, 128, 1])
    loss_gap, accuracy_gap = gaps(model, overfit_data)
    # The setup really overfits (measured: a loss gap of 0.87, an accuracy gap of 0.14; weight decay and dropout
    # bring them to 0.11 and 0.16, and to 0.07 and 0.06).
    assert loss_gap > 0.5 and accuracy_gap > 0.1
    for regularizer in [dict(weight_decay=1e-2), dict(dropout=0.5)]:
        regularized_loss_gap, regularized_accuracy_gap = gaps(model, overfit_data, **regularizer)
        assert regularized_loss_gap < 0.5 * loss_gap, regularizer
        assert regularized_accuracy_gap < accuracy_gap, regularizer


def test_early_stopping_restores_the_best_epoch_and_stops_early(overfit_data):
    model = jaxnn.mlp([2, 256, 256, 1])
    stopping = jaxnn.EarlyStopping(patience=5, restore_best=True)
    result = jaxnn.fit(
        model,
        overfit_data,
        learning_rate=3e-3,
        num_epochs=400,
        batch_size=20,
        key=0,
        progress=False,
        early_stopping=stopping,
    )
    assert result.status == "early_stopped"
    assert result.stopped_epoch < 400 and result.stopped_epoch == result.best_epoch + 5
    assert len(result.history["val_loss"]) == result.stopped_epoch
    best = int(np.argmin(result.history["val_loss"])) + 1
    assert result.best_epoch == best
    restored = jaxnn.evaluate(model, result.params, overfit_data, split="val")["loss"]
    np.testing.assert_allclose(restored, result.history["val_loss"][best - 1], rtol=1e-5)


def test_same_key_is_bitwise_identical_and_another_key_is_not(cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1], dropout=0.2)

    def run(key):
        return jaxnn.fit(model, cancer, learning_rate=1e-2, num_epochs=5, batch_size=16, key=key, progress=False)

    first, second, other = run(3), run(3), run(4)
    chex.assert_trees_all_equal(first.params, second.params)
    np.testing.assert_array_equal(first.history["train_loss"], second.history["train_loss"])
    assert not np.array_equal(first.history["train_loss"], other.history["train_loss"])


def test_new_hyperparameter_values_do_not_recompile(cancer, compiles):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    options = dict(optimizer="sgd", num_epochs=4, batch_size=64, progress=False, num_chunks=2)
    jaxnn.fit(model, cancer, learning_rate=0.1, momentum=0.5, weight_decay=1e-4, key=0, **options)
    with compiles as counter:
        for learning_rate, momentum, weight_decay in [(0.01, 0.9, 1e-2), (0.3, 0.1, 1e-3), (1e-4, 0.99, 0.1)]:
            jaxnn.fit(
                jaxnn.mlp([cancer.num_features, 8, 1]),  # a rebuilt model is the same program
                cancer,
                learning_rate=learning_rate,
                momentum=momentum,
                weight_decay=weight_decay,
                key=int(learning_rate > 0.1),
                **options,
            )
    assert counter.count == 0


def test_a_zero_momentum_or_weight_decay_leaves_their_work_out_of_the_program(cancer, compiles):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    options = dict(optimizer="sgd", num_epochs=3, batch_size=64, progress=False, key=0)

    def spec(**zeros):
        return jaxnn.TrainSpec(model, num_epochs=3, batch_size=64, optimizer="sgd", **zeros)

    hparams = jaxnn.train.scalar_hyperparams(jaxnn.Hyperparams(learning_rate=0.1, momentum=0.0, weight_decay=0.0))
    # Only spec.zeros decides what is left out: traced or concrete, a zero in hparams keeps its buffer.
    lean = jax.eval_shape(
        lambda h: jaxnn.loop.init_state(spec(zeros=("momentum", "weight_decay")), h, 0, cancer), hparams
    )
    full = jax.eval_shape(lambda h: jaxnn.loop.init_state(spec(), h, 0, cancer), hparams)
    assert len(jax.tree.leaves(full.opt_state)) == len(jax.tree.leaves(lean.opt_state)) + len(
        jax.tree.leaves(lean.params)
    )
    # The same run either way: fit leaves the zeros out, make_train keeps them as traced zeros.
    lean_run = jaxnn.fit(model, cancer, learning_rate=0.1, momentum=0.0, **options)
    train = jaxnn.make_train(model, num_epochs=3, batch_size=64, optimizer="sgd")
    full_run = jax.jit(train)(hparams, jax.random.key(0), cancer)
    chex.assert_trees_all_close(lean_run.params, full_run.params, **tolerance(np.float32))
    with compiles as counter:  # other values with the same zeros reuse the lean program
        jaxnn.fit(model, cancer, learning_rate=0.2, momentum=0.0, **options)
    assert counter.count == 0


def test_train_runs_eagerly_and_under_grad_with_concrete_zero_hyperparameters(cancer):
    # make_train's function is pure: called without jit, with Python 0.0 for momentum and weight decay
    # (the optimizer state built at init and the one built inside the loop must agree), and under grad.
    model = jaxnn.mlp([cancer.num_features, 4, 1], activation="tanh")  # smooth: finite differences converge
    train = jaxnn.make_train(model, optimizer="sgd", num_epochs=2, batch_size=128)
    hparams = jaxnn.Hyperparams(learning_rate=0.1, momentum=0.0, weight_decay=0.0)
    eager = train(hparams, 0, cancer)
    compiled = jax.jit(lambda rate: train(hparams._replace(learning_rate=rate), 0, cancer))  # one program for all
    chex.assert_trees_all_close(eager.params, compiled(0.1).params, **tolerance(np.float32))

    def summed_train_loss(rate):
        return jnp.sum(train(hparams._replace(learning_rate=rate), 0, cancer).history["train_loss"])

    step = 1e-3  # the eager run above is the one without jit; these are compiled (eager, they took 12 s)
    slope = jax.jit(jax.grad(summed_train_loss))(0.1)
    loss_of = lambda rate: jnp.sum(compiled(rate).history["train_loss"])  # noqa: E731
    central = (loss_of(0.1 + step) - loss_of(0.1 - step)) / (2 * step)
    np.testing.assert_allclose(slope, central, rtol=1e-2)


def test_every_example_counts_once_per_epoch_with_a_partial_last_batch(cancer):
    # With a learning rate too small to move a float32 weight, the epoch's train loss is the loss of the whole
    # split at the initial params (a rate of 0 is refused: it would not train).
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    params = model.init(jax.random.key(5))
    assert cancer.num_train % 64 != 0
    result = jaxnn.fit(
        model,
        cancer,
        optimizer="sgd",
        learning_rate=1e-30,
        num_epochs=2,
        batch_size=64,
        key=0,
        progress=False,
        params=params,
    )
    expected = jaxnn.evaluate(model, params, cancer, split="train")["loss"]
    np.testing.assert_allclose(result.history["train_loss"], [expected, expected], rtol=1e-5)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_full_batch_gd_equals_the_numpy_baseline(weight_decay, cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1], activation="tanh")
    params = model.init(jax.random.key(1))
    result = jaxnn.fit(
        model,
        cancer,
        optimizer="gd",
        learning_rate=0.1,
        weight_decay=weight_decay,
        num_epochs=20,
        batch_size=None,
        key=0,
        progress=False,
        params=params,
    )
    reference, losses = baseline.train(
        baseline.params_from_jax(params, np.float64),
        np.asarray(cancer.x_train, np.float64),
        np.asarray(cancer.y_train),
        loss="binary_cross_entropy",
        learning_rate=0.1,
        num_epochs=20,
        l2=weight_decay,
        activation="tanh",
    )
    if weight_decay == 0.0:  # the baseline's loss includes the penalty, jaxnn's history the data loss only
        np.testing.assert_allclose(result.history["train_loss"], losses, rtol=1e-4)
    for ours, theirs in zip(result.params, reference, strict=True):
        np.testing.assert_allclose(ours["w"], theirs["w"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ours["b"], theirs["b"], rtol=1e-4, atol=1e-5)


def test_minibatch_training_equals_an_explicit_optax_loop(cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    params = model.init(jax.random.key(2))
    key = jax.random.key(9)
    result = jaxnn.fit(
        model,
        cancer,
        optimizer="adam",
        learning_rate=1e-2,
        num_epochs=3,
        batch_size=100,
        key=key,
        progress=False,
        params=params,
    )
    # Replay the documented batch order: epoch e shuffles with split(fold_in(loop_key, e))[0].
    _, loop_key = jax.random.split(key)
    opt = optax.adam(1e-2)
    state = opt.init(params)
    x, y = jnp.asarray(cancer.x_train), jnp.asarray(cancer.y_train)

    @jax.jit  # one step of a textbook Optax loop (compiled: eager, the loop took 10 s)
    def step(params, state, xb, yb):
        grads = jax.grad(lambda p: jaxnn.losses.binary_cross_entropy(model.apply(p, xb), yb))(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for epoch in range(3):
        shuffle_key, _ = jax.random.split(jax.random.fold_in(loop_key, epoch))
        order = shuffle_indices(shuffle_key, cancer.num_train)
        for start in range(0, cancer.num_train, 100):
            batch = order[start : start + 100]
            params, state = step(params, state, x[batch], y[batch])
    chex.assert_trees_all_close(result.params, params, rtol=2e-5, atol=2e-6)


def test_shuffle_indices_is_a_uniform_permutation():
    shuffle = jax.jit(shuffle_indices, static_argnums=1)  # one program per size (eagerly: one per operation)
    for num in [1, 2, 3, 7, 64, 399, 1000]:
        order = np.asarray(shuffle(jax.random.key(num), num))
        np.testing.assert_array_equal(np.sort(order), np.arange(num))
    orders = np.asarray(jax.vmap(lambda k: shuffle_indices(k, 6))(jax.random.split(jax.random.key(0), 30000)))
    counts = np.stack([np.bincount(orders[:, position], minlength=6) for position in range(6)])
    expected = 30000 / 6
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 60, counts  # 25 degrees of freedom: p < 1e-5 for a uniform shuffle
    assert len({tuple(o) for o in orders[:200]}) > 150  # orders differ from key to key


def test_divergence_raises_with_the_epoch_or_returns_finite_params(cancer):
    model = jaxnn.mlp([cancer.num_features, 16, 1])
    options = dict(optimizer="sgd", learning_rate=1e6, num_epochs=10, batch_size=32, key=0, progress=False)
    with pytest.raises(jaxnn.TrainingDiverged, match=r"training diverged at epoch \d+") as caught:
        jaxnn.fit(model, cancer, **options)
    assert 1 <= caught.value.epoch <= 10
    result = jaxnn.fit(model, cancer, on_divergence="return", **options)
    assert result.status == "diverged" and result.stopped_epoch == caught.value.epoch
    chex.assert_tree_all_finite(result.params)
    assert len(result.history["train_loss"]) == result.stopped_epoch


def test_schedule_appears_in_the_learning_rate_history(cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    result = jaxnn.fit(
        model,
        cancer,
        optimizer="sgd",
        learning_rate=0.1,
        schedule="exponential_decay",
        decay_rate=0.01,
        num_epochs=4,
        batch_size=None,
        key=0,
        progress=False,
    )
    np.testing.assert_allclose(result.history["learning_rate"], 0.1 * 0.01 ** (np.arange(1, 5) / 4), rtol=1e-5)


def test_vmapped_train_equals_separate_runs(cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    train = jaxnn.make_train(model, optimizer="sgd", num_epochs=3, batch_size=64)
    rates = jnp.array([0.01, 0.1, 0.5])
    hparams = jax.tree.map(lambda v: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (3,)), jaxnn.Hyperparams())
    hparams = hparams._replace(learning_rate=rates)
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.jit(jax.vmap(train, in_axes=(0, 0, None)))(hparams, keys, cancer)
    for i in range(3):
        single = jax.jit(train)(jax.tree.map(lambda v: v[i], hparams), keys[i], cancer)
        np.testing.assert_allclose(batched.history["val_loss"][i], single.history["val_loss"], rtol=1e-5)


def test_vmapped_rows_stop_on_their_own_and_share_what_they_share(cancer):
    # Under vmap a stopped row keeps its state while the others train on (one run skips with a
    # real branch); rows with one key draw one minibatch order, not one per row.
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    train = jaxnn.make_train(
        model, optimizer="sgd", num_epochs=12, batch_size=64, early_stopping=jaxnn.EarlyStopping(patience=1)
    )
    hparams = jax.tree.map(lambda v: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (3,)), jaxnn.Hyperparams())
    hparams = hparams._replace(learning_rate=jnp.array([1e-3, 1.0, 1e5]))
    batched = jax.jit(jax.vmap(train, in_axes=(0, None, None)))(hparams, 0, cancer)
    assert [int(s) for s in batched.status] == [jaxnn.loop.RUNNING, jaxnn.loop.EARLY_STOPPED, jaxnn.loop.DIVERGED]
    for i in range(3):
        single = jax.jit(train)(jax.tree.map(lambda v: v[i], hparams), 0, cancer)
        assert int(single.stopped_epoch) == int(batched.stopped_epoch[i]) and int(single.status) == int(
            batched.status[i]
        )
        chex.assert_trees_all_close(single.params, jax.tree.map(lambda v: v[i], batched.params), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(single.history["val_loss"], batched.history["val_loss"][i], rtol=1e-5)
    jaxpr = jax.make_jaxpr(jax.vmap(train, in_axes=(0, None, None)))(hparams, 0, cancer)
    sorts = [eqn for eqn in _equations(jaxpr.jaxpr) if eqn.primitive.name == "sort"]
    assert sorts and all(eqn.invars[0].aval.shape == (cancer.num_train,) for eqn in sorts)
    # run_epochs(masked=True), the form a sweep traces (the epoch once, no branch), gives the rows the same runs.
    spec = jaxnn.TrainSpec(
        model, optimizer="sgd", num_epochs=12, batch_size=64, early_stopping=jaxnn.EarlyStopping(patience=1)
    )

    def masked_train(h):
        state, history = jaxnn.loop.run_epochs(
            spec, jaxnn.loop.init_state(spec, h, 0, cancer), h, cancer, 12, masked=True
        )
        return jaxnn.loop.finish(spec, state, spec.restores_best(True))._replace(history=history)

    masked = jax.jit(jax.vmap(masked_train))(hparams)
    chex.assert_trees_all_close(masked._asdict(), batched._asdict(), rtol=1e-6, atol=1e-7)


def _equations(jaxpr):
    """Every equation of a jaxpr, those of nested jaxprs (scan, cond, jit bodies) included."""
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", None)
                if inner is not None:
                    yield from _equations(getattr(inner, "jaxpr", inner))


def test_evaluate_and_predict(cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    result = jaxnn.fit(model, cancer, learning_rate=1e-2, num_epochs=20, batch_size=32, key=0, progress=False)
    metrics = jaxnn.evaluate(model, result.params, cancer)
    labels = jaxnn.predict(model, result.params, cancer.x_test, task="binary")
    assert labels.dtype.kind == "i" and set(np.unique(labels)) <= {0, 1}
    np.testing.assert_allclose(np.mean(labels == cancer.y_test), metrics["accuracy"], rtol=1e-6)
    proba = jaxnn.predict(model, result.params, cancer.x_test, task="binary", proba=True)
    np.testing.assert_array_equal(proba > 0.5, labels == 1)
    # From raw features, with the dataset's standardization.
    raw = cancer.x_test * cancer.x_scale + cancer.x_mean
    named = jaxnn.predict(model, result.params, raw, dataset=cancer)  # the dataset's own labels
    np.testing.assert_array_equal(named, np.asarray(cancer.class_labels)[labels])
    assert set(named) <= {"malignant", "benign"}
    same = jaxnn.evaluate(model, result.params, (cancer.x_test, cancer.y_test))
    np.testing.assert_allclose(same["accuracy"], metrics["accuracy"])


@pytest.mark.parametrize("labels", [[3, 7, 9], ["cat", "dog"], [0.5, 1.5]], ids=["ints", "strings", "floats"])
def test_predict_with_a_dataset_returns_the_original_labels(labels):
    rng = np.random.default_rng(0)
    y = np.asarray(labels, dtype=object)[np.arange(120) % len(labels)]
    x = rng.normal(size=(120, 3)) + 5 * np.searchsorted(np.unique(y.astype(str)), y.astype(str))[:, None]
    data = jaxnn.datasets.from_arrays(x, y.tolist(), task="multiclass" if len(labels) > 2 else "binary")
    model = jaxnn.mlp([3, len(labels)]) if len(labels) > 2 else jaxnn.mlp([3, 1])
    result = jaxnn.fit(model, data, learning_rate=0.05, num_epochs=20, key=0, progress=False)
    predicted = jaxnn.predict(model, result.params, x, dataset=data)
    assert predicted.tolist()[:6] == y.tolist()[:6] and type(predicted.tolist()[0]) is type(labels[0])
    indices = jaxnn.predict(model, result.params, data.transform(x), task=data.task)  # no dataset: class indices
    assert indices.dtype == np.int64 and predicted.tolist() == [data.class_labels[i] for i in indices]


def test_predict_refuses_non_finite_features_naming_row_and_column(cancer):
    model = jaxnn.mlp([cancer.num_features, 1])
    params = model.init(jax.random.key(0))
    raw = np.array(cancer.x_test[:4] * cancer.x_scale + cancer.x_mean)
    raw[2, 5] = np.nan
    with pytest.raises(ValueError, match=r"the first is nan at row 2, column 5 \('mean compactness'\)"):
        jaxnn.predict(model, params, raw, dataset=cancer)
    x = np.array(cancer.x_test[:4])
    x[0, 1] = -np.inf
    with pytest.raises(ValueError, match=r"the first is -inf at row 0, column 1 \('x1'\)"):
        jaxnn.predict(model, params, x, task="binary")
    with pytest.raises(ValueError, match="proba=True gives class probabilities, but this is a regression task"):
        jaxnn.predict(model, params, cancer.x_test, task="regression", proba=True)


def test_regression_on_diabetes_reports_error_in_target_units():
    data = jaxnn.datasets.load("diabetes", seed=0)
    model = jaxnn.mlp([data.num_features, 32, 1])
    result = jaxnn.fit(model, data, learning_rate=1e-2, num_epochs=40, batch_size=32, key=0, progress=False)
    predictions = jaxnn.predict(model, result.params, data.x_test, dataset=None, task="regression")
    targets = data.inverse_transform_y(data.y_test)
    mse = np.mean((data.inverse_transform_y(predictions) - targets) ** 2)
    metrics = jaxnn.evaluate(model, result.params, data)
    np.testing.assert_allclose(metrics["mean_squared_error"], mse, rtol=1e-4)
    assert mse < np.var(targets)  # better than predicting the mean


WIDE = lambda: jaxnn.mlp([64, 8, 10])  # noqa: E731
BAD_FIT_ARGUMENTS = [
    # (changes to a valid fit on breast cancer, error, message); "data" names a fixture.
    (dict(batch_size=0), ValueError, r"`batch_size` \(=0\) must be >= 1"),
    (dict(batch_size=5000), ValueError, r"`batch_size` \(=5000\) is larger than the training split \(\d+ examples\)"),
    (dict(num_epochs=0), ValueError, r"`num_epochs` \(=0\) must be >= 1"),
    (dict(learning_rate=-0.1), ValueError, r"`learning_rate` \(=-0.1\) must be > 0"),
    (dict(learning_rate=np.inf), ValueError, r"`learning_rate` \(=inf\) must be a finite number > 0"),
    (dict(weight_decay=-1.0), ValueError, r"`weight_decay` \(=-1\) must be >= 0"),
    (dict(dropout=1.0), ValueError, r"`dropout` \(=1\) must be in \[0, 1\)"),
    (dict(decay_rate=np.array([0.1, 0.2])), ValueError, "`decay_rate` must be a scalar in fit.*use jaxnn.sweep"),
    (dict(optimizer="adamm"), ValueError, "unknown optimizer 'adamm'"),
    (dict(learning_rate=np.array([0.1, 0.2])), ValueError, "must be a scalar in fit.*use jaxnn.sweep"),
    (dict(data=(np.zeros((4, 30)), np.zeros(4))), TypeError, "data must be a jaxnn.Dataset.*from_arrays"),
    (dict(data="digits"), ValueError, "x has 64 features but the model expects 30"),
    (
        dict(model=WIDE, data="digits", loss="binary_cross_entropy"),
        ValueError,
        "'binary_cross_entropy' needs a binary task but the data is 'multiclass' with 10 classes",
    ),
    (
        dict(model=lambda: jaxnn.mlp([64, 8, 1]), data="digits"),
        ValueError,
        "the model has 1 outputs but softmax_cross_entropy on this multiclass data needs 10",
    ),
    (
        dict(model=lambda: jaxnn.mlp([30, 8, 1], output_activation="sigmoid")),
        ValueError,
        "takes logits but the model applies output_activation='sigmoid'",
    ),
    (dict(on_divergence="ignore"), ValueError, "on_divergence"),
    (dict(params=WIDE().init(jax.random.key(0))), ValueError, "`params` do not fit the model"),
    (dict(key="seed"), TypeError, "key must be an int seed or a jax.random.key"),
    (
        dict(data="cancer_without_validation", early_stopping=jaxnn.EarlyStopping()),
        ValueError,
        "early stopping monitors the validation split, but the data has none",
    ),
    (
        dict(schedule="warmup_cosine", warmup_steps=1000),
        ValueError,
        r"`warmup_steps` \(=1000\) must be less than the run's 26 optimizer steps",
    ),
    (dict(early_stopping=jaxnn.EarlyStopping(monitor="accuracy")), ValueError, "unknown early_stopping.monitor"),
]


@pytest.fixture(scope="module")
def cancer_without_validation():
    return jaxnn.datasets.load("breast_cancer", val_fraction=0.0)


@pytest.mark.parametrize("changes, error, message", BAD_FIT_ARGUMENTS, ids=lambda case: None)
def test_bad_fit_arguments(request, changes, error, message):
    options = {"key": 0, "progress": False, "num_epochs": 2, "model": lambda: jaxnn.mlp([30, 8, 1]), "data": "cancer"}
    options |= changes
    model, data = options.pop("model")(), options.pop("data")
    data = request.getfixturevalue(data) if isinstance(data, str) else data
    with pytest.raises(error, match=message):
        jaxnn.fit(model, data, **options)


def test_predict_needs_a_task_for_one_output(cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    with pytest.raises(ValueError, match="pass task='binary' or task='regression'"):
        jaxnn.predict(model, model.init(jax.random.key(0)), cancer.x_test)


def test_a_checkpointed_fit_equals_the_plain_fit_bitwise_however_it_is_chunked(digits, tmp_path):
    model = jaxnn.mlp([64, 32, 10])
    options = dict(optimizer="adam", learning_rate=3e-3, num_epochs=12, batch_size=64, key=0, progress=False)
    plain = jaxnn.fit(model, digits, **options)
    chunked = jaxnn.fit(model, digits, num_chunks=5, **options)
    saved = jaxnn.fit(model, digits, checkpoint_dir=tmp_path / "run", checkpoint_every=5, **options)
    for other in (chunked, saved):
        chex.assert_trees_all_equal(jax.device_get(plain.params), jax.device_get(other.params))
        for name in plain.history:
            np.testing.assert_array_equal(plain.history[name], other.history[name])
        assert (other.best_epoch, other.params_epoch) == (plain.best_epoch, plain.params_epoch)


def test_fit_returns_the_best_validation_epoch_unless_told_to_keep_the_last(overfit_data):
    model = jaxnn.mlp([2, 128, 128, 1])
    options = dict(optimizer="adam", learning_rate=1e-2, num_epochs=60, batch_size=20, key=0, progress=False)
    best = jaxnn.fit(model, overfit_data, **options)
    assert best.best_epoch < best.stopped_epoch == 60 and best.params_epoch == best.best_epoch  # it overfits after
    restored = jaxnn.evaluate(model, best.params, overfit_data, split="val")["loss"]
    np.testing.assert_allclose(restored, best.history["val_loss"][best.best_epoch - 1], rtol=1e-5)
    last = jaxnn.fit(model, overfit_data, restore_best=False, **options)
    assert last.params_epoch == 60
    np.testing.assert_allclose(
        jaxnn.evaluate(model, last.params, overfit_data, split="val")["loss"], last.history["val_loss"][-1], rtol=1e-5
    )
    with pytest.raises(jaxnn.ConfigError, match=r"restore_best=True contradicts EarlyStopping\(restore_best=False\)"):
        jaxnn.fit(
            model, overfit_data, restore_best=True, early_stopping=jaxnn.EarlyStopping(restore_best=False), **options
        )
    no_val = jaxnn.datasets.from_arrays(np.eye(4), [0, 1, 0, 1], val_fraction=0.0, test_fraction=0.0)
    assert jaxnn.fit(jaxnn.mlp([4, 1]), no_val, num_epochs=3, batch_size=None, key=0, progress=False).params_epoch == 3


def test_hyperparameters_come_as_keywords_or_as_one_hyperparams_and_each_is_checked_once(cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    options = dict(optimizer="sgd", num_epochs=3, batch_size=64, key=0, progress=False)
    by_keyword = jaxnn.fit(model, cancer, learning_rate=0.1, momentum=0.9, **options)
    by_object = jaxnn.fit(model, cancer, hyperparams=jaxnn.Hyperparams(learning_rate=0.1, momentum=0.9), **options)
    mixed = jaxnn.fit(model, cancer, hyperparams=jaxnn.Hyperparams(momentum=0.9), learning_rate=0.1, **options)
    for other in (by_object, mixed):
        chex.assert_trees_all_equal(jax.device_get(by_keyword.params), jax.device_get(other.params))
    bad = [
        (
            dict(hyperparams=jaxnn.Hyperparams(learning_rate=0.1), learning_rate=0.2),
            jaxnn.ConfigError,
            r"`learning_rate` is given twice: as a keyword and in `hyperparams`",
        ),
        (dict(learning_rate=0.0), jaxnn.ConfigError, r"`learning_rate` \(=0\) must be > 0"),
        (
            dict(optimizer="adam", momentum=0.9),
            jaxnn.ConfigError,
            r"`momentum` has no effect with optimizer='adam'; it is used only by optimizer='sgd' or optimizer='rmsprop'",
        ),
        (dict(optimizer="adam", nesterov=True), jaxnn.ConfigError, r"`nesterov` has no effect with optimizer='adam'"),
        (
            dict(optimizer="sgd", nesterov=True),
            jaxnn.ConfigError,
            r"`nesterov` has no effect without momentum \(`momentum` is 0 unless given\); give `momentum` too, e\.g\. "
            r"momentum=0\.9",
        ),
        (dict(warmup_steps=5), jaxnn.ConfigError, r"`warmup_steps` has no effect with schedule='constant'"),
        (dict(hyperparams={"learning_rate": 0.1}), TypeError, r"`hyperparams` must be a jaxnn.Hyperparams, got dict"),
        (
            dict(learnin_rate=0.1),
            TypeError,
            r"unexpected keyword argument 'learnin_rate'.*did you mean 'learning_rate'",
        ),
    ]
    for changes, error, message in bad:
        with pytest.raises(error, match=message):
            jaxnn.fit(model, cancer, **(options | changes))
    jaxnn.fit(model, cancer, **(options | {"optimizer": "adam", "momentum": 0.0}))  # a default has no effect to refuse


def test_predict_takes_one_example_as_it_is(cancer):
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    params = model.init(jax.random.key(0))
    batch = jaxnn.predict(model, params, cancer.x_test[:3], task="binary")
    assert jaxnn.predict(model, params, cancer.x_test[1], task="binary") == batch[1]
    probabilities = jaxnn.predict(model, params, cancer.x_test[1], task="binary", proba=True)
    assert np.shape(probabilities) == ()
    with pytest.raises(jaxnn.DataError, match=r"x is one example of shape \(30,\).*apply takes a batch: x\[None\]"):
        model.apply(params, cancer.x_test[1])


def test_features_beyond_float32_are_refused_naming_the_column_not_blamed_on_the_learning_rate(cancer):
    x = np.array(cancer.x_train, np.float64)
    x[3, 2] = 1e39
    with pytest.raises(
        jaxnn.DataError, match=r"beyond what float32 .* the first is 1e\+39 at row 3, column 2 \('x2'\)"
    ):
        jaxnn.datasets.from_arrays(x, cancer.y_train)
    model = jaxnn.mlp([cancer.num_features, 8, 1])
    with pytest.raises(jaxnn.DataError, match=r"beyond what float32 .* at row 3, column 2"):
        jaxnn.predict(model, model.init(jax.random.key(0)), x, dataset=cancer)
