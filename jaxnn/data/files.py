"""Data files: CSV and NPZ readers shared by training (:func:`from_csv`, :func:`from_npz`) and
prediction (:func:`read_features`), and the CSV that prediction writes (:func:`predictions_csv`).

One parser means one set of rules: blank lines skipped, line numbers kept for messages, every
feature cell a finite number, pickles never loaded.
"""

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxnn.data.dataset import DataInfo, Dataset, preview
from jaxnn.data.prepare import from_arrays
from jaxnn import errors

__all__ = ["CsvFeatures", "CsvTable", "from_csv", "from_npz", "predictions_csv", "read_csv", "read_features", "read_npz"]


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
        raise errors.DataFileNotFoundError(f"CSV file not found: {path!r}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise errors.DataError(f"cannot read CSV file {path!r}: {error}") from None
    except csv.Error as error:
        raise errors.DataError(f"CSV file {path!r} is malformed: {error}") from None
    if not numbered:
        raise errors.DataError(f"CSV file {path!r} is empty; expected {'a header row and ' if header else ''}data rows")
    if not header:
        return CsvTable(path, [], numbered)
    names = [cell.strip() for cell in numbered[0][1]]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise errors.DataError(f"CSV file {path!r} has several columns named {', '.join(map(repr, repeated))}")
    return CsvTable(path, names, numbered[1:])


def _feature_matrix(table: CsvTable, columns: Sequence[int], names: Sequence[str]) -> np.ndarray:
    """The numeric cells of ``columns`` (named ``names``) of every row, each row as wide as the header."""
    width = len(table.header) if table.header else len(columns)
    expected = f"the header has {width} columns" if table.header else f"the model expects {width} features"
    x = np.empty((len(table.rows), len(columns)), np.float64)
    for row_index, (line, row) in enumerate(table.rows):
        if len(row) != width:
            raise errors.DataError(f"CSV file {table.path!r} line {line} has {len(row)} fields but {expected}")
        for j, (column, name) in enumerate(zip(columns, names)):
            cell = row[column].strip()
            try:
                value = float(cell)
            except ValueError:
                what = "an empty cell" if not cell else f"{cell!r}"
                raise errors.DataError(
                    f"CSV file {table.path!r} line {line}, column {name!r}: {what} is not a number "
                    "(feature columns must be numeric)"
                ) from None
            if not math.isfinite(value):
                raise errors.DataError(f"CSV file {table.path!r} line {line}, column {name!r}: {cell!r} is not a finite number")
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
        raise errors.DataError(
            f"CSV file {table.path!r} has no column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing[:5]))}"
            f"{' ...' if len(missing) > 5 else ''} that the model was trained on; its columns are "
            f"{preview(table.header, 8)}"
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
        raise errors.ArgumentTypeError(f"`target` must be a column name (str), got {type(target).__name__}: {target!r}")
    table = read_csv(path, delimiter=delimiter)
    if target not in table.header:
        raise errors.DataError(
            f"target column {target!r} not found in CSV file {table.path!r}; columns: {', '.join(table.header)}"
        )
    if not table.rows:
        raise errors.DataError(f"CSV file {table.path!r} has a header but no data rows")
    if len(table.header) < 2:
        raise errors.DataError(f"CSV file {table.path!r} has no feature columns besides the target {target!r}")
    target_column = table.header.index(target)
    feature_columns = [i for i in range(len(table.header)) if i != target_column]
    feature_names = [table.header[i] for i in feature_columns]
    x = _feature_matrix(table, feature_columns, feature_names)
    targets = []
    for line, row in table.rows:
        cell = row[target_column].strip()
        if not cell:
            raise errors.DataError(f"CSV file {table.path!r} line {line}: the target column {target!r} is empty")
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
            raise errors.DataError(f"NPZ file {where} holds arrays of Python objects; only numeric arrays can be read") from None


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
    options = {"name": path.stem}
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
