"""Filters of the sample list, shared by the web UI and the REST API (django-filter)."""

import django_filters
from django.db.models import Q

from nanomark.booleanfilters import BooleanFilter
from nanomark.idfilters import IdModelChoiceFilter
from nanomark.samples.choices import MaterialKind, SynthesisKind
from nanomark.samples.models import Material, Sample


def _user_materials(request):
    if request is None:
        return Material.objects.none()
    return Material.objects.restrict(request.user).select_related("lab").order_by("name")


class SampleFilter(django_filters.FilterSet):
    """Search, lab, material, synthesis conditions, calibration, dates.

    The results app extends it with the order-score range
    (:class:`nanomark.results.filters.AnalysedSampleFilter`).
    """

    q = django_filters.CharFilter(method="search", label="Search code or description")
    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    material = IdModelChoiceFilter(queryset=_user_materials)
    material_kind = django_filters.ChoiceFilter(
        field_name="material__kind", choices=MaterialKind.choices, label="Material kind"
    )
    synthesis_kind = django_filters.ChoiceFilter(
        field_name="syntheses__kind",
        choices=SynthesisKind.choices,
        distinct=True,
        label="Synthesis kind",
    )
    precursor = django_filters.CharFilter(
        field_name="syntheses__precursor",
        lookup_expr="icontains",
        distinct=True,
        label="Precursor contains",
    )
    temperature_min = django_filters.NumberFilter(
        field_name="syntheses__temperature_c", lookup_expr="gte", distinct=True, label="T min (°C)"
    )
    temperature_max = django_filters.NumberFilter(
        field_name="syntheses__temperature_c", lookup_expr="lte", distinct=True, label="T max (°C)"
    )
    uncalibrated = BooleanFilter(method="with_uncalibrated_images", label="Has uncalibrated images")
    created_after = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Created from"
    )
    created_before = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="Created until"
    )

    class Meta:
        model = Sample
        fields = []

    def search(self, queryset, name, value):
        return queryset.filter(Q(code__icontains=value) | Q(description__icontains=value))

    def with_uncalibrated_images(self, queryset, name, value):
        """Samples with (true) or without (false) an image whose pixel size is unknown."""
        uncalibrated = Q(images__pixel_size_nm__isnull=True, images__isnull=False)
        matching = Sample.objects.filter(uncalibrated).values("pk")
        return queryset.filter(pk__in=matching) if value else queryset.exclude(pk__in=matching)
