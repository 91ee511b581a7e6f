"""JPEG structure check: walk the marker segments from SOI to EOI.

libjpeg stops at the end-of-image marker and never looks further, which is
where polyglots keep their second document; it also decodes a truncated file
with a grey bottom. The walk finds the frame header (dimensions checked
against the pixel cap before decoding), every scan, and the exact end.
"""

import re
import struct

from analysis.sniff import (
    ImageHeader,
    SEMFileError,
    check_dimensions,
    reject_embedded_payload,
    reject_trailing_data,
)
from analysis.textcodec import decode_text

_EOI = 0xD9
_SOS = 0xDA
_COM = 0xFE
# Markers that stand alone, without a length field: TEM and the restart markers.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# Frame headers that libjpeg decodes: baseline, extended, progressive, and their
# arithmetic-coded twins. The others are lossless or hierarchical.
_SUPPORTED_FRAMES = {0xC0, 0xC1, 0xC2, 0xC9, 0xCA}
_OTHER_FRAMES = {0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF}
# After a scan, the next marker: 0xFF followed by anything but a stuffed 0x00,
# a restart marker (part of the scan) or another 0xFF (fill).
_NEXT_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_DENSITY_UNITS = {1: "inch", 2: "cm"}


def inspect_jpeg(data: bytes, max_pixels: int) -> ImageHeader:
    """Validate a JPEG file's marker structure and return its declared image header.

    Args:
        data: the whole file (starts with ``FF D8 FF``).
        max_pixels: largest accepted width x height, checked at the frame header.

    Returns:
        :class:`ImageHeader` (8-bit; 1 or 3 channels) with COM text in
        ``texts`` and the JFIF density in ``density``.

    Raises:
        SEMFileError: truncated, corrupt, several frames, 12-bit, CMYK, lossless,
            over the cap, or carrying another document.
    """
    pos = 2
    frame: tuple[int, int, int] | None = None
    texts: dict[str, str] = {}
    density: tuple[float, str] | None = None
    while True:
        pos = _skip_fill(data, pos)
        if pos + 2 > len(data):
            raise SEMFileError(
                "The JPEG file is truncated (it ends before its end-of-image marker)."
            )
        marker = data[pos + 1]
        if marker == _EOI:
            if frame is None:
                raise SEMFileError("The JPEG file is corrupt (it has no image data).")
            reject_trailing_data(data, pos + 2, "JPEG image (EOI)")
            break
        if marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > len(data):
            raise SEMFileError("The JPEG file is truncated (it ends inside a marker).")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or marker == 0xD8:
            raise SEMFileError(f"The JPEG file is corrupt (invalid marker at byte {pos}).")
        if end > len(data):
            raise SEMFileError("The JPEG file is truncated (a marker segment runs past the end).")
        body = data[pos + 4 : end]
        if marker in _SUPPORTED_FRAMES or marker in _OTHER_FRAMES:
            if frame is not None:
                raise SEMFileError("The JPEG file holds several frames; upload a single image.")
            frame = _read_frame(marker, body, max_pixels)
        elif marker == _SOS:
            if frame is None:
                raise SEMFileError("The JPEG file is corrupt (image data before its frame header).")
            found = _NEXT_MARKER.search(data, end)
            if found is None:
                raise SEMFileError(
                    "The JPEG file is truncated (its image data has no end-of-image marker)."
                )
            pos = found.start()
            continue
        elif 0xE0 <= marker <= 0xEF or marker == _COM:
            reject_embedded_payload(body, f"JPEG segment {_segment_name(marker)}")
            if marker == _COM:
                previous = texts.get("jpeg_comment")
                comment = decode_text(body)
                texts["jpeg_comment"] = f"{previous}\n{comment}" if previous else comment
            elif marker == 0xE0 and body.startswith(b"JFIF\x00") and len(body) >= 12:
                units, x_density = struct.unpack_from(">BH", body, 7)
                if units in _DENSITY_UNITS and x_density > 0:
                    density = (float(x_density), _DENSITY_UNITS[units])
        pos = end
    width, height, components = frame
    return ImageHeader("jpeg", width, height, 8, components, texts, density)


def _skip_fill(data: bytes, pos: int) -> int:
    """Step over 0xFF fill bytes so that ``pos`` points at the 0xFF just before a marker code."""
    if data[pos : pos + 1] != b"\xff":
        raise SEMFileError(f"The JPEG file is corrupt (expected a marker at byte {pos}).")
    while data[pos + 1 : pos + 2] == b"\xff":
        pos += 1
    return pos


def _read_frame(marker: int, body: bytes, max_pixels: int) -> tuple[int, int, int]:
    if len(body) < 6:
        raise SEMFileError("The JPEG file is corrupt (short frame header).")
    precision, height, width, components = struct.unpack_from(">BHHB", body)
    if height == 0 and width > 0:
        raise SEMFileError(
            "The JPEG file declares its height later in the stream (DNL); this is not supported."
        )
    check_dimensions(width, height, max_pixels)
    if marker in _OTHER_FRAMES:
        raise SEMFileError(
            "Lossless or hierarchical JPEG is not supported; save as baseline JPEG, PNG or TIFF."
        )
    if precision != 8:
        raise SEMFileError(
            f"{precision}-bit JPEG is not supported; save 16-bit SEM images as TIFF or PNG."
        )
    if components == 4:
        raise SEMFileError("CMYK JPEG is not supported; save as greyscale or RGB.")
    if components not in (1, 3):
        raise SEMFileError(f"JPEG with {components} colour components is not supported.")
    return width, height, components


def _segment_name(marker: int) -> str:
    return "COM" if marker == _COM else f"APP{marker - 0xE0}"
