"""Checkpoints: one msgpack file with the model config, params, data statistics and metadata.

Written with Flax's msgpack serialization (no pickle: loading executes
nothing), to a temporary file that is fsynced and renamed into place, so a
crash never leaves half a checkpoint and never destroys the previous one.
The file (format version 2) is a small envelope around the payload::

    {"format": "jaxnn-checkpoint", "version": 2, "sha256": <hex digest of payload>,
     "payload": <msgpack bytes of {"model", "params", "metadata", "dataset"?}>}

The checksum catches what msgpack cannot: a flipped bit inside a weight's
bytes still parses, and would otherwise load and predict with a silently
changed weight. Loading checks the format, the version and the checksum,
rebuilds the model from its config and validates the params' structure, shapes
and dtypes against it.

Version 1 files (written by earlier jaxnn: the same fields at the top level of
the file, next to ``format`` and ``version``, without a checksum) are still
read, for backward compatibility; they cannot be checked for damage.

The dataset's fitted :class:`~jaxnn.data.columns.ColumnPlan` (how a file's raw
columns become features: medians, categories, dropped columns), when it has
one, is stored as plain JSON next to the other names (``"columns"``). The format
stays version 2: a jaxnn that predates plans ignores the key, and then either
predicts exactly as the plan would (numeric columns, no blanks) or refuses the
file (text, blanks) — never differently — so older readers need not be locked out.

>>> import jax, jaxnn, tempfile, os
>>> model = jaxnn.mlp([4, 8, 3])
>>> params = model.init(jax.random.key(0))
>>> path = os.path.join(tempfile.mkdtemp(), "model.msgpack")
>>> jaxnn.save(path, model, params)
>>> restored = jaxnn.load(path)
>>> restored.model.config == model.config
True
"""

import contextlib
import json
import os
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn import errors, resume
from jaxnn._io import atomic_write
from jaxnn.data import ColumnPlan, DataInfo, Dataset, Standardizer
from jaxnn.errors import CheckpointError
from jaxnn.models import WRAPPED, Model, model_from_config
from jaxnn.typing import Params

__all__ = ["FORMAT", "VERSION", "Checkpoint", "CheckpointError", "load", "save"]

FORMAT = "jaxnn-checkpoint"
VERSION = 2
_READABLE_VERSIONS = (1, 2)


class Checkpoint(NamedTuple):
    """What :func:`load` returns.

    Attributes:
        model: the rebuilt :class:`jaxnn.Model`.
        params: its parameters (NumPy arrays in the model's layout).
        info: the :class:`jaxnn.DataInfo` of the training data (task, feature
            names, class labels, fitted standardization), ready for
            ``jaxnn.predict(..., dataset=checkpoint.info)``; None if the
            checkpoint was saved without a dataset.
        metadata: the JSON-serializable dict given to :func:`save`.
    """

    model: Model
    params: Params
    info: DataInfo | None
    metadata: dict[str, Any]

    @property
    def dataset(self) -> DataInfo | None:
        """The same as :attr:`info` (the name earlier versions used)."""
        return self.info


_DATASET_ARRAYS = ("x_mean", "x_scale", "y_mean", "y_scale")
_DATASET_STATIC = (
    "task",
    "num_classes",
    "feature_names",
    "class_names",
    "class_labels",
    "name",
    "target_name",
    "feature_shape",
)


def save(
    path: str | os.PathLike,
    model: Model,
    params: Params,
    *,
    dataset: Any = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically.

    Args:
        path: the file to write (its directory is created if needed).
        model: the model; its config is stored so :func:`load` can rebuild it.
        params: the parameters (any pytree of arrays).
        dataset: the :class:`jaxnn.Dataset` trained on, or its :class:`jaxnn.DataInfo`:
            its task, names, labels and standardization are stored (never its data).
        metadata: JSON-serializable extras (hyperparameters, metrics, ...).
    """
    if not isinstance(model, Model):
        raise errors.ArgumentTypeError(f"model must be a jaxnn.Model, got {type(model).__name__}")
    params = jax.tree.map(np.asarray, jax.device_get(params))
    problems = _misfits(model, params)
    if problems:  # what load would refuse is not written
        raise errors.ConfigError(f"the params do not fit the model ({_describe(model)}): " + "; ".join(problems))
    try:
        metadata_json = json.dumps(metadata or {})
    except TypeError as error:
        raise errors.ArgumentTypeError(f"metadata must be JSON-serializable: {error}") from None
    state: dict[str, Any] = {
        "model": json.dumps(model.config),
        "params": resume.serialization().to_state_dict(params),
        "metadata": metadata_json,
    }
    if dataset is not None:
        info = dataset.info if isinstance(dataset, Dataset) else dataset
        if not isinstance(info, DataInfo):
            raise errors.ArgumentTypeError(
                f"dataset must be a jaxnn.Dataset or a DataInfo, got {type(dataset).__name__}"
            )
        state["dataset"] = {name: np.asarray(getattr(info.standardizer, name)) for name in _DATASET_ARRAYS}
        static = {name: getattr(info, name) for name in _DATASET_STATIC}
        if info.columns is not None:
            static["columns"] = info.columns.to_json()
        state["dataset"]["static"] = json.dumps({**static, "scaling": info.standardizer.mode})
    atomic_write(path, resume.pack(FORMAT, VERSION, state))


def load(path: str | os.PathLike, *, model: Model | None = None) -> Checkpoint:
    """Read and validate a checkpoint written by :func:`save`.

    Args:
        path: the checkpoint file.
        model: needed only for models that cannot be rebuilt from their config (Flax linen,
            Flax NNX and Equinox modules): the same model, e.g. ``jaxnn.from_nnx(module)``;
            the stored weights are checked against its structure, shapes and dtypes.

    Returns:
        A :class:`Checkpoint`.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a jaxnn checkpoint, damaged or truncated (its
            checksum does not match), another format version, or params that
            do not fit the model.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise errors.CheckpointNotFoundError(f"no such file: {path}") from None
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {(error.strerror or str(error)).lower()}") from None
    state = _read_state(path, raw)
    try:
        config = json.loads(state["model"])
        metadata = json.loads(state["metadata"])
        stored = state["params"]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} is damaged: missing or unreadable field {error}") from None
    kind = config.get("type")
    if kind in WRAPPED:
        if model is None:
            raise CheckpointError(
                f"{path} holds the weights of a {WRAPPED[kind][0]} model, which jaxnn cannot rebuild from its "
                f"config: pass model={WRAPPED[kind][1]} to load it"
            )
        if model.config.get("type") != kind:
            raise CheckpointError(
                f"{path} holds a {WRAPPED[kind][0]} model but model= is a {model.config.get('type')!r} model"
            )
    else:
        try:
            rebuilt = model_from_config(config)
        except (ValueError, TypeError, KeyError) as error:
            raise CheckpointError(f"{path} holds a model config that cannot be rebuilt: {error}") from None
        if model is not None and model.config != rebuilt.config:
            raise CheckpointError(f"{path} holds a different model ({config}) than the one given ({model.config})")
        model = rebuilt
    params = _restore_params(path, model, stored)
    info = _restore_dataset(path, state["dataset"]) if "dataset" in state else None
    return Checkpoint(model, params, info, metadata)


def _read_state(path: str, raw: bytes) -> dict[str, Any]:
    """The checkpoint's fields (model, params, metadata, dataset?) from a version 1 or 2 file."""
    return resume.unpack(
        path, raw, file_format=FORMAT, versions=_READABLE_VERSIONS, what="jaxnn checkpoint", unchecked=(1,)
    )[1]


def _restore_params(path: str, model: Model, stored: Any) -> Params:
    expected = jax.eval_shape(model.init, jax.random.key(0))
    target = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), expected)
    try:
        params = resume.serialization().from_state_dict(target, stored)
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: the stored params do not have the model's structure: {error}") from None
    problems = _misfits(model, params)
    if problems:
        raise CheckpointError(f"{path}: the stored params do not fit the model: " + "; ".join(problems))
    return jax.tree.map(np.asarray, params)


def _misfits(model: Model, params: Params) -> list[str]:
    """What in ``params`` differs from the model's structure, shapes and dtypes (empty when they fit)."""
    expected = jax.eval_shape(model.init, jax.random.key(0))
    if jax.tree.structure(params) != jax.tree.structure(expected):  # type: ignore[operator]  # jaxlib's stub leaves PyTreeDef unresolved; it compares with !=
        return [
            f"expected the structure {jax.tree.map(lambda leaf: list(leaf.shape), expected)}, "
            f"got {jax.tree.map(lambda leaf: list(np.shape(leaf)), params)}"
        ]
    problems = []
    for (where, leaf), spec in zip(
        jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(expected), strict=False
    ):
        leaf = np.asarray(leaf)
        if leaf.shape != spec.shape or leaf.dtype != spec.dtype:
            problems.append(
                f"params{jax.tree_util.keystr(where)} is {leaf.dtype}{list(leaf.shape)}, "
                f"the model expects {spec.dtype}{list(spec.shape)}"
            )
    return problems


def _describe(model: Model) -> str:
    sizes = model.config.get("sizes")
    return f"{model.config.get('type', 'model')} {sizes}" if sizes else str(model.config.get("type", "model"))


def _restore_dataset(path: str, stored: dict[str, Any]) -> DataInfo:
    try:
        static = json.loads(stored["static"])
        arrays = {name: np.asarray(stored[name], np.float32) for name in _DATASET_ARRAYS}
        # Files written before the mode was stored: no-op statistics mean no standardization.
        plain = not arrays["x_mean"].any() and (arrays["x_scale"] == 1).all()
        mode = static.get("scaling", "none" if plain else "feature")
        return DataInfo(
            standardizer=Standardizer(**arrays, mode=mode),
            task=static["task"],
            num_classes=int(static["num_classes"]),
            feature_names=tuple(static["feature_names"]),
            class_names=tuple(static["class_names"]),
            class_labels=tuple(static.get("class_labels") or map(_label_from_name, static["class_names"])),
            name=static["name"],
            target_name=static["target_name"],
            feature_shape=tuple(static.get("feature_shape", ())),
            columns=_restore_columns(static.get("columns"), tuple(static["feature_names"])),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: damaged dataset statistics: {error}") from None


def _restore_columns(stored: Any, feature_names: tuple[str, ...]) -> ColumnPlan | None:
    """The column plan from its JSON, checked against the feature names it must produce."""
    if stored is None:
        return None
    plan = ColumnPlan.from_json(stored)
    if plan.feature_names != feature_names:
        raise ValueError(
            f"the stored column plan makes {len(plan.feature_names)} features, not the "
            f"{len(feature_names)} feature names stored with it"
        )
    return plan


def _label_from_name(name: str) -> int | float | str:
    """A class label from its name, for checkpoints written before labels were stored: a number if it reads as one."""
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(name)
    return name
