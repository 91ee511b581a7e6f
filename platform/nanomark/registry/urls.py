"""Web pages of the registry app."""

urlpatterns: list = []
