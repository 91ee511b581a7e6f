"""PNG structure check: walk every chunk before any pixel is decoded.

libpng forgives a lot (a short image stream can be a warning, bytes after
``IEND`` are never read), so the walk checks what a decoder would let
through: chunk bounds and CRCs, one frame only (no APNG), the declared
dimensions against the pixel cap, the zlib image stream's exact length, and
nothing after ``IEND`` or hidden in text chunks.
"""

import struct
import zlib

from analysis.sniff import (
    PNG_SIGNATURE,
    ImageHeader,
    SEMFileError,
    check_dimensions,
    reject_embedded_payload,
    reject_trailing_data,
)
from analysis.textcodec import decode_text

# Samples per pixel by colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA),
# and the bit depths the PNG specification allows for each.
_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
_TEXT_MAX_BYTES = 1 << 20  # bounds zTXt/iTXt inflation (a zip bomb in a comment)
_INFLATE_STEP = 1 << 20
_ANIMATION_CHUNKS = (b"acTL", b"fcTL", b"fdAT")


def inspect_png(data: bytes, max_pixels: int) -> ImageHeader:
    """Validate a PNG file's structure and return its declared image header.

    Args:
        data: the whole file (starts with the PNG signature).
        max_pixels: largest accepted width x height, checked as soon as
            ``IHDR`` is read.

    Returns:
        :class:`ImageHeader` with text chunks in ``texts`` and ``pHYs`` (per
        metre) in ``density``.

    Raises:
        SEMFileError: truncated, corrupt, animated, unsupported bit depth,
            over the cap, or carrying another document.
    """
    pos = len(PNG_SIGNATURE)
    header: tuple[int, int, int, int, int] | None = None
    idat: list[memoryview] = []
    texts: dict[str, str] = {}
    density: tuple[float, str] | None = None
    has_alpha_palette = False
    view = memoryview(data)
    while True:
        if pos + 8 > len(data):
            raise SEMFileError("The PNG file is truncated (it ends before its IEND chunk).")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise SEMFileError(f"The PNG file is corrupt (invalid chunk at byte {pos}).")
        if end > len(data):
            name = kind.decode("ascii")
            raise SEMFileError(f"The PNG file is truncated (chunk {name} runs past the end).")
        body = view[pos + 8 : end - 4]
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            name = kind.decode("ascii")
            raise SEMFileError(f"The PNG file is corrupt (bad checksum in chunk {name}).")
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise SEMFileError("The PNG file is corrupt (it does not start with IHDR).")
            header = _read_ihdr(bytes(body), max_pixels)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            reject_trailing_data(data, end, "PNG image (IEND)")
            break
        elif kind in _ANIMATION_CHUNKS:
            raise SEMFileError(
                "The PNG file is animated (APNG, several frames); upload a single image."
            )
        else:
            reject_embedded_payload(bytes(body), f"PNG chunk {kind.decode('ascii')}")
            if kind == b"pHYs" and length == 9:
                ppu_x, _, unit = struct.unpack_from(">IIB", body)
                density = (float(ppu_x), "m") if unit == 1 and ppu_x > 0 else None
            elif kind in (b"tEXt", b"zTXt", b"iTXt"):
                keyword, text = _read_text_chunk(kind, bytes(body))
                reject_embedded_payload(text.encode("utf-8"), f"PNG text {keyword!r}")
                texts[keyword] = text
            elif kind == b"tRNS":
                has_alpha_palette = True
        pos = end
    if not idat:
        raise SEMFileError("The PNG file is corrupt (it has no image data).")
    width, height, depth, colour, interlace = header
    _check_image_stream(idat, _raw_size(width, height, depth * _SAMPLES[colour], interlace))
    channels = _SAMPLES[colour] if colour != 3 else 4 if has_alpha_palette else 3
    bit_depth = 16 if depth == 16 else 8
    return ImageHeader("png", width, height, bit_depth, channels, texts, density)


def _read_ihdr(body: bytes, max_pixels: int) -> tuple[int, int, int, int, int]:
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", body
    )
    check_dimensions(width, height, max_pixels)
    if colour not in _DEPTHS or depth not in _DEPTHS[colour] or compression or filtering:
        raise SEMFileError("The PNG file is corrupt (invalid IHDR header).")
    if interlace not in (0, 1):
        raise SEMFileError("The PNG file is corrupt (unknown interlace method).")
    if colour == 0 and depth < 8:
        raise SEMFileError(
            f"{depth}-bit greyscale PNG is not supported; SEM images must be 8 or 16 bit."
        )
    return width, height, depth, colour, interlace


def _raw_size(width: int, height: int, bits_per_pixel: int, interlace: int) -> int:
    """Bytes the inflated image stream must hold: each row is a filter byte plus packed samples."""
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        columns = (width - x0 + dx - 1) // dx if width > x0 else 0
        rows = (height - y0 + dy - 1) // dy if height > y0 else 0
        if columns and rows:
            total += rows * (1 + (columns * bits_per_pixel + 7) // 8)
    return total


def _check_image_stream(idat: list[memoryview], expected: int) -> None:
    """Inflate the IDAT stream in bounded steps, counting bytes without keeping them."""
    inflater = zlib.decompressobj()
    produced = 0
    try:
        for chunk in idat:
            pending: bytes | memoryview = chunk
            while pending:
                produced += len(inflater.decompress(pending, _INFLATE_STEP))
                pending = inflater.unconsumed_tail
                if produced > expected:
                    raise SEMFileError(
                        "The PNG file is corrupt (more image data than its size declares)."
                    )
    except zlib.error:
        raise SEMFileError("The PNG file is corrupt (its compressed data is damaged).") from None
    if not inflater.eof or produced != expected:
        raise SEMFileError("The PNG file is corrupt or truncated (its image data is incomplete).")
    if inflater.unused_data:
        raise SEMFileError(
            "The PNG file has extra bytes hidden after its image data; "
            "files that hide another document are rejected."
        )


def _read_text_chunk(kind: bytes, body: bytes) -> tuple[str, str]:
    keyword, _, rest = body.partition(b"\x00")
    name = keyword.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        return name, _inflate_text(rest[1:]).decode("latin-1")
    # iTXt: compression flag, method, language tag, translated keyword, then UTF-8 text.
    compressed = rest[:1] == b"\x01"
    _, _, rest = rest[2:].partition(b"\x00")
    _, _, text = rest.partition(b"\x00")
    return name, decode_text(_inflate_text(text) if compressed else text)


def _inflate_text(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data, _TEXT_MAX_BYTES)
    except zlib.error:
        raise SEMFileError("The PNG file is corrupt (a compressed text chunk is broken).") from None
    if inflater.unconsumed_tail:
        raise SEMFileError("The PNG file has a text chunk larger than 1 MiB; it is rejected.")
    return text
