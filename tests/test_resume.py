"""Resumable runs: interrupted fits and sweeps continue bitwise where they stopped; bad state is refused."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import serialization

import jaxnn
from jaxnn import resume
from jaxnn.sweeps import rows as sweep_rows
from jaxnn.sweeps import scheduled

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "resume_worker.py"


def interrupt_at(monkeypatch, module, name, call):
    """Make the ``call``-th call of ``module.name`` raise KeyboardInterrupt (as Ctrl-C would)."""
    real, calls = getattr(module, name), [0]

    def flaky(*args, **kwargs):
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return lambda: monkeypatch.setattr(module, name, real)


def assert_same_fit(a, b):
    assert (a.best_epoch, a.stopped_epoch, a.status) == (b.best_epoch, b.stopped_epoch, b.status)
    for name in a.history:
        np.testing.assert_array_equal(a.history[name], b.history[name])
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)


def assert_same_sweep(a, b):
    assert list(a.table) == list(b.table)
    for name in a.table:
        np.testing.assert_array_equal(a.table[name], b.table[name], err_msg=name)
    for name in a.curves:
        np.testing.assert_array_equal(a.curves[name], b.curves[name])
    for row in range(len(a)):
        for x, y in zip(jax.tree.leaves(a.params(row)), jax.tree.leaves(b.params(row)), strict=True):
            np.testing.assert_array_equal(x, y)


def saved_fields(path: pathlib.Path) -> dict:
    """A run-state file's fields, read without the run (the envelope's payload)."""
    return serialization.msgpack_restore(serialization.msgpack_restore(path.read_bytes())["payload"])


FIT = dict(key=0, num_epochs=8, batch_size=128, progress=False, learning_rate=3e-3)


@pytest.mark.parametrize("interrupted_call", [2, 4])
def test_an_interrupted_fit_resumes_bitwise(digits, tmp_path, monkeypatch, interrupted_call, compiled_programs):
    model = jaxnn.mlp([64, 16, 10], dropout=0.1)
    options = FIT | {
        "early_stopping": jaxnn.EarlyStopping(patience=50),
        "hyperparameter_schedule": [(5, {"learning_rate": 1e-3})],
    }
    reference = jaxnn.fit(model, digits, num_chunks=4, **options)  # calls of 2 epochs, as the saving run's
    restore = interrupt_at(monkeypatch, jaxnn.loop, "advance_jit", interrupted_call)
    with pytest.raises(KeyboardInterrupt):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path, checkpoint_every=2, **options)
    restore()
    assert sorted(os.listdir(tmp_path)) == ["run.msgpack", "state.msgpack"]
    # Calls of 2 epochs (1 where the schedule changes at epoch 5); Ctrl-C wrote the newest state it had.
    assert saved_fields(tmp_path / "state.msgpack")["epoch"] == {2: 2, 4: 5}[interrupted_call]
    with compiled_programs() as names:
        resumed = jaxnn.fit(model, digits, checkpoint_dir=tmp_path, checkpoint_every=2, **options)
    assert "advance" not in names  # the restored state is placed as the loop's own: its programs are reused
    assert_same_fit(resumed, reference)
    # A finished run's directory gives its result again without training.
    restore = interrupt_at(monkeypatch, jaxnn.loop, "advance_jit", 1)
    assert_same_fit(jaxnn.fit(model, digits, checkpoint_dir=tmp_path, checkpoint_every=2, **options), reference)
    restore()


SWEEP = dict(
    space={"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2, 0.1]}, key=0, num_epochs=6, batch_size=128, progress=False, seeds=2
)


@pytest.mark.parametrize("interrupted_call", [2, 5])
def test_an_interrupted_sweep_resumes_bitwise(digits, tmp_path, monkeypatch, interrupted_call):
    model = jaxnn.mlp([64, 16, 10])
    options = SWEEP | {"max_parallel": 4, "num_chunks": 3, "early_stopping": jaxnn.EarlyStopping(patience=2)}
    reference = jaxnn.sweep(model, digits, **options)
    restore = interrupt_at(monkeypatch, sweep_rows, "run_rows", interrupted_call)
    with pytest.raises(KeyboardInterrupt):
        jaxnn.sweep(model, digits, checkpoint_dir=tmp_path, **options)
    restore()
    assert_same_sweep(jaxnn.sweep(model, digits, checkpoint_dir=tmp_path, **options), reference)


def test_an_interrupted_sweep_of_padded_shapes_resumes_bitwise_in_the_padded_program(digits, tmp_path, monkeypatch):
    """The saved state is the padded program's; the resumed sweep trains its shapes as it started (padded), even
    where this machine would now estimate one program per shape to be sooner."""
    from jaxnn.sweeps import padding
    from tests.conftest import CompiledPrograms

    model = jaxnn.mlp([64, 16, 10])
    space = {"sizes": [(8,), (16, 8)], "learning_rate": [1e-2, 3e-2, 0.1]}
    options = SWEEP | {"space": space, "max_parallel": 2, "num_chunks": 3}
    everything = [tuple(space["sizes"])]  # one padded program of both shapes
    monkeypatch.setattr(padding, "partition", lambda *args, **kwargs: everything)
    reference = jaxnn.sweep(model, digits, **options)
    restore = interrupt_at(monkeypatch, sweep_rows, "run_rows", 2)
    with pytest.raises(KeyboardInterrupt):
        jaxnn.sweep(model, digits, checkpoint_dir=tmp_path, **options)
    restore()
    monkeypatch.setattr(padding, "partition", lambda model, counts, **kwargs: [(shape,) for shape in counts])
    with CompiledPrograms() as names:
        resumed = jaxnn.sweep(model, digits, checkpoint_dir=tmp_path, **options)
    assert "run_rows" not in names  # the padded program, compiled for the reference: no program per shape
    assert_same_sweep(resumed, reference)


@pytest.mark.parametrize("scheduler", ["asha", "hyperband", "pbt"])
def test_a_scheduled_sweep_resumes_bitwise_from_its_population(digits, tmp_path, monkeypatch, scheduler):
    model = jaxnn.mlp([64, 16, 10])
    schedulers = {"asha": jaxnn.ASHA(reduction_factor=3), "hyperband": jaxnn.Hyperband(), "pbt": jaxnn.PBT(interval=3)}
    options = SWEEP | {
        "space": {"learning_rate": list(np.geomspace(1e-3, 0.2, 9))},
        "num_epochs": 9,
        "scheduler": schedulers[scheduler],
    }
    reference = jaxnn.sweep(model, digits, **options)
    restore = interrupt_at(monkeypatch, scheduled, "_to_host", 4)  # inside the second stage
    with pytest.raises(KeyboardInterrupt):
        jaxnn.sweep(model, digits, checkpoint_dir=tmp_path, **options)
    restore()
    assert "group0-population.msgpack" in os.listdir(tmp_path)
    assert_same_sweep(jaxnn.sweep(model, digits, checkpoint_dir=tmp_path, **options), reference)


def test_a_directory_of_another_run_is_refused_by_name(digits, iris, tmp_path):
    model = jaxnn.mlp([64, 16, 10])
    jaxnn.fit(model, digits, checkpoint_dir=tmp_path / "fit", **FIT | {"num_epochs": 2})
    with pytest.raises(jaxnn.CheckpointError, match=r"other arguments \(`learning_rate`: saved 0.003, now 0.01\)"):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path / "fit", **FIT | {"num_epochs": 2, "learning_rate": 0.01})
    with pytest.raises(
        jaxnn.CheckpointError, match=r"other arguments \(`model`: saved mlp \[64, 16, 10\] #\w+, now mlp \[64, 8, 10\]"
    ):
        jaxnn.fit(jaxnn.mlp([64, 8, 10]), digits, checkpoint_dir=tmp_path / "fit", **FIT | {"num_epochs": 2})
    with pytest.raises(jaxnn.CheckpointError, match=r"other arguments \(`data`: saved \w+, now \w+; `key`: saved"):
        jaxnn.fit(
            model,
            digits.replace(x_train=digits.x_train[:-1], y_train=digits.y_train[:-1]),
            checkpoint_dir=tmp_path / "fit",
            **FIT | {"num_epochs": 2, "key": 1},
        )
    with pytest.raises(jaxnn.CheckpointError, match="holds the state of a fit run, not of a sweep"):
        jaxnn.sweep(model, digits, checkpoint_dir=tmp_path / "fit", **SWEEP | {"num_epochs": 2})
    jaxnn.sweep(model, digits, checkpoint_dir=tmp_path / "sweep", **SWEEP | {"num_epochs": 2})
    with pytest.raises(jaxnn.CheckpointError, match=r"other arguments \(`space`: saved .*0.1\]\}, now .*0.2\]\}\)"):
        jaxnn.sweep(
            model,
            digits,
            checkpoint_dir=tmp_path / "sweep",
            **SWEEP | {"num_epochs": 2, "space": {"learning_rate": [1e-3, 0.2]}},
        )
    with pytest.raises(ValueError, match="`checkpoint_dir` cannot be combined with `sampler`"):
        jaxnn.sweep(
            model,
            digits,
            checkpoint_dir=tmp_path / "other",
            sampler=pytest.importorskip("optuna").samplers.RandomSampler(seed=0),
            num_samples=2,
            **SWEEP | {"space": {"learning_rate": jaxnn.loguniform(1e-3, 0.1)}},
        )


def test_damaged_or_foreign_state_is_refused_never_loaded(digits, tmp_path):
    model = jaxnn.mlp([64, 16, 10])
    jaxnn.fit(model, digits, checkpoint_dir=tmp_path, **FIT | {"num_epochs": 2})
    state = tmp_path / "state.msgpack"
    raw = bytearray(state.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped bit inside the weights still parses as msgpack
    state.write_bytes(bytes(raw))
    with pytest.raises(jaxnn.CheckpointError, match=r"state.msgpack is damaged: its checksum does not match"):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path, **FIT | {"num_epochs": 2})
    state.write_bytes(bytes(raw[:100]))  # truncated
    with pytest.raises(
        jaxnn.CheckpointError, match=r"state.msgpack is not a readable jaxnn run state \(damaged or truncated"
    ):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path, **FIT | {"num_epochs": 2})
    (tmp_path / "state.msgpack").write_bytes(serialization.msgpack_serialize({"format": "other", "payload": b""}))
    with pytest.raises(jaxnn.CheckpointError, match="state.msgpack is not a jaxnn run state"):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path, **FIT | {"num_epochs": 2})
    (tmp_path / "state.msgpack").write_bytes(serialization.msgpack_serialize({"format": resume.FORMAT, "version": 99}))
    with pytest.raises(jaxnn.CheckpointError, match="has run state format version 99; this jaxnn reads version 1"):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path, **FIT | {"num_epochs": 2})
    (tmp_path / "run.msgpack").unlink()
    with pytest.raises(jaxnn.CheckpointError, match="holds run states but no run.msgpack"):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path, **FIT | {"num_epochs": 2})
    (tmp_path / "file").write_text("")
    with pytest.raises(jaxnn.CheckpointError, match="exists and is not a directory"):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path / "file", **FIT | {"num_epochs": 2})
    with pytest.raises(ValueError, match=r"`checkpoint_every` \(=0\)"):
        jaxnn.fit(model, digits, checkpoint_dir=tmp_path / "new", checkpoint_every=0, **FIT)


def test_a_manifest_without_arguments_is_damaged(tmp_path):
    resume.RunDirectory(tmp_path, "fit", {"learning_rate": "0.1"}).flush()
    other = resume.RunDirectory(tmp_path / "other", "fit", {})
    other.flush()
    other._write_now("run", {"kind": "fit"})  # a manifest without arguments
    other._write_now("state", {"epoch": 1})  # and a state: a directory of a run, whose manifest is checked
    with pytest.raises(jaxnn.CheckpointError, match=r"run.msgpack is damaged \(no readable arguments\)"):
        resume.RunDirectory(tmp_path / "other", "fit", {})
    assert resume.RunDirectory(tmp_path, "fit", {"learning_rate": "0.1"}).path == str(tmp_path)


def test_restore_leaves_checks_count_shapes_and_dtypes():
    like = {"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)}
    saved = resume.leaves_of(like)
    restored = resume.restore_leaves("state", like, saved)
    assert restored["w"].shape == (2, 3) and restored["w"].flags.writeable
    with pytest.raises(jaxnn.CheckpointError, match="holds 2 arrays where this run has 1"):
        resume.restore_leaves("state", {"w": like["w"]}, saved)
    with pytest.raises(jaxnn.CheckpointError, match=r"array 1 is float32\[2, 3\] where this run has float32\[4, 3\]"):
        resume.restore_leaves("state", {"b": like["b"], "w": np.zeros((4, 3), np.float32)}, saved)


def start(kind: str, directory: pathlib.Path, out: pathlib.Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), kind, str(directory), str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, JAXNN_COMPILATION_CACHE="1"),
    )


def last_save(directory: pathlib.Path) -> int:
    """When a state file in ``directory`` was last written (0 if none)."""
    if not directory.exists():
        return 0
    return max(
        [
            (directory / n).stat().st_mtime_ns
            for n in os.listdir(directory)
            if n.endswith(".msgpack") and n != "run.msgpack"
        ],
        default=0,
    )


@pytest.mark.parametrize("kind", ["fit", "sweep"])
def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path, kind):
    """SIGKILL, SIGINT, SIGKILL at fixed delays after a process's first save; the finished run equals an
    uninterrupted one bitwise. Each process runs for seconds after its first save, so every signal arrives
    while it trains (or writes a state): three interrupts on any machine, however fast or loaded."""
    reference = subprocess.run(
        [sys.executable, str(WORKER), kind, str(tmp_path / "reference"), str(tmp_path / "a.npz")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, JAXNN_COMPILATION_CACHE="1"),
    )
    assert reference.returncode == 0, reference.stderr[-2000:]
    directory = tmp_path / "state"
    for signal_, delay in ((signal.SIGKILL, 0.0), (signal.SIGINT, 0.1), (signal.SIGKILL, 0.25)):
        saved = last_save(directory)
        worker = start(kind, directory, tmp_path / "b.npz")
        while worker.poll() is None and last_save(directory) == saved:  # until this process has saved a state
            time.sleep(0.01)
        time.sleep(delay)  # right after a save (possibly while the next is written), or a few epochs on
        finished = worker.poll() is not None
        worker.send_signal(signal_)
        _, stderr = worker.communicate(timeout=600)
        assert not finished, f"the run ended before {signal_.name} (status {worker.returncode}): {stderr[-2000:]}"
        if signal_ == signal.SIGINT and worker.returncode not in (0, -signal.SIGINT):
            assert "KeyboardInterrupt" in stderr or "Interrupted" in stderr, stderr[-2000:]
    final = start(kind, directory, tmp_path / "b.npz")
    _, stderr = final.communicate(timeout=600)
    assert final.returncode == 0, stderr[-2000:]
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_failed_background_write_is_reported_not_swallowed(digits, tmp_path, monkeypatch):
    def disk_full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(resume, "atomic_write", disk_full)
    with pytest.raises(OSError, match=r"could not write the run's state in .*: \[Errno 28\] No space left on device"):
        jaxnn.fit(jaxnn.mlp([64, 16, 10]), digits, checkpoint_dir=tmp_path, **FIT | {"num_epochs": 2})


def test_resume_says_whether_a_saved_run_must_exist_and_a_failed_start_leaves_nothing(digits, tmp_path, monkeypatch):
    model, directory = jaxnn.mlp([64, 16, 10]), tmp_path / "new" / "state"
    options = FIT | {"num_epochs": 4, "checkpoint_every": 2}
    with pytest.raises(jaxnn.CheckpointError, match=r"resume=True: there is nothing to resume in .*new/state"):
        jaxnn.fit(model, digits, checkpoint_dir=directory, resume=True, **options)
    assert not (tmp_path / "new").exists()  # nor the parent it would have made

    def fails(*args, **kwargs):
        raise jaxnn.errors.OutOfMemory("the program did not fit")

    monkeypatch.setattr(jaxnn.loop, "advance_jit", fails)
    with pytest.raises(jaxnn.errors.OutOfMemory):
        jaxnn.fit(model, digits, checkpoint_dir=directory, **options)
    assert not (tmp_path / "new").exists()  # a run that failed before its first save leaves nothing behind
    monkeypatch.undo()
    restore = interrupt_at(monkeypatch, jaxnn.loop, "advance_jit", 2)
    with pytest.raises(jaxnn.Interrupted) as stopped:
        jaxnn.fit(model, digits, checkpoint_dir=directory, **options)
    assert stopped.value.checkpoint_dir == str(directory) and isinstance(stopped.value, KeyboardInterrupt)
    restore()
    with pytest.raises(
        jaxnn.CheckpointError, match=r"holds the state of an interrupted run: continue it with resume=True"
    ):
        jaxnn.fit(model, digits, checkpoint_dir=directory, resume=False, **options)
    assert jaxnn.fit(model, digits, checkpoint_dir=directory, resume=True, **options).stopped_epoch == 4
    assert sorted(os.listdir(directory)) == ["run.msgpack", "state.msgpack"]  # the lock is released
