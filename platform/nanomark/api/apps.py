"""App config of the REST API (no models of its own: serializers and views over the others)."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "nanomark.api"
    label = "api"
    verbose_name = "REST API"
