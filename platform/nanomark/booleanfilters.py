"""A yes/no filter (django-filter) that refuses a value it cannot read, for pages and the API.

django-filter's ``BooleanFilter`` reads any unknown value (``?calibrated=maybe``)
as "not given" and lists everything, so a typo silently widens a list. This
one answers like any other bad value: the page shows the error, the API a 400.
An empty value is still "not given", as a web form sends it.
"""

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class StrictNullBooleanSelect(forms.NullBooleanSelect):
    """The yes/no/unknown select, handing an unknown value on instead of reading it as unknown."""

    def value_from_datadict(self, data, files, name: str) -> Any:
        value = data.get(name)
        if isinstance(value, str) and value.strip().lower() not in _TRUE | _FALSE | {
            "",
            "unknown",
            "2",
            "3",
        }:
            return value
        return super().value_from_datadict(data, files, name)


class StrictNullBooleanField(forms.NullBooleanField):
    """``True``, ``False``, or ``None`` for an empty value; anything else is an error."""

    widget = StrictNullBooleanSelect

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValidationError("Give true or false.", code="invalid")

    def validate(self, value: bool | None) -> None:
        pass


class BooleanFilter(django_filters.BooleanFilter):
    """``django_filters.BooleanFilter`` with :class:`StrictNullBooleanField` (true or false)."""

    field_class = StrictNullBooleanField
