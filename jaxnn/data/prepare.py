"""Preparing arrays for training: checks, labels to class indices, stratified splits, standardization.

:func:`from_arrays` is the one place raw data becomes a :class:`Dataset`; CSV, Parquet and NPZ files and
the built-in sets all go through it. Named columns (a mapping, a DataFrame, a file's table) get a
:class:`~jaxnn.data.columns.ColumnPlan` fitted on the training split.
"""

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxnn import _checks, errors
from jaxnn.data.columns import ColumnPlan, check_max_categories
from jaxnn.data.dataset import TASKS, DataInfo, Dataset, Standardizer, scaling_mode
from jaxnn.data.table import Table, as_table, is_table_like
from jaxnn.typing import ArrayLike

__all__ = [
    "check_finite_features",
    "check_sample_weight",
    "class_label",
    "from_arrays",
    "non_negative",
    "seed_value",
    "split_rows",
]


def _features(label: str, value: object) -> np.ndarray:
    """`value` as a float64 ``(n, d)`` or ``(n, *shape)`` array, or an error naming `label`."""
    try:
        x = np.asarray(value)
    except Exception as error:  # e.g. ragged nested lists
        raise errors.DataTypeError(
            f"{label} must be a numeric array (samples, features), could not convert it: {error}"
        ) from None
    if x.dtype.kind == "O":
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError):
            raise errors.DataTypeError(
                f"{label} must hold numbers, got dtype object with non-numeric entries"
            ) from None
    if x.dtype.kind not in "biuf":
        raise errors.DataTypeError(f"{label} must be numeric, got dtype {x.dtype}")
    if x.ndim < 2:
        hint = " (for a single feature use x.reshape(-1, 1))" if x.ndim == 1 else ""
        raise errors.DataError(
            f"{label} must be (samples, features), or (samples, *shape) for images and sequences, "
            f"got shape {x.shape}{hint}"
        )
    if 0 in x.shape[1:]:
        raise errors.DataError(f"{label} has no features, got shape {x.shape}")
    return x.astype(np.float64)


def check_finite_features(label: str, x: np.ndarray, feature_names: Sequence[str], *, dtype: Any = np.float32) -> None:
    """Raise a DataError naming the first NaN or infinite entry of ``x`` by row and feature (column or
    position), or the first that ``dtype`` (the model's) cannot hold: 1e39 is finite in float64 but not
    in float32, and would reach training as infinity."""
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise errors.DataError(
            f"{label} has {int(bad.sum())} non-finite values (NaN or Inf); the first is "
            f"{x[first]} at {_place(first, x.shape, feature_names)}"
        )
    with np.errstate(over="ignore"):
        overflow = ~np.isfinite(x.astype(dtype))
    if overflow.any():
        first = tuple(int(i) for i in np.argwhere(overflow)[0])
        largest = np.finfo(dtype).max
        raise errors.DataError(
            f"{label} has {int(overflow.sum())} values beyond what {np.dtype(dtype).name} (the model's dtype) can hold "
            f"(±{largest:.3g}); the first is {x[first]:g} at {_place(first, x.shape, feature_names)}: rescale that "
            "feature (e.g. to other units) before training"
        )


def _place(index: tuple[int, ...], shape: tuple[int, ...], feature_names: Sequence[str]) -> str:
    """``row 3, column 1 ('age')`` for a 2-D index; ``position (i, j)`` for images."""
    row, where = index[0], index[1:]
    flat = int(np.ravel_multi_index(where, shape[1:]))
    place = f"column {where[0]}" if len(where) == 1 else f"position {where}"
    return f"row {row}, {place} ({feature_names[flat]!r})"


def _labels(label: str, value: object, num_rows: int, x_label: str) -> np.ndarray:
    """`value` as a 1-D array of numbers (float64) or strings, `num_rows` long."""
    try:
        y = np.asarray(value)
    except Exception as error:
        raise errors.DataTypeError(
            f"{label} must be a 1-D array of labels or targets, could not convert it: {error}"
        ) from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot labels? pass y.argmax(axis=1))" if y.ndim == 2 else ""
        raise errors.DataError(f"{label} must be 1-D (samples,), got shape {y.shape}{hint}")
    if len(y) != num_rows:
        raise errors.DataError(f"{x_label} has {num_rows} rows but {label} has {len(y)}")
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
            raise errors.DataError(
                f"{label} has {int(bad.sum())} non-finite values (NaN or Inf); "
                f"the first is at row {int(np.argmax(bad))}"
            )
    elif y.dtype.kind != "U":
        raise errors.DataTypeError(f"{label} must hold numbers or strings, got dtype {y.dtype}")
    return y


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise errors.ArgumentTypeError(
            f"{errors.arg(name)} must be a number in [0, 1), got {type(value).__name__}: {value!r}"
        )
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise errors.ConfigError(f"{errors.arg(name)} must be in [0, 1), got {value}")
    return value


def seed_value(value: object) -> int:
    """``value`` as a seed: an int in ``[0, 2**32)``."""
    value = _checks.positive_int("seed", value, minimum=0)
    if value >= 2**32:  # the range NumPy's RandomState accepts
        raise errors.ConfigError(f"{errors.arg('seed')} (={value}) must be < 2**32")
    return value


def non_negative(name: str, value: object) -> float:
    """``value`` as a finite float >= 0, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise errors.ArgumentTypeError(
            f"{errors.arg(name)} must be a finite number, got {type(value).__name__}: {value!r}"
        )
    if value < 0:
        raise errors.ConfigError(f"{errors.arg(name)} must be >= 0, got {value}")
    return float(value)


def class_label(value) -> int | float | str:
    """A label as a plain Python value: a str, an int for a whole number, else a float."""
    if isinstance(value, (str, np.str_)):
        return str(value)  # a plain str, not np.str_: static fields show up in reprs and configs
    value = float(value)
    return int(value) if value.is_integer() else value


def _class_name(value) -> str:
    label = class_label(value)
    return repr(label) if isinstance(label, float) else str(label)


def _resolve_task(task: str | None, labels: list[tuple[str, np.ndarray]]) -> tuple[str, np.ndarray | None]:
    """The task and, for classification, the sorted distinct labels (the classes)."""
    main_label, main = labels[0]
    is_text = main.dtype.kind == "U"
    for label, values in labels[1:]:
        if len(values) and (values.dtype.kind == "U") != is_text:
            kinds = ("strings", "numbers") if is_text else ("numbers", "strings")
            raise errors.DataTypeError(f"{main_label} holds {kinds[0]} but {label} holds {kinds[1]}")
    values = np.concatenate([main] + [v for _, v in labels[1:] if len(v)])
    if task is not None:
        task = _checks.lookup("task", task, {name: name for name in TASKS})
    if task == "regression":
        if is_text:
            raise errors.DataTypeError(
                f"{errors.setting('task', 'regression')} needs numeric {main_label}, got strings such as {str(main[0])!r}"
            )
        return task, None
    fractional = not is_text and not np.all(values == np.round(values))
    if task is None and fractional:
        return "regression", None
    if fractional and len(np.unique(values)) > len(values) / 2:  # fractions as labels, but most of them distinct
        example = values[values != np.round(values)][0]
        raise errors.DataError(
            f"{errors.setting('task', task)} needs class labels, but {main_label} holds numbers that are not whole "
            f"and mostly distinct (such as {example:g}): a continuous target; pass {errors.setting('task', 'regression')} for a continuous target, or give the "
            "classes as whole numbers or strings"
        )
    classes = np.unique(values)
    shown = ", ".join(_class_name(c) for c in classes[:10]) + (", ..." if len(classes) > 10 else "")
    if task is None:
        if len(classes) < 2:
            raise errors.DataError(
                f"{main_label} has a single distinct value ({shown}): a classification task needs at "
                f"least 2 classes (pass {errors.setting('task', 'regression')} for a continuous target)"
            )
        task = "binary" if len(classes) == 2 else "multiclass"
    elif task == "binary" and len(classes) != 2:
        raise errors.DataError(
            f"{errors.setting('task', 'binary')} needs exactly 2 classes, but {main_label} has {len(classes)}: {shown}"
        )
    elif task == "multiclass" and len(classes) < 2:
        raise errors.DataError(
            f"{errors.setting('task', 'multiclass')} needs at least 2 classes, but {main_label} has "
            f"{len(classes)}: {shown}"
        )
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
    if size == 0:
        return indices, indices[:0]
    stratify = None
    if labels is not None:
        stratify = labels[indices]
        counts = np.bincount(stratify)
        present = np.flatnonzero(counts)
        rarest = present[np.argmin(counts[present])]
        if counts[rarest] < 2:
            raise errors.DataError(
                explain(f"class {class_names[rarest]!r} has only {counts[rarest]} sample(s) to split")
            )
        if min(size, len(indices) - size) < len(present):
            raise errors.DataError(
                explain(
                    f"both parts of a split into {len(indices) - size} + {size} samples must hold "
                    f"each of the {len(present)} classes"
                )
            )
    kept, held_out = shuffle_split(len(indices), size, stratify, rng)
    return indices[kept], indices[held_out]


def shuffle_split(num: int, num_held_out: int, labels: np.ndarray | None, rng: np.random.RandomState):
    """Positions ``(kept, held_out)`` of a random split of ``range(num)``, stratified by ``labels`` if given.

    The same draws from ``rng`` as scikit-learn's ``train_test_split(..., test_size=num_held_out,
    random_state=rng, stratify=labels)`` (``ShuffleSplit`` / ``StratifiedShuffleSplit``), so splits
    are those of earlier jaxnn versions, without importing scikit-learn (a second to load).
    """
    num_kept = num - num_held_out
    if labels is None:
        permutation = rng.permutation(num)
        return permutation[num_held_out:num], permutation[:num_held_out]
    _, class_of, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    members = np.split(np.argsort(class_of, kind="stable"), np.cumsum(class_counts)[:-1])
    kept_counts = _approximate_mode(class_counts, num_kept, rng)
    held_counts = _approximate_mode(class_counts - kept_counts, num_held_out, rng)
    kept: list[int] = []
    held_out: list[int] = []
    for i, count in enumerate(class_counts):
        shuffled = members[i].take(rng.permutation(count), mode="clip")
        kept.extend(shuffled[: kept_counts[i]])
        held_out.extend(shuffled[kept_counts[i] : kept_counts[i] + held_counts[i]])
    return rng.permutation(kept), rng.permutation(held_out)


def _approximate_mode(class_counts: np.ndarray, num_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``num_draws`` to take from each class: proportional, the remainder to the largest
    fractional parts, ties broken at random (scikit-learn's ``_approximate_mode``, draw for draw)."""
    continuous = class_counts / class_counts.sum() * num_draws
    floored = np.floor(continuous)
    need_to_add = int(num_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def _split_indices(num_samples, num_val, num_test, labels, seed, class_names, hint):
    """Disjoint, shuffled (train, val, test) index arrays covering range(num_samples)."""

    def explain(reason):
        kind, over = ("stratified ", f" over {len(class_names)} classes") if labels is not None else ("", "")
        return (
            f"cannot make {kind}splits of {num_samples} samples (train {num_samples - num_val - num_test}, "
            f"validation {num_val}, test {num_test}){over}: {reason}; use more data, a smaller "
            f"{errors.arg('val_fraction')} or {errors.arg('test_fraction')}, or {errors.setting('stratify', False)}{hint}"
        )

    rng = np.random.RandomState(seed)
    rest, test = _holdout(np.arange(num_samples), num_test, labels, rng, class_names, explain)
    train, val = _holdout(rest, num_val, labels, rng, class_names, explain)
    return train, val, test


# ---------------------------------------------------------------------------
# The constructor


def from_arrays(
    x: ArrayLike | Table | Mapping[str, Any],
    y: ArrayLike,
    *,
    task: str | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    standardize: bool | str = True,
    feature_names: Sequence[str] | None = None,
    target_name: str = "y",
    name: str = "arrays",
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    test: tuple[ArrayLike, ArrayLike] | None = None,
    stratify: bool = True,
    categorical: Sequence[str] = (),
    max_categories: int | None = None,
    missing_indicator: bool = False,
    sample_weight: ArrayLike | None = None,
) -> Dataset:
    """A :class:`Dataset` from feature and target arrays, or from named columns and targets.

    The rows of ``x`` are shuffled and split into train / validation / test
    (stratified by class for classification), deterministically given ``seed``.
    Fractions are of ``len(x)``; each count is rounded and is at least 1 when its
    fraction is > 0. Class labels (numbers or strings) are mapped to
    ``0..K-1`` in sorted order and ``class_names`` keeps the originals.

    ``x`` may also be named columns — a mapping of 1-D arrays, a pandas DataFrame, a ``pyarrow.Table``
    (or a table read from a file) — of numbers, booleans and text, with blanks (None, NaN, empty
    strings): a :class:`~jaxnn.data.columns.ColumnPlan` fitted on the training split imputes blanks,
    one-hot encodes text and drops constant and ID columns (see :mod:`jaxnn.data.columns`), and is kept
    in ``info.columns`` so that prediction transforms new rows the same way.

    Args:
        x: features ``(n, d)``, or ``(n, *shape)`` for images ``(n, height, width, channels)``
            and sequences ``(n, length, channels)``; numeric and finite. Or named columns (above).
        y: labels or targets ``(n,)`` (``(n, 1)`` is accepted): numbers or strings.
        task: "binary", "multiclass" or "regression"; inferred when None: non-integer
            numeric ``y`` means regression, otherwise 2 distinct values binary and more
            multiclass.
        val_fraction: share of the rows for validation, in [0, 1). Ignored when
            ``validation`` is given.
        test_fraction: share of the rows for testing, in [0, 1). Ignored when ``test``
            is given. The two fractions must sum to < 1.
        seed: seed of the shuffle, an int >= 0.
        standardize: how features are standardized with the training split's statistics:
            ``True`` or ``"feature"``, each feature (each pixel of an image) by its own mean and
            standard deviation; ``"global"``, all features by one mean and deviation (keeps an
            image's contrast between pixels); ``False`` or ``"none"``, not at all. Regression
            targets are standardized unless it is ``False``/``"none"``. Saved in checkpoints.
        feature_names: one name per feature (per column; for n-d ``x``, per entry of
            ``x.reshape(n, -1)``); default ``x0, x1, ...`` (``x[i,j,k]`` for n-d ``x``).
        target_name: name of the target.
        name: name of the dataset.
        validation: an explicit ``(x_val, y_val)`` validation split instead of a fraction.
        test: an explicit ``(x_test, y_test)`` test split instead of a fraction.
        stratify: whether classification splits keep the class proportions.
        categorical: named columns only: columns whose values are categories even where they are
            numbers (e.g. codes 1, 2, 3).
        max_categories: named columns only: at most this many one-hot features per category column,
            the most frequent categories and one ``name=(other)`` for the rest; None: every category.
        missing_indicator: named columns only: give each column with blanks in the training split a
            0/1 ``name=(missing)`` feature.
        sample_weight: a weight per row of ``x`` ``(n,)``: finite numbers >= 0, not all 0. Each split keeps
            its rows' weights (``w_train``, ``w_val``, ``w_test``; an explicit ``validation`` or ``test``
            split is unweighted): training weighs each row's loss by its weight, and the validation and
            test metrics are weighted means. A weight of 0 leaves a row out.

    The classes are the distinct labels of ``y`` and of any explicit ``validation`` /
    ``test`` labels together.

    Returns:
        The :class:`Dataset`.

    Raises:
        ValueError: ``x`` not at least 2-D, mismatched lengths, non-finite values, a negative, NaN or
            infinite sample weight (its row named) or only zero weights, fractions outside
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
    seed = seed_value(seed)
    mode = scaling_mode(standardize)
    if is_table_like(x):
        table_options: dict[str, Any] = {
            "max_categories": check_max_categories(max_categories),
            "missing_indicator": missing_indicator,
        }
        x = _table("x", x, categorical)
        if feature_names is not None:
            raise errors.ConfigError(f"{errors.arg('feature_names')} is for arrays; named columns name their features")
        num_rows, shape = x.num_rows, None
    else:
        _no_table_options(categorical=categorical, max_categories=max_categories, missing_indicator=missing_indicator)
        x = _features("x", x)
        if x.shape[0] == 0:
            raise errors.DataError(f"x has no rows (shape {x.shape}); a dataset needs at least one training sample")
        feature_names = _feature_names(feature_names, x.shape[1:])
        check_finite_features("x", x, feature_names)
        num_rows, shape = x.shape[0], x.shape[1:]
    y = _labels("y", y, num_rows, "x")
    weights = None if sample_weight is None else check_sample_weight(sample_weight, num_rows)
    explicit = {
        split: _explicit_split(split, pair, feature_names, shape, categorical)
        for split, pair in (("validation", validation), ("test", test))
        if pair is not None
    }
    task, classes, codes, class_names, (train, val, held_test) = _splits(
        y,
        [(f"{split} y", pair[1]) for split, pair in explicit.items()],
        task=task,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        stratify=stratify,
        has_val=validation is not None,
        has_test=test is not None,
    )
    plan, scaled = None, None
    if isinstance(x, Table):
        plan = ColumnPlan.fit(x, rows=train, **table_options)
        feature_names, scaled = _plan_features(plan, x), plan.scaled
        features = lambda rows: plan.transform(x, rows=rows, dtype=np.float32)  # noqa: E731 - one split at a time
        explicit = {split: (plan.transform(pair[0], dtype=np.float32), pair[1]) for split, pair in explicit.items()}
    else:
        features = lambda rows: x[rows]  # noqa: E731
    parts = {
        "train": (features(train), codes[train]),
        "val": (features(val), codes[val]),
        "test": (features(held_test), codes[held_test]),
    }
    for given, part in (("validation", "val"), ("test", "test")):
        if given in explicit:
            parts[part] = (explicit[given][0], _encode(explicit[given][1], classes))
    assert feature_names is not None  # named by the plan (a table) or by _feature_names (arrays)
    info = DataInfo(
        standardizer=Standardizer.fit(
            parts["train"][0], parts["train"][1] if classes is None and mode != "none" else None, mode, scaled=scaled
        ),
        task=task,
        num_classes=0 if classes is None else len(classes),
        feature_names=feature_names,
        class_names=() if class_names is None else class_names,
        class_labels=() if classes is None else tuple(class_label(c) for c in classes),
        name=str(name),
        target_name=str(target_name),
        feature_shape=tuple(shape) if shape is not None and len(shape) > 1 else (),
        columns=plan,
    )
    dataset = _standardized(parts, info, in_place=plan is not None)
    if weights is None:
        return dataset
    split_weights = {
        f"w_{part}": None if given in explicit else weights[rows].astype(np.float32)
        for part, given, rows in (("train", "", train), ("val", "validation", val), ("test", "test", held_test))
    }
    train_weights = split_weights["w_train"]
    assert train_weights is not None  # the training split is never an explicit one
    if not train_weights.any():
        raise errors.DataError(
            f"every row of the training split has {errors.arg('sample_weight')} 0; at least one must weigh more"
        )
    return dataset.replace(**split_weights)


def check_sample_weight(sample_weight: ArrayLike, num_rows: int, *, name: str = "sample_weight") -> np.ndarray:
    """``sample_weight`` as float64 ``(num_rows,)``: finite numbers >= 0, not all 0.

    Raises:
        DataError: the wrong shape, a weight that is NaN, infinite or negative (the first such row named),
            or every weight 0.
        DataTypeError: weights that are not numbers.
    """
    values = np.asarray(sample_weight)
    if values.dtype.kind not in "biuf":
        raise errors.DataTypeError(f"{errors.arg(name)} must hold numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if values.shape != (num_rows,) and values.shape != (num_rows, 1):
        raise errors.DataError(
            f"{errors.arg(name)} has shape {values.shape} but x has {num_rows} rows: expected ({num_rows},)"
        )
    values = values.reshape(num_rows)
    for problem, bad in (("is not a finite number", ~np.isfinite(values)), ("is negative", values < 0)):
        if bad.any():
            rows = np.flatnonzero(bad)
            more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
            raise errors.DataError(
                f"{errors.arg(name)} {problem} at row {rows[0]}: {values[rows[0]]}{more}; a weight "
                "must be a number >= 0"
            )
    if not values.any():
        raise errors.DataError(f"{errors.arg(name)} is 0 on every row; at least one row must weigh more")
    return values


def split_rows(
    y: ArrayLike,
    *,
    task: str | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows :func:`from_arrays` puts in each split of data with targets ``y`` and these options.

    Returns:
        ``(train, val, test)`` row indices, disjoint, shuffled, together ``range(len(y))``.
    """
    y = _labels("y", y, len(np.asarray(y)), "y")
    *_, rows = _splits(
        y,
        [],
        task=task,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed_value(seed),
        stratify=stratify,
        has_val=False,
        has_test=False,
    )
    return rows


def _splits(y, explicit_labels, *, task, val_fraction, test_fraction, seed, stratify, has_val, has_test):
    """``(task, classes, codes, class_names, (train, val, test) indices)`` of checked targets ``y``."""
    inferred = task is None
    task, classes = _resolve_task(task, [("y", y), *explicit_labels])
    num_val, num_test = _split_sizes(len(y), val_fraction, test_fraction, has_val, has_test)
    codes = _encode(y, classes)
    class_names = None if classes is None else tuple(_class_name(c) for c in classes)
    hint = ""
    if inferred and classes is not None and y.dtype.kind != "U" and len(classes) > 10:
        hint = (
            f" (y was read as {len(classes)} classes; pass {errors.setting('task', 'regression')} if it is a "
            "continuous target)"
        )
    labels = codes if classes is not None and stratify else None
    return task, classes, codes, class_names, _split_indices(len(y), num_val, num_test, labels, seed, class_names, hint)


def _table(label: str, value: Any, categorical: Sequence[str]) -> Table:
    table = as_table(value, label=label, categorical=categorical)
    if table.num_rows == 0:
        raise errors.DataError(f"{label} has no rows; a dataset needs at least one training sample")
    if not table.columns:
        raise errors.DataError(f"{label} has no columns")
    return table


def _plan_features(plan: ColumnPlan, table: Table) -> tuple[str, ...]:
    """The plan's feature names; an error when it dropped every column."""
    if not plan.feature_names:
        reasons = "; ".join(f"{step.name!r}: {step.reason}" for step in plan.steps[:6])
        raise errors.DataError(f"no feature is left of {table.source}: every column is dropped ({reasons})")
    return plan.feature_names


def _no_table_options(**options: Any) -> None:
    defaults = {"categorical": (), "max_categories": None, "missing_indicator": False}
    given = [name for name, value in options.items() if value not in (defaults[name], [], None)]
    if given:
        raise errors.ConfigError(
            f"{errors.arg(given[0])} is for named columns (a mapping of columns, a DataFrame, a CSV or Parquet "
            "file), but x is an array"
        )


def _feature_names(names: Sequence[str] | None, shape: tuple[int, ...]) -> tuple[str, ...]:
    num_features = math.prod(shape)
    if names is None and len(shape) > 1:
        return tuple(f"x[{','.join(map(str, where))}]" for where in np.ndindex(*shape))
    if names is None:
        return tuple(f"x{i}" for i in range(num_features))
    if isinstance(names, str):
        raise errors.ArgumentTypeError("`feature_names` must be a sequence of names, got a single str")
    names = tuple(str(f) for f in names)
    if len(names) != num_features:
        raise errors.ConfigError(f"`feature_names` has {len(names)} names but x has {num_features} features")
    return names


def _explicit_split(
    name: str,
    given: Any,
    feature_names: tuple[str, ...] | None,
    shape: tuple[int, ...] | None,
    categorical: Sequence[str] = (),
) -> tuple[Any, np.ndarray]:
    """A checked ``(x, y)`` pair given as the ``validation`` or ``test`` split (``shape`` None: named columns)."""
    if not isinstance(given, (tuple, list)) or len(given) != 2:
        raise errors.DataTypeError(f"`{name}` must be a pair (x, y), got {type(given).__name__}")
    if shape is None:
        if not is_table_like(given[0]):
            raise errors.DataTypeError(f"{name} x must be named columns, as x is, got {type(given[0]).__name__}")
        table = as_table(given[0], label=f"{name} x", categorical=categorical)
        return table, _labels(f"{name} y", given[1], table.num_rows, f"{name} x")
    given_x = _features(f"{name} x", np.asarray(given[0]) if np.size(given[0]) else np.zeros((0, *shape)))
    if len(shape) == 1 and given_x.shape[1:] != shape:
        raise errors.DataError(f"{name} x has {given_x.shape[1]} features but x has {shape[0]}")
    if given_x.shape[1:] != shape:
        raise errors.DataError(f"{name} x holds examples of shape {given_x.shape[1:]} but x holds {shape}")
    assert feature_names is not None  # arrays (shape given) always have their feature names
    check_finite_features(f"{name} x", given_x, feature_names)
    return given_x, _labels(f"{name} y", given[1], len(given_x), f"{name} x")


def _split_sizes(num_samples: int, val_fraction: float, test_fraction: float, has_val: bool, has_test: bool):
    """(validation rows, test rows) taken from ``num_samples`` by the fractions."""
    val_fraction = 0.0 if has_val else _fraction("val_fraction", val_fraction)
    test_fraction = 0.0 if has_test else _fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise errors.ConfigError(
            f"{errors.arg('val_fraction')} + {errors.arg('test_fraction')} must be < 1 to leave a training split, got "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction:.6g}"
        )
    num_val, num_test = _count(val_fraction, num_samples), _count(test_fraction, num_samples)
    if num_samples - num_val - num_test < 1:
        raise errors.ConfigError(
            f"splitting {num_samples} samples with {errors.setting('val_fraction', val_fraction)} and "
            f"{errors.setting('test_fraction', test_fraction)} leaves no training samples (validation {num_val}, test {num_test})"
        )
    return num_val, num_test


def _encode(values: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Class indices (int32) for labels, float64 targets for regression."""
    if classes is None:
        return values.astype(np.float64)
    return np.searchsorted(classes, values).astype(np.int32)


def _standardized(
    parts: dict[str, tuple[np.ndarray, np.ndarray]], info: DataInfo, *, in_place: bool = False
) -> Dataset:
    """The Dataset of raw ``parts``, standardized with ``info`` (the float32 arithmetic of ``info.transform``);
    ``in_place``: the parts' float32 features are this function's to overwrite (a table's, made for it)."""
    arrays = {}
    for split_name, (split_x, split_y) in parts.items():
        if in_place and split_x.dtype == np.float32:
            scaling = info.standardizer
            np.divide(np.subtract(split_x, scaling.x_mean, out=split_x), scaling.x_scale, out=split_x)
            arrays[f"x_{split_name}"] = split_x
        else:
            arrays[f"x_{split_name}"] = info.standardizer.apply_x(split_x)
        if not np.all(np.isfinite(arrays[f"x_{split_name}"])):  # huge values whose spread float32 cannot hold
            bad = np.argwhere(~np.isfinite(np.asarray(arrays[f"x_{split_name}"])))[0]
            raise errors.DataError(
                f"standardizing the {split_name} split overflowed float32 at {_place(tuple(int(i) for i in bad), arrays[f'x_{split_name}'].shape, info.feature_names)}: "
                "the feature's values are too large or too spread for float32; rescale it before training"
            )
        arrays[f"y_{split_name}"] = (
            split_y.astype(np.int32) if info.is_classification else info.standardizer.apply_y(split_y)
        )
    return Dataset(**arrays, info=info)
