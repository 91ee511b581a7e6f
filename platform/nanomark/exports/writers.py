"""Streaming writers of export tables: CSV, JSON and Parquet, each yielding bytes chunks.

Every writer reads the table as Arrow record batches (the COPY path's
batches as they come, or the rows gathered ``batch_rows`` at a time) and
yields one chunk per batch, so memory stays bounded by one batch whatever
the number of rows. Values are formatted a batch at a time by
:mod:`nanomark.exports.arrowtext` (CSV, JSON) or written as Arrow types
(Parquet: date32 and UTC timestamps); a missing value is an empty CSV field
(an empty text is ``""``), a JSON null, a Parquet null. CSV alone is opened
by spreadsheets, so a text cell there that a spreadsheet would run as a
formula gets a leading ``'`` (OWASP's CSV injection advice); JSON and
Parquet keep every value as stored.
"""

import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

import pyarrow as pa
import pyarrow.parquet as pq

from nanomark.exports.arrowtext import csv_header, csv_lines, json_objects
from nanomark.exports.columns import Column, Table

#: Rows per yielded chunk (and per Parquet row group) where the rows are not Arrow batches.
BATCH_ROWS = 2000
#: Batches formatted at once as CSV or JSON, each on a thread of its own (Arrow's kernels
#: release the GIL); the rows are still read on the caller's thread (its database connection).
FORMAT_THREADS = 2

_ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}


def _formatted(
    batches: Iterable[pa.RecordBatch], format_batch: Callable[[pa.RecordBatch], bytes]
) -> Iterator[bytes]:
    """``format_batch(batch)`` of each batch in order, up to :data:`FORMAT_THREADS` at once."""
    with ThreadPoolExecutor(FORMAT_THREADS, thread_name_prefix="export-format") as pool:
        pending = deque()
        for batch in batches:
            pending.append(pool.submit(format_batch, batch))
            if len(pending) == FORMAT_THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_csv(table: Table, batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """CSV in UTF-8: a header of column names, then one line per row (RFC 4180 quoting)."""
    header = csv_header([column.name for column in table.columns])
    for lines in _formatted(_table_batches(table, batch_rows), csv_lines):
        if lines:
            yield header + lines
            header = b""
    if header:  # an empty table
        yield header


def write_json(table: Table, batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """A JSON array of objects, one per row, keyed by column name; NaN and ±inf become null."""
    opening = b"["
    for objects in _formatted(_table_batches(table, batch_rows), json_objects):
        if objects:
            yield opening + objects
            opening = b","
    yield b"[]" if opening == b"[" else b"]"


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


def _batches(rows: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    if size < 1:
        raise ValueError(f"batch_rows must be >= 1, got {size}")
    while batch := list(islice(rows, size)):
        yield batch


def _table_batches(table: Table, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """``table`` as record batches of :func:`arrow_schema`: its own, or its rows gathered."""
    if table.batches is not None:
        yield from table.batches
        return
    schema = arrow_schema(table.columns)
    for batch in _batches(table.rows, batch_rows):
        columns = zip(*batch, strict=True)
        arrays = [
            pa.array(values, type) for values, type in zip(columns, schema.types, strict=True)
        ]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_parquet(table: Table, batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """A Parquet file, one row group per batch, yielded as each row group is written."""
    sink = _ByteSink()
    with pq.ParquetWriter(sink, arrow_schema(table.columns), compression="zstd") as writer:
        for batch in _table_batches(table, batch_rows):
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
