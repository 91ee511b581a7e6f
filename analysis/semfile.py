"""Reading uploaded SEM images: validated pixels plus instrument metadata.

:func:`read_sem` is the one entry point for an upload. It names the format
from the content (:mod:`analysis.sniff`), walks the container's structure and
caps the pixel count before decoding (:mod:`analysis.pngcheck`,
:mod:`analysis.jpegcheck`, :mod:`analysis.tiffcheck`), decodes to one
greyscale plane, and gathers metadata: Hitachi text embedded in the file,
then a Hitachi sidecar, then resolution tags (:mod:`analysis.tiffmeta`).
Every refusal is a :class:`SEMFileError` whose message can be shown as is.

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

from analysis.hitachi import HitachiMetadata, looks_like_hitachi, parse_hitachi_text
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
    pixel_size_from_density,
    resolution_pixel_size_nm,
    tiff_datetime,
    tiff_instrument,
    tiff_tags_json,
)

__all__ = ["SEMFileError", "SEMImageData", "SEMMetadata", "decode_sidecar", "read_sem"]

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
_UNIT_NM = {"m": 1e9, "cm": 1e7, "inch": 25.4e6}
_OPENCV_TIFF_CODECS = frozenset({5, 7})  # LZW, JPEG
# OpenCV returns colour as BGR(A), tifffile as RGB(A); both conversions use the
# ITU-R BT.601 luma weights 0.299 R + 0.587 G + 0.114 B and keep the dtype.
_TO_GREY = {
    ("bgr", 3): cv2.COLOR_BGR2GRAY,
    ("bgr", 4): cv2.COLOR_BGRA2GRAY,
    ("rgb", 3): cv2.COLOR_RGB2GRAY,
    ("rgb", 4): cv2.COLOR_RGBA2GRAY,
}


@dataclass(frozen=True)
class SEMMetadata:
    """Instrument facts about one SEM image, in NanoMark's units.

    Attributes:
        pixel_size_nm: specimen size of one pixel in nm, or ``None`` when unknown.
        pixel_size_source: ``"metadata"`` (from the image file itself),
            ``"sidecar"`` (from the Hitachi text file), or ``None``.
        magnification: nominal magnification (times).
        accelerating_voltage_kv: beam energy in kV.
        working_distance_mm: working distance in mm.
        detector: signal name, e.g. ``"SE(U)"``.
        instrument: instrument name or TIFF make and model.
        acquired_at: acquisition time (naive, instrument local time).
        raw: every metadata value read, JSON-serialisable, under
            ``"tiff_tags"``, ``"hitachi"`` (embedded), ``"sidecar"``,
            ``"png_text"`` or ``"jpeg_comment"``.
    """

    pixel_size_nm: float | None = None
    pixel_size_source: str | None = None
    magnification: float | None = None
    accelerating_voltage_kv: float | None = None
    working_distance_mm: float | None = None
    detector: str | None = None
    instrument: str | None = None
    acquired_at: datetime | None = None
    raw: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)  # arrays have no single truth value, so no field-wise ==
class SEMImageData:
    """A decoded SEM image.

    Attributes:
        pixels: (H, W) uint8 or uint16 greyscale; colour files are converted
            with luma weights at the same bit depth, alpha is dropped.
        format: ``"tiff"``, ``"png"`` or ``"jpeg"``, from the content.
        mime_type: the format's MIME type.
        width: W in pixels.
        height: H in pixels.
        bit_depth: 8 or 16.
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


@dataclass(frozen=True)
class _FileFacts:
    """Metadata that the image file itself carries, before the sidecar is merged in."""

    hitachi_text: str | None = None
    density_pixel_size_nm: float | None = None
    instrument: str | None = None
    acquired_at: datetime | None = None
    raw: dict[str, object] = field(default_factory=dict)


def read_sem(
    data: bytes, *, sidecar_text: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> SEMImageData:
    """Validate, decode and describe one uploaded SEM image.

    Args:
        data: the file's bytes; the format is detected from them, never from a name.
        sidecar_text: Hitachi sidecar text (see :func:`decode_sidecar`), if any.
        max_pixels: largest accepted width x height, checked against the
            header before any pixel is decoded.

    Returns:
        :class:`SEMImageData` with (H, W) greyscale pixels and metadata.
        Pixel size precedence: Hitachi text embedded in the file, then the
        sidecar, then resolution tags when they imply less than 1 µm/pixel.

    Raises:
        SEMFileError: the file or the sidecar is refused; the message says why.
    """
    image_format = sniff_format(data)
    header = _INSPECTORS[image_format](data, max_pixels)
    reject_zip_directory(data)
    sidecar = _parse_sidecar(sidecar_text)
    if image_format == "tiff":
        pixels, facts = _read_tiff(data)
    else:
        pixels, facts = _decode_opencv(data, image_format), _container_facts(header)
    if pixels.shape != (header.height, header.width):
        raise SEMFileError(
            f"The {image_format.upper()} file is corrupt (its decoded size differs from "
            f"the declared {header.width} x {header.height} pixels)."
        )
    return SEMImageData(
        pixels=pixels,
        format=image_format,
        mime_type=MIME_TYPES[image_format],
        width=header.width,
        height=header.height,
        bit_depth=header.bit_depth,
        channels=header.channels,
        metadata=_merge_metadata(facts, sidecar),
    )


def decode_sidecar(data: bytes) -> str:
    """Decode a Hitachi sidecar file's bytes to text.

    Args:
        data: the sidecar's bytes, at most :data:`SIDECAR_MAX_BYTES` (1 MiB).

    Returns:
        The text, decoded as UTF-8, else cp932 (Japanese Windows), else latin-1.

    Raises:
        SEMFileError: empty, larger than 1 MiB, or binary.
    """
    if len(data) > SIDECAR_MAX_BYTES:
        raise SEMFileError(
            f"The sidecar file is too large ({len(data) / (1 << 20):.1f} MiB); "
            "a Hitachi metadata file is a few KiB and the limit is 1 MiB."
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
            facts = _FileFacts(
                hitachi_text=embedded_hitachi_text(page),
                density_pixel_size_nm=resolution_pixel_size_nm(page),
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
    density_nm = None
    if header.density is not None:
        pixels_per_unit, unit = header.density
        density_nm = pixel_size_from_density(pixels_per_unit, _UNIT_NM[unit])
    raw: dict[str, object] = {}
    if header.texts:
        raw = {"png_text": dict(header.texts)} if header.format == "png" else dict(header.texts)
    return _FileFacts(hitachi_text=hitachi_text, density_pixel_size_nm=density_nm, raw=raw)


def _parse_sidecar(text: str | None) -> HitachiMetadata | None:
    if text is None:
        return None
    if not looks_like_hitachi(text):
        raise SEMFileError(
            "The sidecar is not Hitachi SEM metadata (no [SemImageFile] section or PixelSize line)."
        )
    return parse_hitachi_text(text)


def _merge_metadata(facts: _FileFacts, sidecar: HitachiMetadata | None) -> SEMMetadata:
    embedded = parse_hitachi_text(facts.hitachi_text) if facts.hitachi_text else None
    sources = [meta for meta in (embedded, sidecar) if meta is not None]

    def first(name: str) -> object:
        return next((getattr(m, name) for m in sources if getattr(m, name) is not None), None)

    if embedded is not None and embedded.pixel_size_nm is not None:
        pixel_size, source = embedded.pixel_size_nm, "metadata"
    elif sidecar is not None and sidecar.pixel_size_nm is not None:
        pixel_size, source = sidecar.pixel_size_nm, "sidecar"
    elif facts.density_pixel_size_nm is not None:
        pixel_size, source = facts.density_pixel_size_nm, "metadata"
    else:
        pixel_size, source = None, None
    raw = dict(facts.raw)
    if embedded is not None:
        raw["hitachi"] = dict(embedded.raw)
    if sidecar is not None:
        raw["sidecar"] = dict(sidecar.raw)
    return SEMMetadata(
        pixel_size_nm=pixel_size,
        pixel_size_source=source,
        magnification=first("magnification"),
        accelerating_voltage_kv=first("accelerating_voltage_kv"),
        working_distance_mm=first("working_distance_mm"),
        detector=first("detector"),
        instrument=first("instrument") or facts.instrument,
        acquired_at=first("acquired_at") or facts.acquired_at,
        raw=raw,
    )
