"""Web routes of the model registry (mounted at ``models/``)."""

from django.urls import path

from nanomark.registry import views

urlpatterns = [
    path("", views.ModelVersionListView.as_view(), name="model-list"),
    path("<int:pk>/", views.model_detail, name="model-detail"),
]
