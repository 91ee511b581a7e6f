"""Export values as text, a whole record batch at a time in Arrow: CSV lines and JSON objects.

The writers of :mod:`nanomark.exports.writers` format every value here, so
the COPY path and the ORM path write the same bytes, and no value passes
through a Python object: each column is formatted by a few Arrow kernels and
the rows are joined by one. Times are ISO 8601 in UTC with microseconds
(``2024-06-01T12:00:00.000000Z``), days ``2024-06-01``, floats in their
shortest exact form, always with a fraction or an exponent (``1.0``, ``0.1``,
``1e+16``), text as stored.

CSV (RFC 4180): a missing value is an empty field and an empty text ``""``;
a text cell is quoted where it holds ``,``, ``"`` or a line break; one that
a spreadsheet would run as a formula gets a leading ``'``; NaN and ±inf are
``nan``, ``inf``, ``-inf``. JSON: a missing value and a non-finite float are
``null`` (JSON has no NaN); text is escaped as JSON requires (``"``, ``\\``,
U+0000–U+001F) and written as UTF-8.
"""

import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: First characters of text cells a spreadsheet would run as a formula (OWASP).
_FORMULA_STARTS = pa.array(["=", "+", "-", "@", "\t", "\r"])
_CSV_SPECIAL = '[",\r\n]'
_CONTROL = "[\x00-\x1f]"


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def _plain_text(array: pa.Array) -> list[pa.Array]:
    """A number, day or time column as text pieces whose row-wise join is each value's text.

    Nulls stay null in the first piece (a second piece is ``""`` there). A float whose
    text is a whole number (1.0 is cast ``"1"``) gets its fraction back from a second
    piece, ``".0"`` or ``""``: an extra input to the row join costs less than rewriting
    the column's text.
    """
    if pa.types.is_timestamp(array.type):  # UTC: cast as naive times (25x faster than strftime)
        text = array.cast(pa.timestamp(array.type.unit)).cast(pa.string())
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
        return [pc.binary_join_element_wise(text, "Z", "")]
    text = array.cast(pa.string())
    if not pa.types.is_floating(array.type):
        return [text]
    whole = pc.and_(pc.is_finite(array), pc.equal(pc.floor(array), array))
    integral = pc.fill_null(pc.and_(whole, pc.invert(pc.match_substring(text, "e"))), False)
    return [text, pc.if_else(integral, ".0", "")]


def _csv_text(array: pa.Array) -> pa.Array:
    """Text cells: defused where a formula starts, quoted where needed, ``""`` when empty."""
    risky = pc.is_in(pc.utf8_slice_codeunits(array, 0, 1), value_set=_FORMULA_STARTS)
    if _any(risky):
        array = pc.if_else(risky, pc.binary_join_element_wise("'", array, ""), array)
    special = pc.match_substring_regex(array, _CSV_SPECIAL)
    if _any(special):
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(array, '"', '""'), '"', "")
        array = pc.if_else(special, quoted, array)
    return pc.if_else(pc.equal(array, ""), '""', array)


def _csv_cells(array: pa.Array) -> list[pa.Array]:
    """Pieces of each value's CSV field (joined row-wise); a missing value is empty."""
    cells = [_csv_text(array)] if pa.types.is_string(array.type) else _plain_text(array)
    return [pc.fill_null(cells[0], ""), *cells[1:]]


def _json_text(array: pa.Array) -> pa.Array:
    """JSON strings of text values: quoted, with ``"``, ``\\`` and control characters escaped."""
    for special, escaped in (("\\", "\\\\"), ('"', '\\"')):  # backslash first
        if _any(pc.match_substring(array, special)):
            array = pc.replace_substring(array, special, escaped)
    if _any(pc.match_substring_regex(array, _CONTROL)):  # rare: then one pass per character
        for code in range(0x20):
            array = pc.replace_substring(array, chr(code), f"\\u{code:04x}")
    return pc.binary_join_element_wise('"', array, '"', "")


def _json_values(array: pa.Array) -> list[pa.Array]:
    """Pieces of each value's JSON text (joined row-wise); missing, NaN and ±inf: ``null``."""
    if pa.types.is_floating(array.type):
        array = pc.if_else(pc.is_finite(array), array, None)
    if pa.types.is_string(array.type):
        pieces = [_json_text(array)]
    elif pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        pieces = _plain_text(array)
    else:  # days and times: digits and separators only, so nothing to escape
        pieces = [pc.binary_join_element_wise('"', *_plain_text(array), '"', "")]
    return [pc.fill_null(pieces[0], "null"), *pieces[1:]]


def _concatenated(pieces: Sequence, rows: int) -> pa.Buffer:
    """Row ``i`` of every piece (arrays of ``rows`` texts, or one text for all) joined, in order.

    Every piece must be free of nulls (a null would drop its row's text).
    """
    lines = pc.binary_join_element_wise(*pieces, "")
    if lines.null_count:
        raise ValueError("a piece of the rows' text is null")
    # The rows' texts lie back to back in the result's data buffer: one slice holds them all.
    offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset : lines.offset + rows + 1]
    return lines.buffers()[2][offsets[0] : offsets[-1]]


def csv_header(names: Sequence[str]) -> bytes:
    """The CSV line of column ``names``."""
    return ",".join(_csv_text(pa.array(names, pa.string())).to_pylist()).encode() + b"\n"


def csv_lines(batch: pa.RecordBatch) -> bytes:
    """The rows of ``batch`` as CSV lines, each ending in ``\\n``."""
    if not batch.num_rows:
        return b""
    pieces = []
    for array in batch.columns:
        pieces += [*_csv_cells(array), ","]
    pieces[-1] = "\n"
    return _concatenated(pieces, batch.num_rows).to_pybytes()


def json_objects(batch: pa.RecordBatch) -> bytes:
    """The rows of ``batch`` as JSON objects keyed by column name, separated by commas.

    ``b""`` for an empty batch; a non-empty one has no comma before its first object
    or after its last.
    """
    if not batch.num_rows:
        return b""
    pieces = []
    for i, (name, array) in enumerate(zip(batch.schema.names, batch.columns, strict=True)):
        pieces += [("," if i else "{") + json.dumps(name) + ":", *_json_values(array)]
    pieces.append("},")
    objects = _concatenated(pieces, batch.num_rows)
    return objects.slice(0, objects.size - 1).to_pybytes()
