"""Streaming writers of export tables: CSV, JSON and Parquet, each yielding bytes chunks.

Every writer reads the table's rows in batches of ``batch_rows`` and yields
one chunk per batch, so memory stays bounded by one batch whatever the
number of rows (Parquet writes a table's Arrow batches, where it has them, as
they come). Dates and times are written as ISO 8601 (Parquet: date32 and
UTC timestamps); a missing value is an empty CSV field, a JSON null, a
Parquet null. CSV alone is opened by spreadsheets, so a text cell there that
a spreadsheet would run as a formula (starting with ``= + - @``, tab or
carriage return) is written with a leading ``'`` (OWASP's CSV injection
advice); JSON and Parquet keep every value as stored.
"""

import csv
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import pyarrow as pa
import pyarrow.parquet as pq

from nanomark.exports.columns import Column, Table

#: Rows per yielded chunk (and per Parquet row group).
BATCH_ROWS = 2000

#: First characters that make a spreadsheet read a CSV cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}


def _batches(rows: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    if size < 1:
        raise ValueError(f"batch_rows must be >= 1, got {size}")
    while batch := list(islice(rows, size)):
        yield batch


def write_csv(table: Table, batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """CSV in UTF-8: a header of column names, then one line per row.

    Times are ISO 8601 with a space between date and time (``str(datetime)``);
    text cells starting with one of :data:`FORMULA_STARTS` get a leading ``'``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.name for column in table.columns])
    text_columns = [i for i, column in enumerate(table.columns) if column.type == "str"]
    for batch in _batches(table.rows, batch_rows):
        writer.writerows(_without_formulas(batch, text_columns))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # the header of an empty table
        yield buffer.getvalue().encode()


def _without_formulas(rows: list[tuple], text_columns: list[int]) -> list[tuple]:
    """``rows`` with a ``'`` before each text cell (at ``text_columns``) that starts a formula."""
    cleaned = []
    for row in rows:
        risky = [i for i in text_columns if row[i] and row[i].startswith(FORMULA_STARTS)]
        if risky:
            row = tuple("'" + value if i in risky else value for i, value in enumerate(row))
        cleaned.append(row)
    return cleaned


def write_json(table: Table, batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """A JSON array of objects, one per row, keyed by column name; NaN and ±inf become null."""
    names = [column.name for column in table.columns]
    strict = json.JSONEncoder(allow_nan=False, default=_isoformat_value)
    opening = b"["
    for batch in _batches(table.rows, batch_rows):
        objects = [dict(zip(names, row, strict=True)) for row in batch]
        try:
            text = strict.encode(objects)
        except ValueError:  # a non-finite float: rare, so only then is every value checked
            text = strict.encode([{k: _finite(v) for k, v in obj.items()} for obj in objects])
        yield opening + text[1:-1].encode()
        opening = b","
    yield b"[]" if opening == b"[" else b"]"


def _isoformat_value(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


class _ByteSink(io.RawIOBase):
    """A write-only file that keeps what was written until :meth:`drain` hands it out."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        """The bytes written since the last drain."""
        data, self._chunks = b"".join(self._chunks), []
        return data


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """The Arrow schema of export ``columns`` (all nullable)."""
    return pa.schema([pa.field(column.name, _ARROW_TYPES[column.type]) for column in columns])


def _record_batches(rows: Iterator[tuple], schema: pa.Schema, size: int) -> Iterator:
    for batch in _batches(rows, size):
        columns = zip(*batch, strict=True)
        types = schema.types
        arrays = [pa.array(values, type) for values, type in zip(columns, types, strict=True)]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_parquet(table: Table, batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """A Parquet file, one row group per batch, yielded as each row group is written.

    The table's Arrow batches, where it has them, are written as they come.
    """
    schema = arrow_schema(table.columns)
    batches = table.batches
    if batches is None:
        batches = _record_batches(table.rows, schema, batch_rows)
    sink = _ByteSink()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            yield sink.drain()
    yield sink.drain()


@dataclass(frozen=True)
class ExportFormat:
    """A file format of exports: its writer and HTTP content type."""

    write: Callable[[Table], Iterator[bytes]]
    content_type: str


#: Export formats by file extension.
FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat(write_csv, "text/csv; charset=utf-8"),
    "json": ExportFormat(write_json, "application/json"),
    "parquet": ExportFormat(write_parquet, "application/vnd.apache.parquet"),
}
