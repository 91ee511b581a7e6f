from django.contrib import admin

from nanomark.results.models import (
    AnalysisRun,
    DefectStatistic,
    OrderScore,
    ParticleStatistics,
    PatchEmbedding,
)


class DefectStatisticInline(admin.TabularInline):
    model = DefectStatistic
    extra = 0


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = [
        "image",
        "status",
        "attempts",
        "classifier",
        "segmenter",
        "embedder",
        "worker_host",
        "queued_at",
        "finished_at",
    ]
    list_filter = ["status", "lab", "classifier", "segmenter"]
    search_fields = ["image__original_filename", "image__sample__code", "error"]
    readonly_fields = ["models_key", "queued_at", "started_at", "finished_at", "attempts"]
    inlines = [DefectStatisticInline]


@admin.register(OrderScore)
class OrderScoreAdmin(admin.ModelAdmin):
    list_display = ["run", "score"]
    list_filter = ["run__lab"]


@admin.register(DefectStatistic)
class DefectStatisticAdmin(admin.ModelAdmin):
    list_display = [
        "run",
        "defect_class",
        "area_fraction",
        "skeleton_length_nm",
        "segment_count",
        "cluster_count",
    ]
    list_filter = ["defect_class", "run__lab"]


@admin.register(ParticleStatistics)
class ParticleStatisticsAdmin(admin.ModelAdmin):
    list_display = ["run", "count", "density_per_um2", "mean_diameter_nm", "clark_evans_r"]
    list_filter = ["run__lab"]


@admin.register(PatchEmbedding)
class PatchEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["run", "x_px", "y_px", "size_px"]
    list_filter = ["run__lab"]
