from django.contrib import admin

from nanomark.samples.models import (
    Material,
    PropertyMeasurement,
    Sample,
    Synthesis,
    SynthesisParameter,
)


@admin.register(Material)
class MaterialAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "supplier", "lab"]
    list_filter = ["kind", "lab"]
    search_fields = ["name", "supplier"]


class SynthesisInline(admin.StackedInline):
    model = Synthesis
    extra = 0
    show_change_link = True


class PropertyInline(admin.TabularInline):
    model = PropertyMeasurement
    extra = 0


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ["code", "material", "parent", "lab", "created_at"]
    list_filter = ["lab", "material__kind", "created_at"]
    search_fields = ["code", "description", "material__name"]
    autocomplete_fields = ["material", "parent"]
    inlines = [SynthesisInline, PropertyInline]


class SynthesisParameterInline(admin.TabularInline):
    model = SynthesisParameter
    extra = 0


@admin.register(Synthesis)
class SynthesisAdmin(admin.ModelAdmin):
    list_display = [
        "sample",
        "kind",
        "precursor",
        "precursor_mass_mg",
        "support_mass_mg",
        "solvent",
        "temperature_c",
        "duration_min",
        "performed_on",
    ]
    list_filter = ["kind", "solvent", "sample__lab"]
    search_fields = ["sample__code", "precursor", "solvent"]
    inlines = [SynthesisParameterInline]


@admin.register(PropertyMeasurement)
class PropertyMeasurementAdmin(admin.ModelAdmin):
    list_display = ["sample", "name", "value", "unit", "method", "measured_on"]
    list_filter = ["name", "sample__lab"]
    search_fields = ["sample__code", "name", "method"]
