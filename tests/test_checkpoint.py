"""Checkpoints: exact round trips, atomic writes, validation of damaged or foreign files."""

import os

import flax.linen as nn
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

import jaxnn
from jaxnn import checkpoint


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
    dataset = restored.dataset
    assert (dataset.task, dataset.num_classes, dataset.class_names) == (data.task, data.num_classes, data.class_names)
    assert dataset.feature_names == data.feature_names
    np.testing.assert_array_equal(dataset.x_mean, data.x_mean)
    raw = data.x_test * data.x_scale + data.x_mean
    np.testing.assert_array_equal(
        jaxnn.predict(restored.model, restored.params, raw, dataset=dataset),
        jaxnn.predict(model, params, data.x_test, task="multiclass"),
    )


def test_file_is_msgpack_without_pickle(trained, tmp_path):
    model, params, _ = trained
    path = tmp_path / "model.msgpack"
    jaxnn.save(path, model, params)
    state = serialization.msgpack_restore(path.read_bytes())
    assert state["format"] == "jaxnn-checkpoint" and state["version"] == checkpoint.VERSION
    assert b"pickle" not in path.read_bytes()


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
    state = serialization.msgpack_restore(raw)
    state["version"] = 99
    (tmp_path / "future.msgpack").write_bytes(serialization.msgpack_serialize(state))
    with pytest.raises(jaxnn.CheckpointError, match="format version 99; this jaxnn reads version 1"):
        jaxnn.load(tmp_path / "future.msgpack")
    with pytest.raises(FileNotFoundError):
        jaxnn.load(tmp_path / "missing.msgpack")


def test_params_that_do_not_fit_the_model_are_refused(trained, tmp_path):
    model, params, _ = trained
    state = serialization.msgpack_restore(serialization.msgpack_serialize({
        "format": "jaxnn-checkpoint", "version": 1, "model": __import__("json").dumps(model.config),
        "params": serialization.to_state_dict(jax.tree.map(np.asarray, params)), "metadata": "{}",
    }))
    wrong_shape = dict(state, params=dict(state["params"]))
    wrong_shape["params"]["0"] = dict(wrong_shape["params"]["0"], w=np.zeros((5, 16), np.float32))
    (tmp_path / "shape.msgpack").write_bytes(serialization.msgpack_serialize(wrong_shape))
    with pytest.raises(jaxnn.CheckpointError, match=r"params\[0\]\['w'\] is float32\[5, 16\], the model expects float32\[4, 16\]"):
        jaxnn.load(tmp_path / "shape.msgpack")
    wrong_dtype = dict(state, params=dict(state["params"]))
    wrong_dtype["params"]["1"] = dict(wrong_dtype["params"]["1"], b=np.zeros(8, np.float64))
    (tmp_path / "dtype.msgpack").write_bytes(serialization.msgpack_serialize(wrong_dtype))
    with pytest.raises(jaxnn.CheckpointError, match=r"params\[1\]\['b'\] is float64\[8\]"):
        jaxnn.load(tmp_path / "dtype.msgpack")
    missing = dict(state, params={"0": state["params"]["0"]})
    (tmp_path / "missing.msgpack").write_bytes(serialization.msgpack_serialize(missing))
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
