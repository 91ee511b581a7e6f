"""Export routes: ``images.<fmt>`` and ``samples.<fmt>`` for fmt in csv, json, parquet."""

from django.urls import path

from nanomark.exports import correlationviews, views

urlpatterns = [
    path("images.<str:fmt>", views.export_table, {"table": "images"}, name="export-images"),
    path("samples.<str:fmt>", views.export_table, {"table": "samples"}, name="export-samples"),
    path("correlation/", correlationviews.correlation, name="correlation"),
]
