"""Web routes of the similar-material search (mounted at ``search/``)."""

from django.urls import path

from nanomark.search import views

urlpatterns = [
    path("", views.search_page, name="search"),
    path("map/", views.embedding_map_page, name="search-map"),
    path("patches/<int:pk>.png", views.patch_thumbnail, name="search-patch"),
]
