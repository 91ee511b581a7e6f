"""Tescan metadata: INI-like text in TIFF tag 50431 or a ``.hdr`` sidecar.

The text has ``[MAIN]`` and ``[SEM]`` sections of ``key=value`` lines (CRLF,
trailing NULs) in SI units: ``PixelSizeX=1.2e-08`` (m), ``HV=20000`` (V),
``WD=0.0051`` (m). tifffile 2026.3.3 does not parse tag 50431 (it returns the
bytes), so this module does. Older MIRA firmware writes the tag as binary
blocks (a size and type before each text block, a JPEG thumbnail among them):
lines are searched for ``key=value`` rather than parsed strictly, so both
layouts read.
"""

import re

from analysis.vendors.reading import VendorReading, finite_number, positive, text_value

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_PAIR = re.compile(r"([A-Za-z_][\w.]*)\s*=(.*)$")
_MAX_VALUE = 512  # characters; longer "values" are binary blocks read as text
_MAGIC = re.compile(r"^\s*\[MAIN\]|PixelSizeX\s*=", re.MULTILINE)


def looks_like_tescan(text: str) -> bool:
    """True if ``text`` is Tescan metadata (a ``[MAIN]`` section or a ``PixelSizeX=`` key)."""
    return _MAGIC.search(text) is not None


def parse_tescan_text(text: str) -> dict[str, dict[str, str]]:
    """``{section: {key: value}}`` from Tescan text; keys before any header go under ``""``.

    Control characters and NULs are dropped, values that are not printable
    text are skipped, and a later duplicate wins.
    """
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for line in text.splitlines():
        line = "".join(char for char in line if char.isprintable())
        header = _SECTION.match(line)
        if header:
            current = sections.setdefault(header.group(1).strip(), {})
            continue
        pair = _PAIR.search(line)
        if pair and len(pair.group(2)) <= _MAX_VALUE and "\ufffd" not in pair.group(2):
            current[pair.group(1)] = pair.group(2).strip()
    return {name: values for name, values in sections.items() if values}


def read_tescan(text: str) -> VendorReading:
    """Read Tescan metadata text.

    Args:
        text: the decoded tag 50431 or ``.hdr`` sidecar.

    Returns:
        Pixel size from ``PixelSizeX`` (m -> nm), voltage from ``HV`` (V ->
        kV), working distance from ``WD`` (m -> mm), ``Magnification``,
        ``Detector``, instrument ``Device``; ``raw`` holds every section.
    """
    sections = parse_tescan_text(text)
    values = _flat(sections)
    size = values.get("PixelSizeX")
    size_m = finite_number(size)
    problem = None
    if size is None:
        problem = "The Tescan metadata has no PixelSizeX."
    elif size_m is None:
        problem = f"The Tescan PixelSizeX {size!r} is not a number of metres."
    voltage_v = positive(finite_number(values.get("HV")))
    distance_m = positive(finite_number(values.get("WD")))
    return VendorReading(
        reader="tescan",
        pixel_size_nm=size_m * 1e9 if size_m is not None else None,
        problem=problem,
        magnification=positive(finite_number(values.get("Magnification"))),
        accelerating_voltage_kv=voltage_v / 1e3 if voltage_v else None,
        working_distance_mm=distance_m * 1e3 if distance_m else None,
        detector=text_value(values.get("Detector")) or text_value(values.get("Detector0")),
        instrument=text_value(values.get("Device")),
        raw=dict(sections),
    )


def _flat(sections: dict[str, dict[str, str]]) -> dict[str, str]:
    """One key space, [MAIN] winning over [SEM] and others, as pixel size lives in [MAIN]."""
    flat: dict[str, str] = {}
    for name in sorted(sections, key=lambda name: name.upper() != "MAIN"):
        for key, value in sections[name].items():
            flat.setdefault(key, value)
    return flat
