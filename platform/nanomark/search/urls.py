"""Web pages of the search app."""

urlpatterns: list = []
