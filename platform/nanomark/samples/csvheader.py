"""The header line of a sample CSV: its columns, among them the ``prop:<name> [<unit>]`` ones."""

import re
from dataclasses import dataclass

from nanomark.samples.csvimport import (
    PROPERTY_PREFIX,
    REQUIRED_COLUMNS,
    SAMPLE_COLUMNS,
    CSVImportError,
)
from nanomark.samples.models import SYNTHESIS_CONDITIONS, PropertyMeasurement

_PROPERTY_HEADER = re.compile(
    r"^prop:\s*(?P<name>[^\[\]]*?)\s*(?:\[(?P<unit>[^\[\]]*)\])?$", re.IGNORECASE
)
_PROPERTY_NAME_LENGTH = PropertyMeasurement._meta.get_field("name").max_length
_PROPERTY_UNIT_LENGTH = PropertyMeasurement._meta.get_field("unit").max_length


@dataclass(frozen=True)
class PropertyColumn:
    """A ``prop:<name> [<unit>]`` column."""

    header: str
    name: str
    unit: str


#: A header cell: a sample or synthesis column name, or a property column.
Column = str | PropertyColumn


def read_header(header: list[str]) -> tuple[list[Column], list[PropertyColumn]]:
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
