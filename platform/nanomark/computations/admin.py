from django.contrib import admin

from nanomark.computations.models import AdsorptionEnergy, MonteCarloRun, XtbCalculation


@admin.register(MonteCarloRun)
class MonteCarloRunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "sample",
        "source_image",
        "defect_mask",
        "status",
        "rate_per_step",
        "clark_evans_r",
        "queued_at",
    ]
    list_filter = ["status", "lab"]
    search_fields = ["sample__code", "source_image__original_filename"]
    readonly_fields = ["queued_at", "started_at", "finished_at", "attempts", "worker_host"]


@admin.register(XtbCalculation)
class XtbCalculationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "task",
        "method",
        "status",
        "energy_eh",
        "homo_lumo_gap_ev",
        "electronic_temperature_k",
        "wall_time_s",
        "lab",
    ]
    list_filter = ["task", "method", "status", "lab"]
    search_fields = ["name", "program_version"]
    readonly_fields = ["queued_at", "started_at", "finished_at", "attempts", "worker_host"]


@admin.register(AdsorptionEnergy)
class AdsorptionEnergyAdmin(admin.ModelAdmin):
    list_display = ["site", "energy_kcal_mol", "material", "lab", "created_at"]
    list_filter = ["site", "lab"]
