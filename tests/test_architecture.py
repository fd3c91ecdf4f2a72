"""Layer sizes in a sweep's space (one program per shape, or one padded program; one table) and ensembles of a
sweep's best rows."""

import warnings

import chex
import jax
import numpy as np
import pytest

import jaxnn
from jaxnn.sweeps import expand_space
from tests.conftest import CompiledPrograms
from tests.test_cli import assert_one_line_error, run_cli

OPTIONS = dict(optimizer="sgd", num_epochs=3, batch_size=64, progress=False, momentum=0.9)
SIZES = [(8,), (16,), (8, 8)]


@pytest.fixture(scope="module")
def digits_small():
    return jaxnn.datasets.load("digits", seed=0)


def sweep_shapes(data, **options):
    """A sweep over 3 shapes x 2 learning rates x 2 seeds, and the names of the programs it compiled."""
    jaxnn.clear_caches()
    with CompiledPrograms() as names:
        result = jaxnn.sweep(
            jaxnn.mlp([64, 32, 10]),
            data,
            space={"sizes": SIZES, "learning_rate": [0.01, 0.1]},
            seeds=2,
            key=0,
            **OPTIONS,
            **options,
        )
    return result, list(names)


@pytest.fixture(scope="module")
def swept(digits_small):
    """The shapes grouped: one program per shape."""
    return sweep_shapes(digits_small, pad_sizes=False)


@pytest.fixture(scope="module")
def padded_swept(digits_small):
    """The same sweep as it runs by default: so short that padding its shapes into one program is sooner."""
    return sweep_shapes(digits_small)


def test_sizes_expand_as_tuples_in_grids_and_random_search():
    key = jax.random.key(0)
    configs, _, _ = expand_space({"sizes": [(32,), (64,)], "learning_rate": [0.1]}, num_samples=None, seeds=1, key=key)
    assert [c["sizes"] for c in configs] == [(32,), (64,)]
    drawn, _, _ = expand_space(
        {"sizes": jaxnn.choice([(32,), (64,), [128, 64]]), "learning_rate": jaxnn.loguniform(1e-3, 1e-1)},
        num_samples=30,
        seeds=1,
        key=key,
    )
    assert {c["sizes"] for c in drawn} == {(32,), (64,), (128, 64)}


def test_each_shape_is_one_program_and_the_table_has_the_sizes(swept):
    result, names = swept
    assert names.count("run_rows") == len(SIZES) and names.count("init_rows") == len(SIZES)
    assert len(result) == 12 and sorted(set(result.table["sizes"])) == sorted(SIZES)
    assert result.table["sizes"].shape == (12,) and "sizes" in result.hyperparameters
    assert "| sizes |" in result.format()
    # Ranked globally: across the shapes, by the validation metric.
    metric = result.table["best_val_metric"]
    assert np.all(np.diff(metric[result.table["status"] != "diverged"]) <= 0)


def test_a_short_sweep_pads_its_shapes_into_one_program_by_default(padded_swept):
    result, names = padded_swept
    assert names.count("run_rows") == 1 and names.count("init_rows") == 1 and names.count("finish_rows") == 1
    assert len(result) == 12 and sorted(set(result.table["sizes"])) == sorted(SIZES)
    assert len(result.models) == len(SIZES)  # each row's own model, not the padded one
    metric = result.table["best_val_metric"]
    assert np.all(np.diff(metric[result.table["status"] != "diverged"]) <= 0)


def test_padded_rows_equal_the_rows_of_one_program_per_shape(padded_swept, swept):
    """The same initial weights (each row's own shape's draws), the same minibatches, masked units that add
    nothing: a padded row is its grouped row, up to float rounding."""
    padded, grouped = padded_swept[0], swept[0]

    def by_row(result):
        return np.lexsort((result.table["seed"], result.table["config"]))

    for i, j in zip(by_row(padded), by_row(grouped), strict=True):
        for name in ("sizes", "config", "seed", "learning_rate", "status", "best_epoch"):
            assert padded.table[name][i] == grouped.table[name][j], name
        for name in ("best_train_loss", "best_val_loss", "best_val_metric", "test_loss", "test_metric"):
            np.testing.assert_allclose(padded.table[name][i], grouped.table[name][j], rtol=1e-5, err_msg=name)
        assert padded.model(i) == grouped.model(j)
        chex.assert_trees_all_close(padded.params(i), grouped.params(j), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("swept_by", ["swept", "padded_swept"])
def test_every_row_has_its_own_model_and_params_which_reproduce_its_metrics(swept_by, request, digits_small):
    result, _ = request.getfixturevalue(swept_by)
    for i in range(len(result)):
        model, params = result.model(i), result.params(i)
        sizes = result.table["sizes"][i]
        assert model.config["sizes"] == [64, *sizes, 10]
        assert [layer["w"].shape for layer in params] == list(zip([64, *sizes], [*sizes, 10], strict=False))
        labels = jaxnn.predict(model, params, digits_small.x_test)
        # The same predictions: as many right as the table's accuracy says (its float32 sum aside).
        correct = int(np.sum(labels == digits_small.y_test))
        assert correct == round(result.table["test_metric"][i] * len(labels))
        np.testing.assert_allclose(correct / len(labels), result.table["test_metric"][i], rtol=1e-6)
        validation = jaxnn.evaluate(model, params, digits_small, split="val")
        assert validation["accuracy"] == result.table["best_val_metric"][i]
        np.testing.assert_allclose(validation["loss"], result.table["best_val_loss"][i], rtol=1e-6)


def test_a_row_of_a_shape_equals_fit_of_that_model(swept, digits_small):
    result, _ = swept
    row = result.row(3)
    single = jaxnn.fit(
        jaxnn.mlp([64, *row["sizes"], 10]),
        digits_small,
        learning_rate=row["learning_rate"],
        key=jax.random.fold_in(jax.random.key(0), row["seed"]),
        early_stopping=jaxnn.EarlyStopping(patience=99),
        **OPTIONS,
    )
    chex.assert_trees_all_close(single.params, result.params(3), rtol=1e-5, atol=1e-5)


BAD_SIZES = [
    ({"sizes": [(32,), (0,)]}, jaxnn.ConfigError, r"space\['sizes'\] widths must be >= 1, got 0 in \(0,\)"),
    ({"sizes": [(32, -4)]}, jaxnn.ConfigError, r"widths must be >= 1, got -4 in \(32, -4\)"),
    ({"sizes": [32, 64]}, TypeError, r"space\['sizes'\] values are tuples of hidden layer widths .* got 32"),
    ({"sizes": [(32.5,)]}, TypeError, r"widths must be ints, got 32.5"),
    (
        {"sizes": jaxnn.choice([(8,), (0, 8)]), "learning_rate": jaxnn.loguniform(1e-3, 1e-1)},
        jaxnn.ConfigError,
        r"widths must be >= 1, got 0 in \(0, 8\)",
    ),
]


@pytest.mark.parametrize("space, error, message", BAD_SIZES)
def test_bad_sizes_are_refused_before_training(digits_small, space, error, message):
    with pytest.raises(error, match=message):
        jaxnn.sweep(
            jaxnn.mlp([64, 8, 10]),
            digits_small,
            space=space,
            key=0,
            num_samples=None if not any(isinstance(v, jaxnn.loguniform) for v in space.values()) else 4,
            **OPTIONS,
        )


BAD_PADDING = [
    ({"pad_sizes": "yes"}, TypeError, r"`pad_sizes` must be True, False or None, got 'yes'"),
    (
        {"pad_sizes": True, "space": {"learning_rate": [0.1, 0.2]}},
        jaxnn.ConfigError,
        r"pad_sizes=True pads the shapes of space\['sizes'\], which this sweep does not vary",
    ),
    (
        {"pad_sizes": True, "space": {"sizes": [(8,), ()]}},
        jaxnn.ConfigError,
        r"pad_sizes=True needs an MLP .* sizes with at least one hidden layer each; got a 'mlp' model and sizes "
        r"\[\(8,\), \(\)\]",
    ),
    (
        {"pad_sizes": True, "scheduler": "asha"},
        jaxnn.ConfigError,
        r"pad_sizes=True pads every shape into one program, but a scheduler prunes .* leave `pad_sizes` unset",
    ),
    (
        {"pad_sizes": True, "cv": 3, "val_fraction": 0},
        jaxnn.ConfigError,
        r"but cross-validation trains each shape on every fold as a program of its own",
    ),
]


@pytest.mark.parametrize("options, error, message", BAD_PADDING)
def test_bad_padding_requests_are_refused_before_training(digits_small, options, error, message):
    options = {"space": {"sizes": [(8,), (8, 8)], "learning_rate": [0.1, 0.2]}} | options
    data = digits_small if "val_fraction" not in options else jaxnn.datasets.load("digits", seed=0, val_fraction=0)
    options.pop("val_fraction", None)
    with pytest.raises(error, match=message):
        jaxnn.sweep(jaxnn.mlp([64, 8, 10]), data, key=0, **OPTIONS, **options)


def test_the_command_line_refuses_padding_under_a_scheduler_in_its_own_words(capsys):
    status, _, stderr = run_cli(
        capsys,
        *("sweep", "--dataset", "iris", "--sizes", "4", "--sizes", "4,4", "--learning-rate", "0.1,0.2,0.3"),
        *("--scheduler", "asha", "--pad-sizes", "yes", "--epochs", "3", "--no-progress"),
    )
    assert_one_line_error(status, stderr, "--pad-sizes yes pads every shape into one program, but a scheduler prunes")
    assert "leave --pad-sizes unset" in stderr


def test_sizes_need_a_model_whose_hidden_layers_are_known_and_enough_configurations_per_shape(digits_small):
    layers = jaxnn.layers
    model = jaxnn.sequential(64, layers.dense(8), layers.activation("relu"), layers.dense(10))
    with pytest.raises(jaxnn.ConfigError, match="sets the hidden layers of a model built by jaxnn.mlp"):
        jaxnn.sweep(model, digits_small, space={"sizes": [(8,)]}, key=0, **OPTIONS)
    with pytest.raises(jaxnn.ConfigError, match=r"Hyperband's brackets split each shape's configurations, and sizes"):
        jaxnn.sweep(
            jaxnn.mlp([64, 8, 10]),
            digits_small,
            space=[{"sizes": (8,), "learning_rate": 0.1}]
            + [{"sizes": (16,), "learning_rate": r} for r in (0.1, 0.2, 0.3)],
            key=0,
            scheduler=jaxnn.Hyperband(),
            **OPTIONS | {"num_epochs": 9},
        )
    with pytest.raises(
        jaxnn.ConfigError,
        match=r"each of space\['sizes'\] needs at least 2 configurations per seed; "
        r"sizes \(8,\) has 1",
    ):
        jaxnn.sweep(
            jaxnn.mlp([64, 8, 10]),
            digits_small,
            space={"sizes": [(8,), (16,)], "learning_rate": [0.1]},
            key=0,
            scheduler=jaxnn.PBT(interval=1),
            **OPTIONS,
        )


@pytest.mark.parametrize("scheduler", [jaxnn.ASHA(reduction_factor=2), jaxnn.Hyperband(reduction_factor=2)])
def test_asha_and_hyperband_prune_each_shape_among_itself(iris, scheduler):
    """A shape's rows form their own successive halving: the rows of each shape equal, bitwise, those of the same
    scheduled sweep of that shape alone (rows of different shapes meet only in the final table)."""
    rates = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
    options = dict(key=0, scheduler=scheduler, num_epochs=4, batch_size=32, progress=False)
    result = jaxnn.sweep(jaxnn.mlp([4, 8, 3]), iris, space={"sizes": [(8,), (4, 4)], "learning_rate": rates}, **options)
    assert len(result) == 12 and "pruned" in set(result.table["status"])
    for sizes in ((8,), (4, 4)):
        alone = jaxnn.sweep(jaxnn.mlp([4, *sizes, 3]), iris, space={"learning_rate": rates}, **options)
        for i in range(len(alone)):
            (j,) = [
                k
                for k in range(len(result))
                if result.table["sizes"][k] == sizes
                and result.table["learning_rate"][k] == alone.table["learning_rate"][i]
            ]
            for name in ("status", "epochs_run", "rung", "best_val_metric", "best_val_loss"):
                assert result.table[name][j] == alone.table[name][i], name
            chex.assert_trees_all_equal(result.params(j), alone.params(i))


def test_pbt_across_shapes_never_copies_between_them(digits_small):
    result = jaxnn.sweep(
        jaxnn.mlp([64, 8, 10]),
        digits_small,
        space={"sizes": [(8,), (12,)], "learning_rate": [0.001, 0.003, 0.03, 0.3]},
        key=1,
        scheduler=jaxnn.PBT(interval=1, fraction=0.25),
        **OPTIONS,
    )
    sizes_of = {int(c): s for c, s in zip(result.table["config"], result.table["sizes"], strict=False)}
    copied = [lineage for lineage in result.table["lineage"] if ">" in lineage]
    assert copied  # some rows did copy, and only from their own shape
    for config, lineage in zip(result.table["config"], result.table["lineage"], strict=False):
        assert {sizes_of[int(c)] for c in str(lineage).split(">")} == {sizes_of[int(config)]}
    for i in range(len(result)):
        assert [w["w"].shape[1] for w in result.params(i)][0] == result.table["sizes"][i][0]


def test_an_optuna_sampler_chooses_sizes_and_each_round_trains_a_shape_padded_to_a_power_of_two(digits_small):
    optuna = pytest.importorskip("optuna")  # installed by the test extra: CI runs this test
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shapes = [(8,), (8, 8)]
    jaxnn.clear_caches()
    with CompiledPrograms() as names:
        result = jaxnn.sweep(
            jaxnn.mlp([64, 32, 10]),
            digits_small,
            space={"sizes": jaxnn.choice(shapes), "learning_rate": jaxnn.loguniform(0.01, 0.3)},
            sampler=optuna.samplers.RandomSampler(seed=11),  # rounds of 3 + 1 and 4 + 0: 3 counts, 2 widths
            num_samples=8,
            batch=4,
            key=0,
            pad_sizes=False,  # one program per shape (padded, every round is the one program of 4 rows)
            **OPTIONS,
        )
    trials = result.study.trials
    assert len(result) == 8 and {t.params["sizes"] for t in trials} == {"8", "8,8"}  # Optuna's choices: words
    for i in range(len(result)):
        trial = trials[int(result.table["config"][i])]
        assert result.table["sizes"][i] == tuple(int(w) for w in trial.params["sizes"].split(","))
        assert result.model(i).config["sizes"][1:-1] == list(result.table["sizes"][i])
        assert [layer["w"].shape[1] for layer in result.params(i)][:-1] == list(result.table["sizes"][i])
    labels = jaxnn.predict(result.model(0), result.params(0), digits_small.x_test)
    assert float(np.mean(labels == digits_small.y_test)) == pytest.approx(result.table["test_metric"][0], abs=1e-6)
    # Each round (trials 0-3, 4-7) trains each of its shapes as one program of the next power of two of its count:
    # a program per distinct (shape, padded count), compiled once.
    widths = set()
    for start in (0, 4):
        for shape in shapes:
            count = sum(t.params["sizes"] == ",".join(map(str, shape)) for t in trials[start : start + 4])
            if count:
                widths.add((shape, 1 << (count - 1).bit_length()))
    assert names.count("run_rows") == len(widths)


def test_an_optuna_sampler_s_rounds_of_padded_shapes_all_run_one_program(digits_small):
    optuna = pytest.importorskip("optuna")  # installed by the test extra: CI runs this test
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    jaxnn.clear_caches()
    with CompiledPrograms() as names:
        result = jaxnn.sweep(
            jaxnn.mlp([64, 32, 10]),
            digits_small,
            space={"sizes": jaxnn.choice([(8,), (8, 8), (16,)]), "learning_rate": jaxnn.loguniform(0.01, 0.3)},
            sampler=optuna.samplers.RandomSampler(seed=11),
            num_samples=8,
            batch=4,
            key=0,
            pad_sizes=True,
            **OPTIONS,
        )
    assert names.count("run_rows") == 1  # two rounds, whatever shapes each drew
    for i in range(len(result)):
        assert [layer["w"].shape[1] for layer in result.params(i)][:-1] == list(result.table["sizes"][i])


def test_concat_of_sweeps_of_different_models_keeps_each_rows_model():
    small, large = (
        hand_built("multiclass", ["completed"] * 2, sizes=((4,),)),
        hand_built("multiclass", ["completed"] * 3, sizes=((6,),)),
    )
    joined = jaxnn.SweepResult.concat([small, large])
    assert sorted(joined.table["sizes"]) == [(4,), (4,), (6,), (6,), (6,)] and len(joined.models) == 2
    assert joined.hyperparameters == ["sizes", "learning_rate"]
    for i in range(len(joined)):
        source, row = (
            (small, int(joined.table["config"][i]))
            if joined.table["sizes"][i] == (4,)
            else (large, int(joined.table["config"][i]) - 2)
        )
        assert joined.model(i) == source.model(0)
        chex.assert_trees_all_equal(
            joined.params(i), source.params(int(np.flatnonzero(source.table["config"] == row)[0]))
        )


# Ensembles ---------------------------------------------------------------------------------------


def hand_built(task, statuses, sizes=((4,), (6,), (4,))):
    """A result of rows of different shapes (initial weights, no training), for the ensemble's arithmetic."""
    outputs = {"binary": 1, "multiclass": 3, "regression": 1}[task]
    models = [jaxnn.mlp([5, *s, outputs]) for s in dict.fromkeys(sizes)]
    rows = len(statuses)
    rows_of = [(list(dict.fromkeys(sizes)).index(sizes[i % len(sizes)]), i) for i in range(rows)]
    params = [
        jax.tree.map(lambda *leaves: np.stack(leaves), *[m.init(jax.random.key(i)) for i in range(rows)])
        for m in models
    ]
    table = {
        "learning_rate": np.linspace(0.1, 0.5, rows),
        "seed": np.zeros(rows, int),
        "config": np.arange(rows),
        "status": np.asarray(statuses),
        "best_val_metric": np.linspace(0.9, 0.5, rows),
        "best_val_loss": np.ones(rows),
    }
    return jaxnn.SweepResult(
        table=table,
        curves={"val_loss": np.zeros((rows, 1))},
        params=params,
        model=models,
        rows_of=np.asarray(rows_of),
        metric="accuracy",
        higher_is_better=task != "regression",
        hyperparameters=["learning_rate"],
        log_scaled=set(),
        task=task,
    )


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_an_ensemble_averages_probabilities_or_outputs_of_the_top_rows(task):
    result = hand_built(task, ["completed"] * 4)
    model, params = result.ensemble(top=3)
    x = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    if task == "regression":
        expected = np.mean([np.asarray(result.model(i).apply(result.params(i), x)) for i in range(3)], axis=0)
        np.testing.assert_allclose(np.asarray(model.apply(params, x)), expected, rtol=1e-6, atol=1e-7)
    else:
        expected = np.mean(
            [jaxnn.predict(result.model(i), result.params(i), x, task=task, proba=True) for i in range(3)], 0
        )
        np.testing.assert_allclose(
            jaxnn.predict(model, params, x, task=task, proba=True), expected, rtol=1e-5, atol=1e-7
        )
        labels = expected.argmax(-1) if task == "multiclass" else (expected > 0.5).astype(int)
        np.testing.assert_array_equal(jaxnn.predict(model, params, x, task=task), labels)


def test_an_ensemble_round_trips_through_a_checkpoint(tmp_path):
    result = hand_built("multiclass", ["completed"] * 3)
    model, params = result.ensemble(top=3)
    jaxnn.save(tmp_path / "e.msgpack", model, params)
    restored = jaxnn.load(tmp_path / "e.msgpack")
    assert restored.model == model and restored.model.config["type"] == "ensemble"
    x = np.ones((2, 5), np.float32)
    np.testing.assert_array_equal(
        np.asarray(restored.model.apply(restored.params, x)), np.asarray(model.apply(params, x))
    )


def test_bad_ensembles():
    result = hand_built("multiclass", ["completed", "completed", "diverged", "diverged"])
    with pytest.raises(jaxnn.ConfigError, match=r"`top` \(=0\) must be >= 1"):
        result.ensemble(top=0)
    with pytest.raises(jaxnn.ConfigError, match=r"`top` \(=5\) is more than the sweep's 4 rows"):
        result.ensemble(top=5)
    with pytest.warns(
        UserWarning, match=r"rows 2, 3 of the top 4 diverged and are left out: the ensemble averages the other 2"
    ):
        model, params = result.ensemble(top=4)
    assert len(params) == 2 and len(model.config["members"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result.ensemble(top=2)
    with pytest.raises(jaxnn.errors.AllRunsDiverged, match="all of the top 1 rows diverged"):
        hand_built("multiclass", ["diverged"], sizes=((4,),)).ensemble(top=1)
    with pytest.raises(jaxnn.ConfigError, match="must take the same input"):
        jaxnn.ensemble([jaxnn.mlp([4, 3]), jaxnn.mlp([5, 3])], task="multiclass")
    with pytest.raises(jaxnn.ConfigError, match="unknown task 'ordinal'"):
        jaxnn.ensemble([jaxnn.mlp([4, 3])], task="ordinal")


def test_sweep_command_sweeps_sizes_and_writes_the_ensemble(capsys, tmp_path):
    out = tmp_path / "sweep"
    status, stdout, stderr = run_cli(
        capsys,
        "sweep",
        "--dataset",
        "iris",
        "--sizes",
        "8",
        "--sizes",
        "4,4",
        "--epochs",
        "2",
        "--learning-rate",
        "0.05,0.1",
        "--optimizer",
        "sgd",
        "--ensemble",
        "3",
        "--out",
        out,
        "--no-progress",
        "--log",
        "none",
    )
    assert status == 0, stderr
    assert "| sizes |" in stdout and "best_ensemble.msgpack" in stdout
    best = jaxnn.load(out / "best.msgpack")
    assert best.model.config["sizes"][1:-1] == list(best.metadata["row"]["sizes"])
    ensemble = jaxnn.load(out / "best_ensemble.msgpack")
    assert len(ensemble.model.config["members"]) == 3 == len(ensemble.metadata["ensemble_of"])
    x = np.random.default_rng(0).normal(5, 1, size=(6, 4))
    np.savez(tmp_path / "x.npz", x=x)
    status, stdout, stderr = run_cli(
        capsys, "predict", "--model", out / "best_ensemble.msgpack", "--npz", tmp_path / "x.npz", "--proba"
    )
    assert status == 0, stderr
    expected = jaxnn.predict(ensemble.model, ensemble.params, x, dataset=ensemble.info, proba=True)
    np.testing.assert_allclose(np.loadtxt(stdout.splitlines()[1:], delimiter=","), expected, rtol=1e-5)
    status, _, stderr = run_cli(capsys, "sweep", "--dataset", "iris", "--sizes", "8", "--sizes", "4,0", "--out", out)
    assert status == 2 and "widths must be positive integers" in stderr
    status, _, stderr = run_cli(
        capsys,
        "sweep",
        "--dataset",
        "iris",
        "--sizes",
        "8",
        "--sizes",
        "4",
        "--ensemble",
        "5",
        "--learning-rate",
        "0.1",
        "--out",
        out,
    )
    assert status == 2 and "--ensemble 5 is more than the sweep's 2 runs" in stderr
