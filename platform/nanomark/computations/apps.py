from django.apps import AppConfig


class ComputationsConfig(AppConfig):
    name = "nanomark.computations"
    label = "computations"
    verbose_name = "Computations"
