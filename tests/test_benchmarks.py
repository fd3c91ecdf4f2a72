"""The benchmark suite: its arithmetic and statistics, and that ``--quick`` reports every field.

Nothing here asserts a speed: timings depend on the machine and its neighbours.
"""

import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import harness

ROOT = pathlib.Path(__file__).resolve().parents[1]


# --- exact FLOP counts -------------------------------------------------------------------


def brute_force_step_flops(sizes, batch):
    """Count the matmuls of one step layer by layer, as backprop performs them."""
    total = 0
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        total += 2 * batch * d_in * d_out  # forward z = a W
        total += 2 * batch * d_in * d_out  # dW = aᵀ δ
        if i > 0:
            total += 2 * batch * d_in * d_out  # δ_prev = δ Wᵀ (never for the data)
    return total


@pytest.mark.parametrize(
    "sizes,batch",
    [([30, 16, 1], 32), ([784, 256, 256, 10], 128), ([784, 2048, 2048, 10], 512), ([5, 3], 1), ([7, 4, 4, 4, 2], 9)],
)
def test_step_flops_counts_every_matmul_once(sizes, batch):
    assert harness.step_flops(sizes, batch) == brute_force_step_flops(sizes, batch)
    assert harness.forward_flops(sizes, batch) == 2 * batch * sum(
        a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    )


def test_six_b_params_rule_overstates_as_the_issue_says():
    """The 6·B·params shortcut overstates M by about 33% and L by about 10%."""
    for sizes, batch, overstated in (([784, 256, 256, 10], 128, 0.33), ([784, 2048, 2048, 10], 512, 0.10)):
        weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        assert 6 * batch * weights / harness.step_flops(sizes, batch) - 1 == pytest.approx(overstated, abs=0.01)


def test_conv_step_flops_counts_every_product_once():
    """conv: each layer's forward, weight-gradient and input-gradient products, except the data's gradient."""
    from benchmarks import conv

    case = conv.CASES["S"]  # 8x8x1 -> conv 16 -> pool -> 4x4x16 -> conv 32 -> pool -> 2x2x32 = 128 -> 64 -> 10
    forward = [2 * 128 * 8 * 8 * 9 * 1 * 16, 2 * 128 * 4 * 4 * 9 * 16 * 32, 2 * 128 * 128 * 64, 2 * 128 * 64 * 10]
    assert conv.forward_flops(case) == sum(forward)
    assert conv.step_flops(case) == 3 * sum(forward) - forward[0] == 68_124_672
    assert conv.num_weights(case) == (9 * 16 + 16) + (9 * 16 * 32 + 32) + (128 * 64 + 64) + (64 * 10 + 10)


def test_step_flops_rejects_a_model_without_layers():
    with pytest.raises(ValueError, match="at least two"):
        harness.step_flops([10], 4)


# --- statistics --------------------------------------------------------------------------


def sample(seconds, others=0.0):
    return {"per_unit_s": seconds, "wall_s": seconds, "others_cpu_s": others, "own_cpu_s": seconds}


def test_quantile_matches_numpy():
    values = list(np.random.default_rng(0).standard_normal(17))
    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        assert harness.quantile(values, q) == pytest.approx(np.quantile(values, q))
    assert math.isnan(harness.quantile([], 0.5))


def test_disturbed_samples_are_dropped_before_pooling():
    quiet = [sample(1.0), sample(1.1), sample(0.9)]
    noisy = [sample(5.0, others=2.0), sample(4.0, others=0.5)]
    stats = harness.pool([quiet, noisy])
    assert stats["median"] == pytest.approx(1.0)
    assert (stats["num_samples"], stats["num_kept"], stats["num_dropped"], stats["forced"]) == (5, 3, 2, False)
    assert stats["iqr"] == pytest.approx(np.quantile([0.9, 1.0, 1.1], 0.75) - np.quantile([0.9, 1.0, 1.1], 0.25))


def test_a_noisy_machine_keeps_the_least_disturbed_samples_and_says_so():
    samples = [sample(1.0, others=0.9), sample(2.0, others=0.5), sample(3.0, others=2.9), sample(4.0, others=0.6)]
    kept = harness.keep_undisturbed(samples, min_kept=2)
    assert kept.forced
    assert sorted(s["per_unit_s"] for s in kept.samples) == [2.0, 4.0]


def test_measure_reports_per_unit_time_and_cpu_accounting():
    samples = harness.measure(lambda: sum(range(20000)), repeats=3, number=4, units_per_call=5)
    assert len(samples) == 3
    for s in samples:
        assert s["units"] == 20 and s["number"] == 4
        assert s["per_unit_s"] == pytest.approx(s["wall_s"] / 20)
        assert s["own_cpu_s"] >= 0 and set(s) >= {"others_cpu_s", "wall_s"}


def test_ratio_is_nan_when_a_side_is_missing():
    assert harness.ratio(2.0, 0.5) == 4.0
    assert math.isnan(harness.ratio(math.nan, 1.0)) and math.isnan(harness.ratio(1.0, 0.0))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--suite", "gemm,warp"], "unknown suite(s) ['warp']; choose from gemm, step, train"),
        (["--rounds", "0"], "--rounds must be a positive integer, got 0"),
        (["--jobs", "0"], "--jobs must be a positive integer, got 0"),
        (["--suite", "tune", "--impl", "jaxnn_hyperbnd"], "--impl: jaxnn_hyperbnd is not an implementation of tune"),
    ],
)
def test_bad_options_are_refused_with_what_was_expected(args, message):
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_a_failing_worker_becomes_an_error_record_not_a_crash():
    job = harness.Job("gemm", "no-such-impl", "n8", {"n": 8, "repeats": 1, "sample_s": 0.01, "num_threads": 1})
    result = harness.run_worker(job, num_threads=1, timeout=60)
    assert "worker exited with 1" in result["error"] and "no-such-impl" in result["error"]
    records = [{"suite": "gemm", "impl": "no-such-impl", "case": "n8", "round": 0, **result}]
    assert harness.group(records) == {}
    assert harness.errors(records) == [f"gemm/no-such-impl/n8 (round 1): {result['error']}"]


# --- the whole quick run -----------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    # Every suite and implementation once at its smallest case, two workers at once (each a fresh process):
    # a smoke run's times are not read, and imports dominate it.
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--jobs", "2", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return out, completed.stdout, json.loads((out / "results.json").read_text())


STAT_FIELDS = {"median", "q25", "q75", "iqr", "num_samples", "num_kept", "num_dropped", "forced"}


def test_quick_run_records_the_environment(quick_run):
    _, _, results = quick_run
    meta = results["meta"]
    assert {
        "date",
        "python",
        "platform",
        "cpu",
        "logical_cores",
        "versions",
        "threads",
        "backend",
        "devices",
        "numpy_blas",
    } <= set(meta)
    assert {"jax", "jaxlib", "numpy", "optax", "flax", "torch"} <= set(meta["versions"])
    assert meta["versions"]["jax"] and meta["backend"] in ("cpu", "gpu", "tpu", "cuda", "rocm")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert meta["threads"][name] == str(results["settings"]["num_threads"])
    assert results["settings"]["quick"] is results["settings"]["smoke"] is True and results["errors"] == []


def test_quick_run_keeps_every_raw_sample_from_fresh_processes(quick_run):
    _, _, results = quick_run
    records = results["records"]
    assert {r["suite"] for r in records} == {
        "gemm",
        "step",
        "train",
        "sweep",
        "small_sweep",
        "compile",
        "first_result",
        "scaling",
        "tune",
        "checkpoint",
        "conv",
        "tabular",
        "tracking",
    }
    for record in records:
        assert {"suite", "impl", "case", "round", "params", "process_s", "peak_rss_bytes", "libraries_loaded"} <= set(
            record
        )
        if "skipped" in record:
            continue
        assert record["samples"], record
        for s in record["samples"]:
            assert {"per_unit_s", "wall_s", "own_cpu_s", "others_cpu_s", "units"} <= set(s)
            assert s["per_unit_s"] > 0
    # One library per process: the NumPy baseline never shares a process with JAX or torch.
    numpy_workers = [r for r in records if r["impl"] == "numpy"]
    assert numpy_workers and all(r["libraries_loaded"] == ["numpy"] for r in numpy_workers)
    assert all("torch" not in r["libraries_loaded"] for r in records if not r["impl"].startswith("torch"))


def test_quick_run_measures_reading_and_preparing_a_table(quick_run):
    _, _, results = quick_run
    summary = results["suites"]["tabular"]
    pandas_available = importlib.util.find_spec("pandas") is not None
    impls = {r["impl"] for r in summary["rows"]}
    assert {"prepare_jaxnn", "read_pyarrow", "read_jaxnn"} <= impls
    assert ({"prepare_sklearn", "read_pandas"} <= impls) == pandas_available
    assert bool(summary["skipped"]) != pandas_available
    for row in summary["rows"]:
        assert STAT_FIELDS | {
            "rows",
            "cpu_s",
            "peak_mib",
            "first_peak_mib",
            "file_mib",
            "speedup_vs_reference",
            "memory_vs_reference",
        } <= set(row)
        assert row["rows"] == 20_000 and row["peak_mib"] > 0 and row["file_mib"] > 1


def test_the_tabular_benchmark_prepares_the_same_features_both_ways():
    """jaxnn's plan of the generated file and the scikit-learn pipeline the benchmark builds make as many
    features from the same columns: the two sides do the same work."""
    import warnings

    import jaxnn
    from benchmarks import tabular

    path = tabular.csv_path(tabular.WARM_UP_ROWS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", jaxnn.errors.DataWarning)
        ds = jaxnn.datasets.from_csv(path, "target", seed=0)
    assert sorted(str(w.message).split("column ")[1].split(" is")[0] for w in caught) == ["'constant'", "'id'"]
    roles = tabular.columns_of_mixed()
    assert sum(map(len, roles.values())) + 1 == 30
    expected = len(roles["numbers"]) + sum(tabular.CATEGORY_LEVELS) + len(roles["booleans"])
    assert ds.num_features == expected
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(path)
    assert tabular.sklearn_transform().fit_transform(frame).shape == (len(frame), expected)


def test_quick_run_summaries_hold_every_field(quick_run):
    _, _, results = quick_run
    suites = results["suites"]
    gemm = suites["gemm"]
    assert gemm["peak_gflops"] > 0 and gemm["peak_from"]["impl"] in ("numpy", "xla", "torch")
    torch_available = importlib.util.find_spec("torch") is not None
    assert {r["impl"] for r in gemm["rows"]} == {"numpy", "xla"} | ({"torch"} if torch_available else set())
    for row in gemm["rows"]:
        assert STAT_FIELDS | {"n", "impl", "flops", "gflops"} <= set(row)

    step_rows = suites["step"]["rows"]
    assert {r["case"] for r in step_rows} == {"S"}  # --smoke: the smallest case
    impls = {r["impl"] for r in step_rows}
    assert {"numpy", "jax-op-by-op", "jax-jit", "jaxnn-fused", "flax"} <= impls
    assert ("torch-eager" in impls) == torch_available
    assert any("torch" in line for line in suites["step"]["skipped"]) != torch_available
    for row in step_rows:
        assert STAT_FIELDS | {
            "sizes",
            "batch",
            "flops_per_step",
            "gflops",
            "percent_of_peak",
            "speedup_vs_numpy",
        } <= set(row)
        assert row["flops_per_step"] == harness.step_flops(row["sizes"], row["batch"])
        assert row["gflops"] == pytest.approx(row["flops_per_step"] / row["median"] / 1e9)
    for row in (r for r in step_rows if r["impl"] == "numpy"):
        assert row["speedup_vs_numpy"] == 1.0

    sweep_rows = suites["sweep"]["rows"]
    assert {"jaxnn-vmap", "jaxnn-vmap-2dev", "jax-sequential"} <= {r["impl"] for r in sweep_rows}
    for row in sweep_rows:
        assert STAT_FIELDS | {"k", "sweep_s", "first_call_s", "compile_s", "peak_rss_bytes"} <= set(row)
        assert row["sweep_s"] == pytest.approx(row["median"] * row["k"])
    # Sweeps with new learning rates reuse the compiled program.
    assert all(r["recompiles_after_first"] == 0 for r in sweep_rows if r["impl"] != "torch-func")

    for row in suites["compile"]["rows"]:
        assert {"impl", "case", "first_call_s", "warm_s", "trace_s", "lower_s", "xla_compile_s"} <= set(row)
        assert row["first_call_s"] > row["warm_s"] and row["xla_compile_s"] > 0
    scaling_rows = suites["scaling"]["rows"]
    assert sorted((r["impl"], r["devices"]) for r in scaling_rows) == [("fit", 1), ("fit", 2)]
    for row in scaling_rows:
        assert STAT_FIELDS | {"speedup_vs_1_device", "own_cpu_per_wall"} <= set(row)

    train_rows = suites["train"]["rows"]
    assert {"jaxnn-fit", "numpy", "sklearn", "flax"} <= {r["impl"] for r in train_rows}
    for row in train_rows:
        assert STAT_FIELDS | {"workload", "first_call_s", "test_accuracy", "times_jaxnn", "epochs"} <= set(row)
        assert 0.5 < row["test_accuracy"] <= 1.0 and row["first_call_s"] > 0
    assert [r["times_jaxnn"] for r in train_rows if r["impl"] == "jaxnn-fit"] == [1.0]
    conv_rows = suites["conv"]["rows"]
    conv_impls = {r["impl"] for r in conv_rows}
    assert {r["case"] for r in conv_rows} == {"S"} and {"jaxnn-fused", "flax-nnx"} <= conv_impls
    assert ("torch-eager" in conv_impls) == torch_available
    for row in conv_rows:
        assert STAT_FIELDS | {"input_shape", "channels", "flops_per_step", "gflops", "times_jaxnn_fused"} <= set(row)
        assert row["gflops"] == pytest.approx(row["flops_per_step"] / row["median"] / 1e9)
    assert [r["times_jaxnn_fused"] for r in conv_rows if r["impl"] == "jaxnn-fused"] == [1.0]
    (check,) = suites["conv"]["checks"]["S"]  # jaxnn and Flax NNX agree after one step from the same weights
    assert check["params_max_abs_diff"] <= 1e-4 and check["loss_abs_diff"] <= 1e-4
    small_rows = suites["small_sweep"]["rows"]
    assert {"jaxnn-vmap", "jaxnn-vmap-2dev", "jaxnn-fit", "numpy", "jax-prototype", "jax-flat"} <= {
        r["impl"] for r in small_rows
    }
    assert all(r["recompiles_after_first"] == 0 for r in small_rows)
    for row in small_rows:
        assert STAT_FIELDS | {"k", "speedup_vs_numpy", "peak_rss_bytes"} <= set(row)
    assert {r["case"] for r in suites["first_result"]["rows"]} == {"import-jax", "help"}
    tune_rows = suites["tune"]["rows"]
    from benchmarks import tune

    assert {r["impl"] for r in tune_rows} == set(tune.QUICK_IMPLEMENTATIONS)
    for row in tune_rows:
        assert STAT_FIELDS | {"dataset", "best_val_accuracy", "test_accuracy", "total_epochs", "times_jaxnn"} <= set(
            row
        )
    # --smoke: the full search in a cache an untimed cold process filled, the others in an empty one
    assert {(row["impl"], row["cache"]) for row in tune_rows} == {
        ("jaxnn_full", "warm"),
        *((impl, "cold") for impl in tune.QUICK_IMPLEMENTATIONS if impl != "jaxnn_full"),
    }
    assert set(suites["tune"]["spread"]) == {"spirals"}  # --smoke: the smallest task (--quick runs every one)


def test_quick_run_measures_what_checkpointing_costs(quick_run):
    _, _, results = quick_run
    rows = {(r["impl"], r["case"]): r for r in results["suites"]["checkpoint"]["rows"]}
    assert set(rows) == {("fit", "E100"), ("fit_checkpoint", "E100")}  # quick leaves the sweeps out
    for (impl, case), row in rows.items():
        assert STAT_FIELDS | {"workload", "checkpoint_vs_plain", "state_files", "state_bytes"} <= set(row)
        assert row["median"] > 0
        if impl == row["workload"]:
            assert row["checkpoint_vs_plain"] == 1.0 and row["state_files"] == 0
        else:  # the state was written: the manifest and at least one state file
            assert row["checkpoint_vs_plain"] == pytest.approx(row["median"] / rows[(row["workload"], case)]["median"])
            assert row["state_files"] >= 2 and row["state_bytes"] > 0


def test_quick_run_measures_what_logging_costs(quick_run):
    _, _, results = quick_run
    (row,) = results["suites"]["tracking"]["rows"]  # quick: the small sweep, TensorBoard only
    assert (row["impl"], row["case"], row["rows"], row["epochs"]) == ("tensorboard", "cancer-K16", 16, 10)
    assert STAT_FIELDS | {"plain_median", "logged_vs_plain", "paired_ratio", "overhead_us_per_row_epoch"} <= set(row)
    assert row["logged_vs_plain"] == pytest.approx(row["median"] / row["plain_median"])
    assert row["log_files"] == 1 + 1 + 16  # the manifest, the experiment summary, one event file a row


def test_the_benchmarks_split_the_data_exactly_as_jaxnn_does(cancer):
    from benchmarks.train import split_like_jaxnn

    split = split_like_jaxnn("breast_cancer")
    np.testing.assert_array_equal(split["x_train"], cancer.x_train)
    np.testing.assert_array_equal(split["y_test"], cancer.y_test)


def test_quick_run_writes_tables_and_plots(quick_run):
    out, stdout, results = quick_run
    markdown = (out / "results.md").read_text()
    for title in (
        "### gemm",
        "### step S",
        "### sweep",
        "### compile",
        "### scaling",
        "### train",
        "### small_sweep",
        "### first_result",
        "### tune",
        "### checkpoint",
        "### conv S",
        "### tracking",
    ):
        assert title in markdown and title in stdout
    assert results["plots"]
    for name in results["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.tmp"))


# --- the tune suite, in this process at tiny sizes ----------------------------------------


def test_tune_checkerboard_is_seeded_split_and_standardized():
    from benchmarks import tune

    first, again = tune.checkerboard(), tune.checkerboard()
    np.testing.assert_array_equal(first["x_val"], again["x_val"])
    assert (len(first["y_train"]), len(first["y_val"]), len(first["y_test"])) == (4200, 900, 900)
    assert first["x_train"].dtype == np.float32 and first["x_train"].shape[1] == 8
    np.testing.assert_allclose(first["x_train"].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(first["x_train"].std(axis=0), 1.0, atol=1e-4)
    counts = np.bincount(np.concatenate([first["y_train"], first["y_val"], first["y_test"]]))
    assert len(counts) == first["num_classes"] == 4 and counts.min() > 0.2 * counts.sum()


def test_tune_spirals_are_two_interleaved_spirals_seeded_split_and_standardized():
    from benchmarks import tune

    first, again = tune.spirals(), tune.spirals()
    np.testing.assert_array_equal(first["x_test"], again["x_test"])
    assert (len(first["y_train"]), len(first["y_val"]), len(first["y_test"])) == (2100, 450, 450)
    np.testing.assert_allclose(first["x_train"].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(first["x_train"].std(axis=0), 1.0, atol=1e-4)
    # Not linearly separable: a linear classifier is near chance, a nearest-neighbour one near perfect.
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    linear = LogisticRegression().fit(first["x_train"], first["y_train"]).score(first["x_test"], first["y_test"])
    nearest = KNeighborsClassifier(5).fit(first["x_train"], first["y_train"]).score(first["x_test"], first["y_test"])
    assert set(np.unique(first["y_train"])) == {0, 1} and linear < 0.7 < 0.85 < nearest


def test_tune_numpy_split_is_jaxnns_split(digits):
    from benchmarks import tune

    split = tune.numpy_split("digits")
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(split[name], getattr(digits, name))
    data = tune.jaxnn_data("checkerboard")
    np.testing.assert_array_equal(data.x_val, tune.checkerboard()["x_val"])
    assert data.num_train == 4200 and data.num_classes == 4
    data = tune.jaxnn_data("spirals")
    np.testing.assert_array_equal(data.x_test, tune.spirals()["x_test"])
    assert data.num_train == 2100 and data.num_classes == 2 and data.name == "spirals"


def test_tune_suite_reports_each_search_and_the_spread(monkeypatch):
    """Every row of the quick plan at tiny sizes; Optuna made unimportable, so its row is skipped, not failed."""
    from benchmarks import tune

    tiny = {
        "num_samples": 4,
        "num_epochs": 3,
        "batch_size": 32,
        "hidden": 16,
        "population": 4,
        "pbt_interval": 1,
        "tpe_batch": 2,
    }
    monkeypatch.setattr(tune, "QUICK_SEARCH", tiny)
    monkeypatch.setitem(sys.modules, "optuna", None)
    settings = harness.Settings(quick=True, rounds=1, repeats=1, sample_s=0.01, num_threads=1, quiet_wait_s=0.0)
    jobs = tune.jobs(settings)
    assert {(job.impl, job.case, job.params["cache"]) for job in jobs} == {
        (impl, f"{name}, {cache}", cache)
        for impl in tune.QUICK_IMPLEMENTATIONS
        for name in ("digits", "checkerboard", "spirals")
        for cache in ("cold", "warm")
    }
    # Run here, so without a cache of their own (the smoke run's fresh processes run with one).
    params = {**next(job.params for job in jobs if job.case == "digits, cold"), "cache": None}
    records = [
        {
            "suite": "tune",
            "impl": impl,
            "case": tune.case("digits", tune.caches(impl, settings)[0]),
            "round": 0,
            "params": params,
            **run(params),
        }
        for impl, run in tune.IMPLEMENTATIONS.items()
    ]
    summary = tune.summarize(records, settings)

    rows = {row["impl"]: row for row in summary["rows"]}
    assert {row["cache"] for row in rows.values()} == {"cold", None}  # scikit-learn's row: no cache
    assert set(rows) == {"jaxnn_full", "jaxnn_asha", "jaxnn_hyperband", "jaxnn_pbt", "sklearn_halving"}
    assert summary["skipped"] == [
        f"{impl}: optuna is not importable (import of optuna halted; None in sys.modules)"
        for impl in ("jaxnn_tpe", "optuna_flax")
    ]
    for row in rows.values():
        assert STAT_FIELDS | {
            "dataset",
            "configurations",
            "best_val_accuracy",
            "test_accuracy",
            "total_epochs",
            "times_jaxnn",
        } <= set(row)
        assert 0.0 < row["best_val_accuracy"] <= 1.0 and 0.0 <= row["test_accuracy"] <= 1.0
        assert row["median"] > 0 and row["total_epochs"] > 0
    assert rows["jaxnn_full"]["times_jaxnn"] == 1.0
    assert rows["jaxnn_full"]["total_epochs"] == 4 * 3  # every configuration to the end
    assert rows["jaxnn_asha"]["total_epochs"] < rows["jaxnn_full"]["total_epochs"]  # ASHA stops most early
    # Hyperband over 4 configurations and rungs (1, 3): brackets of 2 (one goes on) and 2 (both to the end).
    assert [b["configurations"] for b in rows["jaxnn_hyperband"]["brackets"]] == [2, 2]
    assert rows["jaxnn_hyperband"]["total_epochs"] == 2 * 1 + 1 * 2 + 2 * 3
    assert rows["jaxnn_pbt"]["configurations"] == rows["jaxnn_pbt"]["without_pbt"]["configurations"] == 4
    assert rows["sklearn_halving"]["configurations"] == 4
    spread = summary["spread"]["digits"]
    assert spread["configurations"] == 4 and 1 <= spread["near_best"] <= 4

    text = tune.markdown(summary)
    assert text.startswith("### tune") and "within 0.01 of the best validation accuracy" in text
    assert "without PBT" in text and "Skipped: optuna_flax" in text and "Skipped: jaxnn_tpe" in text
    assert (
        "jaxnn.sweep, Hyperband: best val" in text
        and "Hyperband's brackets (configurations, epochs, best val): 0: 2" in text
    )


def test_a_tune_job_in_a_cache_says_why_its_fill_failed_and_leaves_the_environment_as_it_was():
    from benchmarks import tune

    before = dict(os.environ)
    seen = []
    job = tune._in_cache("no_such_impl", lambda params: seen.append(os.environ["JAXNN_CACHE_DIR"]) or {})
    assert job({"cache": "cold"}) == {} and seen and not os.path.exists(seen[0])  # its own directory, removed
    with pytest.raises(RuntimeError, match=r"no_such_impl: the untimed process filling the cache exited with 1: "):
        job({"cache": "warm"})  # the fill's worker has no such implementation
    with pytest.raises(ValueError, match=r"cache='hot': expected one of cold, warm or None"):
        job({"cache": "hot"})
    assert dict(os.environ) == before and len(seen) == 1


def test_fixed_cost_pools_each_workload_and_cache_into_median_phases(monkeypatch):
    from benchmarks import fixed_cost

    calls = []

    def fake_process(workload, cache):
        calls.append((workload, cache))
        base = 10.0 if "cold" in cache else 1.0
        return {phase: base + len(calls) for phase in fixed_cost.PHASES} | {"num_compiles": 3}

    monkeypatch.setattr(fixed_cost, "_process", fake_process)
    settings = harness.Settings(quick=False, rounds=1, repeats=3, sample_s=0.1, num_threads=1, quiet_wait_s=0.0)
    assert (
        fixed_cost.jobs(
            harness.Settings(quick=True, rounds=1, repeats=3, sample_s=0.1, num_threads=1, quiet_wait_s=0.0)
        )
        == []
    )
    records = []
    for job in fixed_cost.jobs(settings):
        records.append(
            {
                "suite": job.suite,
                "impl": job.impl,
                "case": job.case,
                "round": 0,
                **fixed_cost.IMPLEMENTATIONS[job.impl](job.params),
            }
        )
    # Warm: one untimed process fills the cache, then three timed ones share it; cold: three empty caches.
    warm_small = [c for c in calls if c[0] == "small" and "cold" not in c[1]]
    assert len(warm_small) == 4 and len({c[1] for c in warm_small}) == 1
    assert len({c[1] for c in calls if c[0] == "small" and "cold" in c[1]}) == 3
    rows = fixed_cost.summarize(records, settings)["rows"]
    assert [(r["workload"], r["case"], r["num_samples"]) for r in rows] == [
        ("asha", "cold", 3),
        ("asha", "warm", 3),
        ("small", "cold", 3),
        ("small", "warm", 3),
    ]
    assert rows[0]["first_s"] == 10.0 + 2  # the median of 11, 12, 13
    table = fixed_cost.markdown({"rows": rows})
    assert "| asha | warm |" in table and "second/first" in table
