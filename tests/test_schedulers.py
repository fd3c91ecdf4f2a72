"""Sweep schedulers: ASHA prunes inside one sweep and really drops the pruned rows; Hyperband runs ASHA
brackets of different starts side by side in the same programs; PBT exploits and explores, and every row's
schedule trains the same weights again through fit; a rung that ranks noise is said once."""

import os
import pathlib
import re
import subprocess
import sys
import textwrap
import warnings

import chex
import jax
import numpy as np
import pytest

import jaxnn
from jaxnn.sweeps import rows as sweep_rows
from jaxnn.sweeps.schedulers import ASHA, PBT, Hyperband, ranking_is_noise

from .conftest import tolerance

ROOT = pathlib.Path(__file__).resolve().parents[1]
OPTIONS = dict(optimizer="sgd", num_epochs=9, batch_size=128, progress=False, momentum=0.9)
RATES = [0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6]


@pytest.fixture(scope="module")
def model():
    return jaxnn.mlp([64, 16, 10])


def spied_sweep(*args, **kwargs):
    """``jaxnn.sweep(*args, **kwargs)``, the row widths each compiled call trained (with the first epoch of
    each call), and the warnings it gave."""
    widths = []
    original = sweep_rows.run_rows

    def spy(spec, state, hparams, data, num_epochs):
        widths.append((state.epoch.shape[1], int(np.max(np.asarray(state.epoch)))))
        return original(spec, state, hparams, data, num_epochs)

    spy.lower = original.lower
    sweep_rows.run_rows = spy
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = jaxnn.sweep(*args, **kwargs)
    finally:
        sweep_rows.run_rows = original
    return result, widths, caught


@pytest.fixture(scope="module")
def asha_run(digits, model):
    """An ASHA sweep of 9 rates over rungs (1, 3, 9), and the row widths each compiled call trained."""
    result, widths, caught = spied_sweep(
        model, digits, space={"learning_rate": RATES}, key=0, scheduler="asha", **OPTIONS
    )
    assert not [w for w in caught if issubclass(w.category, jaxnn.errors.RankingNoiseWarning)]  # rates 300x apart
    return result, [width for width, _ in widths]


@pytest.fixture(scope="module")
def hyperband_run(digits, model):
    """A Hyperband sweep of 9 rates: rungs (1, 3, 9), brackets starting at each, and the calls' widths."""
    return spied_sweep(model, digits, space={"learning_rate": RATES}, key=0, scheduler="hyperband", **OPTIONS)


def test_asha_rungs_and_survivors():
    assert ASHA().rungs(60) == (1, 3, 9, 27, 60)
    assert ASHA(min_epochs=2, reduction_factor=2).rungs(20) == (2, 4, 8, 16, 20)
    assert ASHA(reduction_factor=1.5).rungs(4) == (1, 2, 3, 4)  # rounded budgets never repeat
    assert [ASHA().survivors(n) for n in (64, 21, 7, 2, 1)] == [21, 7, 2, 1, 1]


def test_asha_trains_only_the_best_of_each_rung(asha_run):
    result, widths = asha_run
    table = result.table
    assert sorted(table["epochs_run"].tolist()) == [1] * 6 + [3] * 2 + [9]
    assert table["epochs_run"].sum() < len(RATES) * OPTIONS["num_epochs"] / 3
    np.testing.assert_array_equal(table["rung"], [{1: 0, 3: 1, 9: 2}[e] for e in table["epochs_run"]])
    assert list(table["status"]).count("pruned") == 8 and table["status"][table["rung"] == 2][0] == "completed"
    # The rows that went on had the best validation metric at the rung (ties: the lower validation loss).
    for rung, epoch in ((0, 1), (1, 3)):
        reached = table["rung"] >= rung
        went_on = table["rung"][reached] > rung
        loss = result.curves["val_loss"][reached, :epoch]
        best = np.argmin(loss, axis=1)  # the best epoch so far (by validation loss): what the table reports
        metric = np.take_along_axis(result.curves["val_metric"][reached, :epoch], best[:, None], axis=1)[:, 0]
        score = np.stack([-metric, loss.min(axis=1)], axis=1)
        best_stopped = min(map(tuple, score[~went_on]))
        assert all(tuple(s) <= best_stopped for s in score[went_on])
    # Compute really drops: on a CPU every rung runs in pieces of one narrow program (2 rows here, or the
    # device count), so the compiled calls train the survivors padded to whole pieces; pruned rows kept
    # under a mask would make it 9 rows x 9 epochs = 81.
    num_devices = len(jax.devices())
    width = -(-2 // num_devices) * num_devices
    pieces = sum(
        -(-int(np.sum(table["rung"] >= rung)) // width) * width * (end - start)
        for rung, (start, end) in enumerate(((0, 1), (1, 3), (3, 9)))
    )
    assert set(widths) == {width} and sum(widths) <= pieces < 81


def test_an_asha_row_equals_fit_for_the_epochs_it_ran(asha_run, digits, model):
    result, _ = asha_run
    for i in (0, 1, len(result) - 1):
        row = result.row(i)
        single = jaxnn.fit(
            model,
            digits,
            learning_rate=row["learning_rate"],
            key=jax.random.fold_in(jax.random.key(0), 0),
            early_stopping=jaxnn.EarlyStopping(patience=99),
            **{**OPTIONS, "num_epochs": row["epochs_run"]},
        )
        assert single.best_epoch == row["best_epoch"]
        chex.assert_trees_all_close(single.params, result.params(i), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            single.history["val_loss"], result.curves["val_loss"][i, : row["epochs_run"]], rtol=1e-5
        )


def test_hyperband_brackets_sizes_and_assignment():
    hyperband = Hyperband()
    assert hyperband.rungs(60) == ASHA().rungs(60) == (1, 3, 9, 27, 60)
    assert hyperband.num_brackets(60) == 5 and Hyperband(brackets=2).num_brackets(60) == 2
    # Hyperband's proportions eta**s / (s + 1) for s = 4..0 halvings: 16.2, 6.75, 3, 1.5, 1 (of 28.45).
    assert hyperband.sizes(64, 60) == (37, 15, 7, 3, 2)  # quotas 36.4, 15.2, 6.75, 3.4, 2.25
    assert hyperband.sizes(5, 60) == (1, 1, 1, 1, 1)
    assert Hyperband(brackets=2).sizes(10, 60) == (7, 3)  # 16.2 : 6.75
    bracket = hyperband.assign(64, 60)
    np.testing.assert_array_equal(np.bincount(bracket), (37, 15, 7, 3, 2))
    # Interleaved: every bracket draws from the whole list (a sorted grid spreads over all of them).
    for b in range(5):
        rows = np.flatnonzero(bracket == b)
        assert rows.min() < 32 <= rows.max(), (b, rows)
    # Bracket b's epochs: its configurations to rung b, then the best third at each later rung.
    assert [hyperband.survivors(n) for n in (37, 12, 4, 2, 1)] == [12, 4, 1, 1, 1]


def test_hyperband_runs_its_brackets_side_by_side(hyperband_run):
    result, widths, caught = hyperband_run
    table = result.table
    assert Hyperband().sizes(9, 9) == (5, 2, 2)
    assert sorted(np.bincount(table["bracket"]).tolist()) == [2, 2, 5]
    epochs = {b: sorted(table["epochs_run"][table["bracket"] == b].tolist()) for b in range(3)}
    assert epochs == {0: [1, 1, 1, 1, 9], 1: [3, 9], 2: [9, 9]}
    assert np.all(table["rung"] >= table["bracket"])  # a bracket's rows reach its first rung at least
    np.testing.assert_array_equal(table["rung"], [{1: 0, 3: 1, 9: 2}[e] for e in table["epochs_run"]])
    assert set(table["status"][table["rung"] < 2]) == {"pruned"} and set(table["status"][table["rung"] == 2]) == {
        "completed"
    }
    # Within each bracket, the rows that went on had the best validation metric at its first rung.
    for b, epoch in ((0, 1), (1, 3)):
        rows = table["bracket"] == b
        went_on = table["rung"][rows] > b
        loss = result.curves["val_loss"][rows, :epoch]
        best = np.argmin(loss, axis=1)
        metric = np.take_along_axis(result.curves["val_metric"][rows, :epoch], best[:, None], axis=1)[:, 0]
        score = np.stack([-metric, loss.min(axis=1)], axis=1)
        assert all(tuple(s) <= min(map(tuple, score[~went_on])) for s in score[went_on])
    # Side by side: one program width for every call (the 4 rows that end), and the brackets' rows at the
    # same epoch in the same calls: epochs 0..2 train the 9 rows in 3 calls each (5 + 2 + 2 rows at once).
    assert {width for width, _ in widths} == {4}
    calls_from = lambda first: sum(1 for _, epoch in widths if epoch == first)  # noqa: E731
    assert [calls_from(epoch) for epoch in range(9)] == [3, 2, 2, 1, 1, 1, 1, 1, 1]
    assert sum(width for width, _ in widths) < 81 and table["epochs_run"].sum() == 43
    assert "| epochs_run | bracket | rung |" in result.format()
    assert not [w for w in caught if issubclass(w.category, jaxnn.errors.RankingNoiseWarning)]


def test_hyperband_with_one_bracket_is_asha(asha_run, digits, model):
    asha, _ = asha_run
    single = jaxnn.sweep(
        model, digits, space={"learning_rate": RATES}, key=0, scheduler=Hyperband(brackets=1), **OPTIONS
    )
    assert set(single.table) - set(asha.table) == {"bracket"} and set(single.table["bracket"]) == {0}
    for name in asha.table:
        np.testing.assert_array_equal(single.table[name], asha.table[name], err_msg=name)
    for i in range(len(asha)):
        chex.assert_trees_all_equal(single.params(i), asha.params(i))


def test_a_hyperband_row_equals_fit_for_the_epochs_it_ran(hyperband_run, digits, model):
    result, _, _ = hyperband_run
    table = result.table
    for i in (
        int(np.flatnonzero((table["bracket"] == 1) & (table["rung"] == 1))[0]),
        int(np.flatnonzero(table["bracket"] == 2)[-1]),
    ):
        row = result.row(i)
        single = jaxnn.fit(
            model,
            digits,
            learning_rate=row["learning_rate"],
            key=jax.random.fold_in(jax.random.key(0), 0),
            early_stopping=jaxnn.EarlyStopping(patience=99),
            **{**OPTIONS, "num_epochs": row["epochs_run"]},
        )
        assert single.best_epoch == row["best_epoch"]
        chex.assert_trees_all_close(single.params, result.params(i), rtol=1e-5, atol=1e-5)
        assert jaxnn.evaluate(model, result.params(i), digits)["accuracy"] == pytest.approx(
            row["test_metric"], abs=1e-6
        )


def test_ranking_is_noise_against_the_chi_square_dispersion_test():
    from scipy import stats

    rng = np.random.default_rng(0)
    chance = rng.binomial(300, 0.25, size=20) / 300  # 20 equally good configurations, 300 validation examples
    found = ranking_is_noise(chance, 300)
    mean = chance.mean()
    expected = stats.chi2.sf(np.sum((chance - mean) ** 2) / (mean * (1 - mean) / 300), df=19)
    assert found.p_value == pytest.approx(expected, rel=1e-9) and found.noise
    assert found.sampling == pytest.approx(np.sqrt(mean * (1 - mean) / 300))
    assert ranking_is_noise(chance, 300, num_seeds=4).p_value < found.p_value  # 4 seeds: a quarter of the variance
    learned = np.linspace(0.3, 0.95, 20)  # really different
    assert not ranking_is_noise(learned, 300).noise and ranking_is_noise(learned, 300).p_value < 1e-12
    assert not ranking_is_noise(chance[:7], 300).noise  # too few to judge
    assert not ranking_is_noise(np.full(12, np.nan), 300).noise


@pytest.fixture(scope="module")
def noise_data():
    """Labels independent of the features: every configuration stays at chance, so any ranking is noise."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((360, 4)).astype(np.float32), rng.integers(0, 2, 360)
    return jaxnn.datasets.from_arrays(x, y, task="multiclass", seed=0)


def test_a_rung_that_ranks_noise_warns_once(noise_data):
    space = {"learning_rate": list(np.geomspace(1e-3, 1e-1, 27))}
    options = dict(optimizer="sgd", batch_size=64, progress=False, key=0)
    small = jaxnn.mlp([4, 8, 2])
    with pytest.warns(jaxnn.errors.RankingNoiseWarning) as caught:  # rungs 1 and 3 both rank 8 or more
        jaxnn.sweep(small, noise_data, space=space, scheduler="asha", num_epochs=9, **options)
    assert len(caught) == 1
    assert re.search(
        r"the ranking at rung 0 \(1 epoch\) may be noise: the 27 configurations' validation accuracies "
        r"spread by 0\.\d+ .* sampling noise \(0\.\d+ for \d+ examples\); .* scheduler='hyperband'",
        str(caught[0].message),
    )
    with pytest.warns(
        jaxnn.errors.RankingNoiseWarning,
        match=r"bracket 0's first rung \(1 epoch\) may be noise.*"
        r"brackets that start later.*`Hyperband.min_epochs`",
    ):
        jaxnn.sweep(small, noise_data, space=space, scheduler="hyperband", num_epochs=9, **options)


def test_pbt_exploit_and_explore_rules():
    pbt = PBT(fraction=0.25, perturb=(0.5, 2.0))
    scores = np.array([[5.0, 1.0, 3.0, 2.0, 4.0, 0.0, 7.0, 6.0]])
    source = pbt.exploit(scores, np.random.default_rng(0))
    bottom, top = [6, 7], [5, 1]
    assert set(source[0, bottom]) <= set(top)
    keep = [i for i in range(8) if i not in bottom]
    np.testing.assert_array_equal(source[0, keep], keep)
    rng = np.random.default_rng(1)
    rates = pbt.explore(np.full(200, 0.1, np.float32), "learning_rate", rng)
    np.testing.assert_allclose(np.unique(rates), [0.05, 0.2], rtol=1e-6)
    momentum = pbt.explore(np.full(50, 0.9, np.float32), "momentum", rng)
    assert np.all(momentum < 1.0) and np.all(momentum >= 0.45)


PBT_SWEEP = dict(space={"learning_rate": [0.003, 0.01, 0.03, 0.1]}, seeds=2, key=3, **{**OPTIONS, "num_epochs": 6})
"""A PBT sweep's arguments (with ``scheduler=PBT(interval=2, fraction=0.25)``): 4 rates x 2 seeds, 6 epochs."""


@pytest.fixture(scope="module")
def pbt_run(digits, model):
    return jaxnn.sweep(model, digits, scheduler=PBT(interval=2, fraction=0.25), **PBT_SWEEP)


def test_pbt_rows_replay_through_fit_with_their_schedule(digits, model, pbt_run):
    options = {**OPTIONS, "num_epochs": 6}
    result = pbt_run
    assert len(result) == 8 and any(">" in lineage for lineage in result.table["lineage"])
    assert all(e == 6 for e in result.table["epochs_run"])
    for i in range(len(result)):
        row, schedule = result.row(i), result.schedule(i)
        assert [epoch for epoch, _ in schedule] == [0, 2, 4] and row["learning_rate"] == pytest.approx(
            schedule[-1][1]["learning_rate"]
        )
        single = jaxnn.fit(
            model,
            digits,
            key=jax.random.fold_in(jax.random.key(3), row["seed"]),
            hyperparameter_schedule=schedule,
            early_stopping=jaxnn.EarlyStopping(patience=99),
            **options,
        )
        assert single.best_epoch == row["best_epoch"]
        chex.assert_trees_all_close(single.params, result.params(i), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(single.history["val_loss"], result.curves["val_loss"][i], rtol=1e-5)
    plain = jaxnn.sweep(model, digits, space={"learning_rate": [0.01]}, key=0, **options)
    with pytest.raises(ValueError, match="only rows of a PBT sweep"):
        plain.schedule(0)


def test_schedulers_do_not_recompile_for_new_values(digits, model, compiles):
    options = {**OPTIONS, "num_epochs": 6}
    for scheduler in (ASHA(min_epochs=2), Hyperband(min_epochs=2), PBT(interval=3)):
        jaxnn.sweep(model, digits, space={"learning_rate": RATES[:6]}, key=0, scheduler=scheduler, **options)
        with compiles as counter:
            jaxnn.sweep(
                jaxnn.mlp([64, 16, 10]),
                digits,
                space={"learning_rate": RATES[3:]},
                key=1,
                scheduler=scheduler,
                **options,
            )
        assert counter.count == 0, scheduler


BAD = [
    (dict(scheduler="hyperbnd"), ValueError, r"unknown scheduler 'hyperbnd' \(did you mean 'hyperband'\?\)"),
    (dict(scheduler=3), TypeError, "scheduler must be None, 'asha', 'hyperband', 'pbt'"),
    (
        dict(scheduler=Hyperband(brackets=4)),
        ValueError,
        r"`Hyperband.brackets` \(=4\) is more than `num_epochs` \(=9\) can hold: with `Hyperband.min_epochs` \(=1\) and "
        r"`Hyperband.reduction_factor` \(=3\) there are 3 rungs \(1, 3, 9 epochs\), one per bracket to start at; give at most 3",
    ),
    (
        dict(scheduler=Hyperband(min_epochs=9)),
        ValueError,
        r"`Hyperband.min_epochs` \(=9\) must be less than `num_epochs` \(=9\)",
    ),
    (dict(scheduler=lambda: Hyperband(brackets=0)), ValueError, r"`Hyperband.brackets` \(=0\) must be >= 1"),
    (dict(scheduler=lambda: Hyperband(brackets=2.5)), TypeError, r"`Hyperband.brackets` must be an int, got float"),
    (
        dict(scheduler=lambda: Hyperband(reduction_factor=1)),
        ValueError,
        r"`Hyperband.reduction_factor` must be a number > 1",
    ),
    (
        dict(scheduler="hyperband"),
        ValueError,
        "Hyperband has 3 brackets here but the sweep has only 2 configurations: every bracket needs one",
    ),
    (
        dict(scheduler="hyperband", space={"learning_rate": [0.1, 0.2, 0.3], "batch_size": [32, 64]}),
        ValueError,
        "Hyperband compares rows of one program, but the space varies batch_size",
    ),
    (dict(scheduler=lambda: ASHA(reduction_factor=1)), ValueError, r"`ASHA.reduction_factor` must be a number > 1"),
    (dict(scheduler=lambda: ASHA(min_epochs=0)), ValueError, "min_epochs"),
    (dict(scheduler=ASHA(min_epochs=9)), ValueError, r"`ASHA.min_epochs` \(=9\) must be less than `num_epochs` \(=9\)"),
    (dict(scheduler=PBT(interval=9)), ValueError, r"`PBT.interval` \(=9\) must be shorter than `num_epochs` \(=9\)"),
    (dict(scheduler=lambda: PBT(hyperparameters=["init_scale"])), ValueError, "cannot perturb 'init_scale'"),
    (dict(scheduler=lambda: PBT(hyperparameters=["learnin_rate"])), ValueError, "did you mean 'learning_rate'"),
    (dict(scheduler=lambda: PBT(fraction=0.75)), ValueError, r"`PBT.fraction` must be in \(0, 0.5\]"),
    (dict(scheduler=lambda: PBT(perturb=(0.8, -1))), ValueError, "positive factors"),
    (dict(scheduler="pbt", space={"init_scale": [0.5, 1.0]}), ValueError, "sweeps none it can perturb"),
    (dict(scheduler=PBT(hyperparameters=("b1",))), ValueError, "only the optimizer adam or adamw reads"),
    (dict(scheduler=PBT(hyperparameters=("clip_norm",))), ValueError, "'clip_norm': it is off"),
    (dict(scheduler="pbt", space={"learning_rate": [0.1]}), ValueError, "population of at least 2"),
    (
        dict(scheduler="asha", space={"learning_rate": [0.1, 0.2], "batch_size": [32, 64]}),
        ValueError,
        "compares rows of one program, but the space varies batch_size",
    ),
]


@pytest.mark.parametrize("changes, error, message", BAD)
def test_bad_schedulers(digits, model, changes, error, message):
    options = {"key": 0, "space": {"learning_rate": [0.1, 0.2]}, **OPTIONS, **changes}
    if callable(options["scheduler"]):
        with pytest.raises(error, match=message):
            options["scheduler"]()
        return
    with pytest.raises(error, match=message):
        jaxnn.sweep(model, digits, **options)


def test_schedulers_need_a_validation_split(model):
    data = jaxnn.datasets.load("digits", seed=0, val_fraction=0.0)
    for scheduler in ("asha", "hyperband", "pbt"):
        with pytest.raises(
            ValueError, match="ranks rows by their validation metric, but the data has no validation split"
        ):
            jaxnn.sweep(model, data, space={"learning_rate": [0.1, 0.2]}, key=0, scheduler=scheduler, **OPTIONS)


BAD_FIT_SCHEDULES = [
    ([(0, {"learnin_rate": 0.1})], ValueError, "did you mean 'learning_rate'"),
    ([(3, {"learning_rate": 0.1}), (2, {"learning_rate": 0.2})], ValueError, "must increase"),
    ([(9, {"learning_rate": 0.1})], ValueError, r"lie in \[0, num_epochs=9\)"),
    ([(2, {"init_scale": 0.5})], ValueError, "init_scale only acts"),
    ([(2, {"clip_norm": 1.0})], ValueError, "clip_norm is off"),
    ([(2, {"learning_rate": -1.0})], ValueError, "learning_rate"),
    ([(2, 0.1)], TypeError, "pair"),
]


@pytest.mark.parametrize("schedule, error, message", BAD_FIT_SCHEDULES)
def test_bad_hyperparameter_schedules(digits, model, schedule, error, message):
    with pytest.raises(error, match=message):
        jaxnn.fit(model, digits, key=0, hyperparameter_schedule=schedule, **OPTIONS)


TWO_DEVICES = textwrap.dedent(
    """
    import sys, jax, numpy as np, jaxnn
    from jaxnn.sweeps.schedulers import PBT
    from tests.test_schedulers import OPTIONS, PBT_SWEEP, RATES
    assert len(jax.devices()) == 2, jax.devices()
    data = jaxnn.datasets.load("digits", seed=0)
    model = jaxnn.mlp([64, 16, 10])
    sweeps = {
        "asha": dict(space={"learning_rate": RATES}, key=0, scheduler="asha", **OPTIONS),
        "hyperband": dict(space={"learning_rate": RATES}, key=0, scheduler="hyperband", **OPTIONS),
        "pbt": dict(scheduler=PBT(interval=2, fraction=0.25), **PBT_SWEEP),
    }
    arrays = {}
    for name, options in sweeps.items():
        result = jaxnn.sweep(model, data, **options)
        for column, values in result.table.items():  # text columns as text (no pickled objects)
            values = np.asarray(values)
            arrays[f"{name}/table/{column}"] = values.astype(str) if values.dtype == object else values
        for i in range(len(result)):
            arrays |= {f"{name}/params/{i}/{j}": leaf for j, leaf in enumerate(jax.tree.leaves(result.params(i)))}
    np.savez(sys.argv[1], **arrays)
    """
)


def test_scheduled_sweeps_sharded_over_two_devices_equal_one_device(asha_run, hyperband_run, pbt_run, tmp_path):
    """ASHA, Hyperband and PBT sweeps sharded over two devices (another process) give this process's one-device
    sweeps of the same arguments (the module's fixtures): the same table, the same params."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    completed = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES, str(tmp_path / "sharded.npz")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    single_device = {"asha": asha_run[0], "hyperband": hyperband_run[0], "pbt": pbt_run}
    with np.load(tmp_path / "sharded.npz") as sharded:
        for name, single in single_device.items():
            assert {key.split("/")[2] for key in sharded.files if key.startswith(f"{name}/table/")} == set(single.table)
            for column in ("learning_rate", "status", "epochs_run", "lineage", "bracket", "rung"):
                if column in single.table:
                    expected = np.asarray(single.table[column])
                    expected = expected.astype(str) if expected.dtype == object else expected
                    np.testing.assert_array_equal(sharded[f"{name}/table/{column}"], expected, column)
            for i in range(len(single)):
                for j, leaf in enumerate(jax.tree.leaves(single.params(i))):
                    # 9 epochs at rates up to 0.6 grow a sharded reduction's last-bit differences to ~1e-5
                    np.testing.assert_allclose(
                        sharded[f"{name}/params/{i}/{j}"], leaf, **tolerance(np.float32, scale=10), err_msg=name
                    )


def test_an_optuna_sampler_chooses_batches_and_is_told_each_configurations_metric(digits, model):
    optuna = pytest.importorskip("optuna")  # installed by the test extra: CI runs this test
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {"learning_rate": jaxnn.loguniform(1e-3, 0.3), "momentum": [0.0, 0.9]}
    options = {**OPTIONS, "num_epochs": 3}
    options.pop("momentum")
    result = jaxnn.sweep(
        model,
        digits,
        space=space,
        key=0,
        seeds=2,
        num_samples=6,
        batch=4,
        sampler=optuna.samplers.TPESampler(seed=0),
        **options,
    )
    trials = result.study.trials
    assert len(trials) == 6 and len(result) == 12 and sorted(set(result.table["config"])) == list(range(6))
    for trial in trials:
        rows = result.table["config"] == trial.number
        assert set(result.table["momentum"][rows]) == {trial.params["momentum"]}
        np.testing.assert_allclose(result.table["learning_rate"][rows], trial.params["learning_rate"])
        assert trial.value == pytest.approx(np.mean(result.table["best_val_metric"][rows]))
    assert result.study.best_value == pytest.approx(max(t.value for t in trials))


@pytest.mark.parametrize(
    "changes, error, message",
    [
        (dict(sampler=object()), TypeError, "must be an Optuna sampler"),
        (dict(num_samples=None), ValueError, "needs num_samples=N"),
        (dict(batch=0), ValueError, r"`batch` \(=0\) must be >= 1"),
        (dict(scheduler="asha"), ValueError, "do not combine"),
    ],
)
def test_bad_sampler_arguments(digits, model, changes, error, message):
    optuna = pytest.importorskip("optuna")
    options = {
        "key": 0,
        "space": {"learning_rate": jaxnn.loguniform(1e-3, 0.3)},
        "num_samples": 2,
        "sampler": optuna.samplers.RandomSampler(seed=0),
        **OPTIONS,
        **changes,
    }
    with pytest.raises(error, match=message):
        jaxnn.sweep(model, digits, **options)


def test_pbt_leaves_early_stopped_rows_alone():
    scores = np.array([[0.0, 5.0, 1.0, 2.0, 9.0, 3.0]])  # row 0 is best but stopped early; row 4 worst, stopped
    finished = np.array([[True, False, False, False, True, False]])
    for seed in range(20):
        source = PBT(fraction=0.25).exploit(scores, np.random.default_rng(seed), finished)
        assert source[0, 0] == 0 and source[0, 4] == 4  # neither replaced ...
        assert source[0, 1] == 2 and np.all(source[0, [2, 3, 5]] == [2, 3, 5])  # ... nor copied: row 2 is the top


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_asha_with_early_stopping_gives_no_slot_to_a_stopped_configuration(digits, model, scheduler):
    result = jaxnn.sweep(
        model,
        digits,
        space={"learning_rate": RATES},
        key=0,
        scheduler=scheduler,
        early_stopping=jaxnn.EarlyStopping(patience=1),
        **OPTIONS,
    )
    budgets = (0, *ASHA().rungs(OPTIONS["num_epochs"]))
    for rung, epochs in zip(result.table["rung"], result.table["epochs_run"], strict=True):
        assert epochs > budgets[rung]  # a row only counts a rung it trained in
    assert set(result.table["status"]) <= {"pruned", "completed", "early_stopped"}
    stopped = result.table["status"] == "early_stopped"
    assert np.all(result.table["epochs_run"][stopped] <= np.asarray(budgets[1:])[result.table["rung"][stopped]])


def fake_pbt_result(configs, lineage):
    rows = len(configs)
    table = {
        "learning_rate": np.full(rows, 0.1),
        "seed": np.zeros(rows, int),
        "config": np.asarray(configs),
        "status": np.asarray(["completed"] * rows),
        "best_val_metric": np.linspace(0.5, 0.9, rows),
        "best_val_loss": np.ones(rows),
        "best_train_loss": np.ones(rows),
        "test_loss": np.ones(rows),
        "test_metric": np.ones(rows),
        "best_epoch": np.ones(rows, int),
        "lineage": np.asarray(lineage, object),
    }
    return jaxnn.SweepResult(
        table=table,
        curves={"val_loss": np.ones((rows, 2))},
        params={"w": np.zeros((rows, 1))},
        model=jaxnn.mlp([2, 1]),
        metric="accuracy",
        higher_is_better=True,
        hyperparameters=["learning_rate"],
        log_scaled=set(),
        schedules=[[(0, {})]] * rows,
    )


def test_merged_pbt_tables_keep_lineages_pointing_at_their_rows_and_refuse_aggregation():
    merged = jaxnn.SweepResult.concat([fake_pbt_result([0, 1], ["0", "1>0"]), fake_pbt_result([0, 1], ["1>0", "1"])])
    by_config = dict(zip(merged.table["config"], merged.table["lineage"], strict=True))
    assert by_config == {0: "0", 1: "1>0", 2: "3>2", 3: "3"}
    with pytest.raises(ValueError, match="under PBT"):
        merged.aggregate()


def test_one_program_per_rung_compiled_side_by_side_gives_the_same_rows(asha_run, digits, model, monkeypatch):
    """The layout of GPUs (a program of each rung's own width, compiled ahead of time in background threads)
    forced on the CPU: the same table and weights as one narrow program."""
    from jaxnn.sweeps import scheduled

    narrow, _ = asha_run
    monkeypatch.setattr(scheduled, "_rung_width", lambda count, ctx: None)
    wide = jaxnn.sweep(model, digits, space={"learning_rate": RATES}, key=0, scheduler="asha", **OPTIONS)
    for name in ("learning_rate", "status", "epochs_run", "rung", "best_epoch"):
        np.testing.assert_array_equal(wide.table[name], narrow.table[name])
    for i in range(len(wide)):  # programs of other widths (per-device batches on several devices): last bits differ
        chex.assert_trees_all_close(wide.params(i), narrow.params(i), **tolerance(np.float32, scale=10))
