"""Analysis of one image by a set of model versions, and the numbers it produced.

One run per (image, classifier, segmenter, embedder, particle segmenter,
calibration version): a second delivery of the same work finds the run and
changes nothing, and a corrected pixel size or field box makes new work.
Lengths are in nm, areas in µm².
"""

from django.conf import settings
from django.db import models
from django.db.models import Count, Q

from analysis.defects import DEFECT_CLASSES, DEFECT_LABELS
from nanomark.accounts.models import LabOwned
from nanomark.accounts.querysets import LabScopedQuerySet
from nanomark.imaging.models import SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.runs import BackgroundRun, RunStatus

#: The model versions a run names: its field for each, and the task of the version.
MODEL_ROLES = {
    "classifier": ModelTask.ORDER_CLASSIFIER,
    "segmenter": ModelTask.DEFECT_SEGMENTER,
    "embedder": ModelTask.PATCH_EMBEDDER,
    "particle_segmenter": ModelTask.PARTICLE_SEGMENTER,
}


def models_key_of(classifier=None, segmenter=None, embedder=None, particle_segmenter=None) -> str:
    """The run key of its model versions (rows, primary keys or None): "12-0-13".

    A particle segmenter adds its key at the end ("12-0-13-7") only when
    there is one, so the runs of a lab without one keep the keys they had
    before particle segmenters existed.
    """
    key = "-".join(
        str(getattr(version, "pk", version) or 0) for version in (classifier, segmenter, embedder)
    )
    particles = getattr(particle_segmenter, "pk", particle_segmenter)
    return f"{key}-{particles}" if particles else key


DEFECT_CLASS_CHOICES = [(name, DEFECT_LABELS[name]) for name in DEFECT_CLASSES]


class AnalysisBatch(LabOwned):
    """Runs queued together (a command, a model activation, a user's request), for progress."""

    reason = models.CharField(max_length=200, help_text="why the batch was queued")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "analysis batches"

    def __str__(self) -> str:
        return f"Batch {self.pk}: {self.reason}"

    def progress(self) -> dict[str, int]:
        """Number of the batch's runs per status, and ``total``."""
        counts = self.runs.aggregate(
            total=Count("pk"),
            **{status: Count("pk", filter=Q(status=status)) for status in RunStatus.values},
        )
        return {key: int(value) for key, value in counts.items()}


class AnalysisRun(LabOwned, BackgroundRun):
    """The analysis of ``image`` with the model versions named (any may be absent)."""

    TASKS = ("nanomark.results.tasks.analyse_image",)

    @classmethod
    def task_cluster(cls) -> str | None:
        """Model work goes to the GPU cluster where one is configured."""
        return settings.NANOMARK_GPU_CLUSTER

    image = models.ForeignKey(SEMImage, on_delete=models.CASCADE, related_name="analysis_runs")
    classifier = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    segmenter = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    embedder = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    particle_segmenter = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="the model that found the particles (None: the LoG detector)",
    )
    models_key = models.CharField(
        max_length=80,
        editable=False,
        help_text="classifier-segmenter-embedder[-particle segmenter] primary keys; with "
        "image, unique",
    )
    timings_s = models.JSONField(default=dict, blank=True, help_text="seconds per stage")
    batch = models.ForeignKey(
        AnalysisBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    indexed_at = models.DateTimeField(
        null=True, blank=True, help_text="when its embeddings joined the search index"
    )
    calibration_version = models.PositiveIntegerField(
        default=1, help_text="the image's calibration version this run analyses"
    )
    pixel_size_nm = models.FloatField(
        null=True, blank=True, help_text="nm per pixel the analysis used (None: unknown)"
    )
    field_box = models.JSONField(
        default=dict, blank=True, help_text="field the analysis read, in frame px"
    )

    class Meta:
        ordering = ["-queued_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "models_key", "calibration_version"],
                name="one_analysis_per_image_models_and_calibration",
            )
        ]

    def __str__(self) -> str:
        return f"Analysis of {self.image} [{self.models_key}] ({self.status})"

    def save(self, *args, **kwargs) -> None:
        # The key is kept by the row itself so the unique constraint also covers absent
        # (NULL) model versions, which SQL unique constraints would treat as distinct.
        self.models_key = models_key_of(
            **{role: getattr(self, f"{role}_id") for role in MODEL_ROLES}
        )
        super().save(*args, **kwargs)

    def versions(self) -> dict[str, ModelVersion | None]:
        """The run's model version in each role of :data:`MODEL_ROLES` (None where absent)."""
        return {role: getattr(self, role) for role in MODEL_ROLES}


class OrderScore(models.Model):
    """The classifier's degree of order S in (0, 1) for the run's image."""

    lab_path = "run__lab"

    run = models.OneToOneField(AnalysisRun, on_delete=models.CASCADE, related_name="order_score")
    score = models.FloatField(help_text="probability of 'ordered', 0..1")
    saliency = models.FileField(max_length=255, blank=True, help_text="8-bit PNG of |dS/dx|")

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=0) & models.Q(score__lte=1),
                name="order_score_in_unit_interval",
            )
        ]

    def __str__(self) -> str:
        return f"S = {self.score:.3f}"


class DefectStatistic(models.Model):
    """Segmentation statistics of one defect class on the run's image."""

    lab_path = "run__lab"

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="defect_stats")
    defect_class = models.CharField(max_length=20, choices=DEFECT_CLASS_CHOICES)
    area_fraction = models.FloatField(help_text="fraction of the image, 0..1")
    skeleton_length_nm = models.FloatField(null=True, blank=True, help_text="line classes")
    segment_count = models.PositiveIntegerField(null=True, blank=True)
    branch_point_count = models.PositiveIntegerField(null=True, blank=True)
    cluster_count = models.PositiveIntegerField(null=True, blank=True, help_text="point defects")
    density_per_um2 = models.FloatField(null=True, blank=True)
    probability_map = models.FileField(max_length=255, blank=True, help_text="8-bit PNG")

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        ordering = ["run", "defect_class"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "defect_class"], name="one_defect_statistic_per_class"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_defect_class_display()} on {self.run.image}"


class ParticleStatistics(models.Model):
    """Model-free statistics of the detected Pd particles on the run's image."""

    lab_path = "run__lab"

    run = models.OneToOneField(AnalysisRun, on_delete=models.CASCADE, related_name="particles")
    count = models.PositiveIntegerField()
    density_per_um2 = models.FloatField(null=True, blank=True)
    mean_diameter_nm = models.FloatField(null=True, blank=True)
    diameter_histogram = models.JSONField(default=dict, blank=True, help_text="bins in nm")
    mean_nearest_neighbour_nm = models.FloatField(null=True, blank=True)
    clark_evans_r = models.FloatField(null=True, blank=True, help_text="1 random, <1 clustered")
    ripley_l = models.JSONField(default=dict, blank=True, help_text="radius nm -> L(r) nm")
    positions = models.FileField(max_length=255, blank=True, help_text="CSV x_px,y_px,d_nm")

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "particle statistics"

    def __str__(self) -> str:
        return f"{self.count} particles on {self.run.image}"

    @property
    def detector(self) -> str:
        """What found the particles: "LoG", or the particle segmenter version's name."""
        version = self.run.particle_segmenter
        return "LoG" if version is None else version.name


class PatchEmbedding(models.Model):
    """The embedder's L2-normalised vector for one square patch of the run's image."""

    lab_path = "run__lab"

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="embeddings")
    x_px = models.PositiveIntegerField(help_text="left edge")
    y_px = models.PositiveIntegerField(help_text="top edge")
    size_px = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="float32, little-endian")

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        ordering = ["run", "y_px", "x_px"]
        constraints = [
            models.UniqueConstraint(fields=["run", "x_px", "y_px"], name="one_embedding_per_patch")
        ]

    def __str__(self) -> str:
        return f"Patch ({self.x_px}, {self.y_px}) of {self.run.image}"
