"""Export values as text in Arrow (nanomark.exports.arrowtext): CSV lines and JSON objects."""

import csv
import io
import json
import math
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest

from nanomark.exports.arrowtext import csv_header, csv_lines, json_objects

AWKWARD_TEXT = [
    'say "hi"',
    "back\\slash",
    "two\nlines",
    "cr\rlf",
    "tab\there",
    "bell\x07 nul\x00",
    "a,b",
    "ünïcødé ✓",
    "",
    None,
    "=SUM(A1)",
    "-1",
    "@x",
    "+y",
]


def _batch(**columns: pa.Array) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(columns)


def _csv(batch: pa.RecordBatch) -> list[list[str]]:
    body = csv_header(batch.schema.names) + csv_lines(batch)
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


def _json(batch: pa.RecordBatch) -> list[dict]:
    return json.loads(b"[" + json_objects(batch) + b"]")


def test_json_text_reads_back_as_stored_whatever_it_holds():
    batch = _batch(text=pa.array(AWKWARD_TEXT, pa.string()))
    assert [record["text"] for record in _json(batch)] == AWKWARD_TEXT


def test_json_escapes_every_control_character():
    text = "".join(map(chr, range(0x20)))
    body = json_objects(_batch(text=pa.array([text])))
    assert not any(code < 0x20 for code in body)
    assert json.loads(body)["text"] == text


def test_csv_text_reads_back_with_formulas_defused_and_empty_text_quoted():
    batch = _batch(text=pa.array(AWKWARD_TEXT, pa.string()), n=pa.array(range(len(AWKWARD_TEXT))))
    cells = [row[0] for row in _csv(batch)[1:]]
    defused = [f"'{t}" if t and t[0] in "=+-@\t\r" else t for t in AWKWARD_TEXT]
    assert cells == ["" if t is None else t for t in defused]
    lines = csv_lines(batch).decode().split("\n")
    assert lines[0] == '"say ""hi""",0'
    empty, missing = AWKWARD_TEXT.index(""), AWKWARD_TEXT.index(None)
    assert lines[empty + 1] == f'"",{empty}'  # + 1: one text holds a line break
    assert lines[missing + 1] == f",{missing}"


def test_floats_read_back_to_the_same_doubles_and_always_look_like_floats():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(5000) * 10.0 ** rng.integers(-300, 300, 5000)
    values = [*values.tolist(), 5e-324, 1.7976931348623157e308, 0.0, -0.0, 1.0, 2.0**53, 1e16]
    batch = _batch(x=pa.array(values, pa.float64()))
    cells = [row[0] for row in _csv(batch)[1:]]
    assert [float(cell) for cell in cells] == values
    assert all(set(cell) & set(".e") for cell in cells)
    assert [record["x"] for record in _json(batch)] == values
    assert all(isinstance(record["x"], float) for record in _json(batch))


def test_non_finite_floats_are_nan_in_csv_and_null_in_json():
    batch = _batch(
        x=pa.array([math.nan, math.inf, -math.inf, None], pa.float64()), n=pa.array([1, 2, 3, 4])
    )
    assert [row[0] for row in _csv(batch)[1:]] == ["nan", "inf", "-inf", ""]
    assert [record["x"] for record in _json(batch)] == [None] * 4


def test_times_and_days_are_iso_8601():
    times = [datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 1, 1, 2, 3, 4500, tzinfo=UTC)]
    batch = _batch(
        at=pa.array([*times, None], pa.timestamp("us", tz="UTC")),
        on=pa.array([date(2024, 1, 2), None, date(1969, 12, 31)], pa.date32()),
        n=pa.array([1, None, -(2**62)], pa.int64()),
    )
    assert _csv(batch)[1:] == [
        ["2024-06-01T00:00:00.000000Z", "2024-01-02", "1"],
        ["2024-06-01T01:02:03.004500Z", "", ""],
        ["", "1969-12-31", str(-(2**62))],
    ]
    records = _json(batch)
    assert [datetime.fromisoformat(r["at"]) for r in records[:2]] == times
    assert [r["on"] for r in records] == ["2024-01-02", None, "1969-12-31"]
    assert [r["n"] for r in records] == [1, None, -(2**62)]


@pytest.mark.parametrize("name", ["prop:BET area [m2/g]", 'say "x", y', "=cmd"])
def test_column_names_are_written_as_text_cells_and_json_keys(name):
    batch = _batch(**{name: pa.array([1.5])})
    assert _csv(batch)[0] == ["'" + name if name.startswith("=") else name]
    assert _json(batch) == [{name: 1.5}]


def test_an_empty_batch_writes_nothing():
    batch = _batch(x=pa.array([], pa.float64()))
    assert csv_lines(batch) == json_objects(batch) == b""
