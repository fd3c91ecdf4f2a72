"""Checkpoints: exact round trips, atomic writes, validation of damaged or foreign files."""

import hashlib
import json
import os

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

import jaxnn
from jaxnn import checkpoint


def write_version_1(path, fields):
    """Write ``fields`` (model, params, metadata, dataset?) as an older jaxnn did: top level, no checksum."""
    path.write_bytes(serialization.msgpack_serialize({"format": "jaxnn-checkpoint", "version": 1, **fields}))


def write_version_2(path, fields, *, version=2):
    """Write ``fields`` in the current envelope, with a correct checksum: a forgery that passes the check."""
    payload = serialization.msgpack_serialize(fields)
    checksum = hashlib.sha256(payload).hexdigest()
    envelope = {"format": "jaxnn-checkpoint", "version": version, "sha256": checksum, "payload": payload}
    path.write_bytes(serialization.msgpack_serialize(envelope))


def read_fields(path):
    """The fields inside a checkpoint written by ``jaxnn.save``."""
    return serialization.msgpack_restore(serialization.msgpack_restore(path.read_bytes())["payload"])


def flip_a_bit_of(raw, weights):
    """``raw`` with one bit flipped inside the stored bytes of ``weights`` (which occur there once)."""
    needle = np.asarray(weights).tobytes()[:16]
    assert raw.count(needle) == 1
    where = raw.index(needle) + 5  # inside the second float32: a small change to one weight
    return raw[:where] + bytes([raw[where] ^ 0x01]) + raw[where + 1 :]


@pytest.fixture
def trained(key):
    data = jaxnn.datasets.load("iris", seed=0)
    model = jaxnn.mlp([4, 16, 8, 3], activation=["tanh", "relu"], dropout=0.1)
    params = jax.tree.map(lambda p: p + jax.random.normal(key, p.shape), model.init(key))
    return model, params, data


def test_round_trip_is_bitwise_exact(trained, tmp_path):
    model, params, data = trained
    path = tmp_path / "model.msgpack"
    jaxnn.save(path, model, params, dataset=data, metadata={"epochs": 3, "note": "ok"})
    restored = jaxnn.load(path)
    assert restored.model.config == model.config
    chex.assert_trees_all_equal(restored.params, params, strict=True)
    assert jax.tree.structure(restored.params) == jax.tree.structure(params)
    assert restored.metadata == {"epochs": 3, "note": "ok"}
    dataset = restored.info
    assert restored.dataset is dataset  # the earlier name
    assert (dataset.task, dataset.num_classes, dataset.class_names) == (data.task, data.num_classes, data.class_names)
    assert dataset.feature_names == data.feature_names
    chex.assert_trees_all_equal(dataset.standardizer, data.info.standardizer)
    raw = data.x_test * data.x_scale + data.x_mean
    assert dataset.class_labels == data.class_labels == ("setosa", "versicolor", "virginica")
    np.testing.assert_array_equal(
        jaxnn.predict(restored.model, restored.params, raw, dataset=dataset),
        np.asarray(data.class_labels)[jaxnn.predict(model, params, data.x_test, task="multiclass")],
    )


def test_file_is_msgpack_without_pickle(trained, tmp_path):
    model, params, _ = trained
    path = tmp_path / "model.msgpack"
    jaxnn.save(path, model, params)
    state = serialization.msgpack_restore(path.read_bytes())
    assert state["format"] == "jaxnn-checkpoint" and state["version"] == checkpoint.VERSION == 2
    assert state["sha256"] == hashlib.sha256(state["payload"]).hexdigest()
    assert sorted(read_fields(path)) == ["metadata", "model", "params"]
    assert b"pickle" not in path.read_bytes()


def test_a_flipped_bit_in_a_weight_is_caught_by_the_checksum(trained, tmp_path):
    model, params, data = trained
    path = tmp_path / "model.msgpack"
    jaxnn.save(path, model, params, dataset=data)
    (tmp_path / "flipped.msgpack").write_bytes(flip_a_bit_of(path.read_bytes(), params[0]["w"]))
    with pytest.raises(jaxnn.CheckpointError, match="flipped.msgpack is damaged: its checksum does not match"):
        jaxnn.load(tmp_path / "flipped.msgpack")
    # The same flip in a version 1 file (no checksum) parses and loads a silently changed weight.
    write_version_1(tmp_path / "old.msgpack", read_fields(path))
    old = tmp_path / "old.msgpack"
    old.write_bytes(flip_a_bit_of(old.read_bytes(), params[0]["w"]))
    changed = jaxnn.load(old).params[0]["w"] != np.asarray(params[0]["w"])
    assert changed.sum() == 1 and changed.flat[1]


def test_version_1_files_still_load(trained, tmp_path):
    model, params, data = trained
    path = tmp_path / "model.msgpack"
    jaxnn.save(path, model, params, dataset=data, metadata={"epochs": 3})
    fields = read_fields(path)
    static = json.loads(fields["dataset"]["static"])
    del static["class_labels"]  # version 1 files had class names only
    fields["dataset"]["static"] = json.dumps(static)
    write_version_1(tmp_path / "old.msgpack", fields)
    restored = jaxnn.load(tmp_path / "old.msgpack")
    assert restored.model.config == model.config and restored.metadata == {"epochs": 3}
    chex.assert_trees_all_equal(restored.params, params, strict=True)
    assert restored.info.class_names == data.class_names and restored.info.class_labels == data.class_labels
    np.testing.assert_array_equal(restored.info.standardizer.x_scale, data.x_scale)


def test_an_interrupted_save_keeps_the_previous_checkpoint(trained, tmp_path, monkeypatch):
    model, params, data = trained
    path = tmp_path / "model.msgpack"
    jaxnn.save(path, model, params, dataset=data)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk vanished mid-write")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk vanished"):
        jaxnn.save(path, model, jax.tree.map(jnp.zeros_like, params), dataset=data)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.msgpack"]  # no temporary file left


def test_damaged_and_foreign_files_are_refused(trained, tmp_path):
    model, params, _ = trained
    path = tmp_path / "model.msgpack"
    jaxnn.save(path, model, params)
    raw = path.read_bytes()
    (tmp_path / "truncated.msgpack").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(jaxnn.CheckpointError, match="not a readable jaxnn checkpoint"):
        jaxnn.load(tmp_path / "truncated.msgpack")
    (tmp_path / "garbage.msgpack").write_bytes(b"\xc1\xff not msgpack")
    with pytest.raises(jaxnn.CheckpointError, match="not a readable jaxnn checkpoint"):
        jaxnn.load(tmp_path / "garbage.msgpack")
    (tmp_path / "other.msgpack").write_bytes(serialization.msgpack_serialize({"weights": np.zeros(3)}))
    with pytest.raises(jaxnn.CheckpointError, match="is not a jaxnn checkpoint"):
        jaxnn.load(tmp_path / "other.msgpack")
    write_version_2(tmp_path / "future.msgpack", read_fields(path), version=99)
    with pytest.raises(jaxnn.CheckpointError, match="format version 99; this jaxnn reads versions 1 and 2"):
        jaxnn.load(tmp_path / "future.msgpack")
    envelope = serialization.msgpack_restore(raw)
    del envelope["payload"]
    (tmp_path / "no_payload.msgpack").write_bytes(serialization.msgpack_serialize(envelope))
    with pytest.raises(jaxnn.CheckpointError, match="is damaged: missing or unreadable field 'payload'"):
        jaxnn.load(tmp_path / "no_payload.msgpack")
    with pytest.raises(FileNotFoundError):
        jaxnn.load(tmp_path / "missing.msgpack")


def test_params_that_do_not_fit_the_model_are_refused(trained, tmp_path):
    model, params, _ = trained
    state = serialization.msgpack_restore(
        serialization.msgpack_serialize(
            {
                "model": json.dumps(model.config),
                "params": serialization.to_state_dict(jax.tree.map(np.asarray, params)),
                "metadata": "{}",
            }
        )
    )
    wrong_shape = dict(state, params=dict(state["params"]))
    wrong_shape["params"]["0"] = dict(wrong_shape["params"]["0"], w=np.zeros((5, 16), np.float32))
    write_version_2(tmp_path / "shape.msgpack", wrong_shape)
    with pytest.raises(
        jaxnn.CheckpointError, match=r"params\[0\]\['w'\] is float32\[5, 16\], the model expects float32\[4, 16\]"
    ):
        jaxnn.load(tmp_path / "shape.msgpack")
    wrong_dtype = dict(state, params=dict(state["params"]))
    wrong_dtype["params"]["1"] = dict(wrong_dtype["params"]["1"], b=np.zeros(8, np.float64))
    write_version_2(tmp_path / "dtype.msgpack", wrong_dtype)
    with pytest.raises(jaxnn.CheckpointError, match=r"params\[1\]\['b'\] is float64\[8\]"):
        jaxnn.load(tmp_path / "dtype.msgpack")
    missing = dict(state, params={"0": state["params"]["0"]})
    write_version_2(tmp_path / "missing.msgpack", missing)
    with pytest.raises(jaxnn.CheckpointError, match="do not have the model's structure"):
        jaxnn.load(tmp_path / "missing.msgpack")


def test_flax_models_need_the_module_to_load(tmp_path, key):
    x = jnp.ones((2, 3))
    model = jaxnn.from_flax(nn.Dense(2), x)
    params = model.init(key)
    path = tmp_path / "flax.msgpack"
    jaxnn.save(path, model, params)
    with pytest.raises(jaxnn.CheckpointError, match="pass model=jaxnn.from_flax"):
        jaxnn.load(path)
    restored = jaxnn.load(path, model=model)
    np.testing.assert_array_equal(restored.model.apply(restored.params, x), model.apply(params, x))


def test_save_rejects_bad_arguments(trained, tmp_path):
    model, params, _ = trained
    with pytest.raises(TypeError, match="model must be a jaxnn.Model"):
        jaxnn.save(tmp_path / "m.msgpack", "mlp", params)
    with pytest.raises(TypeError, match="metadata must be JSON-serializable"):
        jaxnn.save(tmp_path / "m.msgpack", model, params, metadata={"bad": object()})
    assert not (tmp_path / "m.msgpack").exists()


def test_save_refuses_params_that_load_would_refuse(tmp_path):
    model, other = jaxnn.mlp([4, 8, 3]), jaxnn.mlp([30, 8, 1])
    with pytest.raises(
        jaxnn.ConfigError,
        match=r"the params do not fit the model \(mlp \[4, 8, 3\]\): "
        r"params\[0\]\['w'\] is float32\[30, 8\], the model expects float32\[4, 8\]",
    ):
        jaxnn.save(tmp_path / "bad.msgpack", model, other.init(jax.random.key(0)))
    with pytest.raises(jaxnn.ConfigError, match=r"expected the structure"):
        jaxnn.save(tmp_path / "bad.msgpack", model, {"w": np.zeros(3)})
    assert not (tmp_path / "bad.msgpack").exists()
    with pytest.raises(jaxnn.errors.CheckpointNotFoundError, match="no such file"):
        jaxnn.load(tmp_path / "bad.msgpack")
