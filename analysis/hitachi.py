"""Hitachi SU-series SEM metadata: the ``[SemImageFile]`` key=value text.

Hitachi FE-SEMs (SU8000, SU8200, S-4800, Regulus) write this text as a sidecar
``.txt`` next to each TIFF, and newer firmware also embeds it in the TIFF
(SU8200/Regulus: in the Windows XPComment tag, UTF-16LE, without the
``[SemImageFile]`` header). Values carry units in Hitachi's own spelling
(``10000 Volt``, ``8100 um``); :func:`parse_hitachi_text` turns them into
NanoMark's units (nm, kV, mm) and keeps every raw key-value pair.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from analysis.instrument import InstrumentFacts

SECTION = "[SemImageFile]"

_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*([A-Za-zµμ]*)\s*$")
_VOLT_FACTORS_KV = {"": 1e-3, "v": 1e-3, "volt": 1e-3, "kv": 1.0}
_LENGTH_FACTORS_MM = {"": 1e-3, "um": 1e-3, "µm": 1e-3, "μm": 1e-3, "mm": 1.0, "nm": 1e-6}
# "Condition=Vacc=20.0kV   Mag=x150k   WD=8.3mm": one line of imaging conditions.
_CONDITION_ITEM = re.compile(r"(\w+)=(\S+)")
_CONDITION_MAG = re.compile(r"^[x×]?(\d+(?:\.\d*)?)([kKmM]?)$")
_MAG_SUFFIXES = {"": 1.0, "k": 1e3, "m": 1e6}
_DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S")


@dataclass(frozen=True, kw_only=True)
class HitachiMetadata(InstrumentFacts):
    """Typed view of a Hitachi metadata text; ``None`` where a key is missing or unreadable."""

    raw: dict[str, str] = field(default_factory=dict)
    pixel_size_nm: float | None = None


def looks_like_hitachi(text: str) -> bool:
    """True if ``text`` is a Hitachi metadata block (section header or ``PixelSize=`` key)."""
    return SECTION in text or re.search(r"^\s*PixelSize\s*=", text, re.MULTILINE) is not None


def parse_hitachi_text(text: str) -> HitachiMetadata:
    """Parse Hitachi ``key=value`` metadata text.

    Args:
        text: the sidecar or embedded text; lines without ``=`` and section
            headers are ignored; later duplicates win.

    Returns:
        :class:`HitachiMetadata` with pixel size in nm/px, voltage in kV,
        working distance in mm, and all raw pairs in ``raw``. Magnification,
        voltage and working distance missing as keys of their own are read
        from ``Condition=`` (``Vacc=20.0kV Mag=x150k WD=8.3mm``).

    Example:
        >>> meta = parse_hitachi_text("PixelSize=0.99\\nAcceleratingVoltage=10000 Volt")
        >>> meta.accelerating_voltage_kv
        10.0
    """
    raw: dict[str, str] = {}
    for line in text.replace("\x00", "").splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and key and not key.startswith("["):
            raw[key] = value.strip()
    condition = dict(_CONDITION_ITEM.findall(raw.get("Condition", "")))
    magnification = _scaled(raw.get("Magnification"), {"": 1.0, "x": 1.0})
    voltage_kv = _scaled(raw.get("AcceleratingVoltage"), _VOLT_FACTORS_KV)
    distance_mm = _scaled(raw.get("WorkingDistance"), _LENGTH_FACTORS_MM)
    return HitachiMetadata(
        raw=raw,
        pixel_size_nm=_positive(hitachi_pixel_size_nm(raw.get("PixelSize"))),
        magnification=_positive(magnification or condition_magnification(condition.get("Mag"))),
        accelerating_voltage_kv=_positive(
            voltage_kv or _scaled(condition.get("Vacc"), _VOLT_FACTORS_KV)
        ),
        working_distance_mm=_positive(
            distance_mm or _scaled(condition.get("WD"), _LENGTH_FACTORS_MM)
        ),
        detector=raw.get("SignalName") or None,
        instrument=raw.get("InstructName") or None,
        acquired_at=_datetime(raw.get("Date"), raw.get("Time")),
    )


def hitachi_pixel_size_nm(value: str | None) -> float | None:
    """A ``PixelSize`` value (nm, bare or with ``nm``) as a float, or ``None`` if unreadable."""
    return _scaled(value, {"": 1.0, "nm": 1.0})


def condition_magnification(value: str | None) -> float | None:
    """``Mag=`` of a ``Condition`` line in times: ``x150k`` -> 150000, ``x1.50k``, ``x500``."""
    match = _CONDITION_MAG.match(value.strip()) if value else None
    if match is None:
        return None
    return float(match.group(1)) * _MAG_SUFFIXES[match.group(2).lower()]


def format_hitachi_text(values: Mapping[str, object]) -> str:
    """Write ``values`` as a Hitachi ``[SemImageFile]`` block (CRLF line ends, as the SEM does).

    Args:
        values: key-value pairs in Hitachi spelling, e.g. ``{"PixelSize": 0.99,
            "AcceleratingVoltage": "10000 Volt"}``; written in the given order.
    """
    lines = [SECTION, *(f"{key}={value}" for key, value in values.items())]
    return "\r\n".join(lines) + "\r\n"


def _scaled(value: str | None, factors: Mapping[str, float]) -> float | None:
    if not value:
        return None
    match = _NUMBER.match(value)
    if match is None:
        return None
    unit = match.group(2).lower()
    if unit not in factors:
        return None
    return float(match.group(1)) * factors[unit]


def _positive(value: float | None) -> float | None:
    return value if value is not None and value > 0 else None


def _datetime(date: str | None, time: str | None) -> datetime | None:
    if not date:
        return None
    stamp = f"{date.strip()} {(time or '00:00:00').strip()}"
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(stamp, fmt)
        except ValueError:
            continue
    return None
