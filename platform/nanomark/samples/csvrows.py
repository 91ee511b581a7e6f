"""Reading a sample CSV into rows: each cell cleaned by its model field, each row's errors.

Nothing here looks at the database; :mod:`nanomark.samples.csvsaving` checks the
rows against a lab's samples and materials.
"""

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django import forms

from nanomark.samples.choices import MaterialKind
from nanomark.samples.csvheader import Column, PropertyColumn, read_header
from nanomark.samples.csvimport import MAX_ROWS, NUMBER_COLUMNS, CSVImportError, check_size
from nanomark.samples.models import (
    SYNTHESIS_CONDITIONS,
    Material,
    PropertyMeasurement,
    Sample,
    Synthesis,
)

_KINDS = {value: value for value in MaterialKind.values} | {
    label.lower(): value for value, label in MaterialKind.choices
}


@dataclass
class ImportRow:
    """One sample line of the file, its cleaned values and what is wrong with it.

    ``material_kind`` is a :class:`MaterialKind` value or "" (the existing material's);
    ``synthesis`` holds the cleaned values of the filled synthesis columns;
    ``properties`` the (column, value) pairs of filled property cells.
    """

    line: int
    code: str
    material: str
    material_kind: str
    description: str
    synthesis: dict[str, Any] = field(default_factory=dict)
    properties: list[tuple[PropertyColumn, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    creates_material: bool = False


@dataclass
class ImportPreview:
    """The parsed file: its rows (each with its errors) and its property columns."""

    rows: list[ImportRow]
    property_columns: list[PropertyColumn]
    delimiter: str

    @property
    def error_rows(self) -> list[ImportRow]:
        """The rows that have at least one error."""
        return [row for row in self.rows if row.errors]

    @property
    def is_clean(self) -> bool:
        """Whether every row can be saved."""
        return not self.error_rows

    @property
    def new_materials(self) -> dict[str, str]:
        """Materials the import creates: name -> kind."""
        return {row.material: row.material_kind for row in self.rows if row.creates_material}


def _model_fields(model, names, **overrides) -> dict[str, tuple[forms.Field, Any]]:
    """Column -> (form field that parses a cell, model field whose validators check it)."""
    fields = {}
    for name in names:
        model_field = model._meta.get_field(name)
        fields[name] = (model_field.formfield(**overrides.get(name, {})), model_field)
    return fields


# Cells are checked by the models' own form fields and validators (no per-row form or query).
_CELL_FIELDS = {
    **_model_fields(Sample, ("code", "description")),
    **_model_fields(Material, ("name",)),
    **_model_fields(Synthesis, SYNTHESIS_CONDITIONS, performed_on={"input_formats": ["%Y-%m-%d"]}),
}
_PROPERTY_VALUE = _model_fields(PropertyMeasurement, ("value",))["value"]


def read_csv(data: bytes) -> ImportPreview:
    """Parse and validate the file on its own (no database look-ups).

    Raises:
        CSVImportError: not UTF-8, over :data:`MAX_CSV_BYTES` or :data:`MAX_ROWS`,
            no header, a required column missing, an unknown or repeated column.
    """
    text = _decode(data)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next((cells for cells in reader if any(c.strip() for c in cells)), None)
    except csv.Error as error:
        raise CSVImportError(f"The header line cannot be read: {error}.") from None
    if header is None:
        raise CSVImportError("The file is empty.")
    columns, property_columns = read_header(header)
    rows = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == MAX_ROWS:
                raise CSVImportError(f"The file has more than {MAX_ROWS} samples; split it.")
            rows.append(_read_row(reader.line_num, cells, columns, property_columns, delimiter))
    except csv.Error as error:
        raise CSVImportError(f"Line {reader.line_num} cannot be read: {error}.") from None
    if not rows:
        raise CSVImportError("The file has a header but no samples.")
    _flag_repeated_codes(rows)
    return ImportPreview(rows=rows, property_columns=property_columns, delimiter=delimiter)


def _decode(data: bytes) -> str:
    check_size(len(data))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CSVImportError(
            f"The file is not UTF-8 text (byte 0x{data[error.start]:02x} at position "
            f"{error.start}). Save it as 'CSV UTF-8' and upload it again."
        ) from None


def _delimiter(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;").delimiter
    except csv.Error:
        header = text.lstrip().partition("\n")[0]
        return ";" if header.count(";") > header.count(",") else ","


def _read_row(
    line: int,
    cells: list[str],
    columns: list[Column],
    property_columns: list[PropertyColumn],
    delimiter: str,
) -> ImportRow:
    errors = []
    if len(cells) > len(columns):
        errors.append(f"{len(cells)} cells, but the header has {len(columns)} columns.")
    values = {column: cell.strip() for column, cell in zip(columns, cells, strict=False)}
    if delimiter != ",":
        for column in (*NUMBER_COLUMNS, *property_columns):
            if column in values:
                values[column] = values[column].replace(",", ".")
    row = ImportRow(
        line=line,
        code=values.get("code", ""),
        material=values.get("material", ""),
        material_kind=_material_kind(values.get("material_kind", ""), errors),
        description=values.get("description", ""),
        errors=errors,
    )
    _clean("code", row.code, _CELL_FIELDS["code"], errors)
    _clean("description", row.description, _CELL_FIELDS["description"], errors)
    _clean("material", row.material, _CELL_FIELDS["name"], errors)
    for column in SYNTHESIS_CONDITIONS:
        text = values.get(column, "")
        if text:
            row.synthesis[column] = _clean(column, text, _CELL_FIELDS[column], errors)
    for column in property_columns:
        text = values.get(column, "")
        if text:
            row.properties.append((column, _clean(column.header, text, _PROPERTY_VALUE, errors)))
    return row


def _clean(label: str, text: str, fields: tuple[forms.Field, Any], errors: list[str]) -> Any:
    """The cell's value, or None with "label: message (got text)" added to ``errors``."""
    formfield, model_field = fields
    try:
        value = formfield.clean(text)
        if value not in formfield.empty_values:
            model_field.run_validators(value)
    except forms.ValidationError as error:
        errors.append(f"{label}: {' '.join(error.messages)}" + (f" (got {text!r})" if text else ""))
        return None
    return value


def _material_kind(text: str, errors: list[str]) -> str:
    if not text:
        return ""
    kind = _KINDS.get(text.lower())
    if kind is None:
        errors.append(
            f"material_kind: unknown kind {text!r}; expected one of "
            f"{', '.join(MaterialKind.values)}."
        )
        return ""
    return kind


def _flag_repeated_codes(rows: list[ImportRow]) -> None:
    first_line: dict[str, int] = {}
    for row in rows:
        if not row.code:
            continue
        if row.code in first_line:
            row.errors.append(f"code: {row.code} is also on line {first_line[row.code]}.")
        else:
            first_line[row.code] = row.line
