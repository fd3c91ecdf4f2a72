"""k-fold cross-validation in one program: jaxnn.sweep(..., cv=) and jaxnn.fit(..., cv=), checked fold by fold
against jaxnn.fit on each fold's own (unpadded) data."""

import jax
import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedKFold

import jaxnn
from jaxnn.data import folds as folds_lib

from .conftest import tolerance

MODEL = jaxnn.mlp([4, 8, 3])
OPTIONS = {"num_epochs": 6, "batch_size": 16, "progress": False}
SPLITTER = StratifiedKFold(4, shuffle=True, random_state=0)


def row_key(key: int, seed: int = 0):
    """The key a sweep's row of ``seed`` trains from."""
    return jax.random.fold_in(jax.random.key(key), seed)


@pytest.fixture(scope="module")
def iris_cv():
    return jaxnn.datasets.load("iris", val_fraction=0, test_fraction=0.2, seed=0)  # 120 training rows, 40 per class


@pytest.fixture(scope="module")
def cv_sweep(iris_cv):
    return jaxnn.sweep(MODEL, iris_cv, space={"learning_rate": [0.01, 0.1]}, key=0, cv=SPLITTER, **OPTIONS)


def fold_data(data, train, val):
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    return data.replace(x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val])


def test_every_fold_is_the_run_fit_makes_on_it(iris_cv, cv_sweep):
    """Equal folds (30 rows each): fold k of a row trains exactly as fit does on fold k's own split."""
    assert cv_sweep.num_folds == 4 and cv_sweep.folds["best_val_metric"].shape == (2, 4)
    row = cv_sweep.best
    for k, (train, val) in enumerate(SPLITTER.split(np.asarray(iris_cv.x_train), np.asarray(iris_cv.y_train))):
        alone = jaxnn.fit(
            MODEL, fold_data(iris_cv, train, val), key=row_key(0), learning_rate=row["learning_rate"], **OPTIONS
        )
        best = int(alone.best_epoch)
        np.testing.assert_allclose(
            cv_sweep.folds["best_val_loss"][0, k],
            alone.history["val_loss"][best - 1],
            **tolerance(np.float32, scale=100),
        )
        np.testing.assert_allclose(
            cv_sweep.folds["best_val_metric"][0, k],
            alone.history["val_metric"][best - 1],
            **tolerance(np.float32, scale=100),
        )
        assert cv_sweep.folds["best_epoch"][0, k] == best


def test_table_holds_means_and_ranks_by_them(cv_sweep):
    table, folds = cv_sweep.table, cv_sweep.folds
    np.testing.assert_allclose(table["best_val_metric"], folds["best_val_metric"].mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(table["best_val_metric_std"], folds["best_val_metric"].std(axis=1), rtol=1e-12)
    assert table["best_val_metric"][0] >= table["best_val_metric"][1]
    with pytest.raises(jaxnn.ConfigError, match=r"row 0 of a cross-validated sweep is 4 models, one per fold"):
        cv_sweep.params(0)
    assert jax.tree.structure(cv_sweep.fold_params(0, 3)) == jax.tree.structure(MODEL.init(jax.random.key(0)))
    with pytest.raises(jaxnn.errors.IndexOutOfRange, match="fold 4 is out of range for 4 folds"):
        cv_sweep.fold_params(0, 4)


def test_refit_trains_the_best_configuration_on_all_training_data(iris_cv, cv_sweep):
    refit = cv_sweep.refit
    again = jaxnn.fit(MODEL, iris_cv, key=row_key(0), learning_rate=cv_sweep.best["learning_rate"], **OPTIONS)
    np.testing.assert_array_equal(np.asarray(refit.params[0]["w"]), np.asarray(again.params[0]["w"]))


def test_layer_sizes_cross_validate_each_shape_as_its_own_sweep_and_refit_the_best(iris_cv, cv_sweep):
    """space['sizes'] with cv: each shape is a group of its own (its own program over the folds); a row of a
    shape equals the same row of that shape's own cross-validated sweep, fold by fold, and the refit model
    has the best row's shapes."""
    space = {"sizes": [(8,), (4,)], "learning_rate": [0.01, 0.1]}
    result = jaxnn.sweep(MODEL, iris_cv, space=space, key=0, cv=SPLITTER, **OPTIONS)
    narrow = jaxnn.sweep(jaxnn.mlp([4, 4, 3]), iris_cv, space=space | {"sizes": [(4,)]}, key=0, cv=SPLITTER, **OPTIONS)
    assert len(result) == 4 and set(result.table["sizes"]) == {(8,), (4,)}
    for alone in (cv_sweep, narrow):
        for i in range(len(alone)):
            sizes = tuple(jaxnn.sweeps.architecture.hidden_sizes(alone.model(i)))
            (j,) = [
                k
                for k in range(len(result))
                if result.table["sizes"][k] == sizes
                and result.table["learning_rate"][k] == alone.table["learning_rate"][i]
            ]
            for name in alone.folds:
                np.testing.assert_array_equal(result.folds[name][j], alone.folds[name][i], err_msg=name)
    best = result.model(0)
    assert jax.tree.map(np.shape, result.refit.params) == jax.tree.map(np.shape, best.init(jax.random.key(0)))
    again = jaxnn.fit(best, iris_cv, key=row_key(0), learning_rate=result.best["learning_rate"], **OPTIONS)
    np.testing.assert_array_equal(np.asarray(result.refit.params[0]["w"]), np.asarray(again.params[0]["w"]))


def test_unequal_folds_are_padded_and_masked_exactly(iris_cv, compiles):
    """Full-batch gradient descent on folds of 30 and 29 rows: padding rows change nothing (vs fit per fold);
    other values reuse the compiled programs."""
    data = iris_cv.replace(x_train=iris_cv.x_train[:119], y_train=iris_cv.y_train[:119])
    splitter = KFold(4, shuffle=True, random_state=1)
    options = {"num_epochs": 4, "batch_size": None, "progress": False, "optimizer": "sgd"}
    result = jaxnn.sweep(MODEL, data, space={"learning_rate": [0.05, 0.2]}, key=1, cv=splitter, refit=False, **options)
    assert result.refit is None
    rows = {float(lr): i for i, lr in enumerate(result.table["learning_rate"])}
    for k, (train, val) in enumerate(splitter.split(np.asarray(data.x_train))):
        alone = jaxnn.fit(MODEL, fold_data(data, train, val), key=row_key(1), learning_rate=0.2, **options)
        np.testing.assert_allclose(
            result.folds["final_val_loss"][rows[0.2], k],
            alone.history["val_loss"][-1],
            **tolerance(np.float32, scale=100),
        )
    with compiles as counter:
        jaxnn.sweep(MODEL, data, space={"learning_rate": [0.03, 0.3]}, key=1, cv=splitter, refit=False, **options)
    assert counter.count == 0


def test_fit_returns_per_fold_scores(iris_cv, cv_sweep):
    scores = jaxnn.fit(
        MODEL, iris_cv, key=0, cv=SPLITTER, refit=False, learning_rate=cv_sweep.best["learning_rate"], **OPTIONS
    )
    np.testing.assert_allclose(scores.scores, cv_sweep.folds["best_val_metric"][0], rtol=1e-6)
    assert scores.metric == "accuracy" and scores.refit is None
    assert scores.mean == pytest.approx(np.mean(scores.scores))


def test_stratified_folds_keep_class_shares(iris_cv):
    folds = folds_lib.split(iris_cv, 5, seed=0)
    y = np.asarray(iris_cv.y_train)
    for _, val in folds:
        assert np.bincount(y[val], minlength=3).tolist() == [8, 8, 8]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cv": 41}, r"`cv`=41 folds need at least 41 examples of every class, but class '\w+' has 40"),
        ({"cv": 1}, r"`cv` must be a number of folds >= 2 or a scikit-learn splitter \(e.g. KFold\(5\)\), got 1"),
        ({"cv": 3, "scheduler": "asha"}, r"`cv` cannot be combined with `scheduler`"),
    ],
)
def test_bad_cv(iris_cv, kwargs, message):
    with pytest.raises(jaxnn.ConfigError, match=message):
        jaxnn.sweep(MODEL, iris_cv, space={"learning_rate": [0.1]}, key=0, **OPTIONS, **kwargs)


def test_cv_with_a_validation_split_is_refused():
    data = jaxnn.datasets.load("iris", seed=0)
    with pytest.raises(
        jaxnn.ConfigError,
        match=r"the data already has a validation split \(\d+ examples\); load it "
        r"with val_fraction=0",
    ):
        jaxnn.sweep(MODEL, data, space={"learning_rate": [0.1]}, key=0, cv=3, **OPTIONS)
    with pytest.raises(jaxnn.ConfigError, match="the data already has a validation split"):
        jaxnn.fit(MODEL, data, key=0, cv=3, **OPTIONS)


def test_a_list_of_configurations_is_the_grid_it_lists(iris_cv, cv_sweep, compiles):
    with compiles as counter:
        listed = jaxnn.sweep(
            MODEL,
            iris_cv,
            space=[{"learning_rate": 0.1}, {"learning_rate": 0.01}],
            key=0,
            cv=SPLITTER,
            refit=False,
            **OPTIONS,
        )
    assert counter.count == 0  # the grid's programs
    for name in ("learning_rate", "best_val_metric", "best_val_loss"):
        np.testing.assert_array_equal(listed.table[name], cv_sweep.table[name])
    with pytest.raises(jaxnn.ConfigError, match=r"every configuration of `space` must name the same hyperparameters"):
        jaxnn.sweep(MODEL, iris_cv, space=[{"learning_rate": 0.1}, {"momentum": 0.5}], key=0, cv=3, **OPTIONS)


# --- the command line: jaxnn sweep --cv K ----------------------------------------------


CLI_SWEEP = ["sweep", "--dataset", "iris", "--test-fraction", "0.2", "--sizes", "8", "--epochs", "6"]
CLI_SWEEP += ["--batch-size", "16", "--learning-rate", "0.01,0.1", "--no-progress"]


def test_the_command_line_cross_validates_and_writes_the_refit_model(iris_cv, tmp_path, capsys, monkeypatch):
    from jaxnn import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main([*CLI_SWEEP, "--cv", "4", "--out", "cv"]) == 0
    out = capsys.readouterr().out
    assert "4-fold cross-validated" in out and "splits: train 120, validation 0, test 30" in out
    assert "best.msgpack: the configuration with the best mean validation accuracy over 4 folds, refit" in out
    assert sorted(p.name for p in (tmp_path / "cv").iterdir()) == [
        "best.msgpack",
        "curves.png",
        "metric_vs_learning_rate.png",
        "sweep.csv",
        "sweep.json",
    ]  # no checkpoint and no log: a --cv sweep trains in memory
    saved = jaxnn.load(tmp_path / "cv" / "best.msgpack")
    # The same sweep in Python: its table and its refit model are the command line's.
    result = jaxnn.sweep(saved.model, iris_cv, space={"learning_rate": [0.01, 0.1]}, key=0, cv=4, **OPTIONS)
    assert saved.metadata["row"]["learning_rate"] == pytest.approx(float(result.table["learning_rate"][0]))
    assert saved.metadata["row"]["best_val_metric"] == pytest.approx(float(result.table["best_val_metric"][0]))
    assert saved.metadata["refit_epochs"] == 6
    for got, want in zip(jax.tree.leaves(saved.params), jax.tree.leaves(result.refit.params), strict=True):
        np.testing.assert_allclose(got, want, **tolerance(np.float32))


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--cv", "1"], "--cv must be a number of folds, at least 2, got 1"),
        (["--cv", "3", "--ensemble", "2"], "--cv cannot be combined with --ensemble"),
        (["--cv", "3", "--seeds", "2"], "--cv cannot be combined with --seeds: the folds are each configuration's"),
        (["--cv", "3", "--resume"], "--cv cannot be combined with --checkpoint-dir/--resume"),
        (["--cv", "3", "--log", "tensorboard"], "--cv cannot be combined with --log tensorboard"),
        (["--cv", "3", "--scheduler", "asha"], "--cv cannot be combined with --scheduler (yet)"),
        (["--cv", "41"], "--cv=41 folds need at least 41 examples of every class, but class"),
    ],
)
def test_the_command_line_refuses_what_cannot_go_with_cv(extra, message, tmp_path, capsys, monkeypatch):
    from jaxnn import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main([*CLI_SWEEP, *extra, "--out", "cv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxnn: error: ") and message in err, err
    assert not (tmp_path / "cv").exists()
