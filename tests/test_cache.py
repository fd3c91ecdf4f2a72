"""Caches on disk: a second run loads the compiled program and the dataset instead of rebuilding them."""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import jaxnn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(code_or_args, env, *, cli=False):
    command = [sys.executable, "-m", "jaxnn.cli", *code_or_args] if cli else [sys.executable, "-c", code_or_args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def with_iris(directory: pathlib.Path) -> str:
    """``directory`` as a cache that already holds the built-in iris data (copied from the session's cache): a
    process using it reads the arrays instead of importing scikit-learn, which only the dataset tests need."""
    jaxnn.datasets.load("iris")  # in the session's cache from here on
    shutil.copytree(jaxnn.cache.cache_dir() / "datasets", directory / "datasets", dirs_exist_ok=True)
    return str(directory)


def test_a_built_in_dataset_is_read_from_the_cache_without_scikit_learn(tmp_path):
    env = dict(os.environ, JAXNN_CACHE_DIR=str(tmp_path))
    first = jaxnn.datasets.load("digits", seed=3)  # this process: fills its own cache (the session's)
    code = (
        "import sys, numpy as np, jaxnn; d = jaxnn.datasets.load('digits', seed=3); "
        f"print('sklearn' in sys.modules); np.save({str(tmp_path / 'x_val.npy')!r}, d.x_val)"
    )
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
    completed = run(
        ["train", "--dataset", "iris", "--epochs", "1", "--no-progress", "--out", tmp_path / "out"],
        dict(env, JAXNN_COMPILATION_CACHE="1"),
        cli=True,
    )
    warnings = [line for line in completed.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"jaxnn: warning: the compilation cache {blocker}/cache/xla cannot be used (not a directory); "
        "compiling without it"
    ], completed.stderr


def test_a_second_train_with_another_learning_rate_loads_the_compiled_programs(tmp_path):
    env = dict(os.environ, JAXNN_CACHE_DIR=with_iris(tmp_path / "cache"), JAXNN_COMPILATION_CACHE="1")
    common = ["train", "--dataset", "iris", "--sizes", "8", "--epochs", "3", "--no-progress"]
    run([*common, "--learning-rate", "0.01", "--out", tmp_path / "a"], env, cli=True)
    programs = sorted(os.listdir(tmp_path / "cache" / "xla"))
    assert programs  # the training programs were written
    run([*common, "--learning-rate", "0.05", "--out", tmp_path / "b"], env, cli=True)
    assert sorted(os.listdir(tmp_path / "cache" / "xla")) == programs  # every one loaded, none compiled anew
    run(
        [*common, "--no-compilation-cache", "--out", tmp_path / "c"],
        dict(env, JAXNN_CACHE_DIR=with_iris(tmp_path / "off")),
        cli=True,
    )
    assert not (tmp_path / "off" / "xla").exists()


FIT = (
    "import jaxnn; data = jaxnn.datasets.load('iris', seed=0); "
    "jaxnn.fit(jaxnn.mlp([4, 3, 3]), data, num_epochs=1, key=0, progress=False); "
)


def python_env(tmp_path, *, iris=True, **extra):
    """A process as a user starts it: no opt-out in the environment, caches under ``tmp_path`` (holding the iris
    data unless ``iris=False``)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("JAXNN_COMPILATION_CACHE", "JAX_ENABLE_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR")
    }
    return dict(env, JAXNN_CACHE_DIR=with_iris(tmp_path) if iris else str(tmp_path), **extra)


def test_the_python_api_caches_compiled_programs_by_default_and_each_opt_out_stops_it(tmp_path):
    run(FIT, python_env(tmp_path / "default"))
    assert os.listdir(tmp_path / "default" / "xla")  # on by default, in the user's cache directory
    run(FIT, python_env(tmp_path / "off", JAXNN_COMPILATION_CACHE="0"))
    assert not (tmp_path / "off" / "xla").exists()
    run("import jaxnn; jaxnn.cache.disable_compilation_cache(); " + FIT, python_env(tmp_path / "function"))
    assert not (tmp_path / "function" / "xla").exists()
    # Turned off after programs were cached: the next new program compiles without writing there.
    code = (
        FIT + "import os; before = sorted(os.listdir(jaxnn.cache.cache_dir() / 'xla')); "
        "jaxnn.cache.disable_compilation_cache(); "
        "jaxnn.fit(jaxnn.mlp([4, 5, 3]), data, num_epochs=1, key=0, progress=False); "
        "print(before == sorted(os.listdir(jaxnn.cache.cache_dir() / 'xla')))"
    )
    assert run(code, python_env(tmp_path / "later")).stdout.strip() == "True"


@pytest.mark.parametrize("value", ["0", "off", "OFF", "false", "no", " no "])
def test_each_spelling_of_the_opt_out_turns_the_compilation_cache_off(monkeypatch, value):
    monkeypatch.setattr(jaxnn.cache, "_opted_out", False)
    monkeypatch.setenv("JAXNN_COMPILATION_CACHE", value)
    assert not jaxnn.cache.compilation_cache_wanted()
    for on in ("1", "on", "yes"):
        monkeypatch.setenv("JAXNN_COMPILATION_CACHE", on)
        assert jaxnn.cache.compilation_cache_wanted()
    monkeypatch.delenv("JAXNN_COMPILATION_CACHE")
    assert jaxnn.cache.compilation_cache_wanted()  # on by default


def test_a_cache_directory_set_in_jax_is_kept(tmp_path):
    code = (
        f"import jax; jax.config.update('jax_compilation_cache_dir', {str(tmp_path / 'mine')!r}); "
        + FIT
        + "print(jax.config.jax_compilation_cache_dir)"
    )
    assert run(code, python_env(tmp_path / "jaxnn")).stdout.strip() == str(tmp_path / "mine")
    assert not (tmp_path / "jaxnn" / "xla").exists()


def test_an_unwritable_compilation_cache_warns_once_and_the_python_api_runs_on(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = (
        "import warnings; warnings.simplefilter('always'); "
        + FIT  # Python's own filter would hide a repeat
        + "jaxnn.fit(jaxnn.mlp([4, 5, 3]), data, num_epochs=1, key=0, progress=False); "
        "r = jaxnn.sweep(jaxnn.mlp([4, 3, 3]), data, space={'learning_rate': [0.1, 0.2]}, num_epochs=1, key=0, "
        "progress=False); print(len(r))"
    )
    completed = run(code, python_env(blocker / "cache", iris=False))
    assert completed.stdout.strip() == "2"
    warned = [line for line in completed.stderr.splitlines() if "Warning" in line]
    assert len(warned) == 1, completed.stderr
    assert warned[0].endswith(
        f"UserWarning: jaxnn: the compilation cache {blocker}/cache/xla cannot be used "
        "(not a directory); compiling without it"
    )
