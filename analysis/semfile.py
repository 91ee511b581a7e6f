"""Reading uploaded SEM images: validated pixels plus instrument metadata.

:func:`read_sem` is the one entry point for an upload. It names the format
from the content (:mod:`analysis.sniff`), walks the container's structure and
caps the pixel count before decoding (:mod:`analysis.pngcheck`,
:mod:`analysis.jpegcheck`, :mod:`analysis.tiffcheck`), decodes to one
greyscale plane, widens 12- to 15-bit data stored in 16-bit samples to the
full range, and gathers metadata: the pixel size comes from
:func:`analysis.calibration.calibrate_metadata` (vendor tags in the file, then
a Hitachi, JEOL or Tescan sidecar, then resolution tags). Every refusal is a
:class:`SEMFileError` whose message can be shown as is.

Example:
    >>> image = read_sem(path.read_bytes(), sidecar_text=decode_sidecar(txt.read_bytes()))
    >>> image.pixels.shape, image.metadata.pixel_size_nm, image.metadata.pixel_size_source
    ((960, 1280), 0.9921875, 'metadata')
"""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np
import tifffile

from analysis.calibration import EmbeddedMetadata, calibrate_metadata, read_sidecar
from analysis.hitachi import looks_like_hitachi
from analysis.instrument import InstrumentFacts
from analysis.jpegcheck import inspect_jpeg
from analysis.pngcheck import inspect_png
from analysis.sniff import (
    ImageFormat,
    ImageHeader,
    SEMFileError,
    reject_zip_directory,
    sniff_format,
)
from analysis.textcodec import decode_text, looks_binary
from analysis.tiffcheck import inspect_tiff
from analysis.tiffmeta import (
    embedded_hitachi_text,
    fei_metadata,
    resolution_density,
    tescan_text,
    tiff_datetime,
    tiff_instrument,
    tiff_tags_json,
    zeiss_metadata,
)
from analysis.vendors.reading import VendorReading

__all__ = [
    "SEMFileError",
    "SEMImageData",
    "SEMMetadata",
    "decode_sidecar",
    "read_sem",
    "widen_significant_bits",
]

DEFAULT_MAX_PIXELS = 64_000_000
SIDECAR_MAX_BYTES = 1 << 20

MIME_TYPES: dict[ImageFormat, str] = {
    "tiff": "image/tiff",
    "png": "image/png",
    "jpeg": "image/jpeg",
}
_INSPECTORS: dict[ImageFormat, Callable[[bytes, int], ImageHeader]] = {
    "tiff": inspect_tiff,
    "png": inspect_png,
    "jpeg": inspect_jpeg,
}
# 16-bit files often hold fewer significant bits (12-bit ADCs are common); a
# maximum above 8 bits keeps a nearly black image from being amplified wildly.
_WIDENED_BITS = (12, 13, 14, 15)
_MIN_WIDENED_MAX = 255
_OPENCV_TIFF_CODECS = frozenset({5, 7})  # LZW, JPEG
# OpenCV returns colour as BGR(A), tifffile as RGB(A); both conversions use the
# ITU-R BT.601 luma weights 0.299 R + 0.587 G + 0.114 B and keep the dtype.
_TO_GREY = {
    ("bgr", 3): cv2.COLOR_BGR2GRAY,
    ("bgr", 4): cv2.COLOR_BGRA2GRAY,
    ("rgb", 3): cv2.COLOR_RGB2GRAY,
    ("rgb", 4): cv2.COLOR_RGBA2GRAY,
}


@dataclass(frozen=True, kw_only=True)
class SEMMetadata(InstrumentFacts):
    """Instrument facts about one SEM image, in NanoMark's units.

    Besides the :class:`~analysis.instrument.InstrumentFacts` fields:

    Attributes:
        pixel_size_nm: specimen size of one pixel in nm, or ``None`` when unknown.
        pixel_size_source: ``"metadata"`` (from the image file itself),
            ``"sidecar"`` (from the sidecar text file), or ``None``.
        pixel_size_reader: which dialect gave the pixel size: ``"hitachi"``,
            ``"fei"``, ``"zeiss"``, ``"tescan"``, ``"jeol"``, ``"resolution"``,
            or ``None``.
        calibration_notes: why the other calibration sources were not used;
            with no pixel size, the first note says why in one sentence.
        raw: every metadata value read, JSON-serialisable, under
            ``"tiff_tags"``, ``"hitachi"`` (embedded), ``"fei"``, ``"zeiss"``,
            ``"tescan"``, ``"sidecar"`` (any dialect, named in
            ``"sidecar_dialect"``), ``"png_text"`` or ``"jpeg_comment"``.
    """

    pixel_size_nm: float | None = None
    pixel_size_source: str | None = None
    pixel_size_reader: str | None = None
    calibration_notes: tuple[str, ...] = ()
    raw: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)  # arrays have no single truth value, so no field-wise ==
class SEMImageData:
    """A decoded SEM image.

    Attributes:
        pixels: (H, W) uint8 or uint16 greyscale; colour files are converted
            with luma weights at the same bit depth, alpha is dropped. 16-bit
            data whose maximum is in 256..2**k - 1 for k in 12..15 is shifted
            left by 16 - k bits (lossless), so 12-bit data spans 0..65520
            instead of a sixteenth of the range.
        format: ``"tiff"``, ``"png"`` or ``"jpeg"``, from the content.
        mime_type: the format's MIME type.
        width: W in pixels.
        height: H in pixels.
        bit_depth: 8 or 16, as stored in the file.
        significant_bits: 8 for 8-bit files; for 16-bit files the k (12..15)
            the samples were widened from, else 16.
        channels: samples per pixel in the original file: 1 grey, 2 grey +
            alpha, 3 colour (palette included), 4 colour + alpha.
        metadata: instrument metadata.
    """

    pixels: np.ndarray
    format: ImageFormat
    mime_type: str
    width: int
    height: int
    bit_depth: int
    channels: int
    metadata: SEMMetadata
    significant_bits: int = 16


@dataclass(frozen=True)
class _FileFacts:
    """Metadata that the image file itself carries, before the sidecar is merged in."""

    embedded: EmbeddedMetadata = field(default_factory=EmbeddedMetadata)
    instrument: str | None = None
    acquired_at: datetime | None = None
    raw: dict[str, object] = field(default_factory=dict)


def read_sem(
    data: bytes, *, sidecar_text: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> SEMImageData:
    """Validate, decode and describe one uploaded SEM image.

    Args:
        data: the file's bytes; the format is detected from them, never from a name.
        sidecar_text: Hitachi, JEOL or Tescan sidecar text (see
            :func:`decode_sidecar`), if any; the dialect is told from the content.
        max_pixels: largest accepted width x height, checked against the
            header before any pixel is decoded.

    Returns:
        :class:`SEMImageData` with (H, W) greyscale pixels and metadata.
        Pixel size precedence (:mod:`analysis.calibration`): vendor metadata
        embedded in the file (Hitachi, FEI, Zeiss, Tescan), then the sidecar,
        then resolution tags when they imply less than 1 µm/pixel.

    Raises:
        SEMFileError: the file or the sidecar is refused; the message says why.
    """
    image_format = sniff_format(data)
    header = _INSPECTORS[image_format](data, max_pixels)
    reject_zip_directory(data)
    sidecar = read_sidecar(sidecar_text) if sidecar_text is not None else None
    if image_format == "tiff":
        pixels, facts = _read_tiff(data)
    else:
        pixels, facts = _decode_opencv(data, image_format), _container_facts(header)
    if pixels.shape != (header.height, header.width):
        raise SEMFileError(
            f"The {image_format.upper()} file is corrupt (its decoded size differs from "
            f"the declared {header.width} x {header.height} pixels)."
        )
    pixels, significant_bits = widen_significant_bits(pixels)
    return SEMImageData(
        pixels=pixels,
        format=image_format,
        mime_type=MIME_TYPES[image_format],
        width=header.width,
        height=header.height,
        bit_depth=header.bit_depth,
        channels=header.channels,
        metadata=_merge_metadata(facts, sidecar),
        significant_bits=significant_bits,
    )


def widen_significant_bits(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """Shift 16-bit samples holding 12..15 significant bits up to the full 16-bit range.

    Args:
        pixels: (H, W) uint8 or uint16.

    Returns:
        ``(pixels, significant_bits)``: uint8 -> unchanged, 8; uint16 whose
        maximum m satisfies 255 < m < 2**k (smallest such k in 12..15) ->
        ``pixels << (16 - k)``, k; any other uint16 -> unchanged, 16.

    Example:
        >>> pixels, bits = widen_significant_bits(np.array([[0, 4095]], np.uint16))
        >>> pixels.tolist(), bits
        ([[0, 65520]], 12)
    """
    if pixels.dtype != np.uint16:
        return pixels, 8 * pixels.dtype.itemsize
    peak = int(pixels.max(initial=0))
    bits = next((k for k in _WIDENED_BITS if peak < 1 << k), 16)
    if peak <= _MIN_WIDENED_MAX or bits == 16:
        return pixels, 16
    return pixels << np.uint16(16 - bits), bits


def decode_sidecar(data: bytes) -> str:
    """Decode a sidecar file's bytes (Hitachi, JEOL or Tescan metadata) to text.

    Args:
        data: the sidecar's bytes, at most :data:`SIDECAR_MAX_BYTES` (1 MiB).

    Returns:
        The text, decoded by its BOM, else as UTF-16LE when it reads as such,
        else UTF-8, else cp932 (Japanese Windows), else latin-1.

    Raises:
        SEMFileError: empty, larger than 1 MiB, or binary.
    """
    if len(data) > SIDECAR_MAX_BYTES:
        raise SEMFileError(
            f"The sidecar file is too large ({len(data) / (1 << 20):.1f} MiB); "
            "an SEM metadata file is a few KiB and the limit is 1 MiB."
        )
    if not data.strip(b"\x00 \t\r\n"):
        raise SEMFileError("The sidecar file is empty.")
    if looks_binary(data):
        raise SEMFileError("The sidecar file is not a text file (it contains binary data).")
    return decode_text(data)


def _read_tiff(data: bytes) -> tuple[np.ndarray, _FileFacts]:
    """Decode the (already validated) first page with tifffile and read its tags."""
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            page = tiff.pages.first
            embedded = EmbeddedMetadata(
                hitachi_text=embedded_hitachi_text(page),
                fei=fei_metadata(page),
                zeiss=zeiss_metadata(page),
                tescan_text=tescan_text(page),
                density=resolution_density(page),
            )
            facts = _FileFacts(
                embedded=embedded,
                instrument=tiff_instrument(page),
                acquired_at=tiff_datetime(page),
                raw={"tiff_tags": tiff_tags_json(page)},
            )
            # Without the optional imagecodecs package tifffile lacks LZW and
            # JPEG; OpenCV's bundled libtiff decodes those.
            if page.compression not in tifffile.TIFF.DECOMPRESSORS:
                if page.compression not in _OPENCV_TIFF_CODECS:
                    raise SEMFileError(
                        f"TIFF compression {_compression_name(page.compression)} is not "
                        "supported; save uncompressed, LZW or Deflate."
                    )
                return _decode_opencv(data, "tiff"), facts
            samples = page.asarray()
            if page.axes.startswith("S"):
                samples = np.moveaxis(samples, 0, -1)
            if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
                samples = np.iinfo(samples.dtype).max - samples
    except (SEMFileError, MemoryError):
        raise
    except Exception as error:  # tifffile raises many types on hostile input; all mean "unreadable"
        raise SEMFileError("The TIFF file is corrupt or could not be read.") from error
    return _to_grey(samples, "rgb"), facts


def _compression_name(code: int) -> str:
    try:
        return tifffile.COMPRESSION(code).name
    except ValueError:
        return str(int(code))


def _decode_opencv(data: bytes, image_format: ImageFormat) -> np.ndarray:
    """Decode with OpenCV: it keeps 16-bit colour PNG, which Pillow reduces to 8 bit."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise SEMFileError(f"The {image_format.upper()} file is corrupt (it could not be decoded).")
    return _to_grey(decoded, "bgr")


def _to_grey(samples: np.ndarray, order: str) -> np.ndarray:
    """(H, W) or (H, W, C) uint8/uint16 -> (H, W), same dtype, luma-weighted, alpha dropped."""
    if samples.dtype.kind != "u" or samples.dtype.itemsize not in (1, 2):
        raise SEMFileError(f"Decoded samples of type {samples.dtype} are not supported.")
    samples = samples.astype(samples.dtype.newbyteorder("="), copy=False)
    if samples.ndim == 3 and samples.shape[2] in (1, 2):  # grey, grey + alpha
        samples = samples[:, :, 0]
    if samples.ndim == 2:
        return np.ascontiguousarray(samples)
    code = _TO_GREY.get((order, samples.shape[2])) if samples.ndim == 3 else None
    if code is None:
        raise SEMFileError(f"Images shaped {samples.shape} are not supported.")
    return cv2.cvtColor(np.ascontiguousarray(samples), code)


def _container_facts(header: ImageHeader) -> _FileFacts:
    """Metadata from PNG text chunks / JPEG comments and their density fields."""
    hitachi_text = next((text for text in header.texts.values() if looks_like_hitachi(text)), None)
    raw: dict[str, object] = {}
    if header.texts:
        raw = {"png_text": dict(header.texts)} if header.format == "png" else dict(header.texts)
    embedded = EmbeddedMetadata(hitachi_text=hitachi_text, density=header.density)
    return _FileFacts(embedded=embedded, raw=raw)


def _merge_metadata(facts: _FileFacts, sidecar: VendorReading | None) -> SEMMetadata:
    calibration = calibrate_metadata(facts.embedded, sidecar)
    return SEMMetadata(
        pixel_size_nm=calibration.pixel_size_nm,
        pixel_size_source=calibration.source,
        pixel_size_reader=calibration.reader,
        calibration_notes=calibration.notes,
        **{
            **calibration.facts(),
            "instrument": calibration.instrument or facts.instrument,
            "acquired_at": calibration.acquired_at or facts.acquired_at,
        },
        raw={**facts.raw, **calibration.raw},
    )
