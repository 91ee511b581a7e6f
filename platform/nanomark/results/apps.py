from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "nanomark.results"
    label = "results"
    verbose_name = "Analysis results"

    def ready(self) -> None:
        from nanomark.imaging.signals import images_need_analysis
        from nanomark.pagesections import add_section
        from nanomark.results.activation import SECTION_TEMPLATE, activation_section
        from nanomark.results.services import queue_analyses

        def queue(sender, images, reason=None, created_by=None, **kwargs) -> None:
            queue_analyses(images, reason=reason, created_by=created_by)

        images_need_analysis.connect(queue, weak=False, dispatch_uid="results-queue-analyses")
        add_section("model-detail", SECTION_TEMPLATE, activation_section)
