from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "nanomark.results"
    label = "results"
    verbose_name = "Analysis results"

    def ready(self) -> None:
        from nanomark.imaging.signals import images_need_analysis
        from nanomark.pagesections import add_context, add_section
        from nanomark.results import activation, samplepage
        from nanomark.results.services import queue_analyses
        from nanomark.results.views import image_analysis

        def queue(sender, images, reason=None, created_by=None, **kwargs) -> None:
            queue_analyses(images, reason=reason, created_by=created_by)

        images_need_analysis.connect(queue, weak=False, dispatch_uid="results-queue-analyses")
        add_section("model-detail", activation.SECTION_TEMPLATE, activation.activation_section)
        add_section(
            "sample-detail", samplepage.SECTION_TEMPLATE, samplepage.sample_analyses_section, 10
        )
        add_context("image-detail", "results-analysis", image_analysis)
