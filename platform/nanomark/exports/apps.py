"""App config of the exports: tidy image and sample tables, streamed as CSV, JSON, Parquet."""

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "nanomark.exports"
    label = "exports"
    verbose_name = "Exports"
