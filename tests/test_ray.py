"""Ray: a sweep's shards as Ray tasks on a local Ray head (127.0.0.1) that this module starts once."""

import json
import os
import signal
import threading
import time

import jax
import numpy as np
import pytest

import jaxnn

ray = pytest.importorskip("ray")  # the ray extra, installed by the test extra: CI runs these tests
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called")]  # Ray's own start

SPACE = {"learning_rate": list(np.geomspace(0.003, 0.3, 8)), "momentum": [0.0, 0.9]}  # 16 configurations
# max_parallel=8: the single-process sweep runs its rows in the shards' chunks (see jaxnn.cluster.shards)
OPTIONS = dict(optimizer="sgd", num_epochs=3, batch_size=64, progress=False, key=0, max_parallel=8)


@pytest.fixture(scope="module")
def head():
    """One local Ray head for the module (starting Ray costs seconds), stopped with it."""
    ray.init(
        _node_ip_address="127.0.0.1", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model():
    return jaxnn.mlp([64, 16, 10])


def assert_same_sweep(merged, whole):
    for name, column in whole.table.items():
        np.testing.assert_array_equal(merged.table[name], column, err_msg=name)
    for name, curve in whole.curves.items():
        np.testing.assert_array_equal(merged.curves[name], curve, err_msg=name)
    for i in range(len(whole)):
        for a, b in zip(jax.tree.leaves(merged.params(i)), jax.tree.leaves(whole.params(i)), strict=False):
            np.testing.assert_array_equal(a, b)


def test_two_shards_on_ray_merge_into_the_single_process_sweep(head, digits, model):
    # Layer sizes in the space: each shard a shape here, and every row keeps its own model and params.
    space = {"sizes": [(16,), (8, 8)], "learning_rate": SPACE["learning_rate"]}
    whole = jaxnn.sweep(model, digits, space=space, **OPTIONS)
    merged = jaxnn.sweep(model, digits, space=space, cluster=jaxnn.cluster.Ray(shards=2), **OPTIONS)
    assert len(merged) == 16 and merged.shard is None and len(merged.models) == 2
    assert_same_sweep(merged, whole)
    assert [merged.model(i).config for i in range(16)] == [whole.model(i).config for i in range(16)]


def test_a_worker_killed_mid_shard_is_retried_and_resumes_from_its_checkpoint(head, digits, model, tmp_path):
    options = OPTIONS | {"num_epochs": 40}
    running = tmp_path / "shard-0-of-2" / "group0-running.msgpack"
    killed = []

    def kill_when_saved():
        deadline = time.monotonic() + 600
        while not running.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        holder = json.loads((tmp_path / "shard-0-of-2" / "lock").read_text())
        os.kill(holder["pid"], signal.SIGKILL)  # the worker training shard 0, mid-shard
        killed.append(holder["pid"])

    killer = threading.Thread(target=kill_when_saved, daemon=True)
    killer.start()
    merged = jaxnn.sweep(
        model,
        digits,
        space=SPACE,
        cluster=jaxnn.cluster.Ray(shards=2, max_retries=2),
        checkpoint_dir=tmp_path,
        **options,
    )
    killer.join(timeout=10)
    assert killed, "the worker was not killed"
    whole = jaxnn.sweep(model, digits, space=SPACE, **options)
    assert_same_sweep(merged, whole)


def test_an_unreachable_cluster_is_refused_within_seconds(digits, model):
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=r"cannot reach the Ray cluster at '127.0.0.1:9': .*ray start --head"):
        jaxnn.sweep(model, digits, space=SPACE, cluster=jaxnn.cluster.Ray(address="127.0.0.1:9"), **OPTIONS)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "cluster, changes, error, message",
    [
        ("ray", {}, TypeError, r"`cluster` must be a jaxnn.cluster.Ray, got str"),
        (jaxnn.cluster.Ray(shards=0), {}, ValueError, r"`Ray.shards` \(=0\) must be an int >= 1"),
        (jaxnn.cluster.Ray(), {"shard": (0, 2)}, ValueError, r"`cluster` cannot be combined with `shard`"),
        (jaxnn.cluster.Ray(), {"scheduler": "asha"}, ValueError, r"cannot be combined with `scheduler`"),
    ],
)
def test_bad_clusters_are_refused_before_ray_starts(digits, model, cluster, changes, error, message):
    with pytest.raises(error, match=message):
        jaxnn.sweep(model, digits, space=SPACE, cluster=cluster, **OPTIONS | changes)


def test_the_command_line_says_when_it_cannot_reach_ray(tmp_path, capsys):
    from jaxnn import cli

    argv = [
        "sweep",
        "--dataset",
        "iris",
        "--learning-rate",
        "0.01,0.1",
        "--epochs",
        "2",
        "--log",
        "none",
        "--out",
        str(tmp_path / "out"),
    ]
    assert cli.main([*argv, "--ray", "127.0.0.1:9", "--shards", "2"]) == 2
    assert "jaxnn: error: cannot reach the Ray cluster at '127.0.0.1:9'" in capsys.readouterr().err
    assert cli.main([*argv, "--shards", "2"]) == 2
    assert "--shards is for --ray" in capsys.readouterr().err
