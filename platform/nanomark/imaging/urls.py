"""Web routes of the imaging app (mounted at ``images/``)."""

from django.urls import path

from nanomark.imaging import calibrationviews, views

urlpatterns = [
    path("<int:pk>/", views.image_detail, name="image-detail"),
    path("<int:pk>/label/", views.image_label, name="image-label"),
    path("<int:pk>/masks/", views.image_mask_upload, name="image-mask-upload"),
    path("<int:pk>/particles/", views.image_particles_upload, name="image-particles-upload"),
    path("<int:pk>/calibration/", calibrationviews.image_calibrate, name="image-calibrate"),
    path(
        "calibrate/<int:sample_pk>/",
        calibrationviews.sample_calibrate,
        name="sample-images-calibrate",
    ),
    path("<int:pk>/preview.png", views.image_file, {"field": "preview"}, name="image-preview"),
    path(
        "<int:pk>/thumbnail.png", views.image_file, {"field": "thumbnail"}, name="image-thumbnail"
    ),
    path("<int:pk>/original", views.image_file, {"field": "original"}, name="image-original"),
    path("masks/<int:pk>/<str:layer>.png", views.mask_layer, name="defect-mask-layer"),
    path(
        "particle-labels/<int:pk>/particles.csv",
        views.particle_annotation_file,
        {"kind": "particles"},
        name="particle-annotation-csv",
    ),
    path(
        "particle-labels/<int:pk>/mask.png",
        views.particle_annotation_file,
        {"kind": "mask"},
        name="particle-annotation-mask",
    ),
    path("upload/<int:sample_pk>/", views.image_upload, name="image-upload"),
    path("upload/review/<str:token>/", views.image_upload_review, name="image-upload-review"),
]
