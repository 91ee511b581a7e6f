from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from nanomark.imaging.models import DefectMask, OrderLabel, ParticleAnnotation, SEMImage


@admin.register(SEMImage)
class SEMImageAdmin(admin.ModelAdmin):
    list_display = [
        "original_filename",
        "sample",
        "lab",
        "width_px",
        "height_px",
        "bit_depth",
        "pixel_size_nm",
        "pixel_size_source",
        "magnification",
        "accelerating_voltage_kv",
        "uploaded_at",
    ]
    list_filter = ["lab", "format", "pixel_size_source", "instrument", "detector", "uploaded_at"]
    search_fields = ["original_filename", "sha256", "sample__code"]
    date_hierarchy = "uploaded_at"
    autocomplete_fields = ["sample"]
    readonly_fields = [
        "thumbnail_tag",
        "sha256",
        "format",
        "size_bytes",
        "width_px",
        "height_px",
        "bit_depth",
        "channels",
        "raw_metadata",
        "uploaded_by",
        "uploaded_at",
    ]

    @admin.display(description="Preview")
    def thumbnail_tag(self, obj: SEMImage) -> str:
        return format_html(
            '<img src="{}" alt="" height="96">', reverse("image-thumbnail", args=[obj.pk])
        )

    def has_add_permission(self, request) -> bool:
        # Images enter through the ingest service (upload page, API, import_sem), which
        # validates, hashes and makes previews; the admin only corrects metadata.
        return False


@admin.register(OrderLabel)
class OrderLabelAdmin(admin.ModelAdmin):
    list_display = ["image", "label", "source", "annotator", "created_at"]
    list_filter = ["label", "source", "image__lab"]
    search_fields = ["image__original_filename", "image__sample__code"]
    autocomplete_fields = ["image", "annotator"]


@admin.register(DefectMask, ParticleAnnotation)
class AnnotationAdmin(admin.ModelAdmin):
    """Defect masks and particle labels: who drew them, who reviewed them."""

    list_display = ["image", "source", "annotator", "reviewer", "reviewed_at", "created_at"]
    list_filter = ["source", "image__lab", "reviewed_at"]
    search_fields = ["image__original_filename", "image__sample__code"]
    autocomplete_fields = ["image", "annotator", "reviewer"]
