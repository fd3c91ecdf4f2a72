"""Data files: CSV and Parquet files for training (:func:`from_csv`, :func:`from_parquet`) and prediction
(:func:`read_features`), what training will do to each column (:func:`describe_csv`), NPZ archives
(:func:`from_npz`), and the CSV that prediction writes (:func:`predictions_csv`).

CSV and Parquet files are read by :func:`~jaxnn.data.reading.read_table` (through pyarrow: delimiter and
encoding detected or given, lines named in messages); their columns become features by a
:class:`~jaxnn.data.columns.ColumnPlan` fitted on the training split (:func:`from_arrays`), which the
dataset's :class:`DataInfo` keeps, so that :func:`read_features` reads a file to predict on by the
same reader and transforms it the same way. NPZ archives are read without ever unpickling anything.
"""

import csv
import dataclasses
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxnn import errors
from jaxnn.data.columns import ColumnPlan, check_max_categories
from jaxnn.data.dataset import DataInfo, Dataset, preview
from jaxnn.data.prepare import from_arrays, split_rows
from jaxnn.data.reading import Layout, inspect_file
from jaxnn.data.reading import read_table as _read_layout
from jaxnn.data.table import Column, Table, name_list, number_levels, numbers_as_text, settle_kinds

__all__ = [
    "ColumnReport",
    "CsvFeatures",
    "describe_csv",
    "from_csv",
    "from_npz",
    "from_parquet",
    "predictions_csv",
    "read_features",
    "read_npz",
    "read_table",
    "sample_weights",
    "target_values",
]


def read_table(
    path: str | os.PathLike,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    columns: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    missing_values: Sequence[str] = (),
    format: str | None = None,
) -> Table:
    """A CSV or Parquet file's columns as a :class:`~jaxnn.data.table.Table` (what :func:`from_arrays` takes).

    Args:
        path: the file; ``.parquet``, ``.pq`` and ``.parq`` files are Parquet, others CSV (also compressed).
        delimiter: a CSV file's field separator; detected when None (``, ; TAB |``).
        encoding: a CSV file's encoding; from its byte-order mark, else UTF-8, when None.
        columns: the columns to read (default: all).
        drop: columns not to read.
        categorical: columns whose values are categories, even where they are numbers.
        missing_values: cell texts that mean a blank cell besides the empty one (e.g. ``["NA", "?"]``).
        format: ``"csv"`` or ``"parquet"`` whatever the extension.

    Raises:
        FileNotFoundError: no such file.
        DataError: see :func:`from_csv`.
    """
    layout = inspect_file(path, delimiter=delimiter, encoding=encoding, format=format)
    wanted = _selected(layout, columns, drop, reserved=())
    table = _read_layout(
        layout,
        columns=wanted,
        text_columns=name_list("categorical", categorical),
        missing_values=name_list("missing_values", missing_values),
    )
    return settle_kinds(table, categorical=categorical)


def from_csv(
    path: str | os.PathLike,
    target: str,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    columns: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    max_categories: int | None = None,
    missing_indicator: bool = False,
    missing_values: Sequence[str] = (),
    weight_column: str | None = None,
    format: str | None = None,
    **split_options: Any,
) -> Dataset:
    """A :class:`Dataset` from a CSV file with a header row (or a Parquet file).

    The target column may hold numbers (class indices or regression targets) or text (class names).
    The other columns are features, prepared by a :class:`~jaxnn.data.columns.ColumnPlan` fitted on the
    training split: numbers standardized, ``true``/``false`` as 0/1, text one-hot encoded, blanks imputed
    (the median, the most frequent value), constant and ID columns dropped (each with a note, a
    :class:`~jaxnn.errors.DataWarning`). The plan is kept in ``dataset.info.columns`` and checkpoints, and
    :func:`read_features` applies it to files to predict on.

    Args:
        path: the file (see :func:`read_table`).
        target: name of the target column (as written in the header).
        delimiter: a CSV file's field separator; detected when None.
        encoding: a CSV file's encoding; detected when None (a byte-order mark, else UTF-8).
        columns: the feature columns (default: every column but the target and the weight column).
        drop: columns that are not features.
        categorical: columns whose values are categories even where they are numbers (codes 1, 2, 3).
        max_categories: at most this many one-hot features per category column: its most frequent
            categories and one ``name=(other)`` feature for the rest; None: every category.
        missing_indicator: give each column with blanks in the training split a 0/1 ``name=(missing)`` feature.
        missing_values: cell texts that mean a blank cell besides the empty one (e.g. ``["NA"]``).
        weight_column: a column of per-row sample weights (numbers >= 0), not a feature.
        format: ``"csv"`` or ``"parquet"`` whatever the extension.
        **split_options: passed to :func:`from_arrays` (``task``, ``val_fraction``,
            ``test_fraction``, ``seed``, ``standardize``, ``stratify``, ``name``, ...).
            The name defaults to the file's stem.

    Returns:
        The :class:`Dataset`, with feature names from the header (``color=red`` for a one-hot feature).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        DataError: an unreadable or empty file, no data rows, a missing target column (the message lists
            the columns), a row with the wrong number of fields or a line that is not valid in the encoding
            (the line named), blank target cells or a weight that is blank, negative or not finite (their
            lines named), a column mixing numbers and text, a number that is NaN or infinite.
        ConfigError: ``columns``, ``drop``, ``categorical`` or ``weight_column`` naming a column the file
            does not have.

    Warns:
        DataWarning: a dropped column; a category column with more than a thousand categories.

    >>> ds = from_csv("flowers.csv", target="species")  # doctest: +SKIP
    >>> ds = from_csv("shop.csv", target="bought", drop=["customer"], max_categories=20)  # doctest: +SKIP
    """
    read = _read_for_training(
        path,
        target,
        delimiter=delimiter,
        encoding=encoding,
        columns=columns,
        drop=drop,
        categorical=categorical,
        missing_values=missing_values,
        weight_column=weight_column,
        format=format,
    )
    options = {"name": Path(path).stem, "target_name": target, **split_options}
    if read.weights is not None:
        options["sample_weight"] = read.weights
    dataset = from_arrays(
        read.features,
        read.y,
        categorical=categorical,
        max_categories=max_categories,
        missing_indicator=missing_indicator,
        **options,
    )
    if missing_values:
        plan = dataset.info.columns
        dataset = dataset.replace(columns=dataclasses.replace(plan, missing_values=tuple(missing_values)))
    return dataset


def from_parquet(path: str | os.PathLike, target: str, **options: Any) -> Dataset:
    """:func:`from_csv` for a Parquet file whatever its extension (``format="parquet"``)."""
    return from_csv(path, target, format="parquet", **options)


class _Read(NamedTuple):
    layout: Layout
    features: Table
    y: np.ndarray
    weights: np.ndarray | None
    ignored: list[str]


def _read_for_training(
    path, target, *, delimiter, encoding, columns, drop, categorical, missing_values, weight_column, format
) -> _Read:
    if not isinstance(target, str):
        raise errors.ArgumentTypeError(f"`target` must be a column name (str), got {type(target).__name__}: {target!r}")
    if weight_column is not None and not isinstance(weight_column, str):
        raise errors.ArgumentTypeError(
            f"{errors.arg('weight_column')} must be a column name (str), got "
            f"{type(weight_column).__name__}: {weight_column!r}"
        )
    layout = inspect_file(path, delimiter=delimiter, encoding=encoding, format=format)
    for role, name in (("target column", target), ("weight column", weight_column)):
        if name is not None and name not in layout.names:
            raise errors.DataError(f"{role} {name!r} not found in {layout.source}; columns: {', '.join(layout.names)}")
    if weight_column == target:
        raise errors.DataError(
            f"{errors.setting('weight_column', weight_column)} is the target column: the weights must be a column "
            "of their own"
        )
    reserved = (target,) if weight_column is None else (target, weight_column)
    features = _selected(layout, columns, drop, reserved)
    if not features:
        raise errors.DataError(
            f"{layout.source} has no feature columns besides the target {target!r}"
            + (f" and the weight column {weight_column!r}" if weight_column else "")
        )
    categorical = name_list("categorical", categorical)
    _check_names(layout, "categorical", categorical)
    outside = [name for name in categorical if name not in features]
    if outside:
        raise errors.ConfigError(
            f"{errors.arg('categorical')} names {outside[0]!r}, which is not a feature column "
            f"(the features are {preview(features, 8)})"
        )
    table = _read_layout(
        layout,
        columns=[*features, *reserved],
        text_columns=(*categorical, target),
        missing_values=name_list("missing_values", missing_values),
    )
    if table.num_rows == 0:
        raise errors.DataError(f"{layout.source} has a header but no data rows")
    y = target_values(table, target)
    weights = sample_weights(table, weight_column) if weight_column is not None else None
    ignored = [name for name in layout.names if name not in features and name not in reserved]
    return _Read(layout, table.select(features), y, weights, ignored)


def _selected(
    layout: Layout, columns: Sequence[str] | None, drop: Sequence[str], reserved: tuple[str, ...]
) -> list[str]:
    """The feature columns: ``columns`` (default: all but ``reserved``) less ``drop``, each checked."""
    drop = name_list("drop", drop)
    chosen = name_list("columns", columns) if columns is not None else None
    _check_names(layout, "columns", chosen or ())
    _check_names(layout, "drop", drop)
    clash = [name for name in (chosen or ()) if name in reserved]
    if clash:
        raise errors.ConfigError(
            f"{errors.arg('columns')} names {clash[0]!r}, the "
            f"{'target' if clash[0] == reserved[0] else 'weight column'}, which cannot be a feature"
        )
    names = chosen if chosen is not None else [name for name in layout.names if name not in reserved]
    return [name for name in names if name not in drop]


def _check_names(layout: Layout, argument: str, names: Sequence[str]) -> None:
    unknown = [name for name in names if name not in layout.names]
    if unknown:
        raise errors.ConfigError(
            f"{errors.arg(argument)} names {', '.join(map(repr, unknown))}, which "
            f"{layout.source} does not have; its columns are {preview(layout.names, 8)}"
        )


def target_values(table: Table, target: str) -> np.ndarray:
    """The target column as numbers (float64) if every cell is one, else as strings; blank cells refused."""
    column = table.columns[target]
    if column.missing.any():
        rows = np.flatnonzero(column.missing)
        raise errors.DataError(
            f"{table.source} {table.where(rows)}: the target column {target!r} is empty"
            f"{f' ({len(rows)} rows)' if len(rows) > 1 else ''}; fill in or remove "
            f"{'those rows' if len(rows) > 1 else 'that row'}"
        )
    if column.kind == "boolean":
        column = numbers_as_text(column)
    if column.kind == "number":
        values = column.values
    else:
        assert column.levels is not None  # a text column always has its levels
        is_number, numbers = number_levels(column.levels)
        if not is_number.all():
            return column.levels[column.values].astype(str)
        values = numbers[column.values]
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise errors.DataError(
            f"{table.source} {table.where(rows)}: the target column {target!r} holds "
            f"{values[rows[0]]}, not a finite number"
        )
    return values


def sample_weights(table: Table, name: str) -> np.ndarray:
    """The column ``name`` as per-row sample weights: float64 numbers >= 0, not all 0.

    Raises:
        DataError: a blank, non-numeric, NaN, infinite or negative weight (its row named), or every weight 0.
    """
    column = table.columns[name]
    what = f"{table.source} weight column {name!r}"
    if column.kind == "text":
        assert column.levels is not None  # a text column always has its levels
        is_number, numbers = number_levels(column.levels)
        bad = ~is_number[np.maximum(column.values, 0)] & ~column.missing
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise errors.DataError(f"{what}: {column.cells([first])[0]!r} at {table.where([first])} is not a number")
        column = Column("number", np.append(numbers, np.nan)[column.values], column.missing)
    values = column.values
    for problem, bad in (
        ("is empty", column.missing),
        ("is not a finite number", ~np.isfinite(values) & ~column.missing),
        ("is negative", values < 0),
    ):
        if bad.any():
            rows = np.flatnonzero(bad)
            shown = (
                ""
                if problem == "is empty"
                else f" ({', '.join(column.cells(rows[:3]))}{', ...' if len(rows) > 3 else ''})"
            )
            raise errors.DataError(f"{what} {problem} at {table.where(rows)}{shown}; a weight must be a number >= 0")
    if not values.any():
        raise errors.DataError(f"{what} is 0 on every row; at least one row must have a weight > 0")
    return values.astype(np.float64)


# ---------------------------------------------------------------------------
# What training will do to each column


class ColumnReport(NamedTuple):
    """What :func:`describe_csv` returns: what training on a file will do to each of its columns.

    Attributes:
        path: the file.
        columns: its columns, in order.
        num_rows: its data rows.
        target: the target column.
        task: the task, in words (``"binary classification, 2 classes (no, yes)"``).
        weight_column: the weight column, or None.
        plan: the :class:`~jaxnn.data.columns.ColumnPlan` fitted on the training split, as training fits it.
        num_train: the rows of the training split, which the plan is fitted on.
    """

    path: str
    columns: list[str]
    num_rows: int
    target: str
    task: str
    weight_column: str | None
    plan: ColumnPlan
    num_train: int

    def rows(self) -> list[tuple[str, str]]:
        """``(column, what is done to it)`` for every column of the file, in the file's order."""
        described = {step.name: step.describe() for step in self.plan.steps}
        described[self.target] = f"target: {self.task}"
        if self.weight_column is not None:
            described[self.weight_column] = "sample weights (not a feature)"
        return [(name, described.get(name, "not used (columns / drop)")) for name in self.columns]

    def text(self) -> str:
        """The report as text, one line per column (what ``jaxnn info --csv FILE --target y`` prints)."""
        rows = self.rows()
        width = max(len(name) for name, _ in rows)
        features = len(self.plan.feature_names)
        used = len(self.plan.used)
        lines = [
            f"{self.path}: {self.num_rows} rows; {features} feature{'s' * (features != 1)} from {used} "
            f"column{'s' * (used != 1)} (fitted on the {self.num_train} training rows)"
        ]
        return "\n".join(lines + [f"  {name:<{width}}  {what}" for name, what in rows])


def describe_csv(
    path: str | os.PathLike,
    target: str,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    columns: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    max_categories: int | None = None,
    missing_indicator: bool = False,
    missing_values: Sequence[str] = (),
    weight_column: str | None = None,
    format: str | None = None,
    **split_options: Any,
) -> ColumnReport:
    """What :func:`from_csv` with the same arguments will do to each column of a file, without doing it.

    The plan is fitted on the same training split, so its medians, categories and dropped columns are the
    ones training will use. Takes and raises what :func:`from_csv` does (warnings become the report's words).

    >>> print(describe_csv("shop.csv", "bought").text())  # doctest: +SKIP
    shop.csv: 1000 rows; 7 features from 3 columns (fitted on the 700 training rows)
      customer  dropped: unique per row (an ID)
      age       number, standardized; 12 blanks in training; a blank becomes the median 41
      color     one-hot, 3 categories (blue, green, red)
      member    boolean, as 0/1
      bought    target: binary classification, 2 classes (no, yes)
    """
    read = _read_for_training(
        path,
        target,
        delimiter=delimiter,
        encoding=encoding,
        columns=columns,
        drop=drop,
        categorical=categorical,
        missing_values=missing_values,
        weight_column=weight_column,
        format=format,
    )
    keys = ("task", "val_fraction", "test_fraction", "seed", "stratify")
    train, _, _ = split_rows(read.y, **{key: split_options[key] for key in keys if key in split_options})
    features = settle_kinds(read.features, categorical=categorical)
    plan = ColumnPlan.fit(
        features.take(train),
        max_categories=check_max_categories(max_categories),
        missing_indicator=missing_indicator,
        missing_values=tuple(missing_values),
        warn=False,
    )
    return ColumnReport(
        str(path),
        list(read.layout.names),
        features.num_rows,
        target,
        _describe_target(read.y, split_options),
        weight_column,
        plan,
        len(train),
    )


def _describe_target(y: np.ndarray, split_options: dict[str, Any]) -> str:
    task = split_options.get("task")
    if task == "regression" or (task is None and y.dtype.kind == "f" and not np.all(y == np.round(y))):
        return f"regression (mean {y.mean():.4g}, standard deviation {y.std():.4g})"
    classes = np.unique(y)
    kind = task or ("binary" if len(classes) == 2 else "multiclass")
    shown = ", ".join(str(c) for c in classes[:8]) + (", ..." if len(classes) > 8 else "")
    return f"{kind} classification, {len(classes)} classes ({shown})"


# ---------------------------------------------------------------------------
# Prediction


class CsvFeatures(NamedTuple):
    """What :func:`read_features` returns: the features and the columns it ignored."""

    x: np.ndarray
    ignored: list[str]


def read_features(
    path: str | os.PathLike,
    model_columns: DataInfo | ColumnPlan | Sequence[str],
    *,
    target_name: str | None = None,
    header: bool = True,
    delimiter: str | None = None,
    encoding: str | None = None,
    strict: bool = False,
    format: str | None = None,
) -> CsvFeatures:
    """Features for prediction from a CSV or Parquet file, columns matched by name, prepared as in training.

    With a header row, every column the model uses must be present (a missing one is an error naming it),
    in any order; other columns (such as the target) are ignored and listed in ``ignored``. Without a
    header, each row holds exactly the model's raw columns, in training order. The training's
    :class:`~jaxnn.data.columns.ColumnPlan` (``info.columns``) is applied: blanks imputed, categories
    one-hot encoded (a category training never saw is all zeros, with a warning), booleans as 0/1. The
    features are not yet standardized: :func:`jaxnn.predict` with ``dataset=info`` does that.

    Args:
        path: the file.
        model_columns: the :class:`DataInfo` of the training data (``checkpoint.info``); or its plan; or,
            for a model trained on arrays, its feature names (every column a number, no blank allowed).
        target_name: the target column, ignored if present (not listed in ``ignored``); by default the
            info's.
        header: whether a CSV file has a header row.
        delimiter: a CSV file's field separator; detected when None.
        encoding: a CSV file's encoding; detected when None.
        strict: refuse a category that training never saw, instead of encoding it as all zeros.
        format: ``"csv"`` or ``"parquet"`` whatever the extension.

    Returns:
        A :class:`CsvFeatures` with ``x`` float64 ``(rows, num_features)``.

    Raises:
        DataError: a missing column (named), a row of the wrong length, a cell of the wrong kind or not
            finite (line and column named), a category training never saw (with ``strict``).

    Warns:
        DataWarning: categories training never saw (encoded as all zeros), unless ``strict``.
    """
    plan, target_name = _plan_of(model_columns, target_name)
    layout = inspect_file(path, delimiter=delimiter, encoding=encoding, header=header, names=plan.names, format=format)
    missing = [name for name in plan.used if name not in layout.names]
    if missing:
        raise errors.DataError(
            f"{layout.source} has no column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing[:5]))}"
            f"{' ...' if len(missing) > 5 else ''} that the model was trained on; its columns are "
            f"{preview(layout.names, 8)}"
        )
    table = _read_layout(
        layout, columns=list(plan.used), text_columns=plan.text_columns, missing_values=plan.missing_values
    )
    ignored = [name for name in layout.names if name not in plan.used and name != target_name] if header else []
    return CsvFeatures(plan.transform(table, strict=strict), ignored)


def _plan_of(model_columns: Any, target_name: str | None) -> tuple[ColumnPlan, str | None]:
    if isinstance(model_columns, Dataset):
        model_columns = model_columns.info
    if isinstance(model_columns, DataInfo):
        plan = model_columns.columns or ColumnPlan.numeric(model_columns.feature_names)
        return plan, target_name if target_name is not None else model_columns.target_name
    if isinstance(model_columns, ColumnPlan):
        return model_columns, target_name
    if isinstance(model_columns, str):
        raise errors.ArgumentTypeError(
            "`model_columns` must be a DataInfo, a ColumnPlan or a list of feature names, got a single str"
        )
    return ColumnPlan.numeric(list(model_columns)), target_name


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
        raise errors.DataFileNotFoundError(f"NPZ file not found: {where}") from None
    except (OSError, ValueError, EOFError):
        raise errors.DataError(f"{where} is not a NumPy .npz archive (as written by numpy.savez)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise errors.DataError(f"{where} holds a single array, not an .npz archive of named arrays (numpy.savez)")
    with archive:
        keys = list(archive.files)
        for what, key in required.items():
            if key not in keys:
                raise errors.DataError(
                    f"NPZ file {where} has no array {key!r} (the {what}); arrays present: {', '.join(keys) or '(none)'}"
                )
        try:
            return {key: archive[key] for key in keys}
        except ValueError:  # object arrays need pickle, which is never allowed
            raise errors.DataError(
                f"NPZ file {where} holds arrays of Python objects; only numeric arrays can be read"
            ) from None


def from_npz(path: str | os.PathLike, *, x: str = "x", y: str = "y", **split_options) -> Dataset:
    """A :class:`Dataset` from a NumPy ``.npz`` archive (as written by ``np.savez``).

    If the archive holds a ``feature_names`` array of strings it names the
    features (unless ``feature_names`` is passed).

    Args:
        path: the ``.npz`` file.
        x: key of the features: ``(n, d)``, or ``(n, *shape)`` for images and sequences.
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
    options: dict[str, Any] = {"name": path.stem}
    if names is not None and names.dtype.kind == "U" and names.ndim == 1:
        options["feature_names"] = names.tolist()
    options.update(split_options)
    return from_arrays(features, targets, **options)


def predictions_csv(predictions: np.ndarray, info: DataInfo, *, proba: bool = False) -> str:
    """Predictions as CSV text: one column named after the target (labels or values), or with
    ``proba`` one ``p(<class>)`` column per class (binary: of the second class only).

    Args:
        predictions: what :func:`jaxnn.predict` returned with ``dataset=info``.
        info: the :class:`DataInfo` of the training data.
        proba: whether ``predictions`` are class probabilities.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if proba:
        names = info.class_names if info.task == "multiclass" else info.class_names[1:]
        writer.writerow([f"p({name})" for name in names])
        writer.writerows([[f"{p:.6g}" for p in np.atleast_1d(row)] for row in predictions])
    else:
        writer.writerow([info.target_name])
        writer.writerows([[value] for value in np.asarray(predictions).tolist()])
    return buffer.getvalue()
