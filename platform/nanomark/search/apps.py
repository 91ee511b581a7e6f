from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "nanomark.search"
    label = "search"
    verbose_name = "Similar-material search"
