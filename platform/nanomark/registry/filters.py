"""Filters of model-version lists, shared by the web UI and the REST API (django-filter)."""

import django_filters

from nanomark.booleanfilters import BooleanFilter
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion


class ModelVersionFilter(django_filters.FilterSet):
    """Lab, task and whether the version is its lab's active one."""

    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    task = django_filters.ChoiceFilter(choices=ModelTask.choices)
    is_active = BooleanFilter()

    class Meta:
        model = ModelVersion
        fields = []
