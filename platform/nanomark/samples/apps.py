from django.apps import AppConfig


class SamplesConfig(AppConfig):
    name = "nanomark.samples"
    label = "samples"
    verbose_name = "Samples"
