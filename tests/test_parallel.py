"""Devices: data-parallel fit and multi-process sweeps on forced CPU devices, in subprocesses."""

import csv
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import jax
import pytest

import jaxnn
from jaxnn import parallel

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_python(code: str, devices: int, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


DATA_PARALLEL = textwrap.dedent(
    """
    import jax, numpy as np, jaxnn
    assert len(jax.devices()) == 4
    data = jaxnn.datasets.load("digits", seed=0)
    model = jaxnn.mlp([64, 64, 10], dropout=0.1)
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for batch_size in (30, None):  # 30 does not divide by 4 devices: padded with masked slots (covers the even case)
        options = dict(optimizer="adam", learning_rate=1e-3, num_epochs=4, batch_size=batch_size, key=0, progress=False)
        single = jaxnn.fit(model, data, **options)
        sharded = jaxnn.fit(model, data, devices=4, **options)
        for name in single.history:
            close(single.history[name], sharded.history[name])
        jax.tree.map(close, single.params, sharded.params)
        assert len(sharded.params[0]["w"].sharding.device_set) == 4  # replicated on every device
    print("OK")
    """
)


def test_data_parallel_fit_equals_single_device_fit():
    completed = run_python(DATA_PARALLEL, devices=4)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().endswith("OK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def read_table(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


# One process of a two-process `jaxnn sweep`; with INTERRUPT_AT=n, Ctrl-C arrives in every process at the
# n-th compiled call (the same moment in each, as a job's controller would stop all of them).
SWEEP_PROCESS = textwrap.dedent(
    """
    import os, sys
    import jaxnn, jaxnn.cli
    from jaxnn.sweeps import rows
    real, calls = rows.run_rows, []
    def run_rows(*args, **kwargs):
        calls.append(1)
        if len(calls) == int(os.environ.get("INTERRUPT_AT", 0)):
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    rows.run_rows = run_rows
    sys.exit(jaxnn.cli.main(sys.argv[1:]))
    """
)


def two_processes(arguments: list[str], out, interrupt_at: int = 0) -> list[tuple[int, str, str]]:
    # The compilation cache (in the session's temporary directory): later jobs load what the first compiled.
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=1",
        INTERRUPT_AT=str(interrupt_at),
        JAXNN_COMPILATION_CACHE="1",
    )
    port = free_port()
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SWEEP_PROCESS,
                *arguments,
                "--out",
                str(out),
                "--coordinator",
                f"localhost:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for i in range(2)
    ]
    return [
        (worker.returncode, *outputs)
        for worker, outputs in ((worker, worker.communicate(timeout=600)) for worker in workers)
    ]


def test_an_interrupted_two_process_sweep_resumes_and_writes_one_merged_table(tmp_path):
    arguments = [
        "sweep",
        "--dataset",
        "iris",
        "--learning-rate",
        "1e-2:3e-1:log:6",
        "--seeds",
        "2",
        "--epochs",
        "4",
        "--sizes",
        "8",
        "--optimizer",
        "sgd",
        "--no-progress",
    ]
    # Interrupted in both processes, then resumed: every process reads the saved state, process 0 wrote it.
    for status, _, stderr in two_processes(arguments, tmp_path / "multi", interrupt_at=3):
        assert status == 130, stderr[-3000:]
    assert "group0-running.msgpack" in os.listdir(tmp_path / "multi" / "checkpoint")
    outputs = two_processes([*arguments, "--resume"], tmp_path / "multi")
    for status, _, stderr in outputs:
        assert status == 0, stderr[-3000:]
    assert "on 2 cpu device(s) in 2 processes" in outputs[0][1] and "12 runs" in outputs[0][1]
    assert "12 runs" not in outputs[1][1]  # only process 0 reports and writes
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
    single = subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", *arguments, "--out", str(tmp_path / "single")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    merged, reference = read_table(tmp_path / "multi" / "sweep.csv"), read_table(tmp_path / "single" / "sweep.csv")
    assert len(merged) == 12
    for a, b in zip(merged, reference, strict=True):
        assert (a["learning_rate"], a["seed"], a["status"]) == (b["learning_rate"], b["seed"], b["status"])
        assert float(a["best_val_loss"]) == pytest.approx(float(b["best_val_loss"]), rel=1e-5)


def test_use_cpu_devices_after_jax_started_says_what_to_do():
    jax.devices()  # the backend is running in this process
    with pytest.raises(RuntimeError, match="XLA_FLAGS=--xla_force_host_platform_device_count=3"):
        parallel.use_cpu_devices(3)


def test_resolve_devices():
    assert parallel.resolve_devices(None) == jax.local_devices()
    assert parallel.resolve_devices(1) == jax.local_devices()[:1]
    with pytest.raises(ValueError, match=r"`devices` \(=99\) must be between 1 and the \d+ local devices"):
        parallel.resolve_devices(99)
    with pytest.raises(ValueError, match="empty list"):
        parallel.resolve_devices([])
    data = jaxnn.datasets.load("iris")
    with pytest.raises(ValueError, match=r"`devices` \(=0\)"):
        jaxnn.fit(jaxnn.mlp([4, 3]), data, key=0, devices=0, progress=False)


def test_fit_on_one_named_device_compiles_its_loop_once(compiled_programs):
    data = jaxnn.datasets.load("iris", seed=0)
    with compiled_programs() as names:  # 7 epochs: a spec no other test compiles
        jaxnn.fit(jaxnn.mlp([4, 8, 3]), data, key=0, num_epochs=7, progress=False, num_chunks=7, devices=1)
    assert names.count("advance") == 1, names  # the first call's state is committed like the later ones'
