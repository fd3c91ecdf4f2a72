"""Labelled data for a trained model: a file of new rows with their targets (:func:`read_labelled`), or
another :class:`Dataset` (:func:`as_trained`), prepared exactly as the model's training data was.

What :func:`jaxnn.datasets.read_features` does for prediction, with the target kept: columns matched by
name, the training's :class:`~jaxnn.data.columns.ColumnPlan` and standardization applied, and the
targets turned into the training's class indices (or standardized with its statistics), so that
:func:`jaxnn.evaluate` scores the model on them in the data's own units.
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnn import errors
from jaxnn.data.columns import ColumnPlan
from jaxnn.data.dataset import DataInfo, Dataset, preview
from jaxnn.data.files import sample_weights, target_values
from jaxnn.data.prepare import class_label
from jaxnn.data.reading import inspect_file
from jaxnn.data.reading import read_table as _read_layout

__all__ = ["as_trained", "labelled_data", "read_labelled"]


def read_labelled(
    path: str | os.PathLike,
    info: DataInfo | Dataset,
    *,
    target: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    strict: bool = False,
    format: str | None = None,
    weight_column: str | None = None,
) -> Dataset:
    """A CSV or Parquet file of labelled rows, prepared as the training data of ``info`` was.

    The file needs a header row. The features are the columns the model was trained on, matched by name
    (in any order; other columns are ignored), read and transformed as :func:`jaxnn.datasets.read_features` does for
    prediction (the training's column plan: blanks imputed, categories one-hot encoded, ...) and
    standardized with the training statistics. The targets become the training's class indices, or,
    for regression, are standardized like the training targets.

    Args:
        path: the file (see :func:`jaxnn.datasets.read_table`).
        info: the :class:`DataInfo` of the training data (``checkpoint.info``), or its :class:`Dataset`.
        target: the target column; by default the training's (``info.target_name``).
        delimiter: a CSV file's field separator; detected when None.
        encoding: a CSV file's encoding; detected when None.
        strict: refuse a category that training never saw, instead of encoding it as all zeros.
        format: ``"csv"`` or ``"parquet"`` whatever the extension.
        weight_column: a column of per-row weights (numbers >= 0) that weigh the rows in the loss and the
            metrics (the test split's ``w_test``), as ``weight_column`` of :func:`jaxnn.datasets.from_csv`
            weighs training rows.

    Returns:
        A :class:`Dataset` with ``info`` as its info, every row of the file in its test split and empty
        training and validation splits: ``jaxnn.evaluate(model, params, read_labelled(path, info))``
        scores the model on the whole file.

    Raises:
        DataError: no target column, or a feature column missing (each named, with the file's columns);
            a blank target (its lines named); a label that is not one of the model's classes, or text
            where a regression model expects numbers (named with its line); a cell the column plan refuses.
    """
    info = _info(info)
    target = info.target_name if target is None else target
    if not isinstance(target, str):
        raise errors.ArgumentTypeError(f"`target` must be a column name (str), got {type(target).__name__}: {target!r}")
    plan = info.columns or _numeric_plan(info)
    layout = inspect_file(path, delimiter=delimiter, encoding=encoding, format=format)
    if target not in layout.names:
        raise errors.DataError(
            f"{layout.source} has no target column {target!r}; its columns are {preview(layout.names, 8)}"
        )
    missing = [name for name in plan.used if name not in layout.names]
    if missing:
        raise errors.DataError(
            f"{layout.source}'s columns differ from the training data's: it has no column"
            f"{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing[:5]))}{' ...' if len(missing) > 5 else ''} "
            f"that the model was trained on; its columns are {preview(layout.names, 8)}"
        )
    if target in plan.used:
        raise errors.DataError(f"{target!r} is one of the model's features, so it cannot be the target")
    weights = _check_weight_column(weight_column, layout, plan.used, target)
    table = _read_layout(
        layout,
        columns=[*plan.used, target, *weights],
        text_columns=(*plan.text_columns, target, *weights),
        missing_values=plan.missing_values,
    )
    if table.num_rows == 0:
        raise errors.DataError(f"{layout.source} has a header but no data rows")
    y = target_values(table, target)
    x = plan.transform(table.select(plan.used), strict=strict)
    codes = _codes(y, info, lambda rows: table.where(rows), f"{table.source}: the target column {target!r}")
    data = _test_only(info, x, codes)
    if weights:
        data = data.replace(w_test=sample_weights(table, weights[0]).astype(np.float32))
    return data


def _check_weight_column(name: Any, layout: Any, features: Sequence[str], target: str) -> list[str]:
    """``[name]`` for a weight column the file has that is neither a feature nor the target; ``[]`` for None."""
    if name is None:
        return []
    if not isinstance(name, str):
        raise errors.ArgumentTypeError(
            f"{errors.arg('weight_column')} must be a column name (str), got {type(name).__name__}: {name!r}"
        )
    if name not in layout.names:
        raise errors.DataError(
            f"{layout.source} has no weight column {name!r}; its columns are {preview(layout.names, 8)}"
        )
    if name in features or name == target:
        role = "the target" if name == target else "one of the model's features"
        raise errors.DataError(f"{name!r} is {role}, so it cannot be the weight column")
    return [name]


def as_trained(data: Dataset, info: DataInfo | Dataset) -> Dataset:
    """``data``'s splits prepared as the training data of ``info`` was: for scoring a model trained on one
    dataset on another one (a built-in dataset loaded with other options, say).

    The features are matched by name (in any order) and standardized with ``info``'s statistics instead
    of ``data``'s own; the targets become ``info``'s class indices (matched by class name) or its
    standardized regression targets.

    Args:
        data: a :class:`Dataset` whose feature names include every one of ``info``'s.
        info: the :class:`DataInfo` of the training data (``checkpoint.info``), or its :class:`Dataset`.

    Returns:
        A :class:`Dataset` with the same splits and ``info`` as its info.

    Raises:
        DataError: a feature of the model that ``data`` lacks (named); a task that differs (a regression
            model on classes, or the reverse); a class the model does not know (named).
    """
    info = _info(info)
    if not isinstance(data, Dataset):
        raise errors.DataTypeError(f"data must be a jaxnn.Dataset, got {type(data).__name__}")
    if data.info is info:
        return data
    names = list(data.feature_names)
    missing = [name for name in info.feature_names if name not in names]
    if missing:
        raise errors.DataError(
            f"the columns of {data.name!r} differ from the training data's ({info.name!r}): it has no "
            f"feature{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing[:5]))}"
            f"{' ...' if len(missing) > 5 else ''} that the model was trained on; its features are "
            f"{preview(names, 8)}"
        )
    if data.is_classification != info.is_classification:
        raise errors.DataError(
            f"the model was trained for {info.task} ({info.name!r}) but {data.name!r} is a {data.task} task"
        )
    if len(info.input_shape) > 1 and tuple(data.input_shape) != tuple(info.input_shape):
        raise errors.DataError(
            f"the model takes examples of shape {info.input_shape}, {data.name!r} holds {data.input_shape}"
        )
    order = np.asarray([names.index(name) for name in info.feature_names])
    arrays = {}
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        raw = np.asarray(data.info.standardizer.x_mean + np.asarray(x, np.float32) * data.info.standardizer.x_scale)
        raw = raw.reshape(len(raw), len(names))[:, order].reshape(len(raw), *info.input_shape)
        arrays[f"x_{split}"] = info.standardizer.apply_x(raw)
        if info.is_classification:
            labels = np.asarray(data.class_names, dtype=object)[np.asarray(y)] if data.class_names else np.asarray(y)
            arrays[f"y_{split}"] = _codes(
                labels, info, lambda rows: f"row {int(rows[0])}", f"{data.name!r} ({split} split)"
            )
        else:
            arrays[f"y_{split}"] = info.standardizer.apply_y(data.info.inverse_transform_y(np.asarray(y)))
    return data.replace(**arrays, info=info)  # anything else the splits carry (weights) stays


def labelled_data(data: Any, info: DataInfo | Dataset | None = None, *, target: str | None = None) -> Any:
    """What :func:`jaxnn.evaluate` scores: a file path read by :func:`read_labelled` (``info`` required), a
    :class:`Dataset` made :func:`as_trained` when ``info`` is given; anything else as it is.

    Raises:
        ConfigError: a file path without ``info``; ``target`` without a file; ``info`` with arrays.
    """
    if isinstance(data, (str, os.PathLike)):
        if info is None:
            raise errors.ConfigError(
                f"evaluating the file {os.fspath(data)!r} needs {errors.arg('dataset')}: the training data's DataInfo "
                "(checkpoint.info), whose column plan and scaling prepare the file's rows as training did"
            )
        return read_labelled(data, info, target=target)
    if target is not None:
        raise errors.ConfigError(f"{errors.arg('target')} names a file's target column; pass the file's path as data")
    if info is not None and isinstance(data, Dataset):
        return as_trained(data, info)
    if info is not None:
        raise errors.ConfigError(
            f"{errors.arg('dataset')} prepares a file or a Dataset as the training data was; "
            f"a {type(data).__name__} of prepared arrays is scored as it is: leave it out"
        )
    return data


def _info(info: Any) -> DataInfo:
    if isinstance(info, Dataset):
        return info.info
    if not isinstance(info, DataInfo):
        raise errors.DataTypeError(
            f"info must be the training data's DataInfo (checkpoint.info) or its Dataset, got {type(info).__name__}"
        )
    return info


def _numeric_plan(info: DataInfo) -> ColumnPlan:
    return ColumnPlan.numeric(info.feature_names)


def _codes(y: np.ndarray, info: DataInfo, where: Any, what: str) -> np.ndarray:
    """Targets as the model sees them: class indices (labels matched to ``info``'s classes by name), or
    regression targets standardized with the training statistics."""
    if not info.is_classification:
        if y.dtype.kind not in "biuf":
            first = next(i for i, value in enumerate(y) if not _is_number(value))
            raise errors.DataError(
                f"{what} holds text ({y[first]!r} at {where(np.asarray([first]))}) but the model "
                "is a regression model: it predicts numbers"
            )
        return np.asarray(info.standardizer.apply_y(np.asarray(y, np.float64)))
    index = {name: i for i, name in enumerate(info.class_names)}
    names = np.asarray([_name(value) for value in y], dtype=object)
    unknown = np.flatnonzero([name not in index for name in names])
    if len(unknown):
        others = sorted(set(names[unknown].tolist()))
        raise errors.DataError(
            f"{what} holds {', '.join(map(repr, others[:5]))}{' ...' if len(others) > 5 else ''} (at "
            f"{where(unknown)}), not one of the model's classes ({preview(list(info.class_names), 10)})"
        )
    return np.asarray([index[name] for name in names], np.int32)


def _name(value: Any) -> str:
    """A label's class name, as training wrote it (``"1"`` for 1 and 1.0, ``"0.5"``, ``"cat"``)."""
    label = class_label(value)
    return repr(label) if isinstance(label, float) else str(label)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _test_only(info: DataInfo, x: np.ndarray, y: np.ndarray) -> Dataset:
    """A Dataset of ``info`` whose test split holds ``x`` (raw features) and ``y`` (prepared targets)."""
    x = info.transform(np.asarray(x).reshape(len(x), *info.input_shape))
    empty_x = np.zeros((0, *info.input_shape), np.float32)
    empty_y = np.zeros(0, np.int32 if info.is_classification else np.float32)
    return Dataset(x_train=empty_x, y_train=empty_y, x_val=empty_x, y_val=empty_y, x_test=x, y_test=y, info=info)
