"""Web pages of the results app."""

urlpatterns: list = []
