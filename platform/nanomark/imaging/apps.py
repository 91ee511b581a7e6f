from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "nanomark.imaging"
    label = "imaging"
    verbose_name = "SEM images"

    def ready(self) -> None:
        from nanomark.imaging import signals  # noqa: F401  (connects the receivers)
