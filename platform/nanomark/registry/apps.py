from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "nanomark.registry"
    label = "registry"
    verbose_name = "Model registry"
