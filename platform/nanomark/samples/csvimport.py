"""Bulk import of samples, their Pd-decoration conditions and measured properties from CSV.

The file has one sample a line. Columns (header names, in any order):

* ``code`` (required): the sample's lab code, new to the lab;
* ``material`` (required): a material of the lab by name, or a new one;
* ``material_kind``: a :class:`MaterialKind` value or label; required to create a material;
* ``description``;
* synthesis (one Pd-decoration step, made when any of these is filled): ``precursor``,
  ``precursor_mass_mg``, ``support_mass_mg``, ``solvent``, ``solvent_volume_ml``,
  ``temperature_c``, ``duration_min``, ``performed_on`` (YYYY-MM-DD);
* properties, one column each: ``prop:<name> [<unit>]``, e.g. ``prop:BET surface area [m2/g]``
  (the unit is optional; an empty cell records nothing).

The file is UTF-8 (a BOM is fine), at most :data:`MAX_CSV_BYTES`, delimited by ``,`` or
``;`` (with ``;`` a decimal comma is accepted). Empty lines are skipped.

An import only ever adds: a code the lab already has is an error (its sample is edited
on its page), so a file imported twice cannot duplicate syntheses or overwrite values.
An import with any row in error saves nothing (:func:`save_import` refuses), so a
corrected file can then be imported whole, without first working out which rows of
a partial import went in.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db import IntegrityError, transaction

from nanomark.accounts.models import Lab
from nanomark.samples.choices import MaterialKind
from nanomark.samples.models import (
    SYNTHESIS_CONDITIONS,
    Material,
    PropertyMeasurement,
    Sample,
    Synthesis,
)

#: Largest file accepted, in bytes.
MAX_CSV_BYTES = 2 * 1024 * 1024
#: Most sample rows in one file (the preview lists them all).
MAX_ROWS = 5000

SAMPLE_COLUMNS = ("code", "material", "material_kind", "description")
REQUIRED_COLUMNS = ("code", "material")
NUMBER_COLUMNS = (
    "precursor_mass_mg",
    "support_mass_mg",
    "solvent_volume_ml",
    "temperature_c",
    "duration_min",
)
PROPERTY_PREFIX = "prop:"
_PROPERTY_HEADER = re.compile(
    r"^prop:\s*(?P<name>[^\[\]]*?)\s*(?:\[(?P<unit>[^\[\]]*)\])?$", re.IGNORECASE
)
_KINDS = {value: value for value in MaterialKind.values} | {
    label.lower(): value for value, label in MaterialKind.choices
}


class CSVImportError(ValueError):
    """The file as a whole cannot be imported; the message says why, for the user."""


@dataclass(frozen=True)
class PropertyColumn:
    """A ``prop:<name> [<unit>]`` column."""

    header: str
    name: str
    unit: str


#: A header cell: a sample or synthesis column name, or a property column.
Column = str | PropertyColumn


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
_PROPERTY_NAME_LENGTH = PropertyMeasurement._meta.get_field("name").max_length
_PROPERTY_UNIT_LENGTH = PropertyMeasurement._meta.get_field("unit").max_length


def template_csv() -> str:
    """A CSV with every column and one example row, to fill in."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [*SAMPLE_COLUMNS, *SYNTHESIS_CONDITIONS, "prop:BET surface area [m2/g]", "prop:ID/IG"]
    )
    writer.writerow(
        [
            "532-S1",
            "Graphite",
            MaterialKind.GRAPHITE.value,
            "Pd on graphite flakes",
            "Pd2dba3·CHCl3",
            "2.0",
            "10.0",
            "CHCl3",
            "5.0",
            "80",
            "3",
            "2024-05-02",
            "12.5",
            "0.21",
        ]
    )
    return buffer.getvalue()


def prepare_import(data: bytes, lab: Lab) -> ImportPreview:
    """Parse ``data`` (the file's bytes) and check every row, also against ``lab``'s rows.

    Raises:
        CSVImportError: the file cannot be read as a sample table at all (encoding,
            size, header); row-level problems are listed on the rows instead.
    """
    preview = read_csv(data)
    check_against_lab(preview, lab)
    return preview


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
    columns, property_columns = _read_header(header)
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


def check_against_lab(preview: ImportPreview, lab: Lab) -> None:
    """Add the errors that depend on ``lab``'s stored samples and materials to the rows.

    A code the lab has is an error; a material the lab lacks is created when the row
    gives its kind; a kind that contradicts the material's (stored, or given on an
    earlier row) is an error. Marks the rows that create a material.
    """
    existing_codes = set(Sample.objects.filter(lab=lab).values_list("code", flat=True))
    kinds = dict(Material.objects.filter(lab=lab).values_list("name", "kind"))
    for row in preview.rows:
        if row.code in existing_codes:
            row.errors.append(
                f"code: {lab.name} already has a sample {row.code}; an import only adds "
                "samples (edit it on its page)."
            )
        if not row.material:
            continue
        known_kind = kinds.get(row.material)
        if known_kind is None:
            if row.material_kind:
                kinds[row.material] = row.material_kind
                row.creates_material = True
            else:
                row.errors.append(
                    f"material: {row.material!r} is not a material of {lab.name}; "
                    "give its material_kind to create it."
                )
        elif row.material_kind and row.material_kind != known_kind:
            row.errors.append(
                f"material_kind: {row.material} is {known_kind}, not {row.material_kind} "
                "(as stored, or as given on an earlier line)."
            )


def save_import(data: bytes, lab: Lab, user) -> list[Sample]:
    """Import the file into ``lab`` in one transaction: every sample, or none.

    The file is checked again inside the transaction, so rows stored since the
    preview are taken into account.

    Raises:
        CSVImportError: the file or any row has an error; nothing was saved.
    """
    try:
        with transaction.atomic():
            preview = prepare_import(data, lab)
            if not preview.is_clean:
                raise CSVImportError(
                    f"{len(preview.error_rows)} of {len(preview.rows)} lines have errors; "
                    "nothing was imported."
                )
            return _save_rows(preview, lab, user)
    except IntegrityError:
        raise CSVImportError(
            f"{lab.name}'s samples changed during the import; nothing was imported. "
            "Upload the file again."
        ) from None


def _save_rows(preview: ImportPreview, lab: Lab, user) -> list[Sample]:
    materials = {material.name: material for material in Material.objects.filter(lab=lab)}
    for name, kind in preview.new_materials.items():
        materials[name] = Material.objects.create(lab=lab, name=name, kind=kind)
    samples = Sample.objects.bulk_create(
        Sample(
            lab=lab,
            code=row.code,
            material=materials[row.material],
            description=row.description,
            created_by=user,
        )
        for row in preview.rows
    )
    pairs = list(zip(samples, preview.rows, strict=True))
    Synthesis.objects.bulk_create(
        Synthesis(sample=sample, **row.synthesis) for sample, row in pairs if row.synthesis
    )
    PropertyMeasurement.objects.bulk_create(
        PropertyMeasurement(sample=sample, name=column.name, unit=column.unit, value=value)
        for sample, row in pairs
        for column, value in row.properties
    )
    return samples


def check_size(size_bytes: int) -> None:
    """Raise CSVImportError if a file of ``size_bytes`` is over :data:`MAX_CSV_BYTES`."""
    if size_bytes > MAX_CSV_BYTES:
        raise CSVImportError(
            f"The file has {size_bytes:,} bytes; the limit is {MAX_CSV_BYTES:,} bytes "
            f"({MAX_CSV_BYTES / 2**20:g} MiB)."
        )


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


def _read_header(header: list[str]) -> tuple[list[Column], list[PropertyColumn]]:
    """The column of each header cell, and the property columns among them."""
    known = (*SAMPLE_COLUMNS, *SYNTHESIS_CONDITIONS)
    columns: list[Column] = []
    problems = []
    for cell in header:
        name = cell.strip()
        if name.lower() in known:
            columns.append(name.lower())
        elif name.lower().startswith(PROPERTY_PREFIX):
            columns.append(_property_column(name, problems))
        else:
            problems.append(f"unknown column {name!r}" if name else "a column without a name")
    properties = [column for column in columns if isinstance(column, PropertyColumn)]
    names = [column for column in columns if isinstance(column, str)]
    names += [f"prop:{column.name}" for column in properties]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        problems.append(f"missing required column(s) {', '.join(missing)}")
    if problems:
        raise CSVImportError(
            f"The header cannot be used: {'; '.join(problems)}. Columns are "
            f"{', '.join(known)} and property columns 'prop:<name> [<unit>]'."
        )
    return columns, properties


def _property_column(header: str, problems: list[str]) -> PropertyColumn:
    match = _PROPERTY_HEADER.match(header)
    name = match["name"] if match else ""
    unit = (match["unit"] or "").strip() if match else ""
    if not name:
        problems.append(f"{header!r} is not 'prop:<name> [<unit>]'")
    elif len(name) > _PROPERTY_NAME_LENGTH or len(unit) > _PROPERTY_UNIT_LENGTH:
        problems.append(
            f"{header!r}: property names have at most {_PROPERTY_NAME_LENGTH} characters, "
            f"units {_PROPERTY_UNIT_LENGTH}"
        )
    return PropertyColumn(header=header, name=name, unit=unit)


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
