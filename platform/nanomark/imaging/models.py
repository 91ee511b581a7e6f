"""SEM images and their human (or simulated) annotations.

An SEMImage's original file is immutable and stored once per lab, keyed by its
SHA-256; derived files (preview, thumbnail) are PNGs a browser can show. Its
calibration (pixel size) and field box (the specimen area above the
instrument's data bar) are read at upload and may be corrected later; every
correction is a :class:`CalibrationChange` row.
"""

import io

import numpy as np
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from analysis.databar import FieldBox
from analysis.defects import DEFECT_CLASSES
from analysis.particlelabels import LabelledParticles, disc_mask, read_particle_csv
from analysis.semfile import read_sem
from nanomark.accounts.models import LabOwned
from nanomark.accounts.querysets import LabScopedQuerySet
from nanomark.imaging.choices import (
    AnnotationSource,
    FieldSource,
    OrderClass,
    PixelSizeSource,
)
from nanomark.samples.models import Sample


class SEMImage(LabOwned):
    """One SEM micrograph of a sample, as acquired (never modified after upload)."""

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="images")
    original = models.FileField(max_length=255, editable=False)
    original_filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, editable=False)
    format = models.CharField(max_length=10, editable=False, help_text="tiff, png or jpeg")
    size_bytes = models.BigIntegerField(editable=False)
    width_px = models.PositiveIntegerField(editable=False)
    height_px = models.PositiveIntegerField(editable=False)
    bit_depth = models.PositiveSmallIntegerField(editable=False)
    channels = models.PositiveSmallIntegerField(editable=False, help_text="in the original file")

    pixel_size_nm = models.FloatField(null=True, blank=True, help_text="nm per pixel")
    pixel_size_source = models.CharField(max_length=10, choices=PixelSizeSource.choices, blank=True)
    calibration = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="how the pixel size was found (reader, scale-bar reading, confidence) "
        "or, under 'reason', why it is unknown",
    )
    calibration_version = models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text="raised by every calibration change; each analysis names the version it used",
    )
    field_x_px = models.PositiveIntegerField(default=0, help_text="field's left edge in the frame")
    field_y_px = models.PositiveIntegerField(default=0, help_text="field's top edge in the frame")
    field_width_px = models.PositiveIntegerField(help_text="field width, px")
    field_height_px = models.PositiveIntegerField(help_text="field height, px (data bar excluded)")
    field_source = models.CharField(
        max_length=10, choices=FieldSource.choices, default=FieldSource.FULL_FRAME
    )
    magnification = models.FloatField(null=True, blank=True)
    accelerating_voltage_kv = models.FloatField(null=True, blank=True)
    working_distance_mm = models.FloatField(null=True, blank=True)
    detector = models.CharField(max_length=60, blank=True, help_text="e.g. SE(U)")
    instrument = models.CharField(max_length=60, blank=True, help_text="e.g. SU8000")
    acquired_at = models.DateTimeField(null=True, blank=True)
    raw_metadata = models.JSONField(default=dict, blank=True, editable=False)

    preview = models.FileField(max_length=255, editable=False)
    thumbnail = models.FileField(max_length=255, editable=False)

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    upload_batch = models.CharField(
        max_length=32,
        blank=True,
        db_index=True,
        editable=False,
        help_text="key shared by the images stored by one upload or import",
    )

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        verbose_name = "SEM image"
        constraints = [
            models.UniqueConstraint(fields=["lab", "sha256"], name="unique_image_content_per_lab"),
            models.CheckConstraint(
                condition=models.Q(pixel_size_nm__gt=0) | models.Q(pixel_size_nm__isnull=True),
                name="image_pixel_size_positive",
            ),
            models.CheckConstraint(
                condition=Q(field_width_px__gt=0)
                & Q(field_height_px__gt=0)
                & Q(field_x_px__lte=F("width_px") - F("field_width_px"))
                & Q(field_y_px__lte=F("height_px") - F("field_height_px")),
                name="image_field_inside_frame",
            ),
        ]
        indexes = [models.Index(fields=["sample", "uploaded_at"])]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.sample})"

    def get_absolute_url(self) -> str:
        return reverse("image-detail", args=[self.pk])

    def save(self, *args, **kwargs) -> None:
        # A row created without a field box (admin, tests, old code) has the whole frame.
        if self.field_width_px is None and self.field_height_px is None:
            self.field_width_px, self.field_height_px = self.width_px, self.height_px
        super().save(*args, **kwargs)

    def read_pixels(self) -> np.ndarray:
        """(H, W) uint8/uint16 pixels of the stored original, the whole frame."""
        with self.original.open("rb") as handle:
            return read_sem(handle.read(), max_pixels=settings.NANOMARK_MAX_IMAGE_PIXELS).pixels

    @property
    def field_box(self) -> FieldBox:
        """The specimen area of the frame (the whole frame when there is no data bar)."""
        return FieldBox(self.field_x_px, self.field_y_px, self.field_width_px, self.field_height_px)

    @property
    def has_data_bar_excluded(self) -> bool:
        """True when the field is smaller than the frame."""
        return (self.field_width_px, self.field_height_px) != (self.width_px, self.height_px)

    @property
    def uncalibrated_reason(self) -> str:
        """Why the pixel size is unknown ("" when it is known)."""
        if self.pixel_size_nm is not None:
            return ""
        return str(self.calibration.get("reason") or "No pixel size was found for this image.")

    def set_field_box(self, box: FieldBox, source: str) -> None:
        """Set the field box (unsaved)."""
        self.field_x_px, self.field_y_px = box.x_px, box.y_px
        self.field_width_px, self.field_height_px = box.width_px, box.height_px
        self.field_source = source


class CalibrationChange(models.Model):
    """One correction of an image's pixel size or field box: who, when, old and new values.

    Field boxes are stored as ``{"x_px", "y_px", "width_px", "height_px", "source"}``.
    """

    lab_path = "image__lab"

    image = models.ForeignKey(
        SEMImage, on_delete=models.CASCADE, related_name="calibration_changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    old_pixel_size_nm = models.FloatField(null=True, blank=True)
    new_pixel_size_nm = models.FloatField(null=True, blank=True)
    old_pixel_size_source = models.CharField(
        max_length=10, choices=PixelSizeSource.choices, blank=True
    )
    new_pixel_size_source = models.CharField(
        max_length=10, choices=PixelSizeSource.choices, blank=True
    )
    old_field = models.JSONField(default=dict)
    new_field = models.JSONField(default=dict)
    note = models.TextField(blank=True)

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        ordering = ["image", "-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"Calibration of {self.image} changed {self.changed_at:%Y-%m-%d %H:%M}"


class OrderLabelQuerySet(LabScopedQuerySet):
    """Order labels; :meth:`current` leaves out those a later judgement replaced."""

    def current(self) -> "OrderLabelQuerySet":
        """Each annotator's (or unattributed source's) latest label of each image."""
        return self.filter(replaced_at__isnull=True)

    def history(self) -> "OrderLabelQuerySet":
        """All labels, current ones first, then the replaced ones, newest first."""
        return self.order_by(models.F("replaced_at").desc(nulls_first=True), "-created_at")


class OrderLabel(models.Model):
    """A judgement of whether the particles on an image are ordered.

    One *current* label per annotator and image (per source for unattributed
    labels). A new judgement does not overwrite the old row: the old one gets
    ``replaced_at`` and stays, because a model version's frozen training set
    may name it. Lists, filters and training read :meth:`OrderLabelQuerySet.current`.
    """

    lab_path = "image__lab"

    image = models.ForeignKey(SEMImage, on_delete=models.CASCADE, related_name="order_labels")
    label = models.CharField(max_length=10, choices=OrderClass.choices)
    source = models.CharField(
        max_length=10, choices=AnnotationSource.choices, default=AnnotationSource.HUMAN
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)
    replaced_at = models.DateTimeField(
        null=True, blank=True, help_text="when a later label of the same annotator replaced it"
    )

    objects = OrderLabelQuerySet.as_manager()

    class Meta:
        ordering = ["image", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "annotator"],
                condition=models.Q(annotator__isnull=False, replaced_at__isnull=True),
                name="one_current_order_label_per_annotator",
            ),
            models.UniqueConstraint(
                fields=["image", "source"],
                condition=models.Q(annotator__isnull=True, replaced_at__isnull=True),
                name="one_current_unattributed_order_label_per_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image}: {self.label}"

    @classmethod
    def record(cls, image: SEMImage, annotator, label: str, note: str = "") -> tuple:
        """Save ``annotator``'s human label of ``image``; their earlier one becomes replaced.

        Two concurrent first labels of the same annotator meet the unique
        constraint; the loser then replaces the winner's label.

        Returns:
            (the new label, whether it is the annotator's first label of the image).
        """
        try:
            return cls._replace(image, annotator, label, note)
        except IntegrityError:  # a concurrent first label of the same annotator won
            return cls._replace(image, annotator, label, note)

    @classmethod
    def _replace(cls, image: SEMImage, annotator, label: str, note: str) -> tuple:
        with transaction.atomic():
            earlier = (
                cls.objects.current()
                .filter(image=image, annotator=annotator)
                .update(replaced_at=timezone.now())
            )
            new = cls.objects.create(
                image=image,
                annotator=annotator,
                label=label,
                note=note,
                source=AnnotationSource.HUMAN,
            )
        return new, not earlier


class ReviewedAnnotation(models.Model):
    """What a drawn annotation of an image records besides its files: who, when, reviewed."""

    lab_path = "image__lab"

    source = models.CharField(
        max_length=10, choices=AnnotationSource.choices, default=AnnotationSource.HUMAN
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["image", "-created_at"]


def latest_per_image(annotations: models.QuerySet) -> dict:
    """One annotation per image of a DefectMask or ParticleAnnotation queryset, by image pk.

    Reviewed annotations come before unreviewed ones, then the newest (the
    same on every database: NULL ``reviewed_at`` does not decide the order).
    """
    unreviewed = models.ExpressionWrapper(
        Q(reviewed_at__isnull=True), output_field=models.BooleanField()
    )
    chosen: dict = {}
    for annotation in annotations.order_by(unreviewed, "-created_at", "-pk"):
        chosen.setdefault(annotation.image_id, annotation)
    return chosen


class DefectMask(ReviewedAnnotation):
    """Four binary layers marking defects on an image, in :data:`DEFECT_CLASSES` order.

    Each layer is a PNG (0 = background, 255 = defect) of the image's size.
    """

    image = models.ForeignKey(SEMImage, on_delete=models.CASCADE, related_name="defect_masks")
    sheet_border = models.FileField(max_length=255)
    grain_boundary = models.FileField(max_length=255)
    topological_defect = models.FileField(max_length=255)
    point_defect = models.FileField(max_length=255)

    def __str__(self) -> str:
        return f"Defect mask of {self.image} ({self.get_source_display()})"

    def layer_files(self) -> list[models.fields.files.FieldFile]:
        """The four layer files in :data:`DEFECT_CLASSES` order."""
        return [getattr(self, name) for name in DEFECT_CLASSES]

    def load_layers(self) -> np.ndarray:
        """Read the mask as a (4, H, W) bool array in :data:`DEFECT_CLASSES` order."""
        layers = []
        for field_file in self.layer_files():
            with field_file.open("rb") as handle:
                layers.append(np.asarray(Image.open(io.BytesIO(handle.read())).convert("L")) > 127)
        return np.stack(layers)


class ParticleAnnotation(ReviewedAnnotation):
    """Hand-labelled particles of an image: their centres and diameters, and the mask drawn.

    ``particles`` is always a CSV of ``x_px,y_px,diameter_px`` (frame pixels,
    x = column, y = row); ``mask`` is the frame-sized particle mask (0
    background, 255 particle) when the labels were drawn as one, empty when
    they came as a CSV. A detector's particles are scored against it
    (:mod:`analysis.particlescore`).
    """

    image = models.ForeignKey(
        SEMImage, on_delete=models.CASCADE, related_name="particle_annotations"
    )
    particles = models.FileField(max_length=255, help_text="CSV x_px,y_px,diameter_px")
    mask = models.FileField(max_length=255, blank=True, help_text="PNG, 255 = particle")
    count = models.PositiveIntegerField(help_text="particles labelled")

    def __str__(self) -> str:
        return f"Particle annotation of {self.image} ({self.count} particles)"

    def load_particles(self) -> LabelledParticles:
        """The labelled centres (M, 2) and diameters (M,), px, from the stored CSV."""
        with self.particles.open("rb") as handle:
            return read_particle_csv(handle.read(), name=self.particles.name)

    def load_mask(self) -> np.ndarray:
        """(H, W) bool frame-sized particle mask: the one drawn, or discs of the CSV's particles."""
        if self.mask:
            with self.mask.open("rb") as handle:
                return np.asarray(Image.open(io.BytesIO(handle.read())).convert("L")) > 127
        particles = self.load_particles()
        return disc_mask(
            (self.image.height_px, self.image.width_px), particles.xy, particles.diameters_px
        )
