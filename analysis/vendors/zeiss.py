"""Zeiss SmartSEM metadata: TIFF tag 34118 (CZ_SEM), as tifffile's ``read_cz_sem`` parses it.

The tag is text: an upper-case key line (``AP_IMAGE_PIXEL_SIZE``) followed by
``Label = value unit`` (``Image Pixel Size = 2.5 nm``). tifffile returns
``{"ap_image_pixel_size": ("Image Pixel Size", 2.5, "nm"), "ap_mag": ("Mag",
"10.00 K X"), ...}``: a number and its unit when the value is two words, the
string otherwise (``"10.00 K X"``), ``True``/``False`` for On/Off, and
unnamed leading lines under ``""``.
"""

import re
from collections.abc import Mapping

from analysis.tiffmeta import json_safe
from analysis.vendors.reading import (
    LENGTH_NM,
    VendorReading,
    finite_number,
    number_and_unit,
    positive,
    text_value,
)

_PIXEL_KEYS = ("ap_image_pixel_size", "ap_pixel_size")
_VOLTAGE_KEYS = ("ap_actualkv", "ap_manualkv")
_VOLT_KV = {"kv": 1.0, "v": 1e-3}
_MAG = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([KM]?)\s*X\s*$", re.IGNORECASE)
_MAG_FACTORS = {"": 1.0, "k": 1e3, "m": 1e6}


def read_zeiss(entries: object) -> VendorReading:
    """Read tifffile's parsed CZ_SEM dict.

    Args:
        entries: the tag value, ``{key: (label, value[, unit])}``; anything
            else (raw bytes when tifffile could not parse it) gives a problem.

    Returns:
        Pixel size from ``AP_IMAGE_PIXEL_SIZE`` (else ``AP_PIXEL_SIZE``) in
        pm/nm/µm/mm -> nm, magnification from ``AP_MAG`` (``10.00 K X``),
        voltage from ``AP_ACTUALKV`` (else ``AP_MANUALKV``), working distance
        from ``AP_WD``, detector from ``DP_DETECTOR_CHANNEL``, instrument from
        ``DP_SEM`` (else ``SV_INSTRUMENT_ID``).
    """
    if not isinstance(entries, Mapping) or not entries:
        return VendorReading(reader="zeiss", problem="The Zeiss CZ_SEM tag could not be read.")
    pixel_key = next((key for key in _PIXEL_KEYS if key in entries), None)
    pixel_size_nm, problem = None, "The Zeiss metadata has no Image Pixel Size."
    if pixel_key is not None:
        pixel_size_nm, problem = _pixel_size_nm(entries[pixel_key])
    voltage_key = next((key for key in _VOLTAGE_KEYS if key in entries), None)
    return VendorReading(
        reader="zeiss",
        pixel_size_nm=pixel_size_nm,
        problem=problem,
        magnification=_magnification(entries.get("ap_mag")),
        accelerating_voltage_kv=positive(_scaled(entries.get(voltage_key), _VOLT_KV)),
        working_distance_mm=positive(_length_mm(entries.get("ap_wd"))),
        detector=text_value(_value(entries.get("dp_detector_channel"))),
        instrument=text_value(_value(entries.get("dp_sem")))
        or text_value(_value(entries.get("sv_instrument_id"))),
        raw=_raw(entries),
    )


def _pixel_size_nm(entry: object) -> tuple[float | None, str | None]:
    label = entry[0] if isinstance(entry, tuple) and entry else "Image Pixel Size"
    quantity = _quantity(entry)
    if quantity is None:
        return None, f"The Zeiss {label} {_value(entry)!r} is not a number."
    number, unit = quantity
    if not unit:
        return None, f"The Zeiss {label} {number:g} has no unit."
    factor = LENGTH_NM.get(unit.lower())
    if factor is None:
        return None, f"The Zeiss {label} unit {unit!r} is not a length unit (pm, nm, µm, mm)."
    return number * factor, None


def _quantity(entry: object) -> tuple[float, str] | None:
    """``(label, 2.5, "nm")`` -> ``(2.5, "nm")``; ``(label, "2,5 nm")`` -> ``(2.5, "nm")``."""
    value = _value(entry)
    if isinstance(value, str):
        return number_and_unit(value)
    number = finite_number(value)
    if number is None:
        return None
    unit = entry[2] if isinstance(entry, tuple) and len(entry) > 2 else ""
    return number, unit if isinstance(unit, str) else ""


def _value(entry: object) -> object:
    return entry[1] if isinstance(entry, tuple) and len(entry) > 1 else None


def _scaled(entry: object, factors: Mapping[str, float]) -> float | None:
    quantity = _quantity(entry)
    if quantity is None or quantity[1].lower() not in factors:
        return None
    return quantity[0] * factors[quantity[1].lower()]


def _length_mm(entry: object) -> float | None:
    quantity = _quantity(entry)
    if quantity is None or quantity[1].lower() not in LENGTH_NM:
        return None
    return quantity[0] * LENGTH_NM[quantity[1].lower()] / 1e6


def _magnification(entry: object) -> float | None:
    value = _value(entry)
    if not isinstance(value, str):  # "Mag = 500 X" is split by tifffile into (500, "X")
        quantity = _quantity(entry)
        value = f"{quantity[0]} {quantity[1]}" if quantity else ""
    match = _MAG.match(value)
    if match is None:
        return None
    return positive(float(match.group(1)) * _MAG_FACTORS[match.group(2).lower()])


def _raw(entries: Mapping) -> dict[str, object]:
    raw = json_safe(dict(entries))
    return raw if isinstance(raw, dict) else {}
