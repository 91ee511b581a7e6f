"""Filters of image lists, shared by the web UI and the REST API (django-filter)."""

import django_filters

from nanomark.booleanfilters import BooleanFilter
from nanomark.idfilters import IdFilter
from nanomark.imaging.choices import OrderClass
from nanomark.imaging.models import OrderLabel, SEMImage
from nanomark.runs import RunStatus


class SEMImageFilter(django_filters.FilterSet):
    """Sample, lab, file name, pixel size, calibration, dates, order label and analysis status."""

    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    sample = IdFilter(field_name="sample_id")
    sample_code = django_filters.CharFilter(field_name="sample__code")
    filename = django_filters.CharFilter(field_name="original_filename", lookup_expr="icontains")
    # Query parameters pixel_size_nm_min and pixel_size_nm_max.
    pixel_size_nm = django_filters.RangeFilter()
    calibrated = BooleanFilter(
        field_name="pixel_size_nm",
        lookup_expr="isnull",
        exclude=True,
        label="Calibrated (pixel size known)",
    )
    upload_batch = django_filters.CharFilter(label="Upload batch key")
    uploaded_after = django_filters.DateFilter(field_name="uploaded_at", lookup_expr="date__gte")
    uploaded_before = django_filters.DateFilter(field_name="uploaded_at", lookup_expr="date__lte")
    label = django_filters.ChoiceFilter(
        choices=OrderClass.choices, method="filter_label", label="Current order label"
    )
    analysis_status = django_filters.ChoiceFilter(
        field_name="analysis_runs__status", choices=RunStatus.choices, distinct=True
    )

    class Meta:
        model = SEMImage
        fields = []

    def filter_label(self, queryset, name, value):
        """Images with a current (not replaced) label of class ``value``."""
        labelled = OrderLabel.objects.current().filter(label=value).values("image_id")
        return queryset.filter(pk__in=labelled)
