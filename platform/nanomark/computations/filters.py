"""Filters of Monte Carlo and xtb lists, shared by the web UI and the REST API (django-filter)."""

import django_filters

from nanomark.computations.choices import XtbTaskKind
from nanomark.computations.models import MonteCarloRun, XtbCalculation
from nanomark.idfilters import IdFilter
from nanomark.runs import RunStatus


class MonteCarloRunFilter(django_filters.FilterSet):
    """Lab, status, sample and the image whose defect map was simulated."""

    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    sample = IdFilter(field_name="sample_id")
    source_image = IdFilter(field_name="source_image_id")

    class Meta:
        model = MonteCarloRun
        fields = []


class XtbCalculationFilter(django_filters.FilterSet):
    """Lab, status, task, method (e.g. GFN2-xTB), sample and material."""

    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    task = django_filters.ChoiceFilter(choices=XtbTaskKind.choices)
    method = django_filters.CharFilter(lookup_expr="iexact")
    sample = IdFilter(field_name="sample_id")
    material = IdFilter(field_name="material_id")

    class Meta:
        model = XtbCalculation
        fields = []
