"""Reading CSV and Parquet files into a :class:`~jaxnn.data.table.Table`, through Apache Arrow (``pyarrow``).

Why pyarrow, not pandas: measured, the two are even; the rest decides. Reading a 109 MiB CSV (550,000
rows, 30 mixed columns) into NumPy columns (``python -m benchmarks --suite tabular``, 2-core Intel Xeon
shared with other jobs; medians of the least-disturbed calls in 3 fresh processes): pyarrow 1.07 s
(0.78 s of CPU), pandas 1.37 s (0.89 s); the first call's peak memory 439 MiB and 386 MiB. jaxnn needs
the columns as NumPy arrays and nothing of a DataFrame. Parquet needs pyarrow in either case, and
pyarrow alone reads both formats into the same Arrow table, so CSV and Parquet columns go through one
conversion; its CSV reader says exactly what jaxnn needs to know (a blank cell is a null, ``nan`` a
NaN, invalid UTF-8 a column of bytes) and parses on every core. One dependency instead of two: pyarrow
is ~170 MB installed; pandas would add ~85 MB and still need pyarrow for Parquet (and, since pandas 3,
for its fast strings).

What a CSV file may be:

* **Encoding**: given, or detected from a byte-order mark (UTF-8, UTF-16, UTF-32), else UTF-8. A file that
  is not valid in its encoding is refused naming the line (:class:`~jaxnn.DataError`); jaxnn never guesses
  a legacy 8-bit encoding, which would read without error and change the text.
* **Delimiter**: given, or the one of ``, ; TAB |`` that splits the header and the first rows into the same
  number of fields (the most fields wins; a comma when none does).
* **Header**: the first non-blank row names the columns (names are trimmed; an empty name becomes
  ``unnamed_<k>``; a repeated name is refused). Blank lines are skipped; quoted fields may hold newlines.
* **Cells**: a blank cell (or one of ``missing_values``) is missing; ``true``/``false`` (any case) make a
  boolean column; everything else is a number or text (dates are text).
* Compressed files (``.gz``, ``.bz2``, ``.zst``, ...) are read as they are.

Messages name a CSV file's rows by their line (found by reading the file again with Python's ``csv``
module, only when there is something to report) and a Parquet file's by their index.
"""

import codecs
import contextlib
import csv
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxnn import errors
from jaxnn.data.table import RowNames, Table, table_from_arrow

__all__ = ["DELIMITERS", "PARQUET_SUFFIXES", "Layout", "inspect_file", "read_table"]

DELIMITERS = (",", ";", "\t", "|")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_SAMPLE_BYTES = 1 << 16
_SNIFF_LINES = 30
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BOOLEANS = {"true_values": ["true", "True", "TRUE"], "false_values": ["false", "False", "FALSE"]}


class Layout(NamedTuple):
    """How a file is laid out: what :func:`inspect_file` found and :func:`read_table` reads by.

    Attributes:
        path: the file.
        format: ``"csv"`` or ``"parquet"``.
        names: its columns (a headerless CSV file's are given or ``column_1, column_2, ...``).
        encoding: a CSV file's encoding (a Python codec name).
        delimiter: a CSV file's field separator.
        skip_rows: a CSV file's lines before the data (the header and blank lines before it).
        header: whether a CSV file has a header row.
    """

    path: str
    format: str
    names: list[str]
    encoding: str = "utf-8"
    delimiter: str = ","
    skip_rows: int = 0
    header: bool = True

    @property
    def source(self) -> str:
        """The file in messages: ``CSV file '/data/x.csv'``."""
        return f"{'CSV' if self.format == 'csv' else 'Parquet'} file {self.path!r}"


def file_format(path: str | os.PathLike, format: str | None = None) -> str:
    """``"parquet"`` for a ``.parquet``/``.pq``/``.parq`` file (or ``format="parquet"``), else ``"csv"``."""
    if format is not None:
        if format not in ("csv", "parquet"):
            raise errors.ConfigError(f"{errors.arg('format')} must be 'csv' or 'parquet', got {format!r}")
        return format
    return "parquet" if Path(path).suffix.lower() in PARQUET_SUFFIXES else "csv"


def inspect_file(
    path: str | os.PathLike,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    header: bool = True,
    names: Sequence[str] | None = None,
    format: str | None = None,
) -> Layout:
    """A file's :class:`Layout`: its columns and, for CSV, its encoding, delimiter and header.

    Args:
        path: the file.
        delimiter: a CSV file's field separator; detected when None.
        encoding: a CSV file's encoding (any Python codec name); detected when None.
        header: whether a CSV file's first non-blank row names the columns.
        names: a headerless CSV file's column names.
        format: ``"csv"`` or ``"parquet"``; by the file's extension when None.

    Raises:
        FileNotFoundError: no such file (a :class:`~jaxnn.errors.DataFileNotFoundError`).
        DataError: an unreadable or empty file, a header with a repeated name, a line that is not valid
            in the encoding (named).
        ConfigError: an unknown encoding or a delimiter that is not one character.
    """
    kind = file_format(path, format)
    path = str(Path(path))
    if kind == "parquet":
        return Layout(path, kind, _parquet_names(path))
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"'"):
        raise errors.ConfigError(
            f"{errors.arg('delimiter')} must be one character such as ',' or ';', got {delimiter!r}"
        )
    layout = Layout(path, kind, [], encoding or "utf-8", delimiter or ",", 0, header)
    head, whole = _head(layout)
    layout = layout._replace(encoding=_encoding(encoding, head))
    lines = _sample_lines(layout, head, whole)
    if not any(line.strip() for line in lines):
        raise errors.DataError(f"{layout.source} is empty; expected {'a header row and ' if header else ''}data rows")
    layout = layout._replace(delimiter=delimiter or sniff_delimiter(lines))
    if not header:
        width = len(next(row for row in csv.reader(lines, delimiter=layout.delimiter) if row))
        given = list(names) if names is not None else [f"column_{k}" for k in range(1, width + 1)]
        return layout._replace(names=given)
    return _with_header(layout, lines)


def read_table(
    layout: Layout,
    *,
    columns: Sequence[str] | None = None,
    text_columns: Iterable[str] = (),
    missing_values: Iterable[str] = (),
) -> Table:
    """The file's columns ``columns`` (all when None), kinds as the file has them.

    Args:
        layout: what :func:`inspect_file` returned.
        columns: the columns to read, each one of ``layout.names``.
        text_columns: columns read as text whatever they hold (categories written as numbers).
        missing_values: cell texts that mean a blank cell, besides the empty one (e.g. ``"NA"``).

    Raises:
        DataError: a row with the wrong number of fields, or a line that is not valid in the encoding
            (each naming the line), or a file the library cannot parse.
    """
    columns = list(layout.names) if columns is None else list(columns)
    if layout.format == "parquet":
        return _read_parquet(layout, columns)
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    read_options = pa_csv.ReadOptions(
        column_names=layout.names, skip_rows=layout.skip_rows, encoding=_arrow_encoding(layout.encoding)
    )
    parse_options = pa_csv.ParseOptions(delimiter=layout.delimiter, newlines_in_values=True)
    convert_options = pa_csv.ConvertOptions(
        include_columns=columns,
        column_types={name: pa.string() for name in text_columns if name in columns},
        null_values=["", *missing_values],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        timestamp_parsers=[],
        **_BOOLEANS,
    )
    try:
        with _binary(layout.path) as stream:
            arrow = pa_csv.read_csv(stream, read_options, parse_options, convert_options)
    except UnicodeDecodeError:
        raise decoding_error(layout) from None
    except pa.ArrowInvalid as error:
        raise _parse_error(layout, str(error)) from None
    return table_from_arrow(
        arrow,
        source=layout.source,
        row_names=RowNames("line", _LineNumbers(layout)),
        on_binary=lambda name: decoding_error(layout),
    )


# ---------------------------------------------------------------------------
# CSV: encoding, delimiter, header


@contextlib.contextmanager
def _binary(path: str) -> Iterator[Any]:
    """The file's bytes (decompressed by its extension), with the house errors for a missing or unreadable file."""
    import pyarrow as pa

    try:
        stream = pa.input_stream(path)
    except FileNotFoundError:
        raise errors.DataFileNotFoundError(f"CSV file not found: {path!r}") from None
    except OSError as error:
        raise errors.DataError(f"cannot read CSV file {path!r}: {error}") from None
    with stream:
        yield stream


@contextlib.contextmanager
def _text(layout: Layout) -> Iterator[io.TextIOWrapper]:
    with _binary(layout.path) as stream:
        yield io.TextIOWrapper(stream, encoding=layout.encoding, errors="replace", newline="")


def _head(layout: Layout) -> tuple[bytes, bool]:
    """The file's first bytes (at least a header line and a few rows, when the file has them) and
    whether they are the whole file."""
    chunks: list[bytes] = []
    with _binary(layout.path) as stream:
        while True:
            chunk = stream.read(_SAMPLE_BYTES)
            chunks.append(chunk)
            if len(chunk) < _SAMPLE_BYTES:
                return b"".join(chunks), True
            if sum(c.count(b"\n") for c in chunks) > _SNIFF_LINES or len(chunks) >= 64:
                return b"".join(chunks), False


def _encoding(given: str | None, head: bytes) -> str:
    if given is not None:
        try:
            return codecs.lookup(given).name
        except (LookupError, TypeError):
            raise errors.ConfigError(
                f"unknown {errors.arg('encoding')} {given!r}; e.g. 'utf-8', 'cp1252', 'latin-1'"
            ) from None
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return "utf-8"


def _arrow_encoding(encoding: str) -> str:
    """Arrow reads UTF-8 natively (and skips a UTF-8 byte-order mark); other encodings through Python's codecs."""
    return "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding


def _sample_lines(layout: Layout, head: bytes, whole: bool) -> list[str]:
    """The first lines of the file, decoded; the last one dropped when the sample cut it."""
    decoder = codecs.getincrementaldecoder(layout.encoding)()
    try:
        text = decoder.decode(head, final=whole)
    except UnicodeDecodeError:
        raise decoding_error(layout) from None
    lines = list(io.StringIO(text, newline=""))  # only \n, \r\n and \r end a line, as in a CSV reader
    if not whole and len(lines) > 1:
        lines = lines[:-1]
    return lines[: _SNIFF_LINES + 1]


def sniff_delimiter(lines: Sequence[str]) -> str:
    """The one of :data:`DELIMITERS` that splits every non-blank line of ``lines`` into the same number (> 1)
    of fields, the one with most fields if several do; ``","`` when none does."""
    best, best_width = ",", 1
    for candidate in DELIMITERS:
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=candidate) if row}
        except csv.Error:
            continue
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = candidate, width
    return best


def _with_header(layout: Layout, lines: list[str]) -> Layout:
    reader = csv.reader(lines, delimiter=layout.delimiter)
    try:
        header = next(row for row in reader if row)
    except csv.Error as error:
        raise errors.DataError(f"{layout.source} is malformed: {error}") from None
    names = [cell.strip() or f"unnamed_{k}" for k, cell in enumerate(header, start=1)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise errors.DataError(f"{layout.source} has several columns named {', '.join(map(repr, repeated))}")
    numbered = names == [str(k) for k in range(len(names))]  # pandas' default names (DataFrame(array).to_csv)
    if len(names) > 1 and not numbered and all(_is_number(name) for name in names):
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        errors.warn(
            f"the first row of {layout.source} is all numbers ({shown}): it is read as the column names, not as data; "
            "if it is data, add a header row naming the columns"
        )
    return layout._replace(names=names, skip_rows=reader.line_num)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------
# Naming lines in messages (read again with the csv module, only when there is something to report)


class _LineNumbers:
    """Data row index -> the line it starts on, read from the file the first time a message needs it."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.starts = np.zeros(0, np.int64)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        needed = int(ids.max()) + 1 if ids.size else 0
        if needed > len(self.starts):
            self.starts = np.fromiter((start for start, _ in _rows(self.layout, limit=needed)), np.int64)
        return self.starts[ids]


def _rows(layout: Layout, *, limit: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` of each data row, blank lines skipped, as Arrow reads them."""
    with _text(layout) as text:
        reader = csv.reader(text, delimiter=layout.delimiter)
        count, previous = 0, 0
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if previous <= layout.skip_rows or not row:
                continue
            yield start, row
            count += 1
            if limit is not None and count >= limit:
                return


def _parse_error(layout: Layout, message: str) -> errors.DataError:
    if "invalid UTF8" in message:
        return decoding_error(layout)
    width = len(layout.names)
    for line, row in _rows(layout):
        if len(row) != width:
            expected = f"the header has {width} columns" if layout.header else f"{width} columns are expected"
            return errors.DataError(f"{layout.source} line {line} has {len(row)} fields but {expected}")
    return errors.DataError(f"{layout.source} is malformed: {message}")


def decoding_error(layout: Layout) -> errors.DataError:
    """The error for a file that is not valid in its encoding, naming the first line that is not."""
    label = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8"}.get(layout.encoding, layout.encoding)
    for number, raw in enumerate(_byte_lines(layout.path), start=1):
        try:
            raw.decode(layout.encoding)
        except UnicodeDecodeError as error:
            column = len(raw[: error.start].decode(layout.encoding, errors="replace")) + 1
            hint = (
                ""
                if not errors.can_say("encoding")
                else f"; if the file was saved in another encoding, pass it: {errors.setting('encoding', 'cp1252')} "
                f"(Windows), {errors.setting('encoding', 'latin-1')}, ..."
                if label == "UTF-8"
                else "; pass the encoding the file was saved in"
            )
            return errors.DataError(
                f"{layout.source} line {number} is not valid {label}: byte {raw[error.start]:#04x} at "
                f"character {column}{hint}"
            )
    return errors.DataError(f"{layout.source} is not valid {label}; pass the encoding the file was saved in")


def _byte_lines(path: str) -> Iterator[bytes]:
    with _binary(path) as stream:
        pending = b""
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            *lines, pending = (pending + chunk).split(b"\n")
            yield from lines
        if pending:
            yield pending


# ---------------------------------------------------------------------------
# Parquet


def _parquet_names(path: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        raise errors.DataFileNotFoundError(f"Parquet file not found: {path!r}")
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as error:
        raise errors.DataError(f"cannot read Parquet file {path!r}: {error}") from None


def _read_parquet(layout: Layout, columns: list[str]) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        arrow = pq.read_table(layout.path, columns=columns)
    except (pa.ArrowInvalid, OSError) as error:
        raise errors.DataError(f"cannot read Parquet file {layout.path!r}: {error}") from None
    return table_from_arrow(arrow, source=layout.source)
