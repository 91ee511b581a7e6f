"""Filters of analysis-run lists, shared by the web UI and the REST API (django-filter)."""

import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from nanomark.idfilters import IdFilter
from nanomark.results.current import current_order_scores
from nanomark.results.models import MODEL_ROLES, AnalysisRun
from nanomark.runs import RunStatus
from nanomark.samples.filters import SampleFilter


class AnalysisRunFilter(django_filters.FilterSet):
    """Lab, image, sample, status, and a model version used in any role."""

    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    image = IdFilter(field_name="image_id")
    sample = IdFilter(field_name="image__sample_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    models = IdFilter(
        method="used_model",
        label="Model version (classifier, segmenter, embedder or particle segmenter)",
    )

    class Meta:
        model = AnalysisRun
        fields = []

    def used_model(self, queryset, name, value):
        used = Q()
        for role in MODEL_ROLES:
            used |= Q(**{f"{role}_id": value})
        return queryset.filter(used)


class AnalysedSampleFilter(SampleFilter):
    """The sample list's filters and the order-score range of the images' current analyses.

    Query parameters ``order_score_min`` and ``order_score_max``; used by the
    sample list page, the search page and the API's sample list.
    """

    order_score = django_filters.RangeFilter(
        method="order_score_range", label="Order score (an image's current analysis)"
    )

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
