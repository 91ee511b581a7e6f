from django.urls import path

from nanomark.imaging import views

urlpatterns = [
    path("<int:pk>/", views.ImageDetailView.as_view(), name="image-detail"),
    path("<int:pk>/preview.png", views.image_file, {"field": "preview"}, name="image-preview"),
    path(
        "<int:pk>/thumbnail.png", views.image_file, {"field": "thumbnail"}, name="image-thumbnail"
    ),
    path("<int:pk>/original", views.image_file, {"field": "original"}, name="image-original"),
]
