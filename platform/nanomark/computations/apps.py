from django.apps import AppConfig


class ComputationsConfig(AppConfig):
    name = "nanomark.computations"
    label = "computations"
    verbose_name = "Computations"

    def ready(self) -> None:
        from nanomark.computations import samplepage
        from nanomark.pagesections import add_section

        add_section(
            "sample-detail",
            samplepage.SECTION_TEMPLATE,
            samplepage.sample_computations_section,
            20,
        )
