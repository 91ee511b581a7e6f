"""Content detection for uploaded SEM files: what a file is, from its bytes.

The type comes from magic bytes, never from the file name. This module also
holds the checks that every container shares: the pixel-count cap applied to
header-declared dimensions before anything is decoded, and the search for a
second file hidden inside or after the image (a polyglot: a PNG that is also
a ZIP archive, a JPEG with HTML after its end). The format walkers
(:mod:`analysis.pngcheck`, :mod:`analysis.jpegcheck`, :mod:`analysis.tiffcheck`)
build on it.
"""

import re
import struct
from dataclasses import dataclass, field
from typing import Literal

ImageFormat = Literal["tiff", "png", "jpeg"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

#: Formats recognised only to name them in the rejection message: (magic, offset, name).
_UNSUPPORTED_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"WEBP", 8, "a WebP image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", 0, "a JPEG 2000 image"),
    (b"\x00\x00\x00\x0cJXL ", 0, "a JPEG XL image"),
    (b"\xff\x0a", 0, "a JPEG XL image"),
    (b"ftypavif", 4, "an AVIF image"),
    (b"ftypheic", 4, "a HEIC image"),
    (b"ftypmif1", 4, "a HEIF image"),
    (b"8BPS", 0, "a Photoshop document"),
    (b"%PDF", 0, "a PDF document"),
    (b"PK\x03\x04", 0, "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", 0, "a gzip archive"),
    (b"\x00\x00\x01\x00", 0, "a Windows icon"),
    (b"MZ", 0, "a Windows program"),
    (b"\x7fELF", 0, "a Linux program"),
)
_MARKUP = re.compile(rb"<(?:!doctype\s+html|html|script|svg|iframe|body|\?php)\b", re.IGNORECASE)
_ZIP_MARKS = (b"PK\x03\x04", b"PK\x05\x06")
_ZIP_END = b"PK\x05\x06"
_ZIP_END_SIZE = 22
_ZIP_COMMENT_MAX = 0xFFFF

ACCEPTED = "NanoMark accepts TIFF, PNG and JPEG images."


class SEMFileError(ValueError):
    """An uploaded SEM file was refused; ``str(error)`` is a message for the user."""


@dataclass(frozen=True)
class ImageHeader:
    """What a container declares about its image, read without decoding pixels.

    Attributes:
        format: container format.
        width: pixels per row (> 0).
        height: rows (> 0).
        bit_depth: bits per sample of the decoded image, 8 or 16.
        channels: samples per pixel in the file: 1 grey, 2 grey + alpha,
            3 colour, 4 colour + alpha (a palette counts as colour).
        texts: metadata text found in the container: PNG text chunks by
            keyword, JPEG comments under ``"jpeg_comment"``; TIFF tags are
            read by :mod:`analysis.tiffmeta` instead.
        density: ``(pixels per unit along x, unit)`` with unit ``"m"``,
            ``"cm"`` or ``"inch"``, when the container declares one.
    """

    format: ImageFormat
    width: int
    height: int
    bit_depth: int
    channels: int
    texts: dict[str, str] = field(default_factory=dict)
    density: tuple[float, str] | None = None


def sniff_format(data: bytes) -> ImageFormat:
    """Name the container of ``data`` from its first bytes.

    Raises:
        SEMFileError: the file is empty, text or markup, another image format,
            or nothing recognisable; the message names what it is.
    """
    if not data:
        raise SEMFileError("The file is empty (0 bytes).")
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    if data.startswith(TIFF_SIGNATURES):
        return "tiff"
    for magic, offset, name in _UNSUPPORTED_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            raise SEMFileError(f"The file is {name}, which is not supported. {ACCEPTED}")
    # BMP's two-byte magic is too weak alone; its reserved header field is zero.
    if data.startswith(b"BM") and data[6:10] == b"\x00\x00\x00\x00":
        raise SEMFileError(f"The file is a BMP image, which is not supported. {ACCEPTED}")
    head = data[:4096]
    if _MARKUP.search(head) or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise SEMFileError(f"The file is an HTML/XML document, not an image. {ACCEPTED}")
    if _is_text(head):
        raise SEMFileError(f"The file is plain text, not an image. {ACCEPTED}")
    raise SEMFileError(f"The file is not a recognised image. {ACCEPTED}")


def check_dimensions(width: int, height: int, max_pixels: int) -> None:
    """Refuse zero-size images and images over the pixel cap, before decoding.

    Args:
        width: header-declared pixels per row.
        height: header-declared rows.
        max_pixels: largest accepted ``width * height``.

    Raises:
        SEMFileError: a dimension is zero, or the image is over the cap.
    """
    if width <= 0 or height <= 0:
        raise SEMFileError(
            f"The image declares a zero size ({width} x {height} pixels); the file is corrupt."
        )
    if width * height > max_pixels:
        raise SEMFileError(
            f"The image is {width} x {height} pixels ({width * height / 1e6:.1f} MP); "
            f"the limit is {max_pixels / 1e6:g} MP."
        )


def reject_embedded_payload(blob: bytes, where: str) -> None:
    """Refuse markup, script or a ZIP archive inside a metadata field.

    Only metadata (text chunks, APP segments, tag values) is searched: pixel
    data is random enough to contain any short byte string by chance.

    Args:
        blob: the field's bytes.
        where: the field's name for the message, e.g. ``"PNG chunk tEXt"``.

    Raises:
        SEMFileError: the field holds HTML/script or a ZIP signature.
    """
    if any(mark in blob for mark in _ZIP_MARKS):
        raise SEMFileError(
            f"The image's {where} contains a ZIP archive; files that hide another "
            "document are rejected."
        )
    if _MARKUP.search(blob):
        raise SEMFileError(
            f"The image's {where} contains HTML or script; files that hide another "
            "document are rejected."
        )


def reject_trailing_data(data: bytes, end: int, what: str) -> None:
    """Refuse bytes after the end of the image (the usual polyglot trick).

    Args:
        data: the whole file.
        end: offset just past the last byte the container accounts for.
        what: the end marker's name for the message, e.g. ``"PNG image (IEND)"``.

    Raises:
        SEMFileError: anything follows ``end``; the message says what it looks like.
    """
    tail = data[end:]
    if not tail:
        return
    raise SEMFileError(
        f"The file has {len(tail)} extra bytes after the end of the {what}"
        f"{_describe(tail)}. Files that are also another document (polyglots) are rejected."
    )


def reject_zip_directory(data: bytes) -> None:
    """Refuse a file that a ZIP reader would open: an end-of-central-directory record at its end.

    ZIP readers look for that record in the last 64 KiB, so a ZIP can hide in
    pixel data (e.g. stored deflate blocks) that the other checks accept.

    Raises:
        SEMFileError: a ZIP end record whose comment runs exactly to the end of the file.
    """
    window = data[-(_ZIP_END_SIZE + _ZIP_COMMENT_MAX) :]
    base = len(data) - len(window)
    start = window.rfind(_ZIP_END)
    while start >= 0:
        record = window[start : start + _ZIP_END_SIZE]
        if len(record) == _ZIP_END_SIZE:
            (comment_length,) = struct.unpack_from("<H", record, 20)
            if base + start + _ZIP_END_SIZE + comment_length == len(data):
                raise SEMFileError(
                    "The file is also a ZIP archive (a ZIP directory sits at its end). "
                    "Files that are also another document (polyglots) are rejected."
                )
        start = window.rfind(_ZIP_END, 0, start)


def _describe(tail: bytes) -> str:
    if any(mark in tail for mark in _ZIP_MARKS):
        return ": a ZIP archive"
    if _MARKUP.search(tail[:65536]):
        return ": HTML or script"
    if tail.startswith((PNG_SIGNATURE, JPEG_SIGNATURE, *TIFF_SIGNATURES)):
        return ": another image"
    return ""


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the 4 KiB boundary is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(char.isprintable() or char in "\t\r\n\f" for char in text)
