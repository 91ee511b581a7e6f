"""TIFF tags as JSON-safe metadata, and the instrument facts they hold.

tifffile already parses the tags (and vendor blocks such as FEI's and Zeiss's
into dicts); this module turns them into values a JSON column accepts,
finds Hitachi text embedded in any text tag, and reads the resolution tags
in the only case where they describe the specimen rather than a printer.
"""

import enum
import math
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import tifffile

from analysis.hitachi import looks_like_hitachi
from analysis.textcodec import decode_text, looks_binary

# Layout tags (offsets, byte counts, tables) describe the file, not the
# specimen, and can hold millions of values.
_LAYOUT_TAGS = frozenset({273, 279, 288, 289, 320, 324, 325, 330, 347, 513, 514, 515, 519, 520})
_RATIONAL_TYPES = (5, 10)
_MAX_ITEMS = 256  # longer arrays (curves, tables) are dropped from the JSON
_MAX_TEXT = 65536  # characters; FEI/Zeiss blocks are a few KiB
_MAX_DEPTH = 8
_RESOLUTION_UNIT_NM = {2: 25.4e6, 3: 1e7}  # inch, centimetre


def tiff_tags_json(page: tifffile.TiffPage) -> dict[str, object]:
    """The page's tags as a JSON-serialisable dict keyed by tag name.

    Rationals become floats, enums their names, text bytes strings; binary
    blobs, NaN/inf, layout tables and arrays over 256 items are dropped.
    """
    tags: dict[str, object] = {}
    for tag in page.tags:
        if tag.code in _LAYOUT_TAGS:
            continue
        value = tag.value
        if int(tag.dtype) in _RATIONAL_TYPES and isinstance(value, tuple):
            value = _rationals(value)
        converted = _jsonable(value, 0)
        if converted is not None:
            tags[tag.name] = converted
    return tags


def embedded_hitachi_text(page: tifffile.TiffPage) -> str | None:
    """Hitachi ``[SemImageFile]`` text from ImageDescription or any text/byte tag, if present."""
    for text in _tag_texts(page):
        if looks_like_hitachi(text):
            return text
    return None


def resolution_pixel_size_nm(page: tifffile.TiffPage) -> float | None:
    """Pixel size implied by XResolution and ResolutionUnit, when it is a microscope scale.

    Returns:
        nm per pixel, or ``None`` when the unit is missing/none or the size is
        1 µm or more (72 or 300 dpi is a print setting, not a calibration).
    """
    unit = page.tags.valueof(296, 2)
    resolution = page.tags.valueof(282)
    if int(unit) not in _RESOLUTION_UNIT_NM or not isinstance(resolution, tuple):
        return None
    pixels_per_unit = _rationals(resolution)
    if not isinstance(pixels_per_unit, float):
        return None
    return pixel_size_from_density(pixels_per_unit, _RESOLUTION_UNIT_NM[int(unit)])


def pixel_size_from_density(pixels_per_unit: float, unit_nm: float) -> float | None:
    """nm per pixel for a density in pixels per unit, or ``None`` if it is not below 1 µm.

    Args:
        pixels_per_unit: declared density, > 0.
        unit_nm: the unit's length in nm (1e7 for cm, 25.4e6 for inch, 1e9 for m).
    """
    if not pixels_per_unit > 0 or not math.isfinite(pixels_per_unit):
        return None
    size_nm = unit_nm / pixels_per_unit
    return size_nm if size_nm < 1000.0 else None


def tiff_instrument(page: tifffile.TiffPage) -> str | None:
    """``Make Model`` from the TIFF tags, or ``None``."""
    parts = [page.tags.valueof(code) for code in (271, 272)]
    text = " ".join(str(part).strip() for part in parts if isinstance(part, str) and part.strip())
    return text or None


def tiff_datetime(page: tifffile.TiffPage) -> datetime | None:
    """Acquisition time from EXIF DateTimeOriginal, else the TIFF DateTime tag (local time)."""
    exif = page.tags.valueof(34665)
    candidates = [exif.get("DateTimeOriginal")] if isinstance(exif, dict) else []
    candidates.append(page.tags.valueof(306))
    for value in candidates:
        if isinstance(value, str):
            try:
                return datetime.strptime(value.strip(), "%Y:%m:%d %H:%M:%S")
            except ValueError:
                continue
    return None


def _tag_texts(page: tifffile.TiffPage) -> Iterator[str]:
    description = page.tags.valueof(270)
    if isinstance(description, str):
        yield description
    for tag in page.tags:
        if tag.code == 270 or tag.code in _LAYOUT_TAGS:
            continue
        if isinstance(tag.value, str):
            yield tag.value
        elif isinstance(tag.value, bytes) and not looks_binary(tag.value):
            yield decode_text(tag.value)


def _rationals(value: tuple) -> float | list[float | None] | None:
    """(num, den, num, den, …) -> float for one rational, list for several; den 0 -> None."""
    floats = [num / den if den else None for num, den in zip(value[::2], value[1::2], strict=False)]
    return floats[0] if len(floats) == 1 else floats


def _jsonable(value: object, depth: int) -> object:
    """A JSON-safe copy of ``value``, or ``None`` when it should be left out."""
    if depth > _MAX_DEPTH or value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool | int | str):
        return value[:_MAX_TEXT] if isinstance(value, str) else value
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, bytes):
        return None if looks_binary(value) else decode_text(value)[:_MAX_TEXT]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.size <= _MAX_ITEMS else None
    if isinstance(value, list | tuple):
        if len(value) > _MAX_ITEMS:
            return None
        return [_jsonable(item, depth + 1) for item in value]
    if isinstance(value, dict):
        items = ((str(key), _jsonable(item, depth + 1)) for key, item in value.items())
        return {key: item for key, item in items if item is not None}
    return None
