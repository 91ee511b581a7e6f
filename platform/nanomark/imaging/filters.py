"""Filters of image lists, shared by the web UI and the REST API, and of the API's lists of
order labels, defect masks and calibration changes (django-filter)."""

import django_filters

from nanomark.booleanfilters import BooleanFilter
from nanomark.idfilters import IdFilter
from nanomark.imaging.choices import AnnotationSource, OrderClass
from nanomark.imaging.models import (
    CalibrationChange,
    DefectMask,
    OrderLabel,
    ParticleAnnotation,
    SEMImage,
)
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


class OrderLabelFilter(django_filters.FilterSet):
    """Lab, image, label and source."""

    lab = django_filters.CharFilter(field_name="image__lab__slug", label="Lab (slug)")
    image = IdFilter(field_name="image_id")
    label = django_filters.ChoiceFilter(choices=OrderClass.choices)
    source = django_filters.ChoiceFilter(choices=AnnotationSource.choices)
    include_replaced = BooleanFilter(
        method="keep_all", label="Also labels replaced by a later one of the same annotator"
    )

    class Meta:
        model = OrderLabel
        fields = []

    def filter_queryset(self, queryset):
        """Current labels only, unless ``include_replaced=true``."""
        queryset = super().filter_queryset(queryset)
        return queryset if self.form.cleaned_data.get("include_replaced") else queryset.current()

    def keep_all(self, queryset, name, value):
        """Read by :meth:`filter_queryset`; filters nothing itself."""
        return queryset


class _AnnotationFilter(django_filters.FilterSet):
    """Lab, image and source of an image's annotations (masks, particle labels)."""

    lab = django_filters.CharFilter(field_name="image__lab__slug", label="Lab (slug)")
    image = IdFilter(field_name="image_id")
    source = django_filters.ChoiceFilter(choices=AnnotationSource.choices)


class DefectMaskFilter(_AnnotationFilter):
    """Lab, image and source."""

    class Meta:
        model = DefectMask
        fields = []


class ParticleAnnotationFilter(_AnnotationFilter):
    """Lab, image and source."""

    class Meta:
        model = ParticleAnnotation
        fields = []


class CalibrationChangeFilter(django_filters.FilterSet):
    """Lab and image."""

    lab = django_filters.CharFilter(field_name="image__lab__slug", label="Lab (slug)")
    image = IdFilter(field_name="image_id")

    class Meta:
        model = CalibrationChange
        fields = []
