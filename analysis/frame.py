"""An SEM frame's field and pixel size: the one place that decides both for a new image.

An instrument's export is a *frame*: the *field* (the specimen) and often an
info band (the data bar) under it. :func:`calibrate_frame` finds the band
(:func:`analysis.databar.find_data_bar`) and takes the pixel size in this
order, the first that gives one winning:

1. the file's own metadata or its sidecar (:func:`analysis.semfile.read_sem`
   tried the vendor readers of :mod:`analysis.calibration` in their order);
2. the scale bar in the data bar: ruler and label, cross-checked with the
   magnification text (:func:`analysis.scalebar.read_scale_bar`);
3. none: the image stays uncalibrated, and ``details["reason"]`` says why.

A bar that cannot be read leaves the image uncalibrated, never wrongly calibrated.

Example:
    >>> frame = calibrate_frame(read_sem(data))
    >>> frame.field, frame.pixel_size_nm, frame.pixel_size_source
    (FieldBox(x_px=0, y_px=0, width_px=1280, height_px=890), 0.9921875, 'scale_bar')
"""

from dataclasses import dataclass, field

from analysis.databar import FieldBox, find_data_bar
from analysis.scalebar import read_scale_bar
from analysis.semfile import SEMImageData

#: ``pixel_size_source`` of a pixel size read from the scale bar.
SCALE_BAR_SOURCE = "scale_bar"


@dataclass(frozen=True)
class FrameCalibration:
    """Field box and pixel size of one frame, with how they were found.

    Attributes:
        field: the specimen area in frame pixels (the whole frame without a bar).
        data_bar: the info band in frame pixels, or ``None`` when none was found.
        pixel_size_nm: nm per pixel, or ``None`` when unknown.
        pixel_size_source: ``"metadata"``, ``"sidecar"``, ``"scale_bar"`` or ``None``.
        magnification: from the metadata, else as read in the data bar (times), or ``None``.
        details: JSON-safe record: ``reader`` (the metadata reader used),
            ``notes`` (readers that could not calibrate), ``scale_bar`` (the
            reading: label, ruler px, magnification, confidence) and, when the
            pixel size is unknown, ``reason`` (one sentence for the user).
    """

    field: FieldBox
    data_bar: FieldBox | None
    pixel_size_nm: float | None
    pixel_size_source: str | None
    magnification: float | None = None
    details: dict[str, object] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """Why the pixel size is unknown ("" when it is known)."""
        return str(self.details.get("reason", ""))


def calibrate_frame(image: SEMImageData) -> FrameCalibration:
    """Find the field of ``image`` and its pixel size (see the module docstring for the order).

    Args:
        image: a decoded SEM file (:func:`analysis.semfile.read_sem`).

    Returns:
        The field box and the calibration, with its provenance.
    """
    meta = image.metadata
    bar = find_data_bar(image.pixels)
    field_box = bar.field if bar is not None else FieldBox(0, 0, image.width, image.height)
    band = bar.band if bar is not None else None
    details: dict[str, object] = {"notes": list(meta.calibration_notes)}
    if meta.pixel_size_nm is not None:
        details["reader"] = meta.pixel_size_reader
        return FrameCalibration(
            field_box, band, meta.pixel_size_nm, meta.pixel_size_source, meta.magnification, details
        )
    metadata_reason = (
        meta.calibration_notes[0] if meta.calibration_notes else "No pixel size in the metadata."
    )
    if bar is None:
        details["reason"] = f"{metadata_reason} No data bar with a scale bar was found either."
        return FrameCalibration(field_box, None, None, None, meta.magnification, details)
    reading = read_scale_bar(image.pixels, bar)
    details["scale_bar"] = reading.to_json()
    magnification = meta.magnification or reading.magnification
    if reading.pixel_size_nm is None:
        details["reason"] = f"{metadata_reason} The data bar's scale bar: {reading.reason}"
        return FrameCalibration(field_box, band, None, None, magnification, details)
    details["reader"] = SCALE_BAR_SOURCE
    return FrameCalibration(
        field_box, band, reading.pixel_size_nm, SCALE_BAR_SOURCE, magnification, details
    )
