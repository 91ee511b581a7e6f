"""Django app of the demo data set and its loader."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "nanomark.demo"
    verbose_name = "Demo"
