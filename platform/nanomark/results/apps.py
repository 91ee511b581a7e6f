from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "nanomark.results"
    label = "results"
    verbose_name = "Analysis results"
