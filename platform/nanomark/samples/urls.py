from django.urls import path

from nanomark.samples import views

urlpatterns = [
    path("", views.SampleListView.as_view(), name="home"),
    path("samples/<int:pk>/", views.SampleDetailView.as_view(), name="sample-detail"),
]
