"""Filters of row ids (django-filter), shared by the web pages and the REST API.

A primary key is a positive 64-bit signed integer in every database the
platform runs on (SQLite's INTEGER, PostgreSQL's bigint). A filter value
outside that range cannot match a row, and handing it to the database fails
(SQLite: ``OverflowError``; PostgreSQL: an out-of-range parameter), so the
form field refuses it like any other bad value: the page shows the error, the
API answers 400 naming the parameter.
"""

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field

#: The largest primary key the databases can hold (a 64-bit signed integer).
MAX_ID = 2**63 - 1

#: The API schema of an id parameter: what the form field accepts.
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

_OUT_OF_RANGE = f"An id is a whole number from 1 to {MAX_ID}."


def parse_id(text: Any) -> int:
    """``text`` (ASCII digits, or an int) as a primary key; else a ``ValidationError``.

    ``str.isdigit`` alone would pass ``'²'``; a value past :data:`MAX_ID` cannot
    be bound as a query parameter.
    """
    text = str(text)
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID):
        raise ValidationError(_OUT_OF_RANGE, code="id_range")
    return int(text)


class IdField(forms.IntegerField):
    """A row id: a whole number from 1 to :data:`MAX_ID` (``1e19``, ``-1``, ``1.5`` are errors)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdModelChoiceField(forms.ModelChoiceField):
    """A ``ModelChoiceField`` of rows by primary key that checks the id's range before looking."""

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        parse_id(value)
        return super().to_python(value)


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.NumberFilter):
    """Rows whose ``field_name`` (an id column, e.g. ``sample_id``) equals the value."""

    field_class = IdField


@extend_schema_field(ID_SCHEMA)
class IdModelChoiceFilter(django_filters.ModelChoiceFilter):
    """A ``ModelChoiceFilter`` (a select on the page) whose value is range-checked as an id."""

    field_class = IdModelChoiceField


class IdListWidget(forms.TextInput):
    """Every value of a repeated parameter, each possibly a comma-separated list, as one list."""

    def value_from_datadict(self, data, files, name: str) -> list[str]:
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name) or ""]
        return [part.strip() for value in values for part in value.split(",") if part.strip()]


class IdListField(forms.Field):
    """Row ids given as ``?sample=1&sample=2`` or ``?sample=1,2``: a sorted tuple of ints."""

    widget = IdListWidget

    def to_python(self, value: list[str] | None) -> tuple[int, ...]:
        ids = set()
        for part in value or ():
            try:
                ids.add(parse_id(part))
            except ValidationError:
                raise ValidationError(
                    f"holds {part!r}, not an id (a whole number 1 to {MAX_ID})", code="id_range"
                ) from None
        return tuple(sorted(ids))


@extend_schema_field(
    {
        "type": "array",
        "items": ID_SCHEMA,
        "description": "ids, the parameter repeated or its values comma-separated",
    }
)
class IdListFilter(django_filters.Filter):
    """Rows whose ``field_name`` (an id column) is one of the ids given; none given: no filter."""

    field_class = IdListField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("lookup_expr", "in")
        super().__init__(*args, **kwargs)
