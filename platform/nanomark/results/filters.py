"""Filters of analysis-run lists, shared by the web UI and the REST API (django-filter)."""

import django_filters
from django.db.models import Q

from nanomark.idfilters import IdFilter
from nanomark.results.models import AnalysisRun
from nanomark.runs import RunStatus


class AnalysisRunFilter(django_filters.FilterSet):
    """Lab, image, sample, status, and a model version used in any role."""

    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    image = IdFilter(field_name="image_id")
    sample = IdFilter(field_name="image__sample_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    models = IdFilter(
        method="used_model", label="Model version (classifier, segmenter or embedder)"
    )

    class Meta:
        model = AnalysisRun
        fields = []

    def used_model(self, queryset, name, value):
        return queryset.filter(
            Q(classifier_id=value) | Q(segmenter_id=value) | Q(embedder_id=value)
        )
