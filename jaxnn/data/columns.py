"""The column plan: what is done to each raw column of a table to make features, fitted on the training rows.

A :class:`ColumnPlan` holds one :class:`ColumnStep` per raw column:

* **number** — kept; a blank cell becomes the training median (then standardized with the other numbers by
  the dataset's :class:`~jaxnn.data.dataset.Standardizer`, as arrays are);
* **boolean** (``true``/``false``) — 0/1, a blank the more frequent value;
* **category** (text, or a column named in ``categorical``) — one-hot, one 0/1 feature ``name=value`` per
  category seen in training, in sorted order; a blank is the most frequent category. With
  ``max_categories=N`` a column with more than N categories keeps its N - 1 most frequent and gives the
  rest one shared ``name=(other)`` feature (scikit-learn's ``OneHotEncoder(max_categories=N)`` rule, ties
  included). A category that training never saw is all zeros at prediction time, with a
  :class:`~jaxnn.errors.DataWarning` (or an error with ``strict=True``). A column with more than
  :data:`MANY_CATEGORIES` categories is warned about, with the count;
* **dropped** — a column that is constant in the training rows, blank in all of them, or text that is
  unique per row (an ID), each with a one-line :class:`~jaxnn.errors.DataWarning`.

With ``missing_indicator=True`` every column with blanks in the training rows also gets a 0/1 feature
``name=(missing)``. One-hot, boolean and indicator features stay 0/1 (they are not standardized).

Why not scikit-learn's ``ColumnTransformer``, ``SimpleImputer`` and ``OneHotEncoder`` themselves (scikit-learn
is a dependency): their fitted state is stored by pickling the objects (or with skops, which also rebuilds
objects), and loading a pickle executes code; jaxnn's checkpoints execute nothing. A fitted plan is a few
medians and lists of strings, which :meth:`ColumnPlan.to_json` writes as plain JSON. The tests check
every step against those scikit-learn transformers on the same data. It is also lighter: reading and
preparing a 1,000,000-row, 30-column mixed CSV into standardized float32 splits took 8.6 s and 1.1 GiB
(``jaxnn.datasets.from_csv``) against 35.7 s and 4.6 GiB for ``pandas.read_csv`` + the same
``ColumnTransformer`` (``python -m benchmarks --suite tabular``, 2-core Intel Xeon shared with other jobs).
"""

import dataclasses
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from jaxnn import errors
from jaxnn.data.table import Column, Table, check_finite, number_levels, numbers_as_text, text_as_numbers

__all__ = ["MANY_CATEGORIES", "ColumnPlan", "ColumnStep", "check_max_categories"]

MANY_CATEGORIES = 1000
"""A category column with more categories than this is warned about (each becomes a feature)."""
OTHER = "(other)"
MISSING = "(missing)"
STEP_KINDS = ("number", "boolean", "category", "dropped")
_TRUE, _FALSE = ("true",), ("false",)


@dataclasses.dataclass(frozen=True)
class ColumnStep:
    """What is done to one raw column.

    Attributes:
        name: the column.
        kind: ``"number"``, ``"boolean"``, ``"category"`` or ``"dropped"``.
        fill: what a blank cell becomes: the training median (number), the more frequent 0/1 (boolean), the
            most frequent category; None: a blank is refused (a plan from feature names alone).
        indicator: whether a 0/1 ``name=(missing)`` feature marks the blank cells.
        categories: a category column's one-hot features, in order.
        infrequent: categories seen in training that share the ``name=(other)`` feature (``max_categories``).
        reason: why a column is dropped.
        levels: distinct values in the training rows (categories, booleans, constants).
        blanks: blank cells in the training rows.
    """

    name: str
    kind: str
    fill: float | str | None = None
    indicator: bool = False
    categories: tuple[str, ...] = ()
    infrequent: tuple[str, ...] = ()
    reason: str = ""
    levels: int = 0
    blanks: int = 0

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features this column becomes."""
        if self.kind == "dropped":
            return ()
        if self.kind == "category":
            names = [f"{self.name}={category}" for category in self.categories]
            names += [f"{self.name}={OTHER}"] if self.infrequent else []
        else:
            names = [self.name]
        return tuple(names + ([f"{self.name}={MISSING}"] if self.indicator else []))

    def describe(self) -> str:
        """What is done, in words: ``"one-hot, 3 categories (blue, green, red); 4 blanks -> 'red'"``."""
        if self.kind == "dropped":
            return f"dropped: {self.reason}"
        if self.kind == "number":
            text, fill = "number, standardized", "the median " + _number(self.fill) if self.fill is not None else None
        elif self.kind == "boolean":
            text, fill = "boolean, as 0/1", ("true" if self.fill else "false") if self.fill is not None else None
        else:
            shown = ", ".join(self.categories[:6]) + (", ..." if len(self.categories) > 6 else "")
            text = f"one-hot, {len(self.categories)} categories ({shown})"
            if self.infrequent:
                text = (
                    f"one-hot, the {len(self.categories)} most frequent of {self.levels} categories ({shown}), "
                    f"the other {len(self.infrequent)} as {self.name}={OTHER}"
                )
            fill = repr(self.fill)
        if self.blanks:
            text += f"; {self.blanks} blank{'s' if self.blanks > 1 else ''} in training"
        if fill is not None:
            text += f"; a blank becomes {fill}"
        if self.indicator:
            text += f", marked by {self.name}={MISSING}"
        return text

    def to_json(self) -> dict[str, Any]:
        """The step as plain JSON values."""
        fields = dataclasses.asdict(self)
        fields["categories"], fields["infrequent"] = list(self.categories), list(self.infrequent)
        return fields

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> "ColumnStep":
        """A step from :meth:`to_json`'s output; ValueError/TypeError/KeyError for anything else."""
        if (
            not isinstance(fields, dict)
            or fields.get("kind") not in STEP_KINDS
            or not isinstance(fields.get("name"), str)
        ):
            raise ValueError(f"not a column step: {fields!r:.80}")
        step = cls(
            name=fields["name"],
            kind=fields["kind"],
            fill=fields.get("fill"),
            indicator=bool(fields.get("indicator", False)),
            categories=tuple(_strings(fields.get("categories", ()))),
            infrequent=tuple(_strings(fields.get("infrequent", ()))),
            reason=str(fields.get("reason", "")),
            levels=int(fields.get("levels", 0)),
            blanks=int(fields.get("blanks", 0)),
        )
        if step.fill is not None and not isinstance(step.fill, (str, int, float)):
            raise TypeError(f"column step {step.name!r} has a fill of type {type(step.fill).__name__}")
        return step


def _strings(values: Any) -> list[str]:
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise TypeError("categories must be a list of strings")
    return list(values)


def _number(value: float | str) -> str:
    return format(float(value), ".6g")


@dataclasses.dataclass(frozen=True)
class ColumnPlan:
    """How a table's raw columns become features; fitted on the training rows (:meth:`fit`), applied to any
    rows with the same columns (:meth:`transform`), saved in checkpoints as JSON (:meth:`to_json`).

    Attributes:
        steps: one :class:`ColumnStep` per raw column, in the table's order.
        missing_values: cell texts that were read as blank cells besides the empty one (e.g. ``"NA"``).
    """

    steps: tuple[ColumnStep, ...]
    missing_values: tuple[str, ...] = ()

    def __hash__(self) -> int:  # a static field of DataInfo: hashed at every compiled call, so once
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.steps, self.missing_values))
            object.__setattr__(self, "_hash", cached)
        return cached

    @property
    def names(self) -> tuple[str, ...]:
        """Every raw column, dropped ones included, in order."""
        return tuple(step.name for step in self.steps)

    @property
    def used(self) -> tuple[str, ...]:
        """The raw columns that make features (a file to predict on must have these)."""
        return tuple(step.name for step in self.steps if step.kind != "dropped")

    @property
    def text_columns(self) -> tuple[str, ...]:
        """The category columns, which a file is read as text (``"01"`` stays ``"01"``)."""
        return tuple(step.name for step in self.steps if step.kind == "category")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features, in order."""
        return tuple(name for step in self.steps for name in step.feature_names)

    @property
    def scaled(self) -> np.ndarray:
        """bool ``(num_features,)``: True for the features that are standardized (numbers), False for 0/1 ones."""
        return np.array(
            [step.kind == "number" and k == 0 for step in self.steps for k in range(len(step.feature_names))], bool
        )

    @classmethod
    def numeric(cls, names: Sequence[str]) -> "ColumnPlan":
        """The plan of a model trained on arrays or on a file read before plans existed: every column a number,
        no blanks allowed."""
        return cls(tuple(ColumnStep(str(name), "number") for name in names))

    @classmethod
    def fit(
        cls,
        table: Table,
        *,
        rows: np.ndarray | None = None,
        max_categories: int | None = None,
        missing_indicator: bool = False,
        missing_values: Iterable[str] = (),
        warn: bool = True,
    ) -> "ColumnPlan":
        """Fit the plan on ``table``'s training rows (kinds settled by :func:`~jaxnn.data.table.settle_kinds`).

        Args:
            table: the table.
            rows: the training rows (indices); None: every row.
            max_categories: at most this many one-hot features per category column (>= 2), or None.
            missing_indicator: whether columns with blanks get a ``name=(missing)`` feature.
            missing_values: the texts that were read as blank cells (kept for reading files to predict on).
            warn: whether to warn (:class:`~jaxnn.errors.DataWarning`) about dropped columns and columns
                with thousands of categories.
        """
        max_categories = check_max_categories(max_categories)
        steps = tuple(
            _fit_step(name, column if rows is None else column.take(rows), max_categories, bool(missing_indicator))
            for name, column in table.columns.items()
        )
        if warn:
            for step in steps:
                _warn_about(step, table.source, max_categories)
        return cls(steps, tuple(missing_values))

    def transform(
        self, table: Table, *, rows: np.ndarray | None = None, strict: bool = False, dtype: Any = np.float64
    ) -> np.ndarray:
        """The features of ``table``'s ``rows`` (default: all), which must have the columns :attr:`used`.

        Returns:
            ``(rows, num_features)`` of ``dtype`` (float64; the datasets use float32), C order.

        Raises:
            DataError: a missing column (named), a cell of the wrong kind or not finite (its row named), a
                blank where the plan has no fill, a category not seen in training with ``strict=True``.

        Warns:
            DataWarning: categories not seen in training (encoded as all zeros), unless ``strict``.
        """
        missing = [name for name in self.used if name not in table.columns]
        if missing:
            raise errors.DataError(
                f"{table.source} has no column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}, which the plan needs"
            )
        where = table if rows is None else table._replace(columns={}, num_rows=len(rows), row_ids=_ids(table, rows))
        features = np.zeros((len(self.feature_names), where.num_rows), dtype)  # a feature's values are contiguous
        offset = 0
        for step in self.steps:
            width = len(step.feature_names)
            if width:
                column = table.columns[step.name] if rows is None else table.columns[step.name].take(rows)
                _encode(step, _as_kind(step, column, where), where, features[offset : offset + width].T, strict)
            offset += width
        return _row_major(features)

    def describe(self) -> str:
        """One line per raw column: what is done to it."""
        width = max((len(name) for name in self.names), default=0)
        return "\n".join(f"{step.name:<{width}}  {step.describe()}" for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        """The plan as plain JSON values (what checkpoints store)."""
        return {"steps": [step.to_json() for step in self.steps], "missing_values": list(self.missing_values)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> "ColumnPlan":
        """A plan from :meth:`to_json`'s output; ValueError/TypeError/KeyError for anything else."""
        if not isinstance(value, dict) or not isinstance(value.get("steps"), list):
            raise ValueError("a column plan must be a dict with a list of steps")
        return cls(
            tuple(ColumnStep.from_json(step) for step in value["steps"]),
            tuple(_strings(value.get("missing_values", []))),
        )


def check_max_categories(value: object) -> int | None:
    """``max_categories`` as an int >= 2, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise errors.ArgumentTypeError(
            f"{errors.arg('max_categories')} must be an int, got {type(value).__name__}: {value!r}"
        )
    if value < 2:
        raise errors.ConfigError(
            f"{errors.arg('max_categories')} (={value}) must be >= 2: the most frequent categories and one "
            f"'(other)' feature for the rest"
        )
    return int(value)


# ---------------------------------------------------------------------------
# Fitting


def _fit_step(name: str, column: Column, max_categories: int | None, indicator: bool) -> ColumnStep:
    blanks = int(column.missing.sum())
    if column.kind == "text":
        return _fit_category(name, column, blanks, max_categories, indicator)
    values = column.values[~column.missing]
    if values.size == 0:
        return ColumnStep(name, "dropped", reason="every cell is blank", blanks=blanks)
    if values.min() == values.max():
        shown = ("true" if values[0] else "false") if column.kind == "boolean" else _number(values[0])
        return ColumnStep(
            name, "dropped", reason=f"constant ({shown}{', or blank' if blanks else ''})", levels=1, blanks=blanks
        )
    if column.kind == "boolean":
        fill = float(np.count_nonzero(values) > values.size / 2)  # a tie takes 0, the smaller (as SimpleImputer)
        return ColumnStep(name, "boolean", fill, indicator and blanks > 0, levels=2, blanks=blanks)
    return ColumnStep(name, "number", float(np.median(values)), indicator and blanks > 0, blanks=blanks)


def _fit_category(name: str, column: Column, blanks: int, max_categories: int | None, indicator: bool) -> ColumnStep:
    assert column.levels is not None  # a text column always has its levels
    counts = np.bincount(column.values[~column.missing], minlength=len(column.levels))
    seen = np.flatnonzero(counts)
    if seen.size == 0:
        return ColumnStep(name, "dropped", reason="every cell is blank", blanks=blanks)
    if seen.size == 1:
        return ColumnStep(
            name,
            "dropped",
            reason=f"constant ({column.levels[seen[0]]!r}{', or blank' if blanks else ''})",
            levels=1,
            blanks=blanks,
        )
    if seen.size == column.values.size - blanks:
        return ColumnStep(name, "dropped", reason="unique per row (an ID)", levels=int(seen.size), blanks=blanks)
    levels = column.levels  # narrowed above; a lambda does not keep an attribute's narrowing
    order = sorted(range(seen.size), key=lambda i: levels[seen[i]])  # sorted categories, as OneHotEncoder
    categories = [str(column.levels[seen[i]]) for i in order]
    counts = counts[seen][order]
    fill = categories[int(np.flatnonzero(counts == counts.max())[0])]  # the most frequent; a tie takes the smallest
    counts[categories.index(fill)] += blanks  # scikit-learn counts the categories after imputing
    infrequent: list[str] = []
    if max_categories is not None and len(categories) > max_categories:
        rare = set(np.argsort(counts, kind="mergesort")[: len(categories) - (max_categories - 1)].tolist())
        infrequent = [c for i, c in enumerate(categories) if i in rare]
        categories = [c for i, c in enumerate(categories) if i not in rare]
    return ColumnStep(
        name,
        "category",
        fill,
        indicator and blanks > 0,
        tuple(categories),
        tuple(infrequent),
        levels=int(seen.size),
        blanks=blanks,
    )


def _warn_about(step: ColumnStep, source: str, max_categories: int | None) -> None:
    if step.kind == "dropped":
        errors.warn(f"{source} column {step.name!r} is dropped: {step.reason}")
    elif step.kind == "category" and step.levels > MANY_CATEGORIES and not step.infrequent:
        hint = (
            f"; pass {errors.setting('max_categories', errors.placeholder('N'))} to keep the N - 1 most frequent "
            f"and one '{step.name}={OTHER}' feature for the rest"
            if errors.can_say("max_categories")
            else ""
        )
        errors.warn(
            f"{source} column {step.name!r} has {step.levels:,} categories, which one-hot encoding makes "
            f"{step.levels:,} features{hint}"
        )


# ---------------------------------------------------------------------------
# Applying


def _ids(table: Table, rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows)
    return rows if table.row_ids is None else table.row_ids[rows]


def _row_major(features: np.ndarray) -> np.ndarray:
    """``(features, rows)`` as a C-order ``(rows, features)`` array, copied a block of rows at a time: writing
    a feature at a time into a wide row-major array would touch a cache line per value."""
    num_features, num_rows = features.shape
    out = np.empty((num_rows, num_features), features.dtype)
    block = max(1, (1 << 18) // max(num_features, 1))
    for start in range(0, num_rows, block):
        out[start : start + block] = features[:, start : start + block].T
    return out


def _as_kind(step: ColumnStep, column: Column, table: Table) -> Column:
    """``column`` as the kind the step was fitted on (a file may type a column differently); ``table`` names rows."""
    if step.kind == "category":
        return column if column.kind == "text" else numbers_as_text(column)
    if column.kind == "text" and step.kind == "boolean":
        return _text_as_boolean(step, column, table)
    if column.kind == "text":
        assert column.levels is not None  # a text column always has its levels
        is_number, _ = number_levels(column.levels)
        if not is_number.all():
            _refuse_cell(
                step, column, table, ~is_number[np.maximum(column.values, 0)] & ~column.missing, "is not a number"
            )
        column = text_as_numbers(column)
    if step.kind == "boolean":
        _refuse_cell(
            step, column, table, ~column.missing & (column.values != 0) & (column.values != 1), "is not true or false"
        )
    check_finite(table, step.name, column)
    return column


def _text_as_boolean(step: ColumnStep, column: Column, table: Table) -> Column:
    assert column.levels is not None  # a text column always has its levels
    spelled = np.array([str(level).lower() for level in column.levels], object)
    known = np.isin(spelled, _TRUE + _FALSE)
    _refuse_cell(step, column, table, ~known[np.maximum(column.values, 0)] & ~column.missing, "is not true or false")
    lookup = np.append((spelled == "true").astype(np.float64), np.nan)
    return Column("boolean", lookup[column.values], column.missing)


def _refuse_cell(step: ColumnStep, column: Column, table: Table, bad: np.ndarray, problem: str) -> None:
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        expected = "numbers" if step.kind == "number" else "true/false"
        raise errors.DataError(
            f"{table.source} {table.where([first])}, column {step.name!r}: {column.cells([first])[0]!r} {problem} "
            f"(the model takes {expected} in this column)"
        )


def _encode(step: ColumnStep, column: Column, table: Table, out: np.ndarray, strict: bool) -> None:
    """Write the step's features of ``column`` into ``out`` (zeros, ``(rows, width)``)."""
    missing = column.missing
    if missing.any() and step.fill is None:
        first = int(np.flatnonzero(missing)[0])
        raise errors.DataError(
            f"{table.source} {table.where([first])}, column {step.name!r}: an empty cell is not a "
            "number (feature columns must be numeric)"
        )
    if step.indicator:
        out[:, -1] = missing
    if step.kind != "category":
        out[:, 0] = column.values
        if missing.any():
            assert step.fill is not None  # refused above: blanks without a fill
            out[missing, 0] = float(step.fill)
        return
    assert column.levels is not None  # a category step's column is text, which has its levels
    index = _category_index(step, column.levels)
    features = index[np.where(missing, len(index) - 1, column.values)]
    unseen = features < 0
    if unseen.any():
        _unseen(step, column, table, np.flatnonzero(unseen), strict)
    hit = np.flatnonzero(~unseen)
    out[hit, features[hit]] = 1.0


def _category_index(step: ColumnStep, levels: np.ndarray) -> np.ndarray:
    """Each level's one-hot feature (-1: not seen in training), and last, a blank's (the fill's)."""
    position = {category: i for i, category in enumerate(step.categories)}
    other = len(step.categories)
    position.update(dict.fromkeys(step.infrequent, other))
    assert isinstance(step.fill, str)  # a category step's fill is its most frequent category
    index = np.array([position.get(str(level), -1) for level in levels] + [position[step.fill]], np.int64)
    return index


def _unseen(step: ColumnStep, column: Column, table: Table, rows: np.ndarray, strict: bool) -> None:
    assert column.levels is not None  # a category step's column is text, which has its levels
    values = sorted({str(column.levels[code]) for code in column.values[rows]})
    shown = ", ".join(map(repr, values[:5])) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
    what = (
        f"{table.source} column {step.name!r} holds {len(values)} categor{'y' if len(values) == 1 else 'ies'} "
        f"not seen in training ({shown}) at {table.where(rows)}"
    )
    if strict:
        raise errors.DataError(
            f"{what}; the model knows {len(step.categories) + len(step.infrequent)} categories: "
            f"{', '.join(map(repr, step.categories[:8]))}{', ...' if len(step.categories) > 8 else ''}"
        )
    hint = f"; pass {errors.setting('strict', True)} to refuse them" if errors.can_say("strict") else ""
    errors.warn(f"{what}: encoded as all zeros{hint}")
