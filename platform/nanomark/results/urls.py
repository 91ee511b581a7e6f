"""Web routes of the results app (mounted at ``analysis/``)."""

from django.urls import path

from nanomark.results import activation, views

urlpatterns = [
    path("images/<int:image_pk>/status.json", views.analysis_status, name="analysis-status"),
    path("images/<int:image_pk>/queue/", views.queue_image_analysis, name="analysis-queue"),
    path("runs/<int:pk>/retry/", views.retry_analysis, name="analysis-retry"),
    path("models/<int:pk>/activate/", activation.model_activate, name="model-activate"),
    path(
        "runs/<int:pk>/saliency.png", views.run_file, {"kind": "saliency"}, name="analysis-saliency"
    ),
    path(
        "runs/<int:pk>/particles.csv",
        views.run_file,
        {"kind": "particles"},
        name="analysis-particles",
    ),
    path(
        "runs/<int:pk>/probability/<str:defect_class>.png",
        views.probability_map,
        name="analysis-probability",
    ),
]
