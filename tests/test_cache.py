"""Caches on disk: a second run loads the compiled program and the dataset instead of rebuilding them."""

import os
import pathlib
import subprocess
import sys

import numpy as np

import jaxnn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(code_or_args, env, *, cli=False):
    command = [sys.executable, "-m", "jaxnn.cli", *code_or_args] if cli else [sys.executable, "-c", code_or_args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def test_a_built_in_dataset_is_read_from_the_cache_without_scikit_learn(tmp_path):
    env = dict(os.environ, JAXNN_CACHE_DIR=str(tmp_path))
    first = jaxnn.datasets.load("digits", seed=3)  # this process: fills its own cache (the session's)
    code = ("import sys, numpy as np, jaxnn; d = jaxnn.datasets.load('digits', seed=3); "
            f"print('sklearn' in sys.modules); np.save({str(tmp_path / 'x_val.npy')!r}, d.x_val)")
    assert run(code, env).stdout.strip() == "True"  # fills tmp_path's cache, reading the data with scikit-learn
    assert run(code, env).stdout.strip() == "False"  # no scikit-learn import at all: arrays and splits from jaxnn
    np.testing.assert_array_equal(np.load(tmp_path / "x_val.npy"), first.x_val)
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["sklearn-load_digits.v1.npz"]


def test_an_unwritable_cache_costs_speed_not_the_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = dict(os.environ, JAXNN_CACHE_DIR=str(blocker / "cache"))
    completed = run("import jaxnn; print(jaxnn.datasets.load('iris').num_train)", env)
    assert completed.stdout.strip() == "104"
    # A compilation cache in place of a file: one warning line, and the run goes on without it.
    completed = run(["train", "--dataset", "iris", "--epochs", "1", "--no-progress", "--out", tmp_path / "out"],
                    dict(env, JAXNN_COMPILATION_CACHE="1"), cli=True)
    warnings = [line for line in completed.stderr.splitlines() if "warning" in line]
    assert warnings == [f"jaxnn: warning: the compilation cache {blocker}/cache/xla cannot be used (not a directory); "
                        "compiling without it"], completed.stderr


def test_a_second_train_with_another_learning_rate_loads_the_compiled_programs(tmp_path):
    env = dict(os.environ, JAXNN_CACHE_DIR=str(tmp_path / "cache"), JAXNN_COMPILATION_CACHE="1")
    common = ["train", "--dataset", "iris", "--sizes", "8", "--epochs", "3", "--no-progress"]
    run([*common, "--learning-rate", "0.01", "--out", tmp_path / "a"], env, cli=True)
    programs = sorted(os.listdir(tmp_path / "cache" / "xla"))
    assert programs  # the training programs were written
    run([*common, "--learning-rate", "0.05", "--out", tmp_path / "b"], env, cli=True)
    assert sorted(os.listdir(tmp_path / "cache" / "xla")) == programs  # every one loaded, none compiled anew
    run([*common, "--no-compilation-cache", "--out", tmp_path / "c"], dict(env, JAXNN_CACHE_DIR=str(tmp_path / "off")),
        cli=True)
    assert not (tmp_path / "off" / "xla").exists()
