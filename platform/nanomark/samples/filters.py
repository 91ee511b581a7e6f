"""Filters of the sample list, shared by the web UI and the REST API (django-filter)."""

import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from nanomark.booleanfilters import BooleanFilter
from nanomark.idfilters import IdModelChoiceFilter
from nanomark.results.current import current_order_scores
from nanomark.samples.choices import MaterialKind, SynthesisKind
from nanomark.samples.models import Material, Sample


def _user_materials(request):
    if request is None:
        return Material.objects.none()
    return Material.objects.restrict(request.user).select_related("lab").order_by("name")


class SampleFilter(django_filters.FilterSet):
    """Search, material, synthesis conditions, order-score range (current analyses), dates."""

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
    # Query parameters order_score_min and order_score_max.
    order_score = django_filters.RangeFilter(
        method="order_score_range", label="Order score (an image's current analysis)"
    )
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

    @extend_schema_field(OpenApiTypes.NUMBER)  # the API schema cannot infer a method's type
    def order_score_range(self, queryset, name, value):
        """Samples with at least one image whose current order score is in the range."""
        bounds = {}
        if value.start is not None:
            bounds["score__gte"] = value.start
        if value.stop is not None:
            bounds["score__lte"] = value.stop
        if not bounds:
            return queryset
        scores = current_order_scores().filter(**bounds)
        return queryset.filter(images__analysis_runs__order_score__in=scores).distinct()
