from django.contrib import admin

from nanomark.registry.models import ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "task",
        "architecture",
        "encoder",
        "input_pixel_size_nm",
        "is_active",
        "lab",
        "created_at",
    ]
    list_filter = ["task", "architecture", "is_active", "lab"]
    search_fields = ["name", "architecture", "encoder", "weights_sha256"]
    readonly_fields = ["weights_sha256", "created_at"]
    filter_horizontal = ["training_images", "training_labels", "training_masks"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "task",
        "status",
        "attempts",
        "model_version",
        "lab",
        "queued_at",
        "finished_at",
    ]
    list_filter = ["task", "status", "lab"]
    readonly_fields = ["queued_at", "started_at", "finished_at"]
