"""JEOL SEM metadata: the ``.txt`` sidecar of ``$CM_`` / ``$$SM_`` lines.

Each line is a ``$``-prefixed key, one space, and a value (``$CM_MAG 50000``).
JEOL states no pixel size: it records the scale bar drawn on the image,
``$$SM_MICRON_BAR 180`` (its length in pixels) and ``$$SM_MICRON_MARKER
200nm`` (its label), so the pixel size is the label's length over the bar's.
"""

import re

from analysis.vendors.reading import (
    LENGTH_NM,
    VendorReading,
    finite_number,
    number_and_unit,
    positive,
    text_value,
)

_MAGIC = re.compile(r"^\s*\$+(?:CM|SM)_\w+", re.MULTILINE)


def looks_like_jeol(text: str) -> bool:
    """True if ``text`` has a JEOL ``$CM_…`` or ``$$SM_…`` key line."""
    return _MAGIC.search(text) is not None


def parse_jeol_text(text: str) -> dict[str, str]:
    """``{"$CM_MAG": "50000", "$$SM_MICRON_BAR": "180", ...}``; lines without ``$`` are skipped."""
    raw: dict[str, str] = {}
    for line in text.replace("\x00", "").splitlines():
        key, _, value = line.strip().partition(" ")
        if key.startswith("$") and key.strip("$"):
            raw[key] = value.strip()
    return raw


def read_jeol(text: str) -> VendorReading:
    """Read a JEOL sidecar.

    Args:
        text: the decoded ``.txt`` sidecar.

    Returns:
        Pixel size = ``$$SM_MICRON_MARKER`` (nm) / ``$$SM_MICRON_BAR`` (px);
        ``$CM_MAG``; ``$CM_ACCEL_VOLT`` (kV); ``$$SM_WD`` or ``$SM_WD`` (mm);
        ``$CM_SIGNAL``; ``$CM_INSTRUMENT``. ``raw`` holds every key as written.
    """
    raw = parse_jeol_text(text)
    values = {key.lstrip("$").upper(): value for key, value in raw.items()}
    pixel_size_nm, problem = _pixel_size_nm(values)
    return VendorReading(
        reader="jeol",
        pixel_size_nm=pixel_size_nm,
        problem=problem,
        magnification=positive(finite_number(values.get("CM_MAG"))),
        accelerating_voltage_kv=positive(_kv(values.get("CM_ACCEL_VOLT"))),
        working_distance_mm=positive(_mm(values.get("SM_WD"))),
        detector=text_value(values.get("CM_SIGNAL")),
        instrument=text_value(values.get("CM_INSTRUMENT")),
        raw=dict(raw),
    )


def _pixel_size_nm(values: dict[str, str]) -> tuple[float | None, str | None]:
    bar, marker = values.get("SM_MICRON_BAR"), values.get("SM_MICRON_MARKER")
    if bar is None or marker is None:
        return None, (
            "The JEOL metadata has no scale bar ($$SM_MICRON_BAR and $$SM_MICRON_MARKER), "
            "so it gives no pixel size."
        )
    bar_px = finite_number(bar)
    if bar_px is None or bar_px <= 0:
        return None, f"The JEOL scale bar length $$SM_MICRON_BAR {bar!r} is not a number of pixels."
    length = number_and_unit(marker)
    factor = LENGTH_NM.get(length[1].lower()) if length else None
    if length is None or factor is None:
        return None, (
            f"The JEOL scale bar label $$SM_MICRON_MARKER {marker!r} is not a length "
            "(such as 200nm or 1um)."
        )
    return length[0] * factor / bar_px, None


def _kv(value: str | None) -> float | None:
    quantity = number_and_unit(value) if value else None
    if quantity is None or quantity[1].lower() not in ("", "kv"):
        return None
    return quantity[0]


def _mm(value: str | None) -> float | None:
    quantity = number_and_unit(value) if value else None
    if quantity is None or quantity[1].lower() not in ("", "mm"):
        return None
    return quantity[0]
