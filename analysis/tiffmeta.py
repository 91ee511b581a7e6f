"""TIFF tags as JSON-safe metadata, and the instrument facts they hold.

tifffile already parses the tags (and vendor blocks such as FEI's and Zeiss's
into dicts); this module turns them into values a JSON column accepts,
decodes the Windows XP* tags (UTF-16LE), finds Hitachi text embedded in any
text tag, hands the vendor calibration tags to :mod:`analysis.vendors`, and
reads the resolution tags.
"""

import enum
import math
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import tifffile

from analysis.hitachi import looks_like_hitachi
from analysis.textcodec import decode_text, decode_utf16le, looks_binary

# Layout tags (offsets, byte counts, tables) describe the file, not the
# specimen, and can hold millions of values.
_LAYOUT_TAGS = frozenset({273, 279, 288, 289, 320, 324, 325, 330, 347, 513, 514, 515, 519, 520})
_RATIONAL_TYPES = (5, 10)
_MAX_ITEMS = 256  # longer arrays (curves, tables) are dropped from the JSON
_MAX_TEXT = 65536  # characters; FEI/Zeiss blocks are a few KiB
_MAX_DEPTH = 8
_RESOLUTION_UNIT_NAMES = {2: "inch", 3: "cm"}
_UNIT_NM = {"inch": 25.4e6, "cm": 1e7}
#: Windows Explorer's XPTitle, XPComment, XPAuthor, XPKeywords, XPSubject: UTF-16LE
#: bytes in a BYTE tag, which Hitachi SU8200/Regulus firmware fills with its metadata.
XP_TAGS = frozenset(range(40091, 40096))
FEI_TAGS = (34680, 34682)  # FEI_SFEG, FEI_HELIOS
ZEISS_TAG = 34118  # CZ_SEM
TESCAN_TAG = 50431


def tiff_tags_json(page: tifffile.TiffPage) -> dict[str, object]:
    """The page's tags as a JSON-serialisable dict keyed by tag name.

    Rationals become floats, enums their names, text bytes strings; binary
    blobs, NaN/inf, layout tables and arrays over 256 items are dropped.
    """
    tags: dict[str, object] = {}
    for tag in page.tags:
        if tag.code in _LAYOUT_TAGS:
            continue
        value = _xp_text(tag) if tag.code in XP_TAGS else tag.value
        if int(tag.dtype) in _RATIONAL_TYPES and isinstance(value, tuple):
            value = _rationals(value)
        converted = json_safe(value)
        if converted is not None:
            tags[tag.name] = converted
    return tags


def embedded_hitachi_text(page: tifffile.TiffPage) -> str | None:
    """Hitachi ``[SemImageFile]`` text from ImageDescription or any text/byte tag, if present."""
    for text in _tag_texts(page):
        if looks_like_hitachi(text):
            return text
    return None


def xp_texts(page: tifffile.TiffPage) -> dict[str, str]:
    """The XP* tags present, decoded from UTF-16LE, by tag name (``"XPAuthor"``: ``"SU8200"``)."""
    texts = {tag.name: _xp_text(tag) for tag in page.tags if tag.code in XP_TAGS}
    return {name: text for name, text in texts.items() if text}


def fei_metadata(page: tifffile.TiffPage) -> object:
    """tifffile's parse of the FEI tags: ``{section: {key: value}}``, or ``None`` without them.

    Both tags merge (HELIOS over SFEG), as ``TiffFile.fei_metadata`` does; when
    tifffile could not parse them the raw value is returned, for the reader to
    explain.
    """
    values = [page.tags.valueof(code) for code in FEI_TAGS if code in page.tags]
    if not values:
        return None
    sections = [value for value in values if isinstance(value, dict)]
    if not sections:
        return values[0]
    return {name: section for value in sections for name, section in value.items()}


def zeiss_metadata(page: tifffile.TiffPage) -> object:
    """tifffile's parse of the Zeiss CZ_SEM tag (``TiffFile.sem_metadata``), or ``None``."""
    return page.tags.valueof(ZEISS_TAG)


def tescan_text(page: tifffile.TiffPage) -> str | None:
    """The Tescan tag 50431 as text (tifffile leaves it as bytes), or ``None``.

    Binary block headers in old MIRA files are kept (read as latin-1) for the
    tolerant parser in :mod:`analysis.vendors.tescan`.
    """
    value = page.tags.valueof(TESCAN_TAG)
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        return None
    return value.decode("latin-1") if looks_binary(value) else decode_text(value)


def resolution_density(page: tifffile.TiffPage) -> tuple[float, str] | None:
    """``(pixels per unit, "inch" | "cm")`` from XResolution and ResolutionUnit, or ``None``.

    ``None`` when the unit is missing or none (tifffile writes 1 pixel per
    no-unit by default) or the resolution is not one rational.
    """
    unit = int(page.tags.valueof(296, 2))
    resolution = page.tags.valueof(282)
    if unit not in _RESOLUTION_UNIT_NAMES or not isinstance(resolution, tuple):
        return None
    pixels_per_unit = _rationals(resolution)
    if not isinstance(pixels_per_unit, float):
        return None
    return pixels_per_unit, _RESOLUTION_UNIT_NAMES[unit]


def resolution_pixel_size_nm(page: tifffile.TiffPage) -> float | None:
    """Pixel size implied by XResolution and ResolutionUnit, when it is a microscope scale.

    Returns:
        nm per pixel, or ``None`` when the unit is missing/none or the size is
        1 µm or more (72 or 300 dpi is a print setting, not a calibration).
    """
    density = resolution_density(page)
    if density is None:
        return None
    pixels_per_unit, unit = density
    return pixel_size_from_density(pixels_per_unit, _UNIT_NM[unit])


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
    """``Make Model`` from the TIFF tags, else XPAuthor (Hitachi's model), or ``None``."""
    parts = [page.tags.valueof(code) for code in (271, 272)]
    text = " ".join(str(part).strip() for part in parts if isinstance(part, str) and part.strip())
    return text or xp_texts(page).get("XPAuthor", "").strip() or None


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
        if tag.code in XP_TAGS:
            yield _xp_text(tag)
        elif isinstance(tag.value, str):
            yield tag.value
        elif isinstance(tag.value, bytes) and not looks_binary(tag.value):
            yield decode_text(tag.value)


def _xp_text(tag: tifffile.TiffTag) -> str:
    """An XP* tag as text: UTF-16LE bytes, or a tuple of byte values if a writer used BYTE ints."""
    value = tag.value
    if isinstance(value, tuple) and all(isinstance(item, int) for item in value):
        value = bytes(item & 0xFF for item in value)
    if isinstance(value, str):
        return value.rstrip("\x00")
    return decode_utf16le(value) if isinstance(value, bytes) else ""


def _rationals(value: tuple) -> float | list[float | None] | None:
    """(num, den, num, den, …) -> float for one rational, list for several; den 0 -> None."""
    floats = [num / den if den else None for num, den in zip(value[::2], value[1::2], strict=False)]
    return floats[0] if len(floats) == 1 else floats


def json_safe(value: object) -> object:
    """A JSON-safe copy of ``value`` (as in :func:`tiff_tags_json`), or ``None`` to leave it out."""
    return _jsonable(value, 0)


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
