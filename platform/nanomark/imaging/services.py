"""Storing SEM images: the one entry point that web forms, the API and commands call.

Reading and validating the file, finding its field and pixel size is library
work (:mod:`analysis.semfile`, :mod:`analysis.frame`); this module hashes,
deduplicates per lab, and stores file and row together or neither.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.calibration import pixel_size_problem
from analysis.frame import FrameCalibration, calibrate_frame
from analysis.micrograph import content_problem
from analysis.preview import preview_png, thumbnail_png
from analysis.semfile import SEMFileError, SEMImageData, decode_sidecar, read_sem
from ml.inference import MIN_CLASSIFIER_SIDE_PX
from nanomark.imaging.choices import FieldSource, PixelSizeSource
from nanomark.imaging.models import SEMImage
from nanomark.imaging.signals import images_need_analysis
from nanomark.imaging.storage import delete_files, derived_path, original_path, save_file
from nanomark.samples.models import Sample


class ImageRejected(ValueError):
    """The file is not an image NanoMark can store; the message says why, for the user."""


class NotAMicrograph(ImageRejected):
    """The file is an image but not an SEM micrograph (a mask layer, a drawing, blank)."""


@dataclass(frozen=True)
class IngestOutcome:
    """The stored image and whether this call created it (False: an identical file existed)."""

    image: SEMImage
    created: bool


def ingest_sem_image(
    *,
    sample: Sample,
    data: bytes,
    filename: str,
    sidecar: bytes | None = None,
    pixel_size_nm: float | None = None,
    uploaded_by=None,
    upload_batch: str | None = None,
) -> IngestOutcome:
    """Validate, deduplicate and store one SEM image of ``sample``.

    Args:
        sample: the sample imaged; the image joins the sample's lab.
        data: the file's bytes (TIFF, PNG or JPEG, told apart by content).
        filename: the name the user gave the file (kept for display only).
        sidecar: the bytes of a Hitachi ``.txt`` metadata sidecar, if any.
        pixel_size_nm: a pixel size entered by hand, in nm/px; it overrides the metadata
            and the scale bar.
        uploaded_by: the user storing the image, if any.
        upload_batch: 32 hex digits shared by the images of one upload or import
            (for calibrating them together later); None: a batch of its own.

    Returns:
        The new image, or the lab's existing image with the same SHA-256.

    Raises:
        ImageRejected: the file or the values given are not acceptable; nothing was stored.

    Call it outside an enclosing ``transaction.atomic``: it commits its own
    transaction, and files written inside an outer transaction that later
    rolls back would be left behind.
    """
    if not data:
        raise ImageRejected(f"{filename}: the file is empty (0 bytes).")
    limit = settings.NANOMARK_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise ImageRejected(f"{filename}: {len(data):,} bytes exceeds the {limit:,}-byte limit.")
    if pixel_size_nm is not None and (problem := pixel_size_problem(pixel_size_nm)):
        raise ImageRejected(f"{filename}: {problem}")

    sha256 = hashlib.sha256(data).hexdigest()
    existing = SEMImage.objects.filter(lab_id=sample.lab_id, sha256=sha256).first()
    if existing is not None:
        return IngestOutcome(existing, created=False)

    try:
        sidecar_text = decode_sidecar(sidecar) if sidecar is not None else None
        sem = read_sem(
            data, sidecar_text=sidecar_text, max_pixels=settings.NANOMARK_MAX_IMAGE_PIXELS
        )
    except SEMFileError as exc:
        raise ImageRejected(f"{filename}: {exc}") from exc
    frame = inspect_frame(sem, filename)

    meta = sem.metadata
    calibration = dict(frame.details)
    if pixel_size_nm is not None:
        pixel_size, pixel_size_source = pixel_size_nm, PixelSizeSource.MANUAL
        calibration.pop("reason", None)
    else:
        pixel_size, pixel_size_source = frame.pixel_size_nm, frame.pixel_size_source or ""

    written: list[str] = []
    try:
        with transaction.atomic():
            image = SEMImage.objects.create(
                lab_id=sample.lab_id,
                sample=sample,
                original=save_file(original_path(sample.lab_id, sha256, sem.format), data, written),
                preview=save_file(
                    derived_path("previews", sample.lab_id, sha256),
                    preview_png(sem.pixels),
                    written,
                ),
                thumbnail=save_file(
                    derived_path("thumbnails", sample.lab_id, sha256),
                    thumbnail_png(sem.pixels),
                    written,
                ),
                original_filename=filename[:255],
                sha256=sha256,
                format=sem.format,
                size_bytes=len(data),
                width_px=sem.width,
                height_px=sem.height,
                bit_depth=sem.bit_depth,
                channels=sem.channels,
                pixel_size_nm=pixel_size,
                pixel_size_source=pixel_size_source,
                calibration=calibration,
                field_x_px=frame.field.x_px,
                field_y_px=frame.field.y_px,
                field_width_px=frame.field.width_px,
                field_height_px=frame.field.height_px,
                field_source=FieldSource.DATA_BAR if frame.data_bar else FieldSource.FULL_FRAME,
                magnification=frame.magnification,
                accelerating_voltage_kv=meta.accelerating_voltage_kv,
                working_distance_mm=meta.working_distance_mm,
                detector=(meta.detector or "")[:60],
                instrument=(meta.instrument or "")[:60],
                acquired_at=_aware(meta.acquired_at),
                raw_metadata=meta.raw,
                uploaded_by=uploaded_by,
                upload_batch=upload_batch or new_upload_batch(),
            )
            # Analysed in the background once the image is committed.
            images_need_analysis.send(sender=SEMImage, images=[image])
    except IntegrityError:
        # Another upload of the same bytes won the race: keep theirs.
        delete_files(written)
        existing = SEMImage.objects.filter(lab_id=sample.lab_id, sha256=sha256).first()
        if existing is None:
            raise
        return IngestOutcome(existing, created=False)
    except BaseException:
        delete_files(written)
        raise
    return IngestOutcome(image, created=True)


def new_upload_batch() -> str:
    """A fresh upload-batch key (32 hex digits)."""
    return secrets.token_hex(16)


def inspect_frame(sem: SEMImageData, filename: str) -> FrameCalibration:
    """Field box and calibration of a decoded file, refusing fields too small to analyse.

    Raises:
        NotAMicrograph: the pixels are a mask or blank (two grey levels or fewer).
        ImageRejected: the field is smaller than the order classifier's smallest input.
    """
    problem = content_problem(sem.pixels)
    if problem:
        raise NotAMicrograph(f"{filename}: {problem}")
    frame = calibrate_frame(sem)
    side = MIN_CLASSIFIER_SIDE_PX
    if min(frame.field.width_px, frame.field.height_px) < side:
        raise ImageRejected(
            f"{filename}: the image field is {frame.field.width_px} x {frame.field.height_px} px; "
            f"NanoMark analyses fields of at least {side} x {side} px."
        )
    return frame


def _aware(moment: datetime | None) -> datetime | None:
    """Instrument clocks carry no zone: read them in the lab server's zone."""
    if moment is None or timezone.is_aware(moment):
        return moment
    return timezone.make_aware(moment)
