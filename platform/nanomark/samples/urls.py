"""Sample pages (the sample list, the home page, is routed with the results app's view)."""

from django.urls import path

from nanomark.samples import views

urlpatterns = [
    path("samples/new/", views.sample_create, name="sample-create"),
    path("samples/import/", views.sample_import, name="sample-import"),
    path("samples/import/preview/", views.sample_import_preview, name="sample-import-preview"),
    path("samples/import/confirm/", views.sample_import_confirm, name="sample-import-confirm"),
    path(
        "samples/import/template.csv", views.sample_import_template, name="sample-import-template"
    ),
    path("samples/<int:pk>/", views.SampleDetailView.as_view(), name="sample-detail"),
    path("samples/<int:pk>/edit/", views.sample_edit, name="sample-edit"),
]
