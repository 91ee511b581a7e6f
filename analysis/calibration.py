"""Which pixel size an SEM image has: the one place that ranks the vendor readers.

Each dialect has a reader in :mod:`analysis.vendors`; :func:`calibrate_metadata`
runs every reader whose input is present, in this order, and the first valid
pixel size wins:

1. embedded in the image file by the vendor: Hitachi text in any tag
   (ImageDescription, XPComment, private tags, PNG text), FEI tags
   34680/34682, Zeiss CZ_SEM (34118), Tescan tag 50431;
2. a sidecar, recognised by content (:func:`read_sidecar`): Hitachi ``.txt``,
   JEOL ``.txt``, Tescan ``.hdr``;
3. resolution tags (TIFF XResolution, PNG pHYs, JPEG JFIF density), only
   below 1 µm per pixel.

A vendor value outside :data:`MIN_PIXEL_SIZE_NM`..:data:`MAX_PIXEL_SIZE_NM` is
not used. Readers that could not calibrate leave a one-sentence reason in
:attr:`Calibration.notes`; instrument facts (kV, WD, ...) come from the first
reader, in the same order, that has them.

Example:
    >>> calibration = calibrate_metadata(EmbeddedMetadata(fei={"Scan": {"PixelWidth": 1.2e-09}}))
    >>> calibration.pixel_size_nm, calibration.reader, calibration.source
    (1.2, 'fei', 'metadata')
"""

import math
from dataclasses import dataclass, field

from analysis.hitachi import looks_like_hitachi
from analysis.instrument import INSTRUMENT_FACTS, InstrumentFacts
from analysis.sniff import SEMFileError
from analysis.vendors.fei import read_fei
from analysis.vendors.hitachi import read_hitachi
from analysis.vendors.jeol import looks_like_jeol, read_jeol
from analysis.vendors.reading import VendorReading
from analysis.vendors.resolution import read_resolution
from analysis.vendors.tescan import looks_like_tescan, read_tescan
from analysis.vendors.zeiss import read_zeiss

__all__ = [
    "MAX_PIXEL_SIZE_NM",
    "MIN_PIXEL_SIZE_NM",
    "Calibration",
    "EmbeddedMetadata",
    "VendorReading",
    "calibrate_metadata",
    "pixel_size_problem",
    "read_sidecar",
]

#: Smallest credible pixel size, nm: well below an atomic spacing, so smaller is a unit error.
MIN_PIXEL_SIZE_NM = 0.01
#: Largest credible pixel size, nm: 1 µm per pixel cannot resolve nanoparticles.
MAX_PIXEL_SIZE_NM = 1000.0

#: How notes name each reader's source.
READER_LABELS = {
    "hitachi": "Hitachi metadata",
    "fei": "FEI metadata",
    "zeiss": "Zeiss metadata",
    "tescan": "Tescan metadata",
    "jeol": "JEOL metadata",
    "resolution": "resolution tags",
}
_NOTHING_FOUND = (
    "No pixel size in the file's metadata (no Hitachi, FEI, Zeiss or Tescan calibration tags, "
    "no resolution tags) and no sidecar."
)


@dataclass(frozen=True)
class EmbeddedMetadata:
    """Calibration inputs the image file carries, as tifffile and the container walkers give them.

    Attributes:
        hitachi_text: Hitachi ``key=value`` text found in any tag or text chunk.
        fei: tifffile's parse of FEI tags 34680/34682 (``{section: {key: value}}``).
        zeiss: tifffile's parse of CZ_SEM tag 34118 (``{key: (label, value[, unit])}``).
        tescan_text: the text of Tescan tag 50431.
        density: ``(pixels per unit, "m" | "cm" | "inch")`` from resolution tags.
    """

    hitachi_text: str | None = None
    fei: object = None
    zeiss: object = None
    tescan_text: str | None = None
    density: tuple[float, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Calibration(InstrumentFacts):
    """The outcome of :func:`calibrate_metadata`.

    Besides the :class:`~analysis.instrument.InstrumentFacts` fields:

    Attributes:
        pixel_size_nm: nm per pixel, within the valid range, or ``None``.
        source: ``"metadata"`` (the image file) or ``"sidecar"``; ``None`` if uncalibrated.
        reader: id of the reader whose pixel size won (``"hitachi"``, ``"fei"``,
            ``"zeiss"``, ``"tescan"``, ``"jeol"``, ``"resolution"``), or ``None``.
        notes: reasons from the readers that did not calibrate; when no pixel
            size is known the first note says why in one sentence.
        raw: JSON-safe values by reader id for the file (``"hitachi"``,
            ``"fei"``, ``"zeiss"``, ``"tescan"``), under ``"sidecar"`` for the
            sidecar with its reader id in ``"sidecar_dialect"``.
    """

    pixel_size_nm: float | None = None
    source: str | None = None
    reader: str | None = None
    notes: tuple[str, ...] = ()
    raw: dict[str, object] = field(default_factory=dict)


def pixel_size_problem(value_nm: float) -> str | None:
    """Why ``value_nm`` cannot be a pixel size, as a message for the user, or ``None`` if it can.

    Args:
        value_nm: a pixel size in nm per pixel, from a file or typed by hand.

    Returns:
        ``None`` for a finite value within 0.01..1000 nm, else one sentence.

    Example:
        >>> pixel_size_problem(0.99) is None, pixel_size_problem(-1)
        (True, 'The pixel size must be positive (got -1 nm).')
    """
    value_nm = float(value_nm)  # forms hand in Decimal
    if math.isnan(value_nm):
        return "The pixel size is not a number."
    if math.isinf(value_nm):
        return "The pixel size is infinite."
    if value_nm <= 0:
        return f"The pixel size must be positive (got {value_nm:g} nm)."
    if value_nm < MIN_PIXEL_SIZE_NM:
        return (
            f"The pixel size {value_nm:g} nm is below {MIN_PIXEL_SIZE_NM:g} nm, smaller than "
            "an atom; check the unit."
        )
    if value_nm > MAX_PIXEL_SIZE_NM:
        return (
            f"The pixel size {value_nm:g} nm is above {MAX_PIXEL_SIZE_NM:g} nm (1 µm), too coarse "
            "to show nanoparticles; check the unit."
        )
    return None


def read_sidecar(text: str) -> VendorReading:
    """Read a sidecar in whichever dialect its content shows: Hitachi, Tescan or JEOL.

    Args:
        text: the decoded sidecar (see :func:`analysis.semfile.decode_sidecar`).

    Raises:
        SEMFileError: the text is none of the three dialects.
    """
    if looks_like_hitachi(text):
        return read_hitachi(text)
    if looks_like_tescan(text):
        return read_tescan(text)
    if looks_like_jeol(text):
        return read_jeol(text)
    raise SEMFileError(
        "The sidecar is not Hitachi, JEOL or Tescan SEM metadata (no Hitachi [SemImageFile] "
        "section or PixelSize line, no JEOL $CM_ keys, no Tescan [MAIN] section or PixelSizeX)."
    )


def calibrate_metadata(
    embedded: EmbeddedMetadata, sidecar: VendorReading | None = None
) -> Calibration:
    """Run the readers in the module's order and keep the first valid pixel size.

    Args:
        embedded: what the image file carries.
        sidecar: the sidecar's reading from :func:`read_sidecar`, if there is one.

    Returns:
        :class:`Calibration`; never raises on missing or malformed values.
    """
    file_readings = _file_readings(embedded)
    resolution = read_resolution(*embedded.density) if embedded.density else None
    ranked = [
        *((reading, "metadata") for reading in file_readings),
        *([(sidecar, "sidecar")] if sidecar else []),
        *([(resolution, "metadata")] if resolution else []),
    ]
    winner: tuple[VendorReading, str] | None = None
    notes: list[str] = []
    for reading, source in ranked:
        problem = _problem(reading, source)
        if problem is not None:
            notes.append(problem)
        elif winner is None:
            winner = (reading, source)
    if winner is None:
        notes.insert(0, _uncalibrated_summary(ranked, has_sidecar=sidecar is not None))
    readings = [reading for reading, _ in ranked]
    facts = {
        name: next((value for r in readings if (value := getattr(r, name)) is not None), None)
        for name in INSTRUMENT_FACTS  # the first reader that has a fact wins
    }
    raw: dict[str, object] = {r.reader: dict(r.raw) for r in file_readings}
    if sidecar is not None:
        raw["sidecar"] = dict(sidecar.raw)
        raw["sidecar_dialect"] = sidecar.reader
    return Calibration(
        pixel_size_nm=winner[0].pixel_size_nm if winner else None,
        source=winner[1] if winner else None,
        reader=winner[0].reader if winner else None,
        notes=tuple(notes),
        raw=raw,
        **facts,
    )


def _file_readings(embedded: EmbeddedMetadata) -> list[VendorReading]:
    readings = []
    if embedded.hitachi_text is not None:
        readings.append(read_hitachi(embedded.hitachi_text))
    if embedded.fei is not None:
        readings.append(read_fei(embedded.fei))
    if embedded.zeiss is not None:
        readings.append(read_zeiss(embedded.zeiss))
    if embedded.tescan_text is not None:
        readings.append(read_tescan(embedded.tescan_text))
    return readings


def _problem(reading: VendorReading, source: str) -> str | None:
    """Why ``reading`` gives no usable pixel size, naming where it came from, or ``None``."""
    if reading.pixel_size_nm is None:
        return reading.problem or f"The {_where(reading, source)} has no pixel size."
    problem = pixel_size_problem(reading.pixel_size_nm)
    if problem is None:
        return None
    return f"The {_where(reading, source)} gives a pixel size that is not used. {problem}"


def _where(reading: VendorReading, source: str) -> str:
    label = READER_LABELS.get(reading.reader, reading.reader)
    return f"{label} in the sidecar" if source == "sidecar" else label


def _uncalibrated_summary(ranked: list[tuple[VendorReading, str]], *, has_sidecar: bool) -> str:
    if not ranked:
        return _NOTHING_FOUND
    names = [f"the {_where(reading, source)}" for reading, source in ranked]
    where = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    tail = "" if has_sidecar else ", and there is no sidecar"
    return f"No usable pixel size: {where} gave none that is valid{tail}."
