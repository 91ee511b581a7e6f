"""What every vendor reader returns, and the unit arithmetic they share.

A reader never raises on missing or malformed values: it returns a
:class:`VendorReading` whose ``pixel_size_nm`` is ``None`` and whose
``problem`` says why, in words a user can act on.
"""

import math
import re
from dataclasses import dataclass, field

from analysis.instrument import InstrumentFacts

#: Length units in nm, in the spellings vendors use (µ is U+00B5 or U+03BC).
LENGTH_NM = {
    "pm": 1e-3,
    "nm": 1.0,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,
    "mm": 1e6,
    "m": 1e9,
}
_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")


@dataclass(frozen=True, kw_only=True)
class VendorReading(InstrumentFacts):
    """Calibration and instrument facts one reader found, in NanoMark's units.

    Besides the :class:`~analysis.instrument.InstrumentFacts` fields:

    Attributes:
        reader: stable reader id: ``"hitachi"``, ``"fei"``, ``"zeiss"``,
            ``"tescan"``, ``"jeol"`` or ``"resolution"``.
        pixel_size_nm: specimen size of one pixel in nm as the vendor states
            it (not yet range-checked), or ``None``.
        problem: why ``pixel_size_nm`` is ``None``, one sentence; else ``None``.
        raw: the values read, JSON-serialisable.
    """

    reader: str
    pixel_size_nm: float | None = None
    problem: str | None = None
    raw: dict[str, object] = field(default_factory=dict)


def finite_number(value: object) -> float | None:
    """``value`` as a finite float when it is a number or a numeric string, else ``None``.

    Booleans are not numbers here (tifffile turns ``true`` into ``True``); a
    decimal comma (``2,5``) is read as a point, as European PCs write it.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def positive(value: float | None) -> float | None:
    """``value`` if it is > 0, else ``None`` (for facts such as kV where 0 means unknown)."""
    return value if value is not None and value > 0 else None


def number_and_unit(text: str) -> tuple[float, str] | None:
    """``"200nm"``, ``"2.5 µm"``, ``"1,5 mm"`` -> ``(number, unit)``; unit may be ``""``."""
    match = _NUMBER_UNIT.match(text.replace(",", "."))
    if match is None:
        return None
    number = float(match.group(1))
    return (number, match.group(2) or "") if math.isfinite(number) else None


def text_value(value: object) -> str | None:
    """A non-empty stripped string, or ``None``."""
    return (value.strip() or None) if isinstance(value, str) else None
