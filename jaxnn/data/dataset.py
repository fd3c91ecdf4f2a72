"""The dataset types: :class:`Dataset` (the splits), :class:`DataInfo` (what a model needs to know
about its data) and :class:`Standardizer` (the scaling fitted on the training split).

All three are immutable pytrees: arrays are leaves and names are static, so a
Dataset passes straight into ``jax.jit`` and ``jax.vmap(..., in_axes=None)``.
A checkpoint stores a :class:`DataInfo` — never an empty Dataset — and
``jaxnn.predict(..., dataset=info)`` takes either.
"""

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar, dataclass_transform

import jax
import numpy as np

from jaxnn import _checks, errors
from jaxnn.typing import ArrayLike

__all__ = ["TASKS", "DataInfo", "Dataset", "Split", "SplitWeights", "Standardizer"]

TASKS = ("binary", "multiclass", "regression")

_SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}


class Split(NamedTuple):
    """One split of a :class:`Dataset`: features ``x`` ``(n, *input_shape)`` and targets ``y`` ``(n,)``."""

    x: Any
    y: Any


class SplitWeights(NamedTuple):
    """Each split's per-row sample weights (float32 ``(n,)``, or None where a split is unweighted)."""

    train: Any
    val: Any
    test: Any


def _static(**kwargs):
    """A dataclass field that is static in the pytree (part of its structure, not a leaf)."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


_T = TypeVar("_T")


def _replace(self: _T, **changes: Any) -> _T:
    """A copy with ``changes``."""
    return dataclasses.replace(self, **changes)  # type: ignore[type-var]  # self is a dataclass instance


@dataclass_transform(frozen_default=True, eq_default=False, field_specifiers=(dataclasses.field, _static))
def _pytree_dataclass(cls: type[_T]) -> type[_T]:
    """A frozen dataclass registered as a pytree: fields are leaves unless made with ``_static``."""
    return jax.tree_util.register_dataclass(dataclasses.dataclass(frozen=True, eq=False)(cls))


def _as_array(values: ArrayLike, dtype: Any = None) -> jax.Array | np.ndarray:
    """NumPy input stays NumPy, JAX input (also traced) stays JAX."""
    return values if isinstance(values, jax.Array) else np.asarray(values, dtype=dtype)


SCALINGS = ("feature", "global", "none")


def scaling_mode(standardize: object) -> str:
    """``standardize`` as one of :data:`SCALINGS`: ``True`` is ``"feature"``, ``False`` ``"none"``."""
    if standardize is True:
        return "feature"
    if standardize is False:
        return "none"
    if isinstance(standardize, str) and standardize.lower() in SCALINGS:
        return standardize.lower()
    raise errors.ConfigError(
        f"`standardize` must be True/'feature' (per feature position), 'global' (one mean and scale) or "
        f"False/'none', got {standardize!r}"
    )


@_pytree_dataclass
class Standardizer:
    """The standardization fitted on a training split: ``(x - x_mean) / x_scale``, and the same for
    a regression target.

    Attributes:
        x_mean, x_scale: float32 arrays of one example's shape (``(d,)`` for tables, ``(h, w, c)``
            for images): the raw training split's mean and standard deviation per feature position
            (a zero deviation is stored as 1), one value repeated for ``mode="global"``, zeros and
            ones for ``mode="none"``.
        y_mean, y_scale: float32 scalars, the regression target's training mean and deviation;
            0 and 1 for classification or no standardization.
        mode: ``"feature"``, ``"global"`` or ``"none"`` (static): how ``x_mean``/``x_scale`` were fitted.
    """

    replace = _replace

    x_mean: Any
    x_scale: Any
    y_mean: Any
    y_scale: Any
    mode: str = _static(default="feature")

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray | None = None, mode: str = "feature", *, scaled: np.ndarray | None = None
    ) -> "Standardizer":
        """Mean and deviation of ``x`` ``(n, *shape)`` (per position, or over all values for ``mode="global"``)
        and, if given, of a regression target ``y`` ``(n,)``.

        ``scaled`` (bool, one example's shape) leaves the positions where it is False as they are (mean 0,
        scale 1): the 0/1 features of a table (one-hot categories, booleans, missing indicators).
        """
        mode = scaling_mode(mode)
        if mode == "none":
            x_mean, x_scale = np.zeros(x.shape[1:], np.float32), np.ones(x.shape[1:], np.float32)
        elif mode == "global":
            values = x if scaled is None else x[:, scaled]
            mean, scale = _mean_and_scale(values.reshape(-1)) if values.size else (0.0, 1.0)
            x_mean, x_scale = np.full(x.shape[1:], mean, np.float32), np.full(x.shape[1:], scale, np.float32)
        else:
            x_mean, x_scale = _mean_and_scale(x)
        if scaled is not None and mode != "none":
            x_mean, x_scale = (
                np.where(scaled, x_mean, 0).astype(np.float32),
                np.where(scaled, x_scale, 1).astype(np.float32),
            )
        y_mean, y_scale = _mean_and_scale(y) if y is not None else (np.float32(0.0), np.float32(1.0))
        return cls(x_mean, x_scale, np.asarray(y_mean, np.float32), np.asarray(y_scale, np.float32), mode)

    @classmethod
    def identity(cls, shape: int | tuple[int, ...]) -> "Standardizer":
        """No standardization: means 0, scales 1, for examples of ``shape`` (an int is ``(d,)``)."""
        zeros, ones = np.zeros(shape, np.float32), np.ones(shape, np.float32)
        return cls(zeros, ones, np.zeros((), np.float32), np.ones((), np.float32), "none")

    def apply_x(self, x: ArrayLike):
        """float32 ``(x - x_mean) / x_scale``, in NumPy for NumPy input (also under ``jit``)."""
        return (_as_array(x).astype(np.float32) - self.x_mean) / self.x_scale

    def apply_y(self, y: ArrayLike):
        """float32 ``(y - y_mean) / y_scale``."""
        return (_as_array(y, np.float32).astype(np.float32) - self.y_mean) / self.y_scale

    def invert_y(self, y: ArrayLike):
        """float32 ``y * y_scale + y_mean``: standardized targets back in their units."""
        return _as_array(y, np.float32).astype(np.float32) * self.y_scale + self.y_mean


def _mean_and_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 mean and standard deviation along axis 0 (a zero deviation is 1), summed in float64 a block of
    rows at a time: no temporary as large as ``values`` (a million-row table's features are a gigabyte)."""
    mean = values.mean(axis=0, dtype=np.float64)
    squares = np.zeros(values.shape[1:], np.float64)
    block = max(1, (1 << 20) // max(1, math.prod(values.shape[1:])))
    for start in range(0, len(values), block):
        centered = values[start : start + block] - mean
        squares += np.einsum("i...,i...->...", centered, centered)
    scale = np.sqrt(squares / max(len(values), 1))
    scale = np.where(scale > 0, scale, 1.0)
    return mean.astype(np.float32), scale.astype(np.float32)


@_pytree_dataclass
class DataInfo:
    """What a model trained on a dataset needs to know about it: the task, names, labels and scaling.

    A checkpoint stores this (not the data); :func:`jaxnn.predict` uses it to read raw
    features and answer in the data's own labels.

    Attributes:
        standardizer: the :class:`Standardizer` fitted on the training split.
        task: "binary", "multiclass" or "regression" (static).
        num_classes: 2 for binary, K for multiclass, 0 for regression (static).
        feature_names: one name per feature (static); for images, one per pixel and channel,
            in ``x.reshape(n, -1)`` order.
        class_names: the original label of each class index, as strings; ``()`` for regression.
        class_labels: the original label of each class index as the value it was (an int for
            whole-number labels, a float, or a str): what :func:`jaxnn.predict` returns.
        name: the dataset's name (static).
        target_name: the name of the target column (static).
        feature_shape: one example's shape when it is not flat, e.g. ``(8, 8, 1)`` (static);
            ``()`` for a table (``(num_features,)``).
        columns: for data read from a file or given as named columns, the fitted
            :class:`~jaxnn.data.columns.ColumnPlan` that made the features from the raw columns
            (imputing, one-hot encoding, dropping), which prediction applies to new rows (static);
            None for arrays.
    """

    replace = _replace

    standardizer: Standardizer
    task: str = _static()
    num_classes: int = _static()
    feature_names: tuple[str, ...] = _static()
    class_names: tuple[str, ...] = _static(default=())
    class_labels: tuple[int | float | str, ...] = _static(default=())
    name: str = _static(default="data")
    target_name: str = _static(default="y")
    feature_shape: tuple[int, ...] = _static(default=())
    columns: Any = _static(default=None)

    @property
    def num_features(self) -> int:
        """Number of features ``d`` (for images, pixels times channels)."""
        return len(self.feature_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape: ``(num_features,)`` for a table, e.g. ``(8, 8, 1)`` for images."""
        return tuple(self.feature_shape) or (self.num_features,)

    @property
    def is_classification(self) -> bool:
        """Whether the task is "binary" or "multiclass"."""
        return self.task != "regression"

    def transform(self, x: ArrayLike):
        """Standardize raw features with the training statistics.

        Works on NumPy input (returns NumPy) and on JAX arrays, also under ``jit``.

        Args:
            x: raw features ``(..., *input_shape)``, in the units of the original data. For data with a
                column plan (``columns``: a file or named columns), the plan's features of the raw columns:
                what :func:`jaxnn.datasets.read_features` or ``info.columns.transform(table)`` return.

        Returns:
            float32 ``(x - x_mean) / x_scale``, the same transformation the stored splits got.

        Raises:
            ValueError: if the last axes of ``x`` are not ``input_shape``.
            TypeError: if ``x`` is not numeric.

        >>> from jaxnn import datasets
        >>> datasets.load("iris").transform([[5.1, 3.5, 1.4, 0.2]]).shape
        (1, 4)
        """
        x = _as_array(x)
        if x.dtype.kind not in "biuf":
            raise errors.DataTypeError(f"x must be numeric, got dtype {x.dtype}")
        shape = self.input_shape
        if len(shape) > 1:
            if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape) :]) != shape:
                raise errors.DataError(
                    f"x must hold examples of shape {shape} (the dataset's), got x.shape={tuple(x.shape)}"
                )
            return self.standardizer.apply_x(x)
        got = x.shape[-1] if x.ndim else 0
        if x.ndim == 0 or got != self.num_features:
            raise errors.DataError(
                f"x has {got} features but the dataset has {self.num_features}; x.shape={tuple(x.shape)}"
            )
        return self.standardizer.apply_x(x)

    def transform_y(self, y: ArrayLike):
        """Standardize raw regression targets; class labels are returned unchanged."""
        return y if self.is_classification else self.standardizer.apply_y(y)

    def inverse_transform_y(self, y: ArrayLike):
        """Standardized regression targets or predictions back in the original units (classes unchanged).

        >>> from jaxnn import datasets
        >>> ds = datasets.load("diabetes")
        >>> bool(abs(ds.inverse_transform_y(ds.y_train).mean() - ds.y_mean) < 1e-3)
        True
        """
        return y if self.is_classification else self.standardizer.invert_y(y)

    def describe_task(self) -> str:
        """The task in words, e.g. ``"binary classification, 2 classes (malignant, benign)"``."""
        if self.is_classification:
            return f"{self.task} classification, {self.num_classes} classes ({preview(self.class_names)})"
        scaling = self.standardizer
        return f"regression (target standardized: mean {float(scaling.y_mean):.4g}, scale {float(scaling.y_scale):.4g})"


def preview(names: Sequence[str], limit: int = 6) -> str:
    """The first ``limit`` names, then how many more."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


_INFO_FIELDS = (
    "task",
    "num_classes",
    "feature_names",
    "class_names",
    "class_labels",
    "name",
    "target_name",
    "feature_shape",
    "columns",
)


def _from_info(name: str, doc: str) -> property:
    return property(lambda self: getattr(self.info, name), doc=doc)


def _from_standardizer(name: str) -> property:
    return property(lambda self: getattr(self.info.standardizer, name), doc=f"``info.standardizer.{name}``.")


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "info", "w_train", "w_val", "w_test"],
    meta_fields=[],
)
@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Train / validation / test splits plus the :class:`DataInfo` they were prepared with.

    Build one with :func:`from_arrays`, :func:`load`, :func:`from_csv` or :func:`from_npz`
    (the constructor does no checking). Immutable: ``ds.replace(field=value)`` returns a
    modified copy (also for the fields of ``info``, e.g. ``ds.replace(name="flowers")``).

    Attributes:
        x_train, x_val, x_test: standardized features, float32 ``(n, d)`` for a table,
            ``(n, *input_shape)`` for images or sequences; a split may be empty.
        y_train, y_val, y_test: int32 class indices ``(n,)`` in ``[0, num_classes)`` for
            "binary" / "multiclass"; standardized float32 targets ``(n,)`` for "regression".
        info: the task, names, labels and fitted :class:`Standardizer`; its fields are also
            readable here (``ds.task``, ``ds.class_labels``, ``ds.x_mean``, ...).
        w_train, w_val, w_test: per-row sample weights, float32 ``(n,)`` (>= 0), or None for a split
            whose rows all weigh 1 (see ``sample_weight`` of :func:`from_arrays`). Training weighs each
            row's loss by them, and the validation and test metrics are weighted by them.
    """

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any
    info: DataInfo
    w_train: Any = None
    w_val: Any = None
    w_test: Any = None

    task = _from_info("task", "``info.task``.")
    num_classes = _from_info("num_classes", "``info.num_classes``.")
    feature_names = _from_info("feature_names", "``info.feature_names``.")
    class_names = _from_info("class_names", "``info.class_names``.")
    class_labels = _from_info("class_labels", "``info.class_labels``: what :func:`jaxnn.predict` returns.")
    name = _from_info("name", "``info.name``.")
    target_name = _from_info("target_name", "``info.target_name``.")
    x_mean = _from_standardizer("x_mean")
    x_scale = _from_standardizer("x_scale")
    y_mean = _from_standardizer("y_mean")
    y_scale = _from_standardizer("y_scale")

    @property
    def num_features(self) -> int:
        """Number of features ``d`` (for images, pixels times channels)."""
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape: ``(d,)`` for a table, e.g. ``(8, 8, 1)`` for images."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_train(self) -> int:
        """Number of training samples."""
        return self.x_train.shape[0]

    @property
    def num_val(self) -> int:
        """Number of validation samples (may be 0)."""
        return self.x_val.shape[0]

    @property
    def num_test(self) -> int:
        """Number of test samples (may be 0)."""
        return self.x_test.shape[0]

    @property
    def is_classification(self) -> bool:
        """Whether the task is "binary" or "multiclass"."""
        return self.info.is_classification

    def transform(self, x: ArrayLike):
        """:meth:`DataInfo.transform`: raw features standardized like the splits."""
        return self.info.transform(x)

    def transform_y(self, y: ArrayLike):
        """:meth:`DataInfo.transform_y`."""
        return self.info.transform_y(y)

    def inverse_transform_y(self, y: ArrayLike):
        """:meth:`DataInfo.inverse_transform_y`."""
        return self.info.inverse_transform_y(y)

    def replace(self, **changes: Any) -> "Dataset":
        """A copy with ``changes``; names of :class:`DataInfo` fields change ``info``."""
        info_changes = {name: changes.pop(name) for name in list(changes) if name in _INFO_FIELDS}
        if info_changes:
            changes["info"] = self.info.replace(**info_changes)
        return dataclasses.replace(self, **changes)

    def on(self, where: Any = None) -> "Dataset":
        """This dataset with its arrays on ``where`` (a device or a sharding; None: the default device).

        Placed once per target and kept with the dataset (it is immutable), so a second ``fit``
        or ``sweep`` of the same dataset does not copy it to the device again.
        """
        placed = self.__dict__.setdefault("_placed", {})  # a frozen dataclass: its own memo, not a field
        if where not in placed:
            placed[where] = jax.device_put(self, where)
        return placed[where]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the copies :meth:`on` placed on devices (they belong to this process: a Ray task or a
        worker process places its own)."""
        return {name: value for name, value in self.__dict__.items() if name != "_placed"}

    @property
    def sample_weight(self) -> SplitWeights | None:
        """Each split's sample weights (:class:`SplitWeights`), or None when no split is weighted."""
        weights = SplitWeights(self.w_train, self.w_val, self.w_test)
        return None if all(w is None for w in weights) else weights

    def weights(self, which: str) -> Any:
        """The sample weights of split ``which`` (see :meth:`split`), or None when its rows all weigh 1."""
        return getattr(self, f"w_{_checks.lookup('split', which, _SPLITS)}")

    def split(self, which: str) -> Split:
        """The ``(x, y)`` arrays of ``which``: "train", "val" (or "validation") or "test".

        Raises:
            ValueError: for another name (the message lists the valid ones).
        """
        which = _checks.lookup("split", which, _SPLITS)
        return Split(getattr(self, f"x_{which}"), getattr(self, f"y_{which}"))

    def describe(self) -> str:
        """A short, human-readable summary: name, task, split sizes, features, classes."""
        lines = [
            f"{self.name}: {self.info.describe_task()}",
            f"  target: {self.target_name}",
            f"  {self.num_features} features: {preview(self.feature_names)}"
            + (f" (examples of shape {self.input_shape})" if len(self.input_shape) > 1 else ""),
            f"  splits: train {self.num_train}, validation {self.num_val}, test {self.num_test}",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, num_classes={self.num_classes}, "
            f"{'input_shape=' + str(self.input_shape) if len(self.input_shape) > 1 else 'num_features=' + str(self.num_features)}, train={self.num_train}, val={self.num_val}, "
            f"test={self.num_test})"
        )
