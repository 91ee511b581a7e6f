"""A PostgreSQL query streamed out with ``COPY … TO STDOUT`` into Arrow record batches.

The database writes the query's rows as CSV; whole rows (libpq hands COPY
data out one row at a time) are gathered into blocks of about
:data:`BLOCK_BYTES` and pyarrow's CSV reader parses each block into record
batches typed by the table's columns (:func:`nanomark.exports.writers.arrow_schema`).
Memory stays bounded by one block whatever the number of rows, and the
database computes the next rows while Python writes these. A NULL is an
unquoted empty field and an empty text a quoted one, so the two stay apart.
Times and days leave the database as integers (:func:`wire_value`) and become
Arrow timestamps and dates here, whatever the session's DateStyle; floats
leave it in their shortest exact form (``extra_float_digits`` 1, PostgreSQL
>= 12's default), so they parse back to the same doubles.
"""

from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as arrow_csv
from django.db import connection, transaction

from nanomark.exports.columns import Column
from nanomark.exports.writers import arrow_schema

#: Bytes of CSV gathered from the database before they are parsed (about 3000 export rows).
BLOCK_BYTES = 2**20

#: Column types that leave the database as integers: SQL around the value ``{}``, the integer type.
_AS_INTEGER = {
    "datetime": ("(EXTRACT(EPOCH FROM {}) * 1000000)::bigint", pa.int64()),  # µs since 1970 UTC
    "date": ("({} - DATE '1970-01-01')", pa.int32()),  # days since 1970-01-01
}


#: For the COPY's transaction. An export reads most of a lab, where hash joins win, but the
#: lab restriction's subqueries make the planner expect a few rows and pick nested loops
#: (seconds per 10k rows); compiling the query (JIT) costs more than it saves; the sorts and
#: hashes of 100k rows spill to disk below 64 MB (the final sort holds about 50 MB); at the
#: default cost of handing rows between processes the planner keeps most of the work off a
#: second core; floats leave in their shortest exact form whatever the session says.
_SESSION_SETTINGS = {
    "enable_nestloop": "off",
    "jit": "off",
    "work_mem": "64MB",
    "parallel_setup_cost": "10",
    "parallel_tuple_cost": "0.001",
    "extra_float_digits": "1",
}
_SETTINGS_SQL = "SELECT " + ", ".join(
    f"set_config('{name}', '{value}', true)" for name, value in _SESSION_SETTINGS.items()
)


def wire_value(expression: str, column: Column) -> str:
    """SQL of ``expression`` (a value of ``column``) as :func:`copy_batches` reads it back."""
    integer = _AS_INTEGER.get(column.type)
    return integer[0].format(expression) if integer else expression


def _blocks(rows: Iterable[memoryview]) -> Iterator[bytes]:
    """Whole CSV rows joined into blocks of at least :data:`BLOCK_BYTES` (the last: the rest)."""
    block, size = [], 0
    for row in rows:
        block.append(row)
        size += len(row)
        if size >= BLOCK_BYTES:
            yield b"".join(block)
            block, size = [], 0
    if block:
        yield b"".join(block)


def copy_batches(sql: str, params: Sequence, columns: Sequence[Column]) -> Iterator[pa.RecordBatch]:
    """Record batches of ``sql``'s rows, typed and named by ``columns``, streamed with COPY.

    ``sql`` is a SELECT with ``%s`` placeholders for ``params`` (bound client-side: COPY
    takes no server-side parameters) whose values are ``columns`` in order, each written
    with :func:`wire_value`. The query runs, in a transaction of its own planner settings,
    when the first batch is asked for.
    """
    schema = arrow_schema(columns)
    names = [f"c{i}" for i in range(len(columns))]
    read_types = [
        _AS_INTEGER[column.type][1] if column.type in _AS_INTEGER else type
        for column, type in zip(columns, schema.types, strict=True)
    ]
    options = {
        "read_options": arrow_csv.ReadOptions(
            column_names=names, use_threads=False, block_size=4 * BLOCK_BYTES
        ),
        "parse_options": arrow_csv.ParseOptions(newlines_in_values=True),
        "convert_options": arrow_csv.ConvertOptions(
            column_types=dict(zip(names, read_types, strict=True)),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    }
    statement = f"COPY ({sql}) TO STDOUT (FORMAT csv)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_SETTINGS_SQL)
        with cursor.cursor.copy(statement, params) as copy:
            yield from _parsed(_blocks(copy), schema, options)


def _parsed(blocks: Iterable[bytes], schema: pa.Schema, options: dict) -> Iterator[pa.RecordBatch]:
    for block in blocks:
        parsed = arrow_csv.read_csv(pa.py_buffer(block), **options)
        columns = zip(parsed.columns, schema.types, strict=True)
        typed = pa.Table.from_arrays([col.cast(type) for col, type in columns], schema=schema)
        yield from typed.to_batches()


def batch_rows(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple]:
    """The rows of ``batches`` as tuples of Python values (None for nulls), in order."""
    for batch in batches:
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)
