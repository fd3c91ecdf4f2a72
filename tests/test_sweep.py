"""Sweeps: one compile, equivalence with fit, quarantine of diverging rows, chunking, devices, results."""

import csv
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import chex
import jax
import numpy as np
import pytest

import jaxnn
from jaxnn.sweeps import expand_space

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model():
    return jaxnn.mlp([64, 32, 10])


OPTIONS = dict(optimizer="sgd", num_epochs=6, batch_size=64, progress=False, momentum=0.9)


def test_grid_random_and_seeds_expand_as_documented():
    key = jax.random.key(0)
    configs, seeds, log_scaled = expand_space(
        {"learning_rate": [1e-3, 1e-2, 1e-1], "momentum": [0.0, 0.9]}, num_samples=None, seeds=3, key=key
    )
    assert len(configs) == 6 and seeds == [0, 1, 2]
    assert {(c["learning_rate"], c["momentum"]) for c in configs} == {
        (a, b) for a in [1e-3, 1e-2, 1e-1] for b in [0.0, 0.9]
    }
    assert log_scaled == {"learning_rate"}
    space = {"learning_rate": jaxnn.loguniform(1e-4, 1e-1), "dropout": jaxnn.uniform(0.0, 0.5), "batch_size": [32, 64]}
    first, _, log_scaled = expand_space(space, num_samples=50, seeds=1, key=key)
    again, _, _ = expand_space(space, num_samples=50, seeds=1, key=key)
    assert first == again and len(first) == 50 and "learning_rate" in log_scaled
    rates = np.array([c["learning_rate"] for c in first])
    assert np.all((rates >= 1e-4) & (rates <= 1e-1)) and np.sum(rates < 1e-2) > 15  # log-uniform, not uniform
    assert {c["batch_size"] for c in first} == {32, 64}
    other, _, _ = expand_space(space, num_samples=50, seeds=1, key=jax.random.key(1))
    assert other != first


def test_a_second_sweep_with_new_values_does_not_recompile(digits, model, compiles):
    jaxnn.sweep(model, digits, space={"learning_rate": [0.01, 0.02, 0.03]}, key=0, **OPTIONS)
    with compiles as counter:
        jaxnn.sweep(jaxnn.mlp([64, 32, 10]), digits, space={"learning_rate": [0.5, 0.05, 0.005]}, key=1, **OPTIONS)
    assert counter.count == 0


def test_rows_equal_single_fits_with_the_same_hyperparameters_and_key(digits, model):
    result = jaxnn.sweep(
        model, digits, space={"learning_rate": [0.01, 0.1], "weight_decay": [0.0, 1e-3]}, seeds=2, key=7, **OPTIONS
    )
    assert len(result) == 8
    for i in [0, 3, 7]:
        row = result.row(i)
        # A sweep row keeps its best epoch's params: fit does too when early stopping (that never stops) restores them.
        single = jaxnn.fit(
            model,
            digits,
            learning_rate=row["learning_rate"],
            weight_decay=row["weight_decay"],
            key=jax.random.fold_in(jax.random.key(7), row["seed"]),
            early_stopping=jaxnn.EarlyStopping(patience=99),
            **OPTIONS,
        )
        assert single.best_epoch == row["best_epoch"]
        chex.assert_trees_all_close(single.params, result.params(i), rtol=1e-5, atol=1e-5)
        for name in ("train_loss", "val_loss", "val_metric"):
            np.testing.assert_allclose(single.history[name], result.curves[name][i], rtol=1e-5, atol=1e-6)


def test_a_diverging_row_is_quarantined(digits, model):
    # The same width with and without the diverging value (other widths may vectorize differently).
    clean = jaxnn.sweep(model, digits, space={"learning_rate": [0.01, 0.05, 0.1, 0.2]}, key=0, **OPTIONS)
    mixed = jaxnn.sweep(model, digits, space={"learning_rate": [0.01, 0.05, 1e4, 0.2]}, key=0, **OPTIONS)
    diverged = [i for i in range(len(mixed)) if mixed.table["status"][i] == "diverged"]
    assert len(diverged) == 1 and mixed.table["learning_rate"][diverged[0]] == 1e4
    assert 1 <= mixed.table["stopped_epoch"][diverged[0]] <= 2
    chex.assert_tree_all_finite(mixed.params(diverged[0]))
    for rate in (0.01, 0.05, 0.2):
        i = int(np.flatnonzero(clean.table["learning_rate"] == rate)[0])
        j = int(np.flatnonzero(mixed.table["learning_rate"] == rate)[0])
        for name in clean.curves:
            np.testing.assert_array_equal(clean.curves[name][i], mixed.curves[name][j])
        chex.assert_trees_all_equal(clean.params(i), mixed.params(j))


def test_early_stopping_works_per_row(digits, model):
    result = jaxnn.sweep(
        model,
        digits,
        space={"learning_rate": [1e-4, 0.5]},
        key=0,
        early_stopping=jaxnn.EarlyStopping(patience=2),
        **(OPTIONS | {"num_epochs": 40}),
    )
    by_rate = {float(r): i for i, r in enumerate(result.table["learning_rate"])}
    assert result.table["status"][by_rate[0.5]] == "early_stopped"
    assert result.table["stopped_epoch"][by_rate[0.5]] < 40
    assert np.all(np.isnan(result.curves["val_loss"][by_rate[0.5], result.table["stopped_epoch"][by_rate[0.5]] :]))
    assert result.table["status"][by_rate[1e-4]] == "completed"
    # Rows share their seed's minibatch order; a row that runs on after another stopped
    # still sees exactly the batches a single fit sees.
    for rate, i in by_rate.items():
        single = jaxnn.fit(
            model,
            digits,
            learning_rate=rate,
            key=jax.random.fold_in(jax.random.key(0), 0),
            early_stopping=jaxnn.EarlyStopping(patience=2),
            **(OPTIONS | {"num_epochs": 40}),
        )
        assert single.stopped_epoch == result.table["stopped_epoch"][i]
        chex.assert_trees_all_close(single.params, result.params(i), rtol=1e-5, atol=1e-5)  # restored best
        if rate == 1e-4:  # (at 0.5 the loss explodes, amplifying rounding differences between the programs)
            np.testing.assert_allclose(single.history["val_loss"], result.curves["val_loss"][i], rtol=1e-5)


def test_chunking_bounds_the_program_and_keeps_results(digits, model, compiles):
    space = {"learning_rate": [0.01, 0.02, 0.05, 0.1, 0.2]}
    whole = jaxnn.sweep(model, digits, space=space, key=0, **OPTIONS)
    chunked = jaxnn.sweep(model, digits, space=space, key=0, max_parallel=2, **OPTIONS)
    np.testing.assert_array_equal(whole.table["learning_rate"], chunked.table["learning_rate"])
    np.testing.assert_allclose(
        whole.curves["val_loss"], chunked.curves["val_loss"], rtol=1e-4
    )  # chunks of other widths round differently
    # The compiled program has the shape of one chunk: more rows reuse it.
    with compiles as counter:
        jaxnn.sweep(
            model, digits, space={"learning_rate": list(np.linspace(0.01, 0.3, 9))}, key=0, max_parallel=2, **OPTIONS
        )
    assert counter.count == 0


def test_on_cpu_the_default_chunk_keeps_rows_within_the_cache_budget(digits, model, monkeypatch):
    space = {"learning_rate": list(np.linspace(0.005, 0.05, 7))}
    whole = jaxnn.sweep(model, digits, space=space, key=0, **OPTIONS)
    per_row = jaxnn.sweeps.plan.bytes_per_row(model, digits, OPTIONS["batch_size"])
    monkeypatch.setattr(jaxnn.sweeps.plan, "CPU_ROW_BYTES_PER_DEVICE", 3 * per_row)
    chunk_sizes = []
    real_init = jaxnn.sweeps.rows.init_rows
    monkeypatch.setattr(
        jaxnn.sweeps.rows,
        "init_rows",
        lambda spec, hparams, *rest, **kw: (
            chunk_sizes.append(len(hparams.learning_rate)) or real_init(spec, hparams, *rest, **kw)
        ),
    )
    chunked = jaxnn.sweep(model, digits, space=space, key=0, **OPTIONS)
    # 7 rows at most 3 per device at a time: equal chunks, each a multiple of the device count, the last padded.
    devices = len(jax.devices())
    assert len(set(chunk_sizes)) == 1 and sum(chunk_sizes) - 7 < chunk_sizes[0], chunk_sizes
    assert chunk_sizes[0] % devices == 0 and chunk_sizes[0] <= 3 * devices, chunk_sizes
    if devices == 1:
        assert chunk_sizes == [3, 3, 3]
    np.testing.assert_array_equal(whole.table["learning_rate"], chunked.table["learning_rate"])
    # (a chunk's first layer is one matmul as wide as the chunk: rounding differs, within 1e-5)
    np.testing.assert_allclose(whole.curves["val_loss"], chunked.curves["val_loss"], rtol=1e-5)


def test_program_settings_run_as_separate_programs_and_merge(digits, model):
    result = jaxnn.sweep(
        model,
        digits,
        space={"optimizer": ["sgd", "adam"], "learning_rate": [1e-3, 1e-2]},
        key=0,
        **(OPTIONS | {"momentum": 0.0}),
    )
    assert len(result) == 4 and sorted(set(result.table["optimizer"])) == ["adam", "sgd"]
    assert sorted(result.table["config"].tolist()) == [0, 1, 2, 3]
    row = result.row(0)
    single = jaxnn.fit(
        model,
        digits,
        optimizer=row["optimizer"],
        learning_rate=row["learning_rate"],
        key=jax.random.fold_in(jax.random.key(0), 0),
        **{k: v for k, v in OPTIONS.items() if k != "optimizer"} | {"momentum": 0.0},
    )
    np.testing.assert_allclose(single.history["val_loss"], result.curves["val_loss"][0], rtol=1e-5)


@pytest.fixture(scope="module")
def seeded(digits, model):
    """Three configurations, three seeds each."""
    return jaxnn.sweep(model, digits, space={"learning_rate": [0.003, 0.03, 0.3]}, seeds=3, key=0, **OPTIONS)


def test_result_table_exports_and_plots(seeded, digits, tmp_path):
    result = seeded
    table = result.table
    assert len(result) == 9
    metric = table["best_val_metric"]
    assert np.all(np.diff(metric[np.isfinite(metric)]) <= 0)  # accuracy: best (highest) first
    assert result.best["best_val_metric"] == metric.max()
    assert result.curves["val_loss"].shape == (9, 6)
    # The test metric is the returned params' accuracy on the test split.
    predictions = result.predict(0, digits.x_test, task="multiclass")
    np.testing.assert_allclose(np.mean(predictions == digits.y_test), table["test_metric"][0], rtol=1e-6)
    result.to_csv(tmp_path / "sweep.csv")
    with open(tmp_path / "sweep.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and float(rows[0]["learning_rate"]) == table["learning_rate"][0]
    result.to_json(tmp_path / "sweep.json")
    document = json.loads((tmp_path / "sweep.json").read_text())
    assert (
        document["metric"] == "accuracy" and len(document["rows"]) == 9 and len(document["curves"]["val_loss"][0]) == 6
    )
    written = result.plot(tmp_path / "plots")
    assert sorted(os.path.basename(p) for p in written) == ["curves.png", "metric_vs_learning_rate.png"]
    assert all(os.path.getsize(p) > 1000 for p in written)
    assert not list(tmp_path.glob("**/*.tmp"))  # no temporary files left behind


def test_aggregate_ranks_configurations_by_their_mean_over_seeds(seeded):
    """Against the same statistics computed row by row in plain Python (statistics.mean and stdev)."""
    import statistics

    rows = [seeded.row(i) for i in range(len(seeded))]
    expected = {}
    for row in rows:
        expected.setdefault(row["config"], []).append(row)
    summary = seeded.aggregate()
    assert sorted(summary["config"].tolist()) == sorted(expected) and len(summary["config"]) == 3
    for i, config in enumerate(summary["config"].tolist()):
        group = expected[config]
        assert summary["learning_rate"][i] == group[0]["learning_rate"]
        assert summary["num_seeds"][i] == summary["count"][i] == 3 and summary["num_diverged"][i] == 0
        for name in ("best_val_metric", "best_val_loss", "test_metric", "test_loss", "best_epoch", "stopped_epoch"):
            values = [row[name] for row in group]
            assert summary[f"{name}_mean"][i] == pytest.approx(statistics.mean(values), rel=1e-12), name
            assert summary[f"{name}_std"][i] == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-12), name
        best = max(group, key=lambda row: (row["best_val_metric"], -row["best_val_loss"]))  # accuracy: higher is better
        assert summary["best_seed"][i] == best["seed"] and seeded.row(int(summary["best_row"][i])) == best
    means = [statistics.mean(row["best_val_metric"] for row in expected[c]) for c in summary["config"].tolist()]
    assert means == sorted(means, reverse=True)
    text = seeded.format_aggregate(top=2)
    lines = text.splitlines()
    assert (
        lines[0] == "| learning_rate | seeds | best_val_metric (mean ± std) | best_val_loss (mean ± std) | "
        "test_metric (mean ± std) | best_seed |"
    )
    assert f"{summary['best_val_metric_mean'][0]:.4g} ± {summary['best_val_metric_std'][0]:.2g}" in lines[2]
    assert lines[-1] == "(1 more configuration)"


def test_aggregate_puts_a_configuration_with_a_diverged_seed_after_those_that_always_trained():
    # config 0: the best mean of its trained seeds, but one seed diverged; config 1 trained on both seeds;
    # config 2 diverged on both. The metric is accuracy: higher is better.
    result = _table(
        config=[0, 0, 1, 1, 2, 2],
        seed=[0, 1, 0, 1, 0, 1],
        learning_rate=[0.1, 0.1, 0.2, 0.2, 0.3, 0.3],
        status=["completed", "diverged", "completed", "completed", "diverged", "diverged"],
        best_val_metric=[0.99, np.nan, 0.8, 0.9, np.nan, np.nan],
        best_val_loss=[0.1, np.nan, 0.3, 0.2, np.nan, np.nan],
    )
    summary = result.aggregate()
    assert summary["config"].tolist() == [1, 0, 2]
    assert summary["num_diverged"].tolist() == [0, 1, 2] and summary["count"].tolist() == [2, 1, 0]
    assert summary["best_val_metric_mean"][:2].tolist() == pytest.approx([0.85, 0.99])
    assert summary["best_val_metric_std"][0] == pytest.approx(0.0707106781, rel=1e-6)  # sqrt(0.005)
    assert np.isnan(summary["best_val_metric_std"][1]) and np.isnan(summary["best_val_metric_mean"][2])
    assert summary["best_seed"].tolist() == [1, 0, 0] and summary["best_row"][0] == 1  # row 1 of the ranked table
    assert "| 0.2 | 2 | 0 | 0.85 ± 0.071 |" in result.format_aggregate()


def test_dropout_and_init_scale_are_sweepable(digits):
    model = jaxnn.mlp([64, 64, 10])
    result = jaxnn.sweep(model, digits, space={"dropout": [0.0, 0.5], "init_scale": [1.0, 0.1]}, key=0, **OPTIONS)
    assert len(result) == 4 and set(result.table["status"]) == {"completed"}
    curves = {
        (r["dropout"], r["init_scale"]): result.curves["train_loss"][i, 0]
        for i, r in enumerate(map(result.row, range(4)))
    }
    assert curves[(0.5, 1.0)] > curves[(0.0, 1.0)]  # dropout makes the first epoch's train loss worse


BAD_SWEEPS = [
    # (arguments of a valid sweep to change, error, message)
    (dict(space={}), ValueError, "`space` must be a non-empty dict"),
    (dict(space={"lr": [0.1]}), ValueError, "unknown hyperparameter 'lr'.*valid names: .*learning_rate"),
    (dict(space={"activation": ["relu", "tanh"]}), ValueError, "'activation' changes the model itself"),
    (dict(space={"learning_rate": [0.1, -0.1]}), ValueError, r"`learning_rate` \(=-0.1\) must be > 0"),
    (dict(space={"dropout": [0.0, 1.0]}), ValueError, r"`dropout` \(=1\) must be in \[0, 1\)"),
    (dict(space={"learning_rate": ["fast"]}), TypeError, "values must be numbers"),
    (dict(space={"learning_rate": []}), ValueError, "space\\['learning_rate'\\] is empty"),
    (dict(space={"learning_rate": jaxnn.loguniform(1e-3, 1e-1)}), ValueError, "pass num_samples=N for random search"),
    (
        dict(space={"learning_rate": jaxnn.loguniform(1e-3, 1e-1)}, num_samples=0),
        ValueError,
        r"`num_samples` \(=0\) must be >= 1",
    ),
    (dict(space={"learning_rate": jaxnn.loguniform(0.0, 1e-1)}, num_samples=2), ValueError, "loguniform needs low > 0"),
    (dict(num_samples=3), ValueError, "`num_samples` is for random search"),
    (dict(max_parallel=10**9), ValueError, r"max_parallel=\d+ rows need about .* GiB but about .* GiB is available"),
    (dict(space={"momentum": [0.1]}, learning_rte=0.1), TypeError, "unexpected keyword argument 'learning_rte'"),
    (dict(space={"seed": [1, 2]}, seeds=3), ValueError, "either seeds=n or space\\['seed'\\]"),
    (dict(space={"seed": [1, 1]}), ValueError, "seeds must be distinct"),
    (dict(space={"optimizer": ["sgd", "adamm"]}), ValueError, "unknown optimizer 'adamm'"),
    (
        dict(
            model=lambda: jaxnn.from_flax(__import__("flax.linen", fromlist=["Dense"]).Dense(10), np.zeros((2, 64))),
            space={"dropout": [0.1]},
        ),
        ValueError,
        "varies dropout but the model has no dropout layers",
    ),
]


@pytest.mark.parametrize("changes, error, message", BAD_SWEEPS)
def test_bad_spaces_and_arguments(digits, changes, error, message):
    options = {"key": 0, "space": {"learning_rate": [0.1]}, **OPTIONS, **changes}
    model = options.pop("model", lambda: jaxnn.mlp([64, 32, 10]))()
    with pytest.raises(error, match=message):
        jaxnn.sweep(model, digits, **options)


FOUR_DEVICES = textwrap.dedent(
    """
    import logging
    import jax, numpy as np, jaxnn
    assert len(jax.devices()) == 4, jax.devices()
    data = jaxnn.datasets.load("digits", seed=0)
    model = jaxnn.mlp([64, 32, 10])
    options = dict(space={"learning_rate": [0.01, 0.02, 0.05, 0.1, 3e3]}, optimizer="sgd", momentum=0.9,
                   num_epochs=5, batch_size=64, key=0, progress=False)
    compiled = []
    handler = logging.Handler()
    handler.emit = lambda record: compiled.append(record.getMessage())
    logging.getLogger("jax").addHandler(handler)
    jax.config.update("jax_log_compiles", True)
    sharded = jaxnn.sweep(model, data, **options)
    jax.config.update("jax_log_compiles", False)
    # One program for every call: the first call's state is laid out as the later calls' is.
    runs = [m for m in compiled if "Finished XLA compilation of jit(run_rows)" in m]
    assert len(runs) == 1, runs
    single = jaxnn.sweep(model, data, devices=1, **options)
    np.testing.assert_array_equal(sharded.table["learning_rate"], single.table["learning_rate"])
    np.testing.assert_array_equal(sharded.table["status"], single.table["status"])
    for name in single.curves:
        np.testing.assert_allclose(sharded.curves[name], single.curves[name], rtol=1e-5, atol=1e-6)
    for i in range(len(single)):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), sharded.params(i), single.params(i))
    print("OK", len(single))
    """
)


def test_sharded_over_four_host_devices_equals_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    completed = subprocess.run(
        [sys.executable, "-c", FOUR_DEVICES], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "OK 5" in completed.stdout


def test_every_row_returns_the_params_its_ranked_columns_describe(digits, model):
    # Without early stopping, rows at high learning rates peak early: their last epoch is not their best.
    result = jaxnn.sweep(model, digits, space={"learning_rate": [0.03, 0.3, 1.0]}, key=0, **OPTIONS)
    assert np.any(result.table["best_epoch"] < result.table["stopped_epoch"])
    for i in range(len(result)):
        validation = jaxnn.evaluate(model, result.params(i), digits, split="val")
        np.testing.assert_allclose(validation["loss"], result.table["best_val_loss"][i], rtol=1e-5)
        np.testing.assert_allclose(validation["accuracy"], result.table["best_val_metric"][i], rtol=1e-6)
        test = jaxnn.evaluate(model, result.params(i), digits, split="test")
        np.testing.assert_allclose(test["accuracy"], result.table["test_metric"][i], rtol=1e-6)
    assert result.ranked_by == ("best_val_metric", "best_val_loss")


def _table(**columns):
    rows = len(next(iter(columns.values())))
    base = {
        "learning_rate": np.linspace(0.1, 0.5, rows),
        "seed": np.zeros(rows, int),
        "config": np.arange(rows),
        "status": np.array(["completed"] * rows),
        "best_epoch": np.ones(rows, int),
        "stopped_epoch": np.ones(rows, int),
        "best_train_loss": np.ones(rows),
        "best_val_loss": np.ones(rows),
        "best_val_metric": np.ones(rows),
        "final_val_loss": np.ones(rows),
        "final_val_metric": np.ones(rows),
        "test_loss": np.ones(rows),
        "test_metric": np.ones(rows),
    }
    table = base | {name: np.asarray(values) for name, values in columns.items()}
    return jaxnn.SweepResult(
        table=table,
        curves={"val_loss": np.zeros((rows, 1))},
        params=[{"w": np.arange(rows)}],
        model=jaxnn.mlp([2, 1]),
        metric="accuracy",
        higher_is_better=True,
        hyperparameters=["learning_rate"],
        log_scaled=set(),
    )


def test_ties_in_the_metric_are_broken_by_validation_loss_and_diverged_rows_rank_last():
    result = _table(
        best_val_metric=[0.9, 0.95, 0.95, np.nan],
        best_val_loss=[0.2, 0.4, 0.3, np.nan],
        status=["completed", "completed", "early_stopped", "diverged"],
    )
    assert result.table["config"].tolist() == [2, 1, 0, 3]
    assert int(result.params(0)[0]["w"]) == 2  # params travel with their rows
    assert result.best["config"] == 2
    assert result.aggregate()["learning_rate"].tolist() == list(result.table["learning_rate"][:3]) + [0.5]


def test_a_sweep_where_every_row_diverged_has_no_best():
    result = _table(best_val_metric=[np.nan, np.nan], status=["diverged", "diverged"])
    with pytest.raises(ValueError, match="every one of the 2 runs of this sweep diverged"):
        _ = result.best
    assert "SweepResult(2 rows" in repr(result)


def test_without_a_validation_split_rows_rank_by_training_loss_with_a_warning(model):
    data = jaxnn.datasets.load("digits", seed=0, val_fraction=0.0)
    with pytest.warns(UserWarning, match="no validation split, so the sweep ranks its rows by training loss"):
        result = jaxnn.sweep(model, data, space={"learning_rate": [0.003, 0.03, 0.3]}, key=0, **OPTIONS)
    assert result.ranked_by == ("best_train_loss",)
    losses = result.table["best_train_loss"]
    assert np.all(np.diff(losses) >= 0) and np.all(np.isnan(result.table["best_val_metric"]))


def test_early_stopping_without_restoring_the_best_params_is_refused(digits, model):
    with pytest.raises(ValueError, match=r"restore_best=False\) is not supported"):
        jaxnn.sweep(
            model,
            digits,
            space={"learning_rate": [0.1]},
            key=0,
            early_stopping=jaxnn.EarlyStopping(restore_best=False),
            **OPTIONS,
        )


def test_everything_checkable_is_checked_before_any_row_trains(digits, model, monkeypatch):
    trained = []
    real = jaxnn.sweeps.rows.init_rows
    monkeypatch.setattr(jaxnn.sweeps.rows, "init_rows", lambda *args, **kw: trained.append(1) or real(*args, **kw))
    bad = [
        (dict(space={"optimizer": ["sgd", "adamm"], "learning_rate": [0.1]}), r"unknown optimizer 'adamm'"),
        (dict(space={"batch_size": [32, 100000], "learning_rate": [0.1]}), r"`batch_size` \(=100000\) is larger"),
        (
            dict(space={"learning_rate": [0.1, 0.2]}, learning_rate=0.3),
            r"`learning_rate` is both varied by the space and given",
        ),
        (dict(space={"momentum": [0.5, 0.9]}, optimizer="adam"), r"`momentum` has no effect with optimizer='adam'"),
        (
            dict(space={"learning_rate": jaxnn.loguniform(1e-4, 1e-1)}, num_samples=10**6),
            r"this sweep has 1,000,000 rows .* pass force=True to run it anyway",
        ),
    ]
    for options, message in bad:
        with pytest.raises(jaxnn.ConfigError, match=message):
            jaxnn.sweep(model, digits, key=0, **({k: v for k, v in OPTIONS.items() if k != "momentum"} | options))
    assert not trained
    # The optimizer that reads a hyperparameter may be any of the space's: momentum with sgd or adam is fine.
    jaxnn.sweep(
        model, digits, key=0, space={"optimizer": ["sgd", "adam"]}, **(OPTIONS | {"num_epochs": 1, "momentum": 0.5})
    )


def test_concat_keeps_what_distinguished_the_sweeps_as_columns(digits, model):
    options = {k: v for k, v in OPTIONS.items() if k not in ("optimizer", "momentum")} | {"num_epochs": 2}
    adam = jaxnn.sweep(model, digits, space={"learning_rate": [1e-3]}, key=0, optimizer="adam", **options)
    sgd = jaxnn.sweep(model, digits, space={"learning_rate": [1e-3]}, key=0, optimizer="sgd", **options)
    joined = jaxnn.SweepResult.concat([adam, sgd])
    assert sorted(joined.table["optimizer"].tolist()) == ["adam", "sgd"] and "optimizer" in joined.hyperparameters
    assert "optimizer" not in joined.settings and joined.settings["num_epochs"] == 2
    assert "| optimizer |" in joined.format()
