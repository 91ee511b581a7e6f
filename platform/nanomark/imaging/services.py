"""Storing SEM images: the one entry point that web forms, the API and commands call.

Reading and validating the file is library work (:mod:`analysis.semfile`);
this module hashes, deduplicates per lab, and stores file and row together
or neither.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.preview import preview_png, thumbnail_png
from analysis.semfile import SEMFileError, decode_sidecar, read_sem
from nanomark.imaging.choices import PixelSizeSource
from nanomark.imaging.models import SEMImage
from nanomark.imaging.storage import delete_files, derived_path, original_path, save_file
from nanomark.results.services import queue_analyses
from nanomark.samples.models import Sample


class ImageRejected(ValueError):
    """The file is not an image NanoMark can store; the message says why, for the user."""


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
) -> IngestOutcome:
    """Validate, deduplicate and store one SEM image of ``sample``.

    Args:
        sample: the sample imaged; the image joins the sample's lab.
        data: the file's bytes (TIFF, PNG or JPEG, told apart by content).
        filename: the name the user gave the file (kept for display only).
        sidecar: the bytes of a Hitachi ``.txt`` metadata sidecar, if any.
        pixel_size_nm: a pixel size entered by hand, in nm/px; it overrides the metadata.
        uploaded_by: the user storing the image, if any.

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
    if pixel_size_nm is not None and not (math.isfinite(pixel_size_nm) and pixel_size_nm > 0):
        raise ImageRejected(f"{filename}: the pixel size must be a positive number of nm.")

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

    meta = sem.metadata
    if pixel_size_nm is not None:
        pixel_size, pixel_size_source = pixel_size_nm, PixelSizeSource.MANUAL
    else:
        pixel_size, pixel_size_source = meta.pixel_size_nm, meta.pixel_size_source or ""

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
                magnification=meta.magnification,
                accelerating_voltage_kv=meta.accelerating_voltage_kv,
                working_distance_mm=meta.working_distance_mm,
                detector=(meta.detector or "")[:60],
                instrument=(meta.instrument or "")[:60],
                acquired_at=_aware(meta.acquired_at),
                raw_metadata=meta.raw,
                uploaded_by=uploaded_by,
            )
            # Analysed in the background once the image is committed.
            queue_analyses([image])
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


def _aware(moment: datetime | None) -> datetime | None:
    """Instrument clocks carry no zone: read them in the lab server's zone."""
    if moment is None or timezone.is_aware(moment):
        return moment
    return timezone.make_aware(moment)
