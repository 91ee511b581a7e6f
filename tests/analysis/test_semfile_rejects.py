"""read_sem and decode_sidecar refuse bad uploads with a message a user can act on.

Each case builds its bad file in memory from a valid one (Pillow, tifffile,
OpenCV) and checks the SEMFileError message.
"""

import io
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from analysis import semfile
from analysis.semfile import SEMFileError, decode_sidecar, read_sem

GREY = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))


def pillow_bytes(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def tiff_bytes(pixels: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, metadata=None, **options)
    return buffer.getvalue()


def png() -> bytes:
    return pillow_bytes(Image.fromarray(GREY), "PNG")


def jpeg() -> bytes:
    return pillow_bytes(Image.fromarray(GREY), "JPEG")


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<html><script>alert(1)</script></html>")
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_from_chunks(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def idat_offset(data: bytes) -> int:
    return data.index(b"IDAT") + 4


def png_with_bad_crc() -> bytes:
    data = bytearray(png())
    data[idat_offset(data) + 5] ^= 0xFF
    return bytes(data)


def png_with_garbage_idat() -> bytes:
    return png_from_chunks(64, 48, b"\x78\x9c" + bytes(range(256)) * 4)


def png_with_short_idat() -> bytes:
    rows = b"".join(b"\x00" + bytes(64) for _ in range(10))  # 10 of 48 rows
    return png_from_chunks(64, 48, zlib.compress(rows))


def apng() -> bytes:
    frames = [Image.fromarray(GREY), Image.fromarray(255 - GREY)]
    return pillow_bytes(frames[0], "PNG", save_all=True, append_images=frames[1:])


def png_with_html_text() -> bytes:
    info = PngInfo()
    info.add_text("Comment", "<html><body><script>fetch('/x')</script></body></html>")
    return pillow_bytes(Image.fromarray(GREY), "PNG", pnginfo=info)


def jpeg_with_zip_comment() -> bytes:
    return pillow_bytes(Image.fromarray(GREY), "JPEG", comment=zip_archive())


def jpeg_with_html_after_eoi() -> bytes:
    return jpeg() + b"<html><script>alert(document.cookie)</script></html>"


def cmyk_jpeg() -> bytes:
    return pillow_bytes(Image.fromarray(GREY).convert("CMYK"), "JPEG")


def multipage_tiff() -> bytes:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        writer.write(GREY, metadata=None)
        writer.write(GREY, metadata=None)
    return buffer.getvalue()


def tiff_with_strips_past_end() -> bytes:
    data = bytearray(tiff_bytes(GREY))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tiff:
        counts_at = tiff.pages.first.tags["StripByteCounts"].valueoffset
    struct.pack_into("<I", data, counts_at, 10_000_000)
    return bytes(data)


def tiff_declaring_huge_size() -> bytes:
    data = bytearray(tiff_bytes(GREY))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tiff:
        tags = tiff.pages.first.tags
        width_at, height_at = tags["ImageWidth"].valueoffset, tags["ImageLength"].valueoffset
    struct.pack_into("<I", data, width_at, 200_000)
    struct.pack_into("<I", data, height_at, 200_000)
    return bytes(data)


def patched_tiff(tag: str, value: int) -> bytes:
    """A valid TIFF with one SHORT/LONG tag value overwritten in place."""
    data = bytearray(tiff_bytes(GREY))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tiff:
        field = tiff.pages.first.tags[tag]
        layout = "<H" if int(field.dtype) == 3 else "<I"
        struct.pack_into(layout, data, field.valueoffset, value)
    return bytes(data)


def tiff_that_is_also_a_zip() -> bytes:
    # The archive is the last strip's pixel data, so its directory ends the file.
    archive = np.frombuffer(zip_archive(), np.uint8)
    return tiff_bytes(archive.reshape(1, -1))


def png_with_zero_width() -> bytes:
    return png_from_chunks(0, 48, zlib.compress(b""))


def webp() -> bytes:
    return pillow_bytes(Image.fromarray(GREY), "WEBP")


BAD_FILES: list[tuple[str, Callable[[], bytes], str]] = [
    ("zero bytes", lambda: b"", r"empty \(0 bytes\)"),
    ("plain text", lambda: b"Sample G-17, imaged on Monday\n", "plain text, not an image"),
    ("html", lambda: b"<!DOCTYPE html><html><script>x()</script></html>", "HTML/XML document"),
    ("svg", lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "HTML"),
    ("random bytes", lambda: bytes(range(256)) * 4, "not a recognised image"),
    ("gif", lambda: pillow_bytes(Image.fromarray(GREY), "GIF"), "GIF image"),
    ("bmp", lambda: pillow_bytes(Image.fromarray(GREY), "BMP"), "BMP image"),
    ("webp", webp, "WebP image"),
    ("zip", zip_archive, "ZIP archive"),
    ("truncated png", lambda: png()[:60], "PNG file is truncated"),
    ("png without IEND", lambda: png()[:-12], "PNG file is truncated"),
    ("png bad crc", png_with_bad_crc, "bad checksum in chunk IDAT"),
    ("png garbage idat", png_with_garbage_idat, "PNG file is corrupt"),
    ("png short idat", png_with_short_idat, "image data is incomplete"),
    ("png zero width", png_with_zero_width, r"zero size \(0 x 48"),
    ("apng", apng, r"animated \(APNG"),
    ("png + zip", lambda: png() + zip_archive(), r"bytes after the end of the PNG.*ZIP archive"),
    ("png html text chunk", png_with_html_text, "contains HTML or script"),
    ("png 1-bit", lambda: pillow_bytes(Image.fromarray(GREY > 99), "PNG"), "1-bit greyscale"),
    ("truncated jpeg", lambda: jpeg()[: len(jpeg()) // 2], "JPEG file is truncated"),
    ("jpeg + html", jpeg_with_html_after_eoi, r"after the end of the JPEG image.*HTML"),
    ("jpeg + jpeg", lambda: jpeg() + jpeg(), "after the end of the JPEG image.*another image"),
    ("jpeg zip comment", jpeg_with_zip_comment, "COM contains a ZIP archive"),
    ("cmyk jpeg", cmyk_jpeg, "CMYK JPEG is not supported"),
    ("truncated tiff", lambda: tiff_bytes(GREY)[:-500], "TIFF file is truncated"),
    ("tiff header only", lambda: tiff_bytes(GREY)[:6], "TIFF file is truncated"),
    ("tiff strips past end", tiff_with_strips_past_end, "image data points past the end"),
    ("tiff + html", lambda: tiff_bytes(GREY) + b"<script>x()</script>", "after the end.*HTML"),
    ("tiff also zip", tiff_that_is_also_a_zip, "also a ZIP archive"),
    ("multi-page tiff", multipage_tiff, "TIFF file has 2 pages"),
    ("float32 tiff", lambda: tiff_bytes(GREY.astype(np.float32)), "32-bit floating-point"),
    ("int16 tiff", lambda: tiff_bytes(GREY.astype(np.int16)), "16-bit signed-integer"),
    ("uint32 tiff", lambda: tiff_bytes(GREY.astype(np.uint32)), "32-bit samples"),
    ("1-bit tiff", lambda: pillow_bytes(Image.fromarray(GREY > 99), "TIFF"), r"1-bit .*bilevel"),
    (
        "palette tiff",
        lambda: pillow_bytes(Image.fromarray(GREY).convert("P"), "TIFF"),
        "Palette-colour",
    ),
    ("huge tiff", tiff_declaring_huge_size, r"limit is 64 MP"),
    ("tiff strip count", lambda: patched_tiff("RowsPerStrip", 1), "1 image strips or tiles"),
    ("tiff jpeg2000", lambda: patched_tiff("Compression", 34712), "compression JPEG2000 is not"),
    ("tiff zero height", lambda: patched_tiff("ImageLength", 0), "zero size"),
]


@pytest.mark.parametrize(
    ("build", "message"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
)
def test_it_rejects_a_bad_file_with_a_clear_message(
    build: Callable[[], bytes], message: str
) -> None:
    with pytest.raises(SEMFileError, match=message):
        read_sem(build())


def jpeg_declaring_huge_size() -> bytes:
    data = bytearray(jpeg())
    frame = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, 60_000, 60_000)  # height, width
    return bytes(data)


@pytest.mark.parametrize(
    "build",
    [
        # 100,000 x 100,000 px declared in 80 bytes: decoding would need 10 GB.
        lambda: png_from_chunks(100_000, 100_000, zlib.compress(b"\x00" * 1000)),
        jpeg_declaring_huge_size,
        tiff_declaring_huge_size,
    ],
    ids=["png", "jpeg", "tiff"],
)
def test_it_rejects_huge_declared_dimensions_without_decoding(
    build: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = build()

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a decoder was called")

    monkeypatch.setattr(semfile.cv2, "imdecode", fail)
    monkeypatch.setattr(semfile.tifffile, "TiffFile", fail)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SEMFileError, match=r"000 pixels .*limit is 64 MP"):
            read_sem(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 0.5
    assert peak < 1 << 20


def test_the_pixel_cap_is_a_parameter() -> None:
    data = cv2.imencode(".png", GREY)[1].tobytes()
    assert read_sem(data, max_pixels=64 * 48).width == 64
    with pytest.raises(SEMFileError, match=r"limit is 0\.003071 MP"):
        read_sem(data, max_pixels=64 * 48 - 1)
    with pytest.raises(SEMFileError, match="limit"):
        read_sem(jpeg(), max_pixels=1000)


def test_it_refuses_an_oversize_sidecar() -> None:
    with pytest.raises(SEMFileError, match=r"sidecar file is too large \(1\.0 MiB\)"):
        decode_sidecar(b"PixelSize=1\r\n" + b"x" * (1 << 20))


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "sidecar file is empty"), (png(), "sidecar file is not a text file")],
)
def test_it_refuses_an_empty_or_binary_sidecar(data: bytes, message: str) -> None:
    with pytest.raises(SEMFileError, match=message):
        decode_sidecar(data)
