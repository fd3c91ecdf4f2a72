"""Datasets: train / validation / test splits, standardized on the training split.

A :class:`Dataset` is an immutable pytree: its arrays (the six splits and the
standardization statistics) are leaves and everything else (task, class and
feature names) is static, so a Dataset passes straight into ``jax.jit`` and
``jax.vmap(..., in_axes=None)``. Arrays are kept on the host as NumPy arrays.

Features are standardized with the mean and standard deviation of the
*training* split only; the same statistics are applied to the validation and
test splits and kept for prediction (:meth:`Dataset.transform`). Regression
targets are standardized the same way (:meth:`Dataset.inverse_transform_y`
undoes it); class labels are mapped to ``0..num_classes-1``.

>>> from jaxnn import data
>>> ds = data.load("iris", seed=0)
>>> ds
Dataset(name='iris', task='multiclass', num_classes=3, num_features=4, train=104, val=23, test=23)
>>> ds.x_train.shape, ds.y_train.dtype
((104, 4), dtype('int32'))

Sources: :func:`load` (built-in datasets, no network), :func:`from_arrays`,
:func:`from_csv` and :func:`from_npz`.
"""

import csv
import dataclasses
import inspect
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import flax.struct
import jax
import numpy as np

from jaxnn import _checks
from jaxnn.typing import ArrayLike

__all__ = [
    "NAMES",
    "TASKS",
    "CsvFeatures",
    "CsvTable",
    "Dataset",
    "Split",
    "check_finite_features",
    "from_arrays",
    "from_csv",
    "from_npz",
    "load",
    "read_csv",
    "read_features",
    "read_npz",
]

TASKS = ("binary", "multiclass", "regression")

_SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}


class Split(NamedTuple):
    """One split of a :class:`Dataset`: features ``x`` ``(n, d)`` and targets ``y`` ``(n,)``."""

    x: Any
    y: Any


def _static(**kwargs):
    return flax.struct.field(pytree_node=False, **kwargs)


# eq=False: the generated __eq__ would compare arrays elementwise and fail; identity is enough.
@flax.struct.dataclass(eq=False)
class Dataset:
    """Train / validation / test splits plus the statistics used to standardize them.

    Build one with :func:`from_arrays`, :func:`load`, :func:`from_csv` or
    :func:`from_npz` (the constructor does no checking). Immutable: use
    ``ds.replace(field=value)`` for a modified copy.

    Attributes:
        x_train, x_val, x_test: standardized features, float32 ``(n, d)``; a split may be empty.
        y_train, y_val, y_test: int32 class indices ``(n,)`` in ``[0, num_classes)`` for
            "binary" / "multiclass"; standardized float32 targets ``(n,)`` for "regression".
        x_mean, x_scale: float32 ``(d,)`` feature mean and standard deviation of the raw
            training split (a zero deviation is stored as 1); zeros and ones when the
            dataset was built with ``standardize=False``.
        y_mean, y_scale: float32 scalars (0-d arrays), the regression target's training
            mean and deviation; 0 and 1 for classification.
        task: "binary", "multiclass" or "regression" (static).
        num_classes: 2 for binary, K for multiclass, 0 for regression (static).
        feature_names: one name per feature column (static).
        class_names: the original label of each class index, as strings; ``()`` for
            regression (static).
        class_labels: the original label of each class index as the value it was: an int
            for whole-number labels, a float, or a str; what :func:`jaxnn.predict` returns
            (static).
        name: the dataset's name (static).
        target_name: the name of the target column (static).
    """

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any
    x_mean: Any
    x_scale: Any
    y_mean: Any
    y_scale: Any
    task: str = _static()
    num_classes: int = _static()
    feature_names: tuple[str, ...] = _static()
    class_names: tuple[str, ...] = _static()
    name: str = _static()
    target_name: str = _static()
    class_labels: tuple[int | float | str, ...] = _static(default=())

    @property
    def num_features(self) -> int:
        """Number of feature columns ``d``."""
        return self.x_train.shape[1]

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
        return self.task != "regression"

    def split(self, which: str) -> Split:
        """The ``(x, y)`` arrays of one split.

        Args:
            which: "train", "val" (or "validation") or "test".

        Returns:
            A :class:`Split` ``(x, y)``.

        Raises:
            ValueError: for another name (the message lists the valid ones).
        """
        which = _checks.lookup("split", which, _SPLITS)
        return Split(getattr(self, f"x_{which}"), getattr(self, f"y_{which}"))

    def transform(self, x: ArrayLike):
        """Standardize raw features with the training statistics.

        Works on NumPy input (returns NumPy) and on JAX arrays, also under ``jit``.

        Args:
            x: raw features ``(..., d)``, in the units of the original data.

        Returns:
            float32 ``(x - x_mean) / x_scale``, the same transformation the stored splits got.

        Raises:
            ValueError: if the last axis of ``x`` is not ``num_features`` long.
            TypeError: if ``x`` is not numeric.

        >>> ds = load("iris")
        >>> ds.transform([[5.1, 3.5, 1.4, 0.2]]).shape
        (1, 4)
        """
        x = x if isinstance(x, jax.Array) else np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"x must be numeric, got dtype {x.dtype}")
        got = x.shape[-1] if x.ndim else 0
        if x.ndim == 0 or got != self.num_features:
            raise ValueError(
                f"x has {got} features but the dataset has {self.num_features}; x.shape={tuple(x.shape)}"
            )
        return (x.astype(np.float32) - self.x_mean) / self.x_scale

    def transform_y(self, y: ArrayLike):
        """Standardize raw regression targets (identity for classification).

        Args:
            y: targets ``(n,)`` in the original units.

        Returns:
            float32 ``(y - y_mean) / y_scale`` for regression; ``y`` unchanged otherwise.
        """
        if self.is_classification:
            return y
        y = y if isinstance(y, jax.Array) else np.asarray(y, dtype=np.float32)
        return (y.astype(np.float32) - self.y_mean) / self.y_scale

    def inverse_transform_y(self, y: ArrayLike):
        """Map standardized regression targets or predictions back to the original units.

        Args:
            y: standardized targets or model outputs, any shape.

        Returns:
            float32 ``y * y_scale + y_mean`` for regression; ``y`` unchanged for
            classification (labels are never standardized).

        >>> ds = load("diabetes")
        >>> bool(abs(ds.inverse_transform_y(ds.y_train).mean() - ds.y_mean) < 1e-3)
        True
        """
        if self.is_classification:
            return y
        y = y if isinstance(y, jax.Array) else np.asarray(y, dtype=np.float32)
        return y.astype(np.float32) * self.y_scale + self.y_mean

    def describe(self) -> str:
        """A short, human-readable summary: name, task, split sizes, features, classes."""
        if self.is_classification:
            task = f"{self.task} classification, {self.num_classes} classes ({_preview(self.class_names)})"
        else:
            task = (
                f"regression (target standardized: mean {float(self.y_mean):.4g}, "
                f"scale {float(self.y_scale):.4g})"
            )
        lines = [
            f"{self.name}: {task}",
            f"  target: {self.target_name}",
            f"  {self.num_features} features: {_preview(self.feature_names)}",
            f"  splits: train {self.num_train}, validation {self.num_val}, test {self.num_test}",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, num_classes={self.num_classes}, "
            f"num_features={self.num_features}, train={self.num_train}, val={self.num_val}, "
            f"test={self.num_test})"
        )


def _preview(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# ---------------------------------------------------------------------------
# Checking and converting inputs


def _features(label: str, value: object) -> np.ndarray:
    """`value` as a finite float64 (n, d) array, or an error naming `label`."""
    try:
        x = np.asarray(value)
    except Exception as error:  # e.g. ragged nested lists
        raise TypeError(f"{label} must be a 2-D numeric array, could not convert it: {error}") from None
    if x.dtype.kind == "O":
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{label} must hold numbers, got dtype object with non-numeric entries") from None
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{label} must be numeric, got dtype {x.dtype}")
    if x.ndim != 2:
        hint = " (for a single feature use x.reshape(-1, 1))" if x.ndim == 1 else ""
        raise ValueError(f"{label} must be 2-D (samples, features), got shape {x.shape}{hint}")
    if x.shape[1] == 0:
        raise ValueError(f"{label} has no feature columns, got shape {x.shape}")
    return x.astype(np.float64)


def check_finite_features(label: str, x: np.ndarray, feature_names: Sequence[str]) -> None:
    """Raise ValueError naming the first NaN or infinite entry of ``x`` by row and feature column."""
    bad = ~np.isfinite(x)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"{label} has {int(bad.sum())} non-finite values (NaN or Inf); the first is "
            f"{x[row, column]} at row {row}, column {column} ({feature_names[column]!r})"
        )


def _labels(label: str, value: object, num_rows: int, x_label: str) -> np.ndarray:
    """`value` as a 1-D array of numbers (float64) or strings, `num_rows` long."""
    try:
        y = np.asarray(value)
    except Exception as error:
        raise TypeError(f"{label} must be a 1-D array of labels or targets, could not convert it: {error}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot labels? pass y.argmax(axis=1))" if y.ndim == 2 else ""
        raise ValueError(f"{label} must be 1-D (samples,), got shape {y.shape}{hint}")
    if len(y) != num_rows:
        raise ValueError(f"{x_label} has {num_rows} rows but {label} has {len(y)}")
    if y.dtype.kind == "O":
        # a list of Python objects: numbers if they all are, else their string forms
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            y = np.array([str(v) for v in y], dtype=str)
    if y.dtype.kind == "S":
        y = y.astype(str)
    if y.dtype.kind in "biuf":
        y = y.astype(np.float64)
        bad = ~np.isfinite(y)
        if bad.any():
            raise ValueError(
                f"{label} has {int(bad.sum())} non-finite values (NaN or Inf); "
                f"the first is at row {int(np.argmax(bad))}"
            )
    elif y.dtype.kind != "U":
        raise TypeError(f"{label} must hold numbers or strings, got dtype {y.dtype}")
    return y


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number in [0, 1), got {type(value).__name__}: {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1), got {value}")
    return value


def _seed(value: object) -> int:
    value = _checks.positive_int("seed", value, minimum=0)
    if value >= 2**32:  # the range NumPy's RandomState accepts
        raise ValueError(f"`seed` (={value}) must be < 2**32")
    return value


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"`{name}` must be a finite number, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"`{name}` must be >= 0, got {value}")
    return float(value)


def _class_label(value) -> int | float | str:
    """A label as a plain Python value: a str, an int for a whole number, else a float."""
    if isinstance(value, (str, np.str_)):
        return str(value)  # a plain str, not np.str_: static fields show up in reprs and configs
    value = float(value)
    return int(value) if value.is_integer() else value


def _class_name(value) -> str:
    label = _class_label(value)
    return repr(label) if isinstance(label, float) else str(label)


def _resolve_task(task: str | None, labels: list[tuple[str, np.ndarray]]) -> tuple[str, np.ndarray | None]:
    """The task and, for classification, the sorted distinct labels (the classes)."""
    main_label, main = labels[0]
    is_text = main.dtype.kind == "U"
    for label, values in labels[1:]:
        if len(values) and (values.dtype.kind == "U") != is_text:
            kinds = ("strings", "numbers") if is_text else ("numbers", "strings")
            raise TypeError(f"{main_label} holds {kinds[0]} but {label} holds {kinds[1]}")
    values = np.concatenate([main] + [v for _, v in labels[1:] if len(v)])
    if task is not None:
        task = _checks.lookup("task", task, {name: name for name in TASKS})
    if task == "regression":
        if is_text:
            raise TypeError(
                f"task='regression' needs numeric {main_label}, got strings such as {main[0]!r}"
            )
        return task, None
    if task is None and not is_text and not np.all(values == np.round(values)):
        return "regression", None
    classes = np.unique(values)
    shown = ", ".join(_class_name(c) for c in classes[:10]) + (", ..." if len(classes) > 10 else "")
    if task is None:
        if len(classes) < 2:
            raise ValueError(
                f"{main_label} has a single distinct value ({shown}): a classification task needs at "
                "least 2 classes (pass task='regression' for a continuous target)"
            )
        task = "binary" if len(classes) == 2 else "multiclass"
    elif task == "binary" and len(classes) != 2:
        raise ValueError(f"task='binary' needs exactly 2 classes, but {main_label} has {len(classes)}: {shown}")
    elif task == "multiclass" and len(classes) < 2:
        raise ValueError(f"task='multiclass' needs at least 2 classes, but {main_label} has {len(classes)}: {shown}")
    return task, classes


# ---------------------------------------------------------------------------
# Splitting


def _count(fraction: float, num_samples: int) -> int:
    """How many samples a fraction asks for: rounded, at least 1 when the fraction is > 0."""
    if fraction == 0.0:
        return 0
    return max(1, int(math.floor(fraction * num_samples + 0.5)))


def _holdout(indices, size, labels, rng, class_names, explain):
    """Split `indices` into (kept, held out `size`), stratified on `labels` when given."""
    from sklearn.model_selection import train_test_split

    if size == 0:
        return indices, indices[:0]
    stratify = None
    if labels is not None:
        stratify = labels[indices]
        counts = np.bincount(stratify)
        present = np.flatnonzero(counts)
        rarest = present[np.argmin(counts[present])]
        if counts[rarest] < 2:
            raise ValueError(explain(f"class {class_names[rarest]!r} has only {counts[rarest]} sample(s) to split"))
        if min(size, len(indices) - size) < len(present):
            raise ValueError(
                explain(
                    f"both parts of a split into {len(indices) - size} + {size} samples must hold "
                    f"each of the {len(present)} classes"
                )
            )
    try:
        kept, held_out = train_test_split(indices, test_size=size, random_state=rng, stratify=stratify)
    except ValueError as error:  # anything the checks above missed, with sklearn's reason
        raise ValueError(explain(str(error))) from None
    return kept, held_out


def _split_indices(num_samples, num_val, num_test, labels, seed, class_names, hint):
    """Disjoint, shuffled (train, val, test) index arrays covering range(num_samples)."""

    def explain(reason):
        kind, over = ("stratified ", f" over {len(class_names)} classes") if labels is not None else ("", "")
        return (
            f"cannot make {kind}splits of {num_samples} samples (train {num_samples - num_val - num_test}, "
            f"validation {num_val}, test {num_test}){over}: {reason}; use more data, smaller "
            f"val_fraction/test_fraction, or stratify=False{hint}"
        )

    rng = np.random.RandomState(seed)
    rest, test = _holdout(np.arange(num_samples), num_test, labels, rng, class_names, explain)
    train, val = _holdout(rest, num_val, labels, rng, class_names, explain)
    return train, val, test


def _standardizer(values: np.ndarray, axis=0) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=axis)
    scale = values.std(axis=axis)
    scale = np.where(scale > 0, scale, 1.0)
    return mean.astype(np.float32), scale.astype(np.float32)


# ---------------------------------------------------------------------------
# Public constructors


def from_arrays(
    x: ArrayLike,
    y: ArrayLike,
    *,
    task: str | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    standardize: bool = True,
    feature_names: Sequence[str] | None = None,
    target_name: str = "y",
    name: str = "arrays",
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    test: tuple[ArrayLike, ArrayLike] | None = None,
    stratify: bool = True,
) -> Dataset:
    """A :class:`Dataset` from feature and target arrays.

    The rows of ``x`` are shuffled and split into train / validation / test
    (stratified by class for classification), deterministically given ``seed``.
    Fractions are of ``len(x)``; each count is rounded and is at least 1 when its
    fraction is > 0. Class labels (numbers or strings) are mapped to
    ``0..K-1`` in sorted order and ``class_names`` keeps the originals.

    Args:
        x: features ``(n, d)``, numeric and finite.
        y: labels or targets ``(n,)`` (``(n, 1)`` is accepted): numbers or strings.
        task: "binary", "multiclass" or "regression"; inferred when None: non-integer
            numeric ``y`` means regression, otherwise 2 distinct values binary and more
            multiclass.
        val_fraction: share of the rows for validation, in [0, 1). Ignored when
            ``validation`` is given.
        test_fraction: share of the rows for testing, in [0, 1). Ignored when ``test``
            is given. The two fractions must sum to < 1.
        seed: seed of the shuffle, an int >= 0.
        standardize: whether to standardize features (and regression targets) with the
            training split's mean and standard deviation.
        feature_names: one name per column of ``x``; default ``x0, x1, ...``.
        target_name: name of the target.
        name: name of the dataset.
        validation: an explicit ``(x_val, y_val)`` validation split instead of a fraction.
        test: an explicit ``(x_test, y_test)`` test split instead of a fraction.
        stratify: whether classification splits keep the class proportions.

    The classes are the distinct labels of ``y`` and of any explicit ``validation`` /
    ``test`` labels together.

    Returns:
        The :class:`Dataset`.

    Raises:
        ValueError: ``x`` not 2-D, mismatched lengths, non-finite values, fractions outside
            [0, 1) or summing to >= 1, an empty training split, a stratified split that
            cannot work (too few samples of a class), or a ``task`` that does not fit the
            labels (e.g. "binary" with 3 classes).
        TypeError: non-numeric ``x``, or ``task="regression"`` with string labels.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 3))
    >>> ds = from_arrays(x, np.where(x[:, 0] > 0, "pos", "neg"), seed=1)
    >>> ds.task, ds.class_names, (ds.num_train, ds.num_val, ds.num_test)
    ('binary', ('neg', 'pos'), (70, 15, 15))
    """
    seed = _seed(seed)
    x = _features("x", x)
    num_samples, num_features = x.shape
    if num_samples == 0:
        raise ValueError(f"x has no rows (shape {x.shape}); a dataset needs at least one training sample")
    if feature_names is None:
        feature_names = tuple(f"x{i}" for i in range(num_features))
    else:
        if isinstance(feature_names, str):
            raise TypeError("`feature_names` must be a sequence of names, got a single str")
        feature_names = tuple(str(f) for f in feature_names)
        if len(feature_names) != num_features:
            raise ValueError(f"`feature_names` has {len(feature_names)} names but x has {num_features} features")
    check_finite_features("x", x, feature_names)
    y = _labels("y", y, num_samples, "x")

    explicit = {}
    for split_name, given in (("validation", validation), ("test", test)):
        if given is None:
            continue
        if not isinstance(given, (tuple, list)) or len(given) != 2:
            raise TypeError(f"`{split_name}` must be a pair (x, y), got {type(given).__name__}")
        given_x = np.asarray(given[0]) if np.size(given[0]) else np.zeros((0, num_features))
        given_x = _features(f"{split_name} x", given_x)
        if given_x.shape[1] != num_features:
            raise ValueError(f"{split_name} x has {given_x.shape[1]} features but x has {num_features}")
        check_finite_features(f"{split_name} x", given_x, feature_names)
        explicit[split_name] = (given_x, _labels(f"{split_name} y", given[1], len(given_x), f"{split_name} x"))

    inferred = task is None
    task, classes = _resolve_task(
        task, [("y", y)] + [(f"{split_name} y", pair[1]) for split_name, pair in explicit.items()]
    )

    val_fraction = 0.0 if validation is not None else _fraction("val_fraction", val_fraction)
    test_fraction = 0.0 if test is not None else _fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            "`val_fraction` + `test_fraction` must be < 1 to leave a training split, got "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction:.6g}"
        )
    num_val, num_test = _count(val_fraction, num_samples), _count(test_fraction, num_samples)
    if num_samples - num_val - num_test < 1:
        raise ValueError(
            f"splitting {num_samples} samples with val_fraction={val_fraction} and "
            f"test_fraction={test_fraction} leaves no training samples (validation {num_val}, test {num_test})"
        )

    def encode(values):
        if classes is None:
            return values.astype(np.float64)
        codes = np.searchsorted(classes, values)
        return codes.astype(np.int32)

    codes = encode(y)
    class_names = None if classes is None else tuple(_class_name(c) for c in classes)
    hint = ""
    if inferred and classes is not None and y.dtype.kind != "U" and len(classes) > 10:
        hint = f" (y was read as {len(classes)} classes; pass task='regression' if it is a continuous target)"
    labels = codes if classes is not None and stratify else None
    train, val, held_test = _split_indices(num_samples, num_val, num_test, labels, seed, class_names, hint)

    parts = {"train": (x[train], codes[train]), "val": (x[val], codes[val]), "test": (x[held_test], codes[held_test])}
    if "validation" in explicit:
        parts["val"] = (explicit["validation"][0], encode(explicit["validation"][1]))
    if "test" in explicit:
        parts["test"] = (explicit["test"][0], encode(explicit["test"][1]))

    x_train_raw, y_train_raw = parts["train"]
    if standardize:
        x_mean, x_scale = _standardizer(x_train_raw)
    else:
        x_mean, x_scale = np.zeros(num_features, np.float32), np.ones(num_features, np.float32)
    if classes is None and standardize:
        y_mean, y_scale = _standardizer(y_train_raw)
    else:
        y_mean, y_scale = np.zeros((), np.float32), np.ones((), np.float32)

    def standardize_x(values):
        # the same float32 arithmetic as Dataset.transform, so transform(raw) reproduces the splits
        return (values.astype(np.float32) - x_mean) / x_scale

    def standardize_y(values):
        if classes is not None:
            return values.astype(np.int32)
        return (values.astype(np.float32) - y_mean) / y_scale

    arrays = {}
    for split_name, (split_x, split_y) in parts.items():
        arrays[f"x_{split_name}"] = standardize_x(split_x)
        arrays[f"y_{split_name}"] = standardize_y(split_y)
    return Dataset(
        **arrays,
        x_mean=x_mean,
        x_scale=x_scale,
        y_mean=y_mean,
        y_scale=y_scale,
        task=task,
        num_classes=0 if classes is None else len(classes),
        feature_names=feature_names,
        class_names=() if class_names is None else class_names,
        class_labels=() if classes is None else tuple(_class_label(c) for c in classes),
        name=str(name),
        target_name=str(target_name),
    )


class CsvTable(NamedTuple):
    """A CSV file as read by :func:`read_csv`: its header and its non-blank rows with their line numbers."""

    path: str
    header: list[str]
    rows: list[tuple[int, list[str]]]


def read_csv(path: str | os.PathLike, *, delimiter: str = ",", header: bool = True) -> CsvTable:
    """Read a CSV file: blank lines are skipped and every row keeps its line number for messages.

    Args:
        path: the file.
        delimiter: the field separator.
        header: whether the first non-blank row names the columns (otherwise ``header`` is ``[]``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unreadable, malformed or empty file, or a header with an empty or repeated name.
    """
    path = str(Path(path))
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter)
            numbered = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise FileNotFoundError(f"CSV file not found: {path!r}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read CSV file {path!r}: {error}") from None
    except csv.Error as error:
        raise ValueError(f"CSV file {path!r} is malformed: {error}") from None
    if not numbered:
        raise ValueError(f"CSV file {path!r} is empty; expected {'a header row and ' if header else ''}data rows")
    if not header:
        return CsvTable(path, [], numbered)
    names = [cell.strip() for cell in numbered[0][1]]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"CSV file {path!r} has several columns named {', '.join(map(repr, repeated))}")
    return CsvTable(path, names, numbered[1:])


def _feature_matrix(table: CsvTable, columns: Sequence[int], names: Sequence[str]) -> np.ndarray:
    """The numeric cells of ``columns`` (named ``names``) of every row, each row as wide as the header."""
    width = len(table.header) if table.header else len(columns)
    expected = f"the header has {width} columns" if table.header else f"the model expects {width} features"
    x = np.empty((len(table.rows), len(columns)), np.float64)
    for row_index, (line, row) in enumerate(table.rows):
        if len(row) != width:
            raise ValueError(f"CSV file {table.path!r} line {line} has {len(row)} fields but {expected}")
        for j, (column, name) in enumerate(zip(columns, names)):
            cell = row[column].strip()
            try:
                value = float(cell)
            except ValueError:
                what = "an empty cell" if not cell else f"{cell!r}"
                raise ValueError(
                    f"CSV file {table.path!r} line {line}, column {name!r}: {what} is not a number "
                    "(feature columns must be numeric)"
                ) from None
            if not math.isfinite(value):
                raise ValueError(f"CSV file {table.path!r} line {line}, column {name!r}: {cell!r} is not a finite number")
            x[row_index, j] = value
    return x


class CsvFeatures(NamedTuple):
    """What :func:`read_features` returns: the features and the columns it ignored."""

    x: np.ndarray
    ignored: list[str]


def read_features(
    path: str | os.PathLike,
    feature_names: Sequence[str],
    *,
    target_name: str | None = None,
    header: bool = True,
    delimiter: str = ",",
) -> CsvFeatures:
    """Features for prediction from a CSV file, columns matched by name.

    With a header row, every name in ``feature_names`` must be a column; the
    columns are taken in ``feature_names`` order, whatever their order in the
    file. Other columns (such as the target) are ignored and listed in
    ``ignored``. Without a header, each row must hold exactly the features, in
    ``feature_names`` order.

    Args:
        path: the CSV file.
        feature_names: the names the model was trained with (``dataset.feature_names``).
        target_name: the target column, ignored if present (not listed in ``ignored``).
        header: whether the file has a header row.
        delimiter: the field separator.

    Returns:
        A :class:`CsvFeatures` with ``x`` float64 ``(rows, len(feature_names))``.

    Raises:
        ValueError: a missing feature column (named), a row of the wrong length,
            or a cell that is not a finite number (line and column named).
    """
    table = read_csv(path, delimiter=delimiter, header=header)
    if not header:
        return CsvFeatures(_feature_matrix(table, range(len(feature_names)), feature_names), [])
    missing = [name for name in feature_names if name not in table.header]
    if missing:
        raise ValueError(
            f"CSV file {table.path!r} has no column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing[:5]))}"
            f"{' ...' if len(missing) > 5 else ''} that the model was trained on; its columns are "
            f"{_preview(table.header, 8)}"
        )
    columns = [table.header.index(name) for name in feature_names]
    ignored = [name for name in table.header if name not in feature_names and name != target_name]
    return CsvFeatures(_feature_matrix(table, columns, feature_names), ignored)


def from_csv(path: str | os.PathLike, target: str, *, delimiter: str = ",", **split_options) -> Dataset:
    """A :class:`Dataset` from a CSV file with a header row.

    Every column except ``target`` is a numeric feature. The target column may
    hold numbers (class indices or regression targets) or strings (class names).

    Args:
        path: the CSV file.
        target: name of the target column (as written in the header).
        delimiter: the field separator.
        **split_options: passed to :func:`from_arrays` (``task``, ``val_fraction``,
            ``test_fraction``, ``seed``, ``standardize``, ``stratify``, ``name``, ...).
            The name defaults to the file's stem.

    Returns:
        The :class:`Dataset`, with feature names from the header.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: an unreadable or empty file, no data rows, a missing target column
            (the message lists the columns), a row with the wrong number of fields, or a
            feature cell that is not a finite number (the message names line and column).

    >>> ds = from_csv("flowers.csv", target="species")  # doctest: +SKIP
    """
    if not isinstance(target, str):
        raise TypeError(f"`target` must be a column name (str), got {type(target).__name__}: {target!r}")
    table = read_csv(path, delimiter=delimiter)
    if target not in table.header:
        raise ValueError(
            f"target column {target!r} not found in CSV file {table.path!r}; columns: {', '.join(table.header)}"
        )
    if not table.rows:
        raise ValueError(f"CSV file {table.path!r} has a header but no data rows")
    if len(table.header) < 2:
        raise ValueError(f"CSV file {table.path!r} has no feature columns besides the target {target!r}")
    target_column = table.header.index(target)
    feature_columns = [i for i in range(len(table.header)) if i != target_column]
    feature_names = [table.header[i] for i in feature_columns]
    x = _feature_matrix(table, feature_columns, feature_names)
    targets = []
    for line, row in table.rows:
        cell = row[target_column].strip()
        if not cell:
            raise ValueError(f"CSV file {table.path!r} line {line}: the target column {target!r} is empty")
        targets.append(cell)
    try:
        y = np.array([float(cell) for cell in targets])
    except ValueError:
        y = np.array(targets, dtype=str)

    options = {"name": Path(path).stem, "feature_names": feature_names, "target_name": target}
    options.update(split_options)
    return from_arrays(x, y, **options)


def read_npz(path: str | os.PathLike, required: dict[str, str]) -> dict[str, np.ndarray]:
    """The arrays of a NumPy ``.npz`` archive, never unpickling anything.

    Args:
        path: the archive.
        required: ``{what: key}``: the keys that must be present, each with what
            names it in the caller's words (e.g. ``{"x": "features"}``), for the message.

    Returns:
        Every array of the archive by key (object arrays, which would need pickle, are refused).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an ``.npz`` archive (a CSV, a pickle, a single ``.npy`` array), or a
            missing key (the message lists the keys present).
    """
    where = repr(str(path))
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"NPZ file not found: {where}") from None
    except (OSError, ValueError, EOFError):
        raise ValueError(f"{where} is not a NumPy .npz archive (as written by numpy.savez)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{where} holds a single array, not an .npz archive of named arrays (numpy.savez)")
    with archive:
        keys = list(archive.files)
        for what, key in required.items():
            if key not in keys:
                raise ValueError(
                    f"NPZ file {where} has no array {key!r} (the {what}); arrays present: {', '.join(keys) or '(none)'}"
                )
        try:
            return {key: archive[key] for key in keys}
        except ValueError:  # object arrays need pickle, which is never allowed
            raise ValueError(f"NPZ file {where} holds arrays of Python objects; only numeric arrays can be read") from None


def from_npz(path: str | os.PathLike, *, x: str = "x", y: str = "y", **split_options) -> Dataset:
    """A :class:`Dataset` from a NumPy ``.npz`` archive (as written by ``np.savez``).

    If the archive holds a ``feature_names`` array of strings it names the
    features (unless ``feature_names`` is passed).

    Args:
        path: the ``.npz`` file.
        x: key of the features ``(n, d)``.
        y: key of the labels or targets ``(n,)``.
        **split_options: passed to :func:`from_arrays`; the name defaults to the file's stem.

    Returns:
        The :class:`Dataset`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: a file that is not an ``.npz`` archive, or a missing key (the message
            lists the keys present); and everything :func:`from_arrays` raises.

    >>> np.savez("data.npz", x=features, y=labels)  # doctest: +SKIP
    >>> ds = from_npz("data.npz")  # doctest: +SKIP
    """
    path = Path(path)
    arrays = read_npz(path, {"`x` argument": x, "`y` argument": y})
    features, targets, names = arrays[x], arrays[y], arrays.get("feature_names")
    options = {"name": path.stem}
    if names is not None and names.dtype.kind == "U" and names.ndim == 1:
        options["feature_names"] = names.tolist()
    options.update(split_options)
    return from_arrays(features, targets, **options)


# ---------------------------------------------------------------------------
# Built-in datasets: each returns (x, y, from_arrays options)


def _sklearn(loader_name: str, task: str, target_name: str, *, scaled: bool | None = None):
    def load_bundled(seed):
        import sklearn.datasets

        loader = getattr(sklearn.datasets, loader_name)
        bunch = loader() if scaled is None else loader(scaled=scaled)
        options = {"task": task, "feature_names": [str(f) for f in bunch.feature_names], "target_name": target_name}
        return bunch.data, bunch.target, options, getattr(bunch, "target_names", None)

    return load_bundled


def _xor(seed: int, *, num_samples: int = 400, noise: float = 0.15):
    num_samples = _checks.positive_int("num_samples", num_samples)
    noise = _non_negative("noise", noise)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])[np.arange(num_samples) % 4]
    x = corners + noise * np.random.default_rng(seed).normal(size=corners.shape)
    y = corners[:, 0] ^ corners[:, 1]
    return x, y, {"task": "binary"}, None


def _moons(seed: int, *, num_samples: int = 400, noise: float = 0.1):
    from sklearn.datasets import make_moons

    num_samples = _checks.positive_int("num_samples", num_samples)
    x, y = make_moons(n_samples=num_samples, noise=_non_negative("noise", noise), random_state=seed)
    return x, y, {"task": "binary"}, None


def _circles(seed: int, *, num_samples: int = 400, noise: float = 0.05, factor: float = 0.5):
    from sklearn.datasets import make_circles

    num_samples = _checks.positive_int("num_samples", num_samples)
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < 1:
        raise ValueError(f"`factor` (inner / outer radius) must be in (0, 1), got {factor!r}")
    x, y = make_circles(
        n_samples=num_samples, noise=_non_negative("noise", noise), factor=float(factor), random_state=seed
    )
    return x, y, {"task": "binary"}, None


def _spirals(seed: int, *, num_samples: int = 400, num_classes: int = 2, noise: float = 0.05):
    num_samples = _checks.positive_int("num_samples", num_samples)
    num_classes = _checks.positive_int("num_classes", num_classes, minimum=2)
    noise = _non_negative("noise", noise)
    y = np.arange(num_samples) % num_classes
    # position along the arm, evenly spaced within each class
    order = np.arange(num_samples) // num_classes
    per_class = np.bincount(y, minlength=num_classes)
    radius = 0.1 + 0.9 * order / np.maximum(per_class[y] - 1, 1)
    angle = 2 * np.pi * y / num_classes + 3 * np.pi * radius  # 1.5 turns per arm
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    x = x + noise * np.random.default_rng(seed).normal(size=x.shape)
    return x, y, {"task": "binary" if num_classes == 2 else "multiclass"}, None


_LOADERS = {
    "breast_cancer": _sklearn("load_breast_cancer", "binary", "diagnosis"),
    "digits": _sklearn("load_digits", "multiclass", "digit"),
    "iris": _sklearn("load_iris", "multiclass", "species"),
    "wine": _sklearn("load_wine", "multiclass", "cultivar"),
    "diabetes": _sklearn("load_diabetes", "regression", "progression", scaled=False),
    "xor": _xor,
    "moons": _moons,
    "circles": _circles,
    "spirals": _spirals,
}

NAMES = tuple(_LOADERS)


def load(
    name: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    standardize: bool = True,
    stratify: bool = True,
    **options,
) -> Dataset:
    """A built-in dataset, split and standardized. Needs no network.

    - ``breast_cancer``: binary, scikit-learn, 569 x 30, classes malignant / benign.
    - ``digits``: multiclass, scikit-learn, 1797 x 64 (8x8 images), 10 classes.
    - ``iris``: multiclass, scikit-learn, 150 x 4, 3 classes.
    - ``wine``: multiclass, scikit-learn, 178 x 13, 3 classes.
    - ``diabetes``: regression, scikit-learn (unscaled features), 442 x 10.
    - ``xor``: binary, the 4 corners of the unit square plus Gaussian noise, label = XOR
      of the corner; options ``num_samples=400, noise=0.15``.
    - ``moons``: binary, ``sklearn.datasets.make_moons``; ``num_samples=400, noise=0.1``.
    - ``circles``: binary, ``sklearn.datasets.make_circles``; ``num_samples=400,
      noise=0.05, factor=0.5`` (inner / outer radius).
    - ``spirals``: interleaved spiral arms, one per class (binary for 2, else
      multiclass); ``num_samples=400, num_classes=2, noise=0.05``.

    Args:
        name: one of :data:`NAMES` (case-insensitive).
        seed: seeds both the synthetic data and the split.
        val_fraction: share of the samples for validation.
        test_fraction: share of the samples for testing.
        standardize: see :func:`from_arrays`.
        stratify: see :func:`from_arrays`.
        **options: options of the synthetic generators (list above).

    Returns:
        The :class:`Dataset`; class names are the dataset's own where it has them.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones) or a bad option value.
        TypeError: for an option the dataset does not take.

    >>> load("breast_cancer").class_names
    ('malignant', 'benign')
    """
    loader = _checks.lookup("dataset", name, _LOADERS)
    name = name.lower()
    valid = [p for p in inspect.signature(loader).parameters if p != "seed"]
    unexpected = sorted(set(options) - set(valid))
    if unexpected:
        raise TypeError(
            f"load({name!r}) got unexpected option(s) {', '.join(unexpected)}; "
            f"valid options: {', '.join(valid) or '(none)'}"
        )
    seed = _seed(seed)
    x, y, arrays_options, target_names = loader(seed, **options)
    dataset = from_arrays(
        x,
        y,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        standardize=standardize,
        stratify=stratify,
        name=name,
        **arrays_options,
    )
    if target_names is not None and dataset.is_classification:
        # sklearn's labels are 0..K-1 and target_names name them in that order
        dataset = dataset.replace(
            class_names=tuple(str(t) for t in target_names), class_labels=tuple(map(_class_label, target_names))
        )
    return dataset
