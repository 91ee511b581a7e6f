"""Correcting images' calibration after upload: pixel size and field box, recorded, re-analysed.

The original file never changes; the image row's pixel size and field box
do. :func:`recalibrate` applies one correction to one image or to many (a
sample's images, an upload batch), all or none: a value that does not fit
one of them refuses the whole request. Each image that changes gets a
:class:`~nanomark.imaging.models.CalibrationChange` (who, when, old and new
values and source), a new calibration version, and a queued re-analysis.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from analysis.calibration import pixel_size_problem
from analysis.databar import FieldBox
from analysis.frame import FrameCalibration
from ml.inference import MIN_CLASSIFIER_SIDE_PX
from nanomark.imaging.choices import FieldSource, PixelSizeSource
from nanomark.imaging.models import CalibrationChange, SEMImage
from nanomark.imaging.signals import images_need_analysis


class CalibrationRejected(ValueError):
    """The values do not fit the images; nothing was changed. The message says why."""


@dataclass(frozen=True)
class Correction:
    """What to set; ``None`` leaves a value as it is.

    Attributes:
        pixel_size_nm: nm per pixel, in 0.01–1000.
        field: the field box in frame pixels.
        note: why, kept with the change.
        pixel_size_source: where the new pixel size comes from (a person: ``manual``).
        field_source: where the new field box comes from (a person: ``manual``).
        details: a new ``calibration`` record (how it was found), or None to keep
            the old one (less its ``reason`` once a pixel size is set).
    """

    pixel_size_nm: float | None = None
    field: FieldBox | None = None
    note: str = ""
    pixel_size_source: str = PixelSizeSource.MANUAL
    field_source: str = FieldSource.MANUAL
    details: dict | None = None


def detected_correction(image: SEMImage, frame: FrameCalibration) -> Correction | None:
    """What reading ``image``'s original again found, as a correction; None if nothing new.

    A pixel size or field box a person entered is never replaced.
    """
    size = frame.pixel_size_nm if image.pixel_size_source != PixelSizeSource.MANUAL else None
    box = frame.field if image.field_source != FieldSource.MANUAL else None
    if size == image.pixel_size_nm:
        size = None
    if box == image.field_box:
        box = None
    if size is None and box is None:
        return None
    return Correction(
        pixel_size_nm=size,
        field=box,
        note="read again from the original file",
        pixel_size_source=frame.pixel_size_source or "",
        field_source=FieldSource.DATA_BAR if frame.data_bar else FieldSource.FULL_FRAME,
        details=frame.details if size is not None else None,
    )


def field_json(image: SEMImage) -> dict[str, object]:
    """The image's field box and its source as stored in a :class:`CalibrationChange`."""
    return {**image.field_box.to_json(), "source": image.field_source}


def check_correction(images: Sequence[SEMImage], correction: Correction) -> None:
    """Refuse a correction that does not fit every one of ``images``.

    Raises:
        CalibrationRejected: no value given, a pixel size out of range, or a
            field box outside an image's frame or too small to analyse.
    """
    if correction.pixel_size_nm is None and correction.field is None:
        raise CalibrationRejected("Give a pixel size, a field box or both.")
    if correction.pixel_size_nm is not None:
        problem = pixel_size_problem(correction.pixel_size_nm)
        if problem:
            raise CalibrationRejected(problem)
    box = correction.field
    if box is None:
        return
    side = MIN_CLASSIFIER_SIDE_PX
    if min(box.width_px, box.height_px) < side:
        raise CalibrationRejected(
            f"The field box is {box.width_px} x {box.height_px} px; "
            f"NanoMark analyses fields of at least {side} x {side} px."
        )
    for image in images:
        if box.x_px + box.width_px > image.width_px or box.y_px + box.height_px > image.height_px:
            raise CalibrationRejected(
                f"The field box (x {box.x_px}, y {box.y_px}, {box.width_px} x {box.height_px} px) "
                f"does not fit in {image.original_filename} ({image.width_px} x "
                f"{image.height_px} px)."
            )


def recalibrate(
    images: Sequence[SEMImage], correction: Correction, *, user
) -> list[CalibrationChange]:
    """Apply ``correction`` to ``images`` and queue their re-analysis, all or nothing.

    Images whose values already equal the correction are left alone (no
    change row, no re-analysis).

    Returns:
        The changes recorded, one per image that changed.

    Raises:
        CalibrationRejected: see :func:`check_correction`; nothing was changed.
    """
    check_correction(images, correction)
    changes = []
    with transaction.atomic():
        locked = SEMImage.objects.select_for_update().filter(pk__in=[i.pk for i in images])
        changed = []
        for image in locked.order_by("pk"):
            change = _apply(image, correction, user)
            if change is not None:
                changes.append(change)
                changed.append(image)
        CalibrationChange.objects.bulk_create(changes)
        images_need_analysis.send(
            sender=SEMImage, images=changed, reason="calibration corrected", created_by=user
        )
    return changes


def _apply(image: SEMImage, correction: Correction, user) -> CalibrationChange | None:
    """Change ``image`` (saved) and return its unsaved change row, or None if nothing changes."""
    old_size, old_source, old_box = image.pixel_size_nm, image.pixel_size_source, image.field_box
    old_field = field_json(image)
    if correction.details is not None:
        image.calibration = dict(correction.details)
    if correction.pixel_size_nm is not None:
        image.pixel_size_nm = correction.pixel_size_nm
        image.pixel_size_source = correction.pixel_size_source
        image.calibration = {
            key: value for key, value in image.calibration.items() if key != "reason"
        }
    if correction.field is not None:
        image.set_field_box(correction.field, correction.field_source)
    if (image.pixel_size_nm, image.field_box) == (old_size, old_box):
        return None
    image.calibration_version += 1
    image.save(
        update_fields=[
            "pixel_size_nm",
            "pixel_size_source",
            "calibration",
            "calibration_version",
            "field_x_px",
            "field_y_px",
            "field_width_px",
            "field_height_px",
            "field_source",
        ]
    )
    return CalibrationChange(
        image=image,
        changed_by=user,
        old_pixel_size_nm=old_size,
        new_pixel_size_nm=image.pixel_size_nm,
        old_pixel_size_source=old_source,
        new_pixel_size_source=image.pixel_size_source,
        old_field=old_field,
        new_field=field_json(image),
        note=correction.note,
    )
