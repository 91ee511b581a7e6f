"""FEI / Thermo Fisher metadata: the INI text of TIFF tags 34680 (FEI_SFEG) and 34682 (FEI_HELIOS).

tifffile parses the text (``read_fei_metadata``) into ``{section: {key:
value}}`` with values converted to ``int``, ``float``, ``bool`` or ``str``;
this reader only picks the facts. FEI stores SI units: metres and volts.
"""

from collections.abc import Mapping

from analysis.tiffmeta import json_safe
from analysis.vendors.reading import VendorReading, finite_number, positive, text_value


def read_fei(sections: object) -> VendorReading:
    """Read tifffile's parsed FEI metadata.

    Args:
        sections: the tag value, ``{"Scan": {"PixelWidth": 1.2e-09, ...},
            "EBeam": {"HV": 20000.0, "WD": 0.0041, ...}, ...}``; anything else
            (raw bytes when tifffile could not parse the tag) gives a problem.

    Returns:
        Pixel size from ``[Scan] PixelWidth`` (m -> nm), voltage from
        ``[EBeam] HV`` (V -> kV), working distance from ``[EBeam] WD`` (m ->
        mm), magnification as ``[Image] MagCanvasRealWidth`` / horizontal
        field width, detector ``[Detectors] Name`` (and ``Mode``), instrument
        ``[System] SystemType`` (else ``Dnumber``).
    """
    if not isinstance(sections, Mapping) or not sections:
        return VendorReading(
            reader="fei", problem="The FEI metadata tag could not be read as INI text."
        )
    scan, beam, system = (_section(sections, name) for name in ("Scan", "EBeam", "System"))
    width = scan.get("PixelWidth")
    width_m = finite_number(width)
    problem = None
    if width is None:
        problem = "The FEI metadata has no [Scan] PixelWidth."
    elif width_m is None:
        problem = f"The FEI [Scan] PixelWidth {width!r} is not a number of metres."
    voltage_v = positive(finite_number(beam.get("HV", _section(sections, "Beam").get("HV"))))
    distance_m = positive(finite_number(beam.get("WD")))
    return VendorReading(
        reader="fei",
        pixel_size_nm=width_m * 1e9 if width_m is not None else None,
        problem=problem,
        magnification=_magnification(sections),
        accelerating_voltage_kv=voltage_v / 1e3 if voltage_v else None,
        working_distance_mm=distance_m * 1e3 if distance_m else None,
        detector=_detector(_section(sections, "Detectors")),
        instrument=text_value(system.get("SystemType")) or text_value(system.get("Dnumber")),
        raw=_raw(sections),
    )


def _section(sections: Mapping, name: str) -> Mapping:
    value = sections.get(name)
    return value if isinstance(value, Mapping) else {}


def _magnification(sections: Mapping) -> float | None:
    """Magnification as FEI's UI computes it: the reference canvas width over the field width."""
    canvas_m = positive(finite_number(_section(sections, "Image").get("MagCanvasRealWidth")))
    field_m = positive(finite_number(_section(sections, "EBeam").get("HFW")))
    field_m = field_m or positive(finite_number(_section(sections, "EScan").get("HorFieldsize")))
    return canvas_m / field_m if canvas_m and field_m else None


def _detector(detectors: Mapping) -> str | None:
    name, mode = text_value(detectors.get("Name")), text_value(detectors.get("Mode"))
    return f"{name} ({mode})" if name and mode else name or mode


def _raw(sections: Mapping) -> dict[str, object]:
    raw = json_safe(dict(sections))
    return raw if isinstance(raw, dict) else {}
