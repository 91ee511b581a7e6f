"""The export's filters (django-filter), for the web download and the API, which documents them.

One FilterSet per table: :class:`ImageExportFilter` selects the images of
the image table, :class:`SampleExportFilter` the samples of the sample
table, both by lab slug, material name, sample ids and an inclusive date
range (images by ``acquired_at``: images of unknown acquisition time are left
out once a range is given; samples by ``created_at``; days in the site's time
zone). A table is built from the rows the FilterSet's ``qs`` selects
(:mod:`nanomark.exports.rows`).

An export is a file someone analyses later, so a filter it cannot apply is an
error rather than ignored: an unknown parameter, a single-valued one given
twice, a bad value or a range that ends before it starts.
"""

from datetime import date, datetime, time, timedelta
from typing import ClassVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from nanomark.idfilters import IdListFilter
from nanomark.imaging.models import SEMImage
from nanomark.samples.models import Sample

#: Parameters that may be given more than once (the rest: once at most).
_REPEATABLE = {"sample"}

_NOT_A_DAY = "is not a date (YYYY-MM-DD)"


class ExportFilterForm(forms.Form):
    """The filters' form: refuses unknown or repeated parameters and a backward date range."""

    def clean(self) -> dict:
        cleaned = super().clean()
        unknown = sorted(set(self.data) - set(self.fields))
        if unknown:
            raise ValidationError(
                f"unknown filter {', '.join(unknown)}; expected {', '.join(self.fields)}"
            )
        for name in sorted(set(self.fields) - _REPEATABLE):
            given = [value for value in self.data.getlist(name) if value]
            if len(given) > 1:
                self.add_error(name, f"given {len(given)} times; give it once")
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise ValidationError(f"date_from {start} is after date_to {end}")
        return cleaned


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class _ExportFilter(django_filters.FilterSet):
    """The filters both tables share; a subclass names its path to the sample and its date."""

    #: Lookup path from the table's model to its sample ("" for samples).
    to_sample: ClassVar[str]
    #: The datetime field the date range applies to.
    date_field: ClassVar[str]

    lab = django_filters.CharFilter(method="by_sample", label="lab slug")
    material = django_filters.CharFilter(method="by_sample", label="material name")
    sample = IdListFilter(method="by_sample", label="sample ids, repeated or comma-separated")
    date_from = django_filters.DateFilter(
        method="by_day", label="first day, inclusive", error_messages={"invalid": _NOT_A_DAY}
    )
    date_to = django_filters.DateFilter(
        method="by_day", label="last day, inclusive", error_messages={"invalid": _NOT_A_DAY}
    )

    _SAMPLE_LOOKUPS: ClassVar[dict[str, str]] = {
        "lab": "lab__slug",
        "material": "material__name",
        "sample": "pk__in",
    }

    class Meta:
        form = ExportFilterForm
        fields = []

    def by_sample(self, queryset: QuerySet, name: str, value) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(**{f"{self.to_sample}{self._SAMPLE_LOOKUPS[name]}": value})

    def by_day(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        # Bounds as datetimes (not __date) so the comparison can use an index.
        if name == "date_from":
            return queryset.filter(**{f"{self.date_field}__gte": _day_start(value)})
        return queryset.filter(**{f"{self.date_field}__lt": _day_start(value + timedelta(days=1))})


class ImageExportFilter(_ExportFilter):
    """The images of an image export."""

    to_sample = "sample__"
    date_field = "acquired_at"

    class Meta(_ExportFilter.Meta):
        model = SEMImage


class SampleExportFilter(_ExportFilter):
    """The samples of a sample export."""

    to_sample = ""
    date_field = "created_at"

    class Meta(_ExportFilter.Meta):
        model = Sample


def error_text(filterset: _ExportFilter) -> str:
    """The filters' errors in one line, each field's as ``name='value' message``."""
    parts = []
    for name, messages in filterset.errors.items():
        if name == forms.forms.NON_FIELD_ERRORS:
            parts.extend(messages)
        else:
            given = ",".join(filterset.data.getlist(name))
            parts.extend(f"{name}={given!r} {message}" for message in messages)
    return "; ".join(parts)


#: The FilterSet of each export table, by the name the URLs give it.
EXPORT_FILTERS: dict[str, type[_ExportFilter]] = {
    "images": ImageExportFilter,
    "samples": SampleExportFilter,
}
