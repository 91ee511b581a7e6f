"""Filters of the sample list, shared by the web UI and the REST API, and of the API's lists
of materials, synthesis steps and property measurements (django-filter)."""

import django_filters
from django import forms
from django.db.models import Q

from nanomark.booleanfilters import BooleanFilter
from nanomark.idfilters import IdFilter, IdModelChoiceFilter
from nanomark.samples.choices import MaterialKind, SynthesisKind
from nanomark.samples.models import Material, PropertyMeasurement, Sample, Synthesis


def _user_materials(request):
    if request is None:
        return Material.objects.none()
    return Material.objects.restrict(request.user).select_related("lab").order_by("name")


#: Filters on synthesis conditions: field name -> lookup on Synthesis.
SYNTHESIS_LOOKUPS = {
    "synthesis_kind": "kind",
    "precursor": "precursor__icontains",
    "temperature_min": "temperature_c__gte",
    "temperature_max": "temperature_c__lte",
}


class SampleFilterForm(forms.Form):
    """The sample filters' form: a temperature range may not end below its start."""

    def clean(self) -> dict:
        cleaned = super().clean()
        low, high = cleaned.get("temperature_min"), cleaned.get("temperature_max")
        if low is not None and high is not None and low > high:
            self.add_error("temperature_min", f"T min {low:g} °C is above T max {high:g} °C.")
        return cleaned


class SampleFilter(django_filters.FilterSet):
    """Search, lab, material, synthesis conditions, calibration, dates.

    The synthesis conditions (:data:`SYNTHESIS_LOOKUPS`) hold for one synthesis
    step together: "T from 80 °C with precursor Pd" is a step at 80 °C or above
    that used Pd, not one hot step and another with Pd. The sample list page,
    the search (page and API, which restrict hits to the samples it selects) and
    the API's sample list read it; the results app extends it with the
    order-score range (:class:`nanomark.results.filters.AnalysedSampleFilter`).
    """

    q = django_filters.CharFilter(method="search", label="Search code or description")
    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    material = IdModelChoiceFilter(queryset=_user_materials)
    material_kind = django_filters.ChoiceFilter(
        field_name="material__kind", choices=MaterialKind.choices, label="Material kind"
    )
    # Applied together by filter_queryset (their field names say what they match).
    synthesis_kind = django_filters.ChoiceFilter(
        field_name="syntheses__kind", choices=SynthesisKind.choices, label="Synthesis kind"
    )
    precursor = django_filters.CharFilter(
        field_name="syntheses__precursor", lookup_expr="icontains", label="Precursor contains"
    )
    temperature_min = django_filters.NumberFilter(
        field_name="syntheses__temperature_c", lookup_expr="gte", label="T min (°C)"
    )
    temperature_max = django_filters.NumberFilter(
        field_name="syntheses__temperature_c", lookup_expr="lte", label="T max (°C)"
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
        form = SampleFilterForm

    def filter_queryset(self, queryset):
        """Each filter in turn, the synthesis conditions as one subquery of synthesis steps."""
        synthesis = {}
        for name, value in self.form.cleaned_data.items():
            if name in SYNTHESIS_LOOKUPS:
                if value not in (None, ""):
                    synthesis[SYNTHESIS_LOOKUPS[name]] = value
            else:
                queryset = self.filters[name].filter(queryset, value)
        if synthesis:
            steps = Synthesis.objects.filter(**synthesis).values("sample_id")
            queryset = queryset.filter(pk__in=steps)
        return queryset

    def search(self, queryset, name, value):
        return queryset.filter(Q(code__icontains=value) | Q(description__icontains=value))

    def with_uncalibrated_images(self, queryset, name, value):
        """Samples with (true) or without (false) an image whose pixel size is unknown."""
        uncalibrated = Q(images__pixel_size_nm__isnull=True, images__isnull=False)
        matching = Sample.objects.filter(uncalibrated).values("pk")
        return queryset.filter(pk__in=matching) if value else queryset.exclude(pk__in=matching)


class MaterialFilter(django_filters.FilterSet):
    """Lab, kind, and a name search."""

    lab = django_filters.CharFilter(field_name="lab__slug", label="Lab (slug)")
    kind = django_filters.ChoiceFilter(choices=MaterialKind.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Material
        fields = []


class SynthesisFilter(django_filters.FilterSet):
    """Lab, sample and kind."""

    lab = django_filters.CharFilter(field_name="sample__lab__slug", label="Lab (slug)")
    sample = IdFilter(field_name="sample_id")
    kind = django_filters.ChoiceFilter(choices=SynthesisKind.choices)

    class Meta:
        model = Synthesis
        fields = []


class PropertyMeasurementFilter(django_filters.FilterSet):
    """Lab, sample and property name."""

    lab = django_filters.CharFilter(field_name="sample__lab__slug", label="Lab (slug)")
    sample = IdFilter(field_name="sample_id")
    name = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = PropertyMeasurement
        fields = []
