"""Tables: raw columns by name, as a file or a mapping holds them, before they become features.

A :class:`Table` keeps each column as NumPy arrays in one of three kinds — numbers (float64), booleans
(0/1) and text (``int32`` codes into the column's distinct strings, which are trimmed of surrounding
whitespace) — with a mask of its blank cells, and knows how to name a row in a message: by its line in
a CSV file, by its index in a Parquet file or in arrays. :func:`as_table` builds one from a mapping of
1-D arrays, a pandas DataFrame or a ``pyarrow.Table``; :func:`jaxnn.data.reading.read_table` from a file.

:func:`settle_kinds` decides, from all the rows (as a reader's type inference does), whether a text
column is really numbers, and refuses a column that mixes numbers and text or holds NaN or infinity.
What is then done to each column is fitted on the training rows only (:mod:`jaxnn.data.columns`).

All of the conversion goes through Apache Arrow (``pyarrow``), which also reads the files.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxnn import errors

__all__ = [
    "KINDS",
    "Column",
    "RowNames",
    "Table",
    "as_table",
    "check_finite",
    "is_table_like",
    "name_list",
    "number_levels",
    "numbers_as_text",
    "settle_kinds",
    "table_from_arrow",
    "text_as_numbers",
]

KINDS = ("number", "boolean", "text")

_NUMBER = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)$"
"""What Arrow's string-to-float cast accepts (checked against it in the tests)."""


class Column(NamedTuple):
    """One raw column.

    Attributes:
        kind: ``"number"``, ``"boolean"`` or ``"text"``.
        values: float64 ``(n,)`` for numbers and booleans (0/1; NaN where blank); for text, int32 codes
            into ``levels`` (-1 where blank).
        missing: bool ``(n,)``, True where the cell is blank (or, for a mapping, None or NaN).
        levels: text only: the distinct strings (an object array), trimmed and never empty.
    """

    kind: str
    values: np.ndarray
    missing: np.ndarray
    levels: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> "Column":
        """The column's ``rows``."""
        return Column(self.kind, self.values[rows], self.missing[rows], self.levels)

    def cells(self, positions: Sequence[int] | np.ndarray) -> list[str]:
        """The cells at ``positions`` as text, for messages."""
        if self.kind == "text":
            assert self.levels is not None  # a text column always has its levels
            return [str(self.levels[code]) if code >= 0 else "" for code in self.values[positions]]
        return [
            format(float(v), ".10g") if not m else ""
            for v, m in zip(self.values[positions], self.missing[positions], strict=False)
        ]


class RowNames(NamedTuple):
    """How messages name a table's rows: ``word`` ("line" or "row") and the numbers of row indices."""

    word: str
    numbers: Callable[[np.ndarray], np.ndarray]


_ROW_INDICES = RowNames("row", lambda ids: np.asarray(ids))


class Table(NamedTuple):
    """Raw columns by name, in their order.

    Attributes:
        columns: name -> :class:`Column`, every column ``num_rows`` long.
        num_rows: the number of rows.
        source: what the rows came from, for messages (``"CSV file 'data.csv'"``, ``"x"``).
        row_ids: each row's index in the source (rows keep it through :meth:`take`).
        row_names: how messages name a row (:meth:`where`).
    """

    columns: dict[str, Column]
    num_rows: int
    source: str = "x"
    row_ids: np.ndarray | None = None
    row_names: RowNames = _ROW_INDICES

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return list(self.columns)

    def take(self, rows: np.ndarray) -> "Table":
        """The table of ``rows`` (indices into this table), each keeping its source row for messages."""
        rows = np.asarray(rows)
        ids = rows if self.row_ids is None else self.row_ids[rows]
        return self._replace(
            columns={name: column.take(rows) for name, column in self.columns.items()}, num_rows=len(rows), row_ids=ids
        )

    def select(self, names: Iterable[str]) -> "Table":
        """The table of the columns ``names`` (in that order)."""
        return self._replace(columns={name: self.columns[name] for name in names})

    def without(self, *names: str) -> "Table":
        """The table less the columns ``names``."""
        return self._replace(columns={name: c for name, c in self.columns.items() if name not in names})

    def where(self, positions: Sequence[int] | np.ndarray, *, limit: int = 5) -> str:
        """Rows at ``positions`` (indices into this table) in words: ``"line 7"``, ``"lines 3, 9 and 12"``,
        ``"rows 0, 4, 8, 9, 12 and 40 more"``."""
        positions = np.asarray(positions, dtype=np.int64)
        ids = positions if self.row_ids is None else self.row_ids[positions]
        shown = [str(int(n)) for n in self.row_names.numbers(ids[:limit])]
        word = self.row_names.word + ("s" if len(positions) > 1 else "")
        if len(positions) > limit:
            return f"{word} {', '.join(shown)} and {len(positions) - limit} more"
        if len(shown) > 1:
            return f"{word} {', '.join(shown[:-1])} and {shown[-1]}"
        return f"{word} {shown[0]}"


def is_table_like(value: object) -> bool:
    """Whether ``value`` holds named columns: a :class:`Table`, a mapping, a DataFrame or a ``pyarrow.Table``."""
    if isinstance(value, (Table, Mapping)):
        return True
    kind = type(value)
    return (kind.__module__.split(".")[0], kind.__name__) in {("pandas", "DataFrame"), ("pyarrow", "Table")}


def as_table(value: Any, *, label: str = "x", categorical: Iterable[str] = ()) -> Table:
    """``value`` (see :func:`is_table_like`) as a :class:`Table` whose kinds are settled (:func:`settle_kinds`).

    In a mapping or a DataFrame, None, NaN and empty (or blank) strings are blank cells.

    Raises:
        DataTypeError: a column that is not 1-D, or of a type that cannot be a feature (lists, structs).
        DataError: columns of different lengths, and what :func:`settle_kinds` refuses.
    """
    if isinstance(value, Table):
        return settle_kinds(value, categorical=categorical)
    import pyarrow as pa

    if not isinstance(value, pa.Table):
        value = _arrow_from_columns(value, label)
    return settle_kinds(table_from_arrow(value, source=label), categorical=categorical)


def _arrow_from_columns(value: Any, label: str) -> Any:
    import pyarrow as pa

    names = list(value.columns) if not isinstance(value, Mapping) else list(value)
    arrays, lengths = [], set()
    for name in names:
        column = np.asarray(value[name])
        if column.ndim != 1:
            raise errors.DataTypeError(f"{label} column {name!r} must be 1-D, got shape {column.shape}")
        lengths.add(len(column))
        arrays.append(_arrow_array(column))
    if len(lengths) > 1:
        raise errors.DataError(f"the columns of {label} differ in length: {sorted(lengths)}")
    return pa.table(dict(zip(map(str, names), arrays, strict=False)))


def _arrow_array(column: np.ndarray) -> Any:
    """A 1-D NumPy array as Arrow: NaN and None are nulls; a column that mixes types becomes text."""
    import pyarrow as pa

    if column.dtype.kind in "US":
        return pa.array(column.astype(str))
    try:
        return pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        blank = np.array([cell is None or (isinstance(cell, float) and cell != cell) for cell in column], bool)
        return pa.array([None if b else str(cell) for cell, b in zip(column, blank, strict=False)], pa.string())


def table_from_arrow(
    table: Any, *, source: str, row_names: RowNames = _ROW_INDICES, on_binary: Callable[[str], Exception] | None = None
) -> Table:
    """A ``pyarrow.Table`` as a :class:`Table` (kinds as Arrow typed them; see :func:`settle_kinds`).

    Args:
        table: the Arrow table.
        source: what its rows came from, for messages.
        row_names: how messages name its rows.
        on_binary: the error for a column of bytes that are not text (a CSV file's encoding error).
    """
    import pyarrow as pa

    columns = {}
    for name, chunked in zip(table.column_names, table.columns, strict=False):
        kind = chunked.type
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            raise (
                on_binary(name)
                if on_binary
                else errors.DataTypeError(f"{source} column {name!r} holds bytes, not text")
            )
        if (
            pa.types.is_null(kind)
            or pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)
        ):
            columns[name] = _numbers(chunked, "number")
        elif pa.types.is_boolean(kind):
            columns[name] = _numbers(chunked, "boolean")
        elif _is_texty(pa, kind):
            columns[name] = _text(chunked)
        else:
            raise errors.DataTypeError(f"{source} column {name!r} holds {kind} values, which cannot be a feature")
    return Table(columns, table.num_rows, source, None, row_names)


def _is_texty(pa: Any, kind: Any) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_dictionary(kind)
        or pa.types.is_temporal(kind)
    )


def _numbers(chunked: Any, kind: str) -> Column:
    import pyarrow as pa

    missing = chunked.is_null().to_numpy(zero_copy_only=False) if chunked.null_count else np.zeros(len(chunked), bool)
    values = chunked.cast(pa.float64()).to_numpy(zero_copy_only=False)  # nulls become NaN
    return Column(kind, np.ascontiguousarray(values, np.float64), missing)


def _text(chunked: Any) -> Column:
    """Text trimmed of surrounding whitespace, an empty string blank, as codes into its distinct strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        chunked = chunked.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(chunked)
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)
    encoded = pc.dictionary_encode(trimmed).combine_chunks()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    levels = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    return Column("text", codes, codes < 0, levels)


def number_levels(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``levels`` (strings) are numbers, and their values: ``(is_number bool, float64 with NaN)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(levels, pa.string())
    is_number = pc.match_substring_regex(text, _NUMBER, ignore_case=True)
    values = pc.if_else(is_number, text, pa.scalar(None, pa.string())).cast(pa.float64())
    return is_number.to_numpy(zero_copy_only=False), values.to_numpy(zero_copy_only=False)


def text_as_numbers(column: Column) -> Column:
    """A text column whose every level is a number, as a number column."""
    assert column.levels is not None  # a text column always has its levels
    _, values = number_levels(column.levels)
    lookup = np.append(values, np.nan)  # code -1 (blank) -> NaN
    return Column("number", lookup[column.values], column.missing)


def numbers_as_text(column: Column) -> Column:
    """A number or boolean column as text (whole numbers without a ``.0``), for a column read as categories."""
    present = ~column.missing
    values = column.values[present]
    if column.kind == "boolean":
        strings = np.where(values > 0, "true", "false")
    else:
        whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
        strings = np.where(whole, np.where(whole, values, 0).astype(np.int64).astype(str), values.astype(str))
    levels, inverse = np.unique(strings, return_inverse=True)
    codes = np.full(len(column.values), -1, np.int32)
    codes[present] = inverse
    return Column("text", codes, column.missing.copy(), levels.astype(object))


def settle_kinds(table: Table, *, categorical: Iterable[str] = ()) -> Table:
    """The kind of each column from all its rows: text whose every cell is a number is numbers, and a column
    named in ``categorical`` is text (its numbers become categories).

    Raises:
        ConfigError: a ``categorical`` name that is not a column.
        DataError: a column that mixes numbers and text (naming a cell of each) unless it is in
            ``categorical``, or a number that is NaN or infinite (naming its row).
    """
    categorical = name_list("categorical", categorical)
    unknown = [name for name in categorical if name not in table.columns]
    if unknown:
        raise errors.ConfigError(
            f"{errors.arg('categorical')} names {_quoted(unknown)}, which {table.source} does not have; "
            f"its columns are {_quoted(table.names, 8)}"
        )
    columns = {}
    for name, column in table.columns.items():
        if name in categorical:
            column = column if column.kind == "text" else numbers_as_text(column)
        elif column.kind == "text":
            column = _maybe_numbers(table, name, column)
        if column.kind == "number":
            check_finite(table, name, column)
        columns[name] = column
    return table._replace(columns=columns)


def _maybe_numbers(table: Table, name: str, column: Column) -> Column:
    """A text column as numbers when every cell is one; refused when some are and some are not."""
    assert column.levels is not None  # a text column always has its levels
    is_number, _ = number_levels(column.levels)
    if len(column.levels) == 0 or not is_number.any():
        return column
    if is_number.all():
        return text_as_numbers(column)
    text_at = int(np.flatnonzero(~is_number[np.maximum(column.values, 0)] & ~column.missing)[0])
    number_at = int(np.flatnonzero(is_number[np.maximum(column.values, 0)] & ~column.missing)[0])
    # Plain words: a command line that speaks Python's names only through a rewrite must not be told
    # `categorical=...`; the exact setting where the caller has a word for it.
    flag = f" ({errors.setting('categorical', name)})" if errors.has_word("categorical") else ""
    raise errors.DataError(
        f"{table.source} column {name!r} mixes numbers and text: {column.cells([number_at])[0]!r} at "
        f"{table.where([number_at])}, {column.cells([text_at])[0]!r} at {table.where([text_at])}; if it is a "
        f"numeric column, fix or blank the text cells (blanks are imputed); if it holds categories, read it as "
        f"categorical{flag}"
    )


def check_finite(table: Table, name: str, column: Column) -> None:
    """Refuse a NaN or infinite number that is not a blank cell, or one that float32 (the features' dtype)
    cannot hold (1e39 is finite in float64 but would reach training as infinity), naming its row."""
    bad = ~np.isfinite(column.values) & ~column.missing
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = float(column.values[first])
        text = "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
        raise errors.DataError(
            f"{table.source} {table.where([first])}, column {name!r}: {text!r} is not a finite number"
            f"{f' ({int(bad.sum())} such cells)' if bad.sum() > 1 else ''}"
        )
    largest = np.finfo(np.float32).max
    huge = np.abs(np.where(column.missing, 0.0, column.values)) > largest
    if huge.any():
        first = int(np.flatnonzero(huge)[0])
        raise errors.DataError(
            f"{table.source} {table.where([first])}, column {name!r}: {column.values[first]:g} is beyond what float32 "
            f"(the model's dtype) can hold (±{largest:.3g}): rescale that feature (e.g. to other units)"
        )


def name_list(argument: str, names: Iterable[str] | str | None) -> tuple[str, ...]:
    """The argument ``argument``'s column names as a tuple (a single name, a list, or None: none)."""
    if names is None:
        return ()
    if isinstance(names, str):
        return (names,)
    try:
        names = tuple(names)
    except TypeError:
        raise errors.ArgumentTypeError(
            f"{errors.arg(argument)} must be a list of column names, got {type(names).__name__}: {names!r}"
        ) from None
    bad = [name for name in names if not isinstance(name, str)]
    if bad:
        raise errors.ArgumentTypeError(f"{errors.arg(argument)} must hold column names (str), got {bad[0]!r}")
    return names


def _quoted(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(map(repr, names[:limit]))
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
