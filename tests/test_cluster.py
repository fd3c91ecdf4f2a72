"""Shards of a sweep and their merge: the merged shards are the whole sweep, bitwise (on CPU)."""

import numpy as np
import pytest

import jaxnn
from jaxnn.cluster import shards as sharding

SPACE = {"learning_rate": list(np.geomspace(0.003, 0.3, 8)), "momentum": [0.0, 0.9]}  # 16 configurations
# max_parallel=8: the whole sweep runs its rows in the shards' chunks (a chunk's first layer is one matmul as
# wide as the chunk, and a wider matmul rounds differently; see jaxnn.cluster.shards)
OPTIONS = dict(optimizer="sgd", num_epochs=3, batch_size=64, progress=False, key=0, max_parallel=8)


@pytest.fixture(scope="module")
def model():
    return jaxnn.mlp([64, 16, 10])


@pytest.fixture(scope="module")
def whole(digits, model):
    return jaxnn.sweep(model, digits, space=SPACE, **OPTIONS)


@pytest.fixture(scope="module")
def halves(digits, model):
    return [jaxnn.sweep(model, digits, space=SPACE, shard=(i, 2), **OPTIONS) for i in range(2)]


def assert_same_sweep(merged, whole):
    assert list(merged.table) == list(whole.table)
    for name, column in whole.table.items():
        np.testing.assert_array_equal(merged.table[name], column, err_msg=name)
    for name, curve in whole.curves.items():
        np.testing.assert_array_equal(merged.curves[name], curve, err_msg=name)
    for i in range(len(whole)):
        for a, b in zip(jax_leaves(merged.params(i)), jax_leaves(whole.params(i)), strict=False):
            np.testing.assert_array_equal(a, b)
    assert merged.best == whole.best
    assert merged.hyperparameters == whole.hyperparameters and merged.settings == whole.settings
    assert merged.shard is None


def jax_leaves(tree):
    import jax

    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_shards_are_contiguous_slices_of_every_configuration():
    slices = [sharding.shard_ids(10, i, 4) for i in range(4)]
    assert slices == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]
    assert sharding.parse_shard("3/8") == (3, 8)


def test_merged_shards_are_the_whole_sweep_bitwise(whole, halves):
    assert [h.shard.config_ids for h in halves] == [list(range(8)), list(range(8, 16))]
    assert halves[0].shard.fingerprint == halves[1].shard.fingerprint
    assert_same_sweep(jaxnn.merge(halves[::-1]), whole)  # in any order


def test_shard_files_round_trip_and_merge_from_directories(whole, halves, tmp_path):
    for i, half in enumerate(halves):
        (tmp_path / f"s{i}").mkdir()
        assert jaxnn.cluster.save_shard(half, tmp_path / f"s{i}").endswith("shard.msgpack")
    assert_same_sweep(jaxnn.merge([tmp_path / "s0", tmp_path / "s1"]), whole)
    loaded = jaxnn.cluster.load_shard(tmp_path / "s1")
    assert loaded.shard == halves[1].shard


def test_shards_of_other_sweeps_repeated_or_missing_are_refused(digits, model, halves, tmp_path):
    with pytest.raises(ValueError, match=r"missing shard 1/2 of 2: got 1"):
        jaxnn.merge(halves[:1])
    with pytest.raises(ValueError, match=r"shard 0/2 is given twice"):
        jaxnn.merge([halves[0], halves[0]])
    other = jaxnn.sweep(model, digits, space=SPACE, shard=(1, 2), **{**OPTIONS, "key": 1})
    with pytest.raises(ValueError, match=r"is a shard of another sweep than shard 0/2: their key differs"):
        jaxnn.merge([halves[0], other])
    with pytest.raises(ValueError, match="merge needs the result of a sweep with `shard`, got a whole sweep"):
        jaxnn.merge([halves[0], jaxnn.sweep(model, digits, space={"learning_rate": [0.1]}, **OPTIONS)])
    with pytest.raises(FileNotFoundError, match=r"^no shard at .*nothing: no such file or directory$"):
        jaxnn.merge([tmp_path / "nothing"])
    with pytest.raises(FileNotFoundError, match=r"^no shard in .*: .*shard.msgpack does not exist \(was it written"):
        jaxnn.merge([tmp_path])  # a directory without a shard file
    with pytest.raises(ValueError, match="merge needs a list of shards"):
        jaxnn.merge([])


@pytest.mark.parametrize(
    "shard, error, message",
    [
        ((2, 2), IndexError, r"`shard` \(=\(2, 2\)\): the shard index must be in 0..1"),
        ((-1, 4), IndexError, r"must be in 0..3 \(shards are numbered from 0\)"),
        ((0, 0), ValueError, r"the count of shards must be >= 1"),
        ("1/2", TypeError, r"`shard` must be a pair \(index, count\) of ints, got '1/2'"),
        ((0, 17), ValueError, r"asks for 17 shards of a sweep of 16 configurations: use at most 16"),
    ],
)
def test_bad_shards_are_refused_before_training(digits, model, shard, error, message):
    with pytest.raises(error, match=message):
        jaxnn.sweep(model, digits, space=SPACE, shard=shard, **OPTIONS)


def test_shards_do_not_combine_with_a_scheduler(digits, model):
    with pytest.raises(ValueError, match="ASHA compares each configuration with all the others"):
        jaxnn.sweep(model, digits, space=SPACE, shard=(0, 2), scheduler="asha", **OPTIONS)
    with pytest.raises(ValueError, match=r"expected INDEX/COUNT, e.g. 3/8"):
        sharding.parse_shard("3-8")


@pytest.mark.slow
def test_shard_and_merge_round_trip_through_the_command_line(tmp_path, capsys):
    import filecmp
    import subprocess
    import sys

    common = [
        "sweep",
        "--dataset",
        "iris",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "0.01:0.3:log:4",
        "--momentum",
        "0,0.9",
        "--epochs",
        "3",
        "--max-parallel",
        "4",
        "--log",
        "none",
        "--no-progress",
    ]
    cli = [sys.executable, "-m", "jaxnn.cli"]
    shards = [
        subprocess.Popen(
            [*cli, *common, "--shard", f"{i}/2", "--out", tmp_path / f"s{i}"],
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    whole = subprocess.run([*cli, *common, "--out", tmp_path / "whole"], capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    for process in shards:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "shard.msgpack" in out and "jaxnn merge" in out
    from jaxnn import cli as jaxnn_cli  # the merge and the error paths in this process: nothing trains

    capsys.readouterr()
    status = jaxnn_cli.main(
        [str(a) for a in ("merge", *(tmp_path / f"s{i}" for i in (1, 0)), "--out", tmp_path / "merged")]
    )
    merged = capsys.readouterr()
    assert status == 0, merged.err
    assert "2 shards, 8 runs" in merged.out
    assert filecmp.cmp(tmp_path / "merged" / "sweep.csv", tmp_path / "whole" / "sweep.csv", shallow=False)
    best = jaxnn.load(tmp_path / "merged" / "best.msgpack")
    whole_best = jaxnn.load(tmp_path / "whole" / "best.msgpack")
    assert best.metadata["row"] == whole_best.metadata["row"]
    for a, b in zip(jax_leaves(best.params), jax_leaves(whole_best.params), strict=False):
        np.testing.assert_array_equal(a, b)
    assert jaxnn_cli.main([str(a) for a in ("merge", tmp_path / "s0", "--out", tmp_path / "half")]) == 2
    assert "jaxnn: error: missing shard 1/2 of 2" in capsys.readouterr().err
    assert jaxnn_cli.main([str(a) for a in (*common, "--shard", "2/2", "--out", tmp_path / "bad")]) == 2
    assert "jaxnn: error: --shard 2/2: the shard index must be in 0..1" in capsys.readouterr().err


def test_a_sweep_of_layer_sizes_shards_and_merges_into_the_whole_sweep(digits, model, tmp_path):
    """Shapes in the space: each shard's file holds a model per shape it trained, and the merge gives every row
    its own model and params, as the whole sweep does."""
    space = {"sizes": [(16,), (8, 8)], "learning_rate": [0.03, 0.3]}  # a shard per shape: chunks as in the whole
    options = {**OPTIONS, "max_parallel": 2}
    whole = jaxnn.sweep(model, digits, space=space, **options)
    for i in range(2):
        half = jaxnn.sweep(model, digits, space=space, shard=(i, 2), **options)
        (tmp_path / f"s{i}").mkdir()
        jaxnn.cluster.save_shard(half, tmp_path / f"s{i}")
    merged = jaxnn.merge([tmp_path / "s1", tmp_path / "s0"])
    assert_same_sweep(merged, whole)
    assert len(merged.models) == 2
    assert [merged.model(i).config for i in range(len(whole))] == [whole.model(i).config for i in range(len(whole))]
    # Given the sweep's (base) model, a shard of another shape is rebuilt from its config; another model is refused.
    assert jaxnn.cluster.load_shard(tmp_path / "s1", model=model).model(0).config["sizes"][1:-1] in ([16], [8, 8])
    with pytest.raises(jaxnn.errors.CheckpointError, match="holds a sweep of another model"):
        jaxnn.cluster.load_shard(tmp_path / "s1", model=jaxnn.mlp([64, 16, 10], activation="tanh"))


def test_a_shard_file_of_format_1_one_model_still_loads(halves, tmp_path):
    """Files written before shapes in the space (format 1: one model, its stacked params) load as they did."""
    import json

    from jaxnn import resume

    _, fields = resume.unpack(
        "new", sharding.to_bytes(halves[1]), file_format="jaxnn-sweep-shard", versions=(2,), what="x"
    )
    fields["model"] = json.dumps(json.loads(fields.pop("models"))[0])
    fields["params"] = resume.leaves_of(halves[1].stacked_params())  # format 1: every row's, in table order
    del fields["rows_of"]
    (tmp_path / "shard.msgpack").write_bytes(resume.pack("jaxnn-sweep-shard", 1, fields))
    loaded = jaxnn.cluster.load_shard(tmp_path)
    assert loaded.shard == halves[1].shard and len(loaded) == len(halves[1])
    for i in range(len(loaded)):
        assert loaded.row(i) == halves[1].row(i)
        for a, b in zip(jax_leaves(loaded.params(i)), jax_leaves(halves[1].params(i)), strict=True):
            np.testing.assert_array_equal(a, b)
