"""Trained model versions and the runs that trained them.

A version freezes what it learnt from: the exact images, labels, defect masks
and particle annotations, so a prediction made with it can be traced back to
its training data.
"""

from django.conf import settings
from django.db import models, transaction

from nanomark.accounts.models import LabOwned
from nanomark.imaging.models import DefectMask, OrderLabel, ParticleAnnotation, SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.runs import BackgroundRun


class ModelVersion(LabOwned):
    """One trained network: architecture, weights, input scale, training set and metrics."""

    task = models.CharField(max_length=20, choices=ModelTask.choices)
    name = models.CharField(max_length=120)
    architecture = models.CharField(max_length=40, help_text="e.g. resnet34, fpn")
    encoder = models.CharField(max_length=40, blank=True, help_text="e.g. se_resnet50")
    config = models.JSONField(default=dict, blank=True)
    weights = models.FileField(max_length=255, blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    input_pixel_size_nm = models.FloatField(
        null=True, blank=True, help_text="images are rescaled to this nm/px before inference"
    )
    metrics = models.JSONField(default=dict, blank=True, help_text="cross-validation metrics")
    training_images = models.ManyToManyField(SEMImage, blank=True, related_name="+")
    training_labels = models.ManyToManyField(OrderLabel, blank=True, related_name="+")
    training_masks = models.ManyToManyField(DefectMask, blank=True, related_name="+")
    training_particles = models.ManyToManyField(ParticleAnnotation, blank=True, related_name="+")
    is_active = models.BooleanField(default=False)
    derived_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="derived",
        help_text="the version this one was cut from (a patch embedder: its classifier)",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["lab", "task"],
                condition=models.Q(is_active=True),
                name="one_active_model_per_task_per_lab",
            ),
            models.UniqueConstraint(fields=["lab", "name"], name="unique_model_name_per_lab"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_task_display()})"

    def activate(self) -> list["ModelVersion"]:
        """Make this the lab's active version for its task (the previous one is deactivated).

        A classifier brings its patch embedder along (the embedder is its
        trunk): search would stay empty with the classifier's analyses otherwise.

        Returns:
            The versions activated: this one, then any embedder it brought.
        """
        embedder = (
            self.derived.filter(task=ModelTask.PATCH_EMBEDDER).order_by("-created_at").first()
            if self.task == ModelTask.ORDER_CLASSIFIER
            else None
        )
        activated = [version for version in (self, embedder) if version is not None]
        with transaction.atomic():
            for version in activated:
                ModelVersion.objects.select_for_update().filter(
                    lab_id=version.lab_id, task=version.task, is_active=True
                ).exclude(pk=version.pk).update(is_active=False)
                ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
                version.is_active = True
        return activated


class TrainingRun(LabOwned, BackgroundRun):
    """A background training job; on success it produces ``model_version``."""

    TASKS = ("nanomark.registry.tasks.train_model",)

    @classmethod
    def task_cluster(cls) -> str | None:
        """Model work goes to the GPU cluster where one is configured."""
        return settings.NANOMARK_GPU_CLUSTER

    task = models.CharField(max_length=20, choices=ModelTask.choices)
    config = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    model_version = models.OneToOneField(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_run"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-queued_at"]

    def __str__(self) -> str:
        return f"Training of a {self.get_task_display()} ({self.status})"
