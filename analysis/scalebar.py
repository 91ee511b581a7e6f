"""Pixel size from a data bar: the ruler and its label, and the magnification text.

A Hitachi data bar states the pixel size twice: a ten-division ruler with a
label (``500nm``) gives label / ruler length, and the magnification
(``x100k``) gives 127 mm / (magnification x frame width)
(:mod:`analysis.magnification`). :func:`read_scale_bar` measures the ruler
(end tick to end tick, sub-pixel), reads both texts with Tesseract (called as
a program; nothing is downloaded), and calibrates only when the readings
support each other; a bar that cannot be read leaves the image uncalibrated,
with the reason. Nothing in the field is used.
"""

import re
import subprocess
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from analysis.databar import DataBar
from analysis.magnification import (
    format_magnification,
    parse_magnification,
    pixel_size_for_magnification,
)
from analysis.ocr import OcrWord, read_words, tesseract_available
from analysis.ruler import Ruler, find_ruler, find_tick_row

#: Two readings agree when their pixel sizes differ by at most this fraction.
AGREEMENT_TOLERANCE = 0.02
#: A single reading calibrates only with a Tesseract word confidence (0-100) of at least this.
SINGLE_READING_MIN_CONFIDENCE = 85.0
#: Glyph heights, px, that text is scaled to for Tesseract: the first, then retries.
OCR_GLYPH_HEIGHTS_PX = (36, 26, 50)
#: Readings from retries count only when ruler and magnification agree (confidence >= this).
AGREEMENT_MIN_CONFIDENCE = 0.8

_UNITS_NM = {"nm": 1.0, "um": 1e3, "mm": 1e6}
# Tesseract's English model has no "µ": it reads "µm" as "um", "pm", "ym", "m"...
_MICRO_MISREADINGS = re.compile(r"^(?:[uµμpyY”\"'`]{1,2}m|m)$")
_LABEL = re.compile(r"^(\d+(?:[.,]\d+)?)\s*([^\d\s]{1,4})$")
_LABEL_WHITELIST = "0123456789.,nmuµμ "
# Hitachi model names as data bars print them (SU8000, SU8230, S-4800, Regulus8230,
# FlexSEM 1000, TM4000), allowing Tesseract's O-for-0: the magnification alone gives
# the pixel size only with Hitachi's 127 mm display rule.
_HITACHI_MODEL = re.compile(r"\b(?:SU\s?[\dO]{3,4}|S-?[\dO]{4}|Regulus|FlexSEM|TM[\dO]{4})", re.I)


@dataclass(frozen=True)
class ScaleBarReading:
    """What a data bar says about the pixel size.

    Attributes:
        pixel_size_nm: nm per pixel, or ``None`` when uncalibrated.
        confidence: 0-1; 0 when uncalibrated.
        reason: empty when calibrated; otherwise one sentence saying why not.
        label: the ruler label as read, e.g. ``500nm``.
        label_nm: the ruler length the label states, nm.
        ruler_px: ruler length from end tick centre to end tick centre, px.
        magnification: magnification read (times).
        magnification_pixel_size_nm: its pixel size by Hitachi's rule, nm/px.
        text: everything OCR read in the band, label first.
    """

    pixel_size_nm: float | None
    confidence: float
    reason: str
    label: str | None = None
    label_nm: float | None = None
    ruler_px: float | None = None
    magnification: float | None = None
    magnification_pixel_size_nm: float | None = None
    text: str = ""

    @property
    def calibrated(self) -> bool:
        """Whether a pixel size was read."""
        return self.pixel_size_nm is not None

    def to_json(self) -> dict[str, object]:
        """JSON-friendly form (all fields)."""
        return asdict(self)


def read_scale_bar(pixels: np.ndarray, bar: DataBar) -> ScaleBarReading:
    """Read the pixel size that ``bar`` states.

    Rules: the ruler's label over its length and the magnification by
    Hitachi's rule (with the frame width) must agree within
    :data:`AGREEMENT_TOLERANCE`; then the magnification's pixel size is used
    (it is what Hitachi's own metadata reports), with a high confidence. When
    only one reading exists, it calibrates only when unambiguous and read with
    a Tesseract confidence of at least :data:`SINGLE_READING_MIN_CONFIDENCE`:
    a magnification word that is the band's only one, beside a Hitachi model
    name (and, when a ruler was measured, makes its length a 1-2-3-5 x 10^k nm
    value), or a label with an
    explicit unit on a regular 11-tick ruler. Otherwise the image stays
    uncalibrated and ``reason`` says why.

    Args:
        pixels: (H, W) uint8 or uint16 frame, as given to
            :func:`analysis.databar.find_data_bar`.
        bar: the bar found in it.

    Returns:
        :class:`ScaleBarReading`.
    """
    if not tesseract_available():
        return ScaleBarReading(
            None, 0.0, "tesseract is not installed, so the data bar's text cannot be read."
        )
    scale = np.float32(255.0 / float(np.iinfo(pixels.dtype).max))
    band = bar.band.crop(pixels).astype(np.float32) * scale
    background = bar.background * 255.0
    contrast = max(bar.text_level * 255.0 - background, 1.0)
    ink = (band - np.float32(background) >= 0.5 * contrast).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    ruler_parts, ruler = find_ruler(band, background, labels, stats)
    if ruler is None:
        ruler_parts, ruler = find_tick_row(band, background, labels, stats)
    # Text is read without the ruler, whose line and ticks Tesseract takes for letters.
    text_ink = (labels > 0) & ~np.isin(labels, ruler_parts)
    label_box = _label_box(stats, ruler_parts, ruler) if ruler is not None else None
    label_ink = _mask_box(text_ink, label_box) if label_box is not None else None
    if label_box is not None:
        x, y, w, h = label_box
        text_ink[y : y + h, x : x + w] = False
    width_px = pixels.shape[1]
    first: ScaleBarReading | None = None
    readings: dict[str, list[list[OcrWord]]] = {"label": [], "info": []}
    try:
        # Tesseract's misreadings depend on the glyph size it is given; a second and
        # third size are tried only when the first reading is not a calibration, and
        # only an agreement of ruler and magnification is taken from them.
        for glyph_height in OCR_GLYPH_HEIGHTS_PX:
            if label_ink is not None:
                readings["label"].append(
                    _ocr(band, background, contrast, label_ink, 7, glyph_height)
                )
            if text_ink.any():
                readings["info"].append(_ocr(band, background, contrast, text_ink, 6, glyph_height))
            for label_words in readings["label"] or [[]]:
                for info_words in readings["info"] or [[]]:
                    reading = _decide(ruler, label_words, info_words, width_px)
                    if first is None:
                        first = reading
                        if reading.calibrated:
                            return reading
                    elif reading.calibrated and reading.confidence >= AGREEMENT_MIN_CONFIDENCE:
                        return reading
    except (OSError, subprocess.SubprocessError) as error:
        return ScaleBarReading(None, 0.0, f"tesseract failed: {error}.")
    assert first is not None
    return first


def _decide(
    ruler: Ruler | None, label_words: list[OcrWord], info_words: list[OcrWord], width_px: int
) -> ScaleBarReading:
    """A :class:`ScaleBarReading` from the readings, by the rules of :func:`read_scale_bar`."""
    label = "".join(w.text for w in label_words) or None
    text = " ".join(w.text for w in [*label_words, *info_words])
    label_conf = min((w.confidence for w in label_words), default=0.0)
    units = _label_units(label, label_conf) if label else None
    magnification, mag_conf, mag_reason = _magnification(info_words)
    mag_pixel = pixel_size_for_magnification(magnification, width_px) if magnification else None
    ruler_px = ruler.length_px if ruler is not None else None
    common = {
        "label": label,
        "ruler_px": ruler_px,
        "magnification": magnification,
        "magnification_pixel_size_nm": mag_pixel,
        "text": text,
    }

    if units is not None and ruler_px and mag_pixel:
        candidates = units[1]
        # The unit the magnification confirms, among those the label may say.
        for length_nm in candidates:
            if abs(length_nm / ruler_px - mag_pixel) <= AGREEMENT_TOLERANCE * mag_pixel:
                confidence = 0.8 + 0.2 * min(label_conf, mag_conf) / 100.0
                return ScaleBarReading(mag_pixel, confidence, "", label_nm=length_nm, **common)
        length_nm = candidates[0]
        ruler_pixel = length_nm / ruler_px
        gap = abs(ruler_pixel - mag_pixel) / mag_pixel
        reason = (
            f"Ruler ({ruler_px:.0f} px, {length_nm:g} nm → {ruler_pixel:.3g} nm/px) and "
            f"magnification {format_magnification(magnification)} ({mag_pixel:.3g} nm/px) "
            f"disagree by {100 * gap:.0f} %."
        )
        return ScaleBarReading(None, 0.0, reason, label_nm=length_nm, **common)

    if mag_pixel:
        if mag_conf < SINGLE_READING_MIN_CONFIDENCE:
            return _uncalibrated(
                f"The magnification {format_magnification(magnification)} was read with "
                f"confidence {mag_conf:.0f} and no ruler label confirms it.",
                units,
                common,
            )
        if not _HITACHI_MODEL.search(text):
            return _uncalibrated(
                f"The magnification {format_magnification(magnification)} gives a pixel size "
                "only by Hitachi's display rule, the data bar names no Hitachi instrument, "
                "and no ruler label confirms it.",
                units,
                common,
            )
        if ruler_px and not _is_nice_length(ruler_px * mag_pixel):
            return _uncalibrated(
                f"The magnification {format_magnification(magnification)} makes the ruler "
                f"{ruler_px * mag_pixel:.0f} nm long, not a round length.",
                units,
                common,
            )
        label_nm = units[1][0] if units else None
        return ScaleBarReading(mag_pixel, 0.6 * mag_conf / 100.0, "", label_nm=label_nm, **common)

    if units is not None and ruler is not None:
        candidates = units[1]
        if (
            len(candidates) == 1
            and label_conf >= SINGLE_READING_MIN_CONFIDENCE
            and ruler.n_ticks == 11
            and ruler.regular
        ):
            pixel = candidates[0] / ruler.length_px
            return ScaleBarReading(
                pixel, 0.6 * label_conf / 100.0, "", label_nm=candidates[0], **common
            )
        return _uncalibrated(
            f"The scale-bar label '{label}' was read with confidence {label_conf:.0f} and "
            f"no magnification confirms it ({mag_reason}).",
            units,
            common,
        )

    if ruler is None:
        reason = f"No ruler was found in the data bar, and {mag_reason}."
    elif label is None:
        reason = f"The ruler has no readable label, and {mag_reason}."
    else:
        reason = f"The scale-bar label '{label}' could not be read, and {mag_reason}."
    return _uncalibrated(reason, units, common)


def _uncalibrated(
    reason: str, units: tuple[float, list[float]] | None, common: dict[str, object]
) -> ScaleBarReading:
    label_nm = units[1][0] if units else None
    return ScaleBarReading(None, 0.0, reason, label_nm=label_nm, **common)


def _label_units(label: str, confidence: float) -> tuple[float, list[float]] | None:
    """(number, candidate lengths in nm) of a label such as ``500nm``; ``None`` if unreadable.

    An explicit ``nm``/``um``/``mm`` read with confidence gives one candidate;
    a misread micro sign (``pm``, ``ym``, ``m``) or a doubtful ``nm`` gives
    µm (and nm), for the magnification to choose from.
    """
    text = label.replace(" ", "")
    match = _LABEL.match(text)
    if match is None:
        return None
    number = float(match.group(1).replace(",", "."))
    unit = match.group(2).replace("µ", "u").replace("μ", "u")
    if number <= 0:
        return None
    if unit in _UNITS_NM and (unit != "nm" or confidence >= 60):
        return number, [number * _UNITS_NM[unit]]
    if unit == "nm":
        return number, [number, number * 1e3]
    if _MICRO_MISREADINGS.match(unit):
        return number, [number * 1e3]
    return None


def _magnification(words: list[OcrWord]) -> tuple[float | None, float, str]:
    """(magnification, confidence, why none) from the info words."""
    found: dict[float, float] = {}
    for k, word in enumerate(words):
        candidates = [word]
        if k + 1 < len(words):
            # Tesseract sometimes splits "x100k" into "x100" and "k", or "x" and "100k".
            after = words[k + 1]
            joined = word.text + after.text
            candidates.append(OcrWord(joined, min(word.confidence, after.confidence), word.box))
        for candidate in candidates:
            value = parse_magnification(candidate.text)
            if value is not None:
                found[value] = max(found.get(value, 0.0), candidate.confidence)
                break
    if not found:
        return None, 0.0, "no magnification was read"
    if len(found) > 1:
        values = ", ".join(format_magnification(v) for v in sorted(found))
        return None, 0.0, f"the magnification is ambiguous ({values})"
    value, confidence = next(iter(found.items()))
    return value, confidence, ""


def _is_nice_length(length_nm: float) -> bool:
    """Whether ``length_nm`` is 1, 2, 3 or 5 x 10^k nm within :data:`AGREEMENT_TOLERANCE`."""
    exponent = np.floor(np.log10(length_nm))
    for mantissa in (1.0, 2.0, 3.0, 5.0, 10.0):
        nice = mantissa * 10.0**exponent
        if abs(length_nm - nice) <= AGREEMENT_TOLERANCE * nice:
            return True
    return False


def _label_box(
    stats: np.ndarray, ruler_parts: tuple[int, ...], ruler: Ruler
) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the label: the text line nearest the ruler, over its middle.

    Text lines are components that overlap in rows and follow each other
    within 2 glyph heights; a line qualifies when it lies within the ruler's
    span (± 30 %) and its centre within half the ruler's length of the
    ruler's; the nearest one above or below wins.
    """
    rx, ry, rw, rh = ruler.box
    centre, length = (ruler.left_px + ruler.right_px) / 2.0, ruler.length_px
    best, best_gap = None, None
    for x0, y0, x1, y1 in _text_lines(stats, exclude=ruler_parts):
        if x0 < rx - 0.3 * length or x1 > rx + rw + 0.3 * length:
            continue
        if abs((x0 + x1) / 2.0 - centre) > 0.5 * length:
            continue
        gap = ry - y1 if y1 <= ry + rh / 2 else y0 - (ry + rh)
        if gap > 2.5 * (y1 - y0):
            continue
        if best_gap is None or gap < best_gap:
            best, best_gap = (x0, y0, x1 - x0, y1 - y0), gap
    return best


def _text_lines(stats: np.ndarray, exclude: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) boxes of text lines made of the components of ``stats``."""
    boxes = [
        (int(x), int(y), int(x + w), int(y + h))
        for k, (x, y, w, h, _) in enumerate(stats)
        if k > 0 and k not in exclude
    ]
    boxes.sort()
    lines: list[list[int]] = []
    for x0, y0, x1, y1 in boxes:
        for line in lines:
            height = line[3] - line[1]
            overlaps = min(y1, line[3]) - max(y0, line[1]) > 0.3 * min(y1 - y0, height)
            if overlaps and x0 - line[2] <= 2 * max(height, y1 - y0):
                line[:] = [min(line[0], x0), min(line[1], y0), max(line[2], x1), max(line[3], y1)]
                break
        else:
            lines.append([x0, y0, x1, y1])
    return [tuple(line) for line in lines]


def _mask_box(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``mask`` with everything outside ``box`` cleared."""
    x, y, w, h = box
    out = np.zeros_like(mask)
    out[y : y + h, x : x + w] = mask[y : y + h, x : x + w]
    return out


def _ocr(
    band: np.ndarray,
    background: float,
    contrast: float,
    keep: np.ndarray,
    psm: int,
    glyph_height_px: int,
) -> list[OcrWord]:
    """Words Tesseract reads in the ``keep`` part of ``band``.

    The region is cropped to its ink (plus a margin), everything else set to
    the background, stretched to dark text on white, scaled up to
    :data:`OCR_GLYPH_HEIGHT_PX` glyphs and passed as PNG on stdin.
    """
    # Anti-aliased edges are below the ink threshold; grow the kept region to include them.
    grown = cv2.dilate(keep.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ys, xs = np.nonzero(keep)
    glyph_h = _glyph_height(keep)
    margin = max(4, glyph_h // 2)
    y0, y1 = max(0, ys.min() - margin), min(band.shape[0], ys.max() + margin + 1)
    x0, x1 = max(0, xs.min() - margin), min(band.shape[1], xs.max() + margin + 1)
    region = np.where(grown, band, np.float32(background))[y0:y1, x0:x1]
    white = np.clip(255.0 - 255.0 * (region - background) / contrast, 0, 255).astype(np.uint8)
    factor = float(np.clip(glyph_height_px / max(glyph_h, 1), 1.0, 6.0))
    if factor > 1.0:
        white = cv2.resize(white, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    white = cv2.copyMakeBorder(white, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
    return read_words(white, psm, _LABEL_WHITELIST if psm == 7 else None)


def _glyph_height(keep: np.ndarray) -> int:
    """Median height of the glyph-sized components of a mask, px."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(keep.astype(np.uint8), connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    heights = heights[heights >= 4]
    return int(np.median(heights)) if heights.size else 12
