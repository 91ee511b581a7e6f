"""The sample page's images and analyses: a section the results app adds to the sample page.

The gallery shows each image with its current analysis, then the batch
calibration form (imaging's), the order-score and skeleton-length plots,
and the defect and particle statistics of the current analyses. The
computations app builds its provenance tree on :func:`image_rows`.
"""

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import HttpRequest

from analysis.defects import channel
from nanomark.accounts.labcontext import can_write
from nanomark.imaging.calibrationviews import sample_calibration_form
from nanomark.imaging.models import SEMImage
from nanomark.registry.models import ModelVersion
from nanomark.results.current import current_analysis_runs
from nanomark.results.figures import order_score_histogram, skeleton_length_figure
from nanomark.results.models import MODEL_ROLES, AnalysisRun
from nanomark.samples.models import Sample

#: The section's template (``pagesections.add_section("sample-detail", ...)``).
SECTION_TEMPLATE = "results/_sample_analyses.html"


@dataclass
class ImageRow:
    """One image of a sample with its analyses.

    ``current`` is its current analysis (most recent succeeded run), ``latest`` its
    most recent run of any status.
    """

    image: SEMImage
    current: AnalysisRun | None = None
    latest: AnalysisRun | None = None

    @property
    def order_score(self):
        """The current OrderScore row, or None."""
        return getattr(self.current, "order_score", None)

    @property
    def particles(self):
        """The current ParticleStatistics row, or None."""
        return getattr(self.current, "particles", None)

    @property
    def current_models(self) -> list[tuple[str, ModelVersion]]:
        """(role, model version) of the current analysis, for the versions it used."""
        if self.current is None:
            return []
        versions = self.current.versions().items()
        return [(role, version) for role, version in versions if version is not None]

    @property
    def defect_stats(self) -> list:
        """The current DefectStatistic rows, in :data:`DEFECT_CLASSES` order."""
        if self.current is None:
            return []
        return sorted(self.current.defect_stats.all(), key=lambda stat: channel(stat.defect_class))


def image_rows(images: QuerySet[SEMImage]) -> list[ImageRow]:
    """A row per image of ``images`` (one sample's, with any prefetches), in their order.

    Three queries whatever the number of images and runs.
    """
    rows = {image.pk: ImageRow(image=image) for image in images}
    runs = AnalysisRun.objects.filter(image__in=list(rows))
    for run in runs.order_by("-queued_at", "-pk"):
        if rows[run.image_id].latest is None:
            rows[run.image_id].latest = run
    current = (
        current_analysis_runs(runs)
        .select_related(*MODEL_ROLES, "order_score", "particles")
        .prefetch_related("defect_stats")
    )
    for run in current:
        rows[run.image_id].current = run
    return list(rows.values())


def sample_analyses_section(request: HttpRequest, sample: Sample) -> dict:
    """The section's context: image rows, the calibration form and the plots."""
    rows = image_rows(SEMImage.objects.filter(sample=sample))
    scores = [row.order_score.score for row in rows if row.order_score]
    lengths: dict[str, list[float]] = {}
    for row in rows:
        for stat in row.defect_stats:
            if stat.skeleton_length_nm is not None:
                lengths.setdefault(stat.defect_class, []).append(stat.skeleton_length_nm)
    return {
        "sample": sample,
        "can_edit": can_write(request.user, sample.lab_id),
        "image_rows": rows,
        "uncalibrated_count": sum(row.image.pixel_size_nm is None for row in rows),
        "calibration_form": sample_calibration_form(sample),
        "score_plot": order_score_histogram(scores) if scores else "",
        "length_plot": skeleton_length_figure(lengths) if lengths else "",
    }
