"""read_sem on valid TIFF, PNG and JPEG files, and the metadata it gathers.

Every fixture is made here with tifffile, Pillow or OpenCV; no binary files
are committed.
"""

import io
import json
from datetime import datetime

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from analysis.hitachi import format_hitachi_text
from analysis.semfile import SEMFileError, decode_sidecar, read_sem

RNG = np.random.default_rng(7)
GREY8 = RNG.integers(0, 256, (48, 64), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (48, 64), dtype=np.uint16)
RGB8 = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (48, 64, 3), dtype=np.uint16)

HITACHI = {
    "InstructName": "SU8020",
    "SignalName": "SE(U)",
    "Date": "03/15/2024",
    "Time": "14:05:09",
    "AcceleratingVoltage": "15000 Volt",
    "Magnification": "50000",
    "WorkingDistance": "8100 um",
    "PixelSize": "0.9921875",
}


def tiff_bytes(pixels: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, **options)
    return buffer.getvalue()


def pillow_bytes(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def opencv_png(pixels: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


def luma(rgb: np.ndarray) -> np.ndarray:
    grey = rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.rint(grey)


# --- TIFF ---------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"byteorder": ">"}, {"bigtiff": True}])
def test_it_reads_8_and_16_bit_grey_tiff(options: dict) -> None:
    for pixels, depth in ((GREY8, 8), (GREY16, 16)):
        image = read_sem(tiff_bytes(pixels, **options))
        assert (image.format, image.mime_type) == ("tiff", "image/tiff")
        assert (image.width, image.height, image.bit_depth, image.channels) == (64, 48, depth, 1)
        assert image.significant_bits == depth  # full-range data is never shifted
        assert image.pixels.dtype == pixels.dtype
        np.testing.assert_array_equal(image.pixels, pixels)


@pytest.mark.parametrize("pixels", [RGB8, RGB16])
def test_it_turns_rgb_tiff_into_luma_grey_at_the_same_depth(pixels: np.ndarray) -> None:
    image = read_sem(tiff_bytes(pixels, photometric="rgb"))
    assert image.channels == 3
    assert image.pixels.shape == (48, 64)
    assert image.pixels.dtype == pixels.dtype
    assert np.abs(image.pixels - luma(pixels)).max() <= 1


def test_it_drops_alpha_and_reads_planar_rgb() -> None:
    rgba = np.dstack([RGB8, np.zeros((48, 64), np.uint8)])
    image = read_sem(tiff_bytes(rgba, photometric="rgb", extrasamples=[2]))
    assert image.channels == 4
    assert np.abs(image.pixels - luma(RGB8)).max() <= 1
    planar = np.moveaxis(RGB8, -1, 0).copy()
    image = read_sem(tiff_bytes(planar, photometric="rgb", planarconfig="separate"))
    assert np.abs(image.pixels - luma(RGB8)).max() <= 1


def test_it_inverts_min_is_white_tiff() -> None:
    image = read_sem(tiff_bytes(GREY8, photometric="miniswhite"))
    np.testing.assert_array_equal(image.pixels, 255 - GREY8)


@pytest.mark.parametrize("pixels", [GREY8, GREY16, RGB8])
def test_it_reads_lzw_tiff_without_imagecodecs(pixels: np.ndarray) -> None:
    data = pillow_bytes(Image.fromarray(pixels), "TIFF", compression="tiff_lzw")
    image = read_sem(data)
    expected = luma(pixels) if pixels.ndim == 3 else pixels
    assert image.pixels.dtype == pixels.dtype
    assert np.abs(image.pixels.astype(np.int64) - expected).max() <= 1


def test_it_accepts_a_tiff_with_a_reduced_resolution_thumbnail() -> None:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        writer.write(GREY8)
        writer.write(GREY8[::4, ::4], subfiletype=1)
    np.testing.assert_array_equal(read_sem(buffer.getvalue()).pixels, GREY8)


def test_it_reads_a_tiff_with_a_sub_ifd_pyramid() -> None:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        writer.write(GREY8, subifds=1, metadata=None)
        writer.write(GREY8[::2, ::2], subfiletype=1, metadata=None)
    np.testing.assert_array_equal(read_sem(buffer.getvalue()).pixels, GREY8)


@pytest.mark.parametrize(
    "data",
    [
        tiff_bytes(GREY16, tile=(32, 32), compression="zlib"),
        tiff_bytes(GREY16, rowsperstrip=7),
        pillow_bytes(Image.fromarray(GREY16), "TIFF", compression="packbits"),
    ],
    ids=["tiled deflate", "many strips", "packbits"],
)
def test_it_reads_common_tiff_layouts(data: bytes) -> None:
    np.testing.assert_array_equal(read_sem(data).pixels, GREY16)


def test_it_reads_tiled_planar_rgb_and_jpeg_compressed_tiff() -> None:
    planar = np.moveaxis(RGB8, -1, 0).copy()
    data = tiff_bytes(planar, photometric="rgb", planarconfig="separate", tile=(32, 32))
    assert np.abs(read_sem(data).pixels - luma(RGB8)).max() <= 1
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    data = pillow_bytes(Image.fromarray(smooth), "TIFF", compression="jpeg", quality=95)
    assert np.abs(read_sem(data).pixels.astype(int) - smooth).mean() < 2


# --- PNG and JPEG --------------------------------------------------------------------


def test_it_reads_8_and_16_bit_png() -> None:
    for pixels, depth in ((GREY8, 8), (GREY16, 16)):
        image = read_sem(opencv_png(pixels))
        assert (image.format, image.mime_type, image.bit_depth) == ("png", "image/png", depth)
        np.testing.assert_array_equal(image.pixels, pixels)


def test_it_keeps_16_bits_of_a_colour_png() -> None:
    image = read_sem(opencv_png(RGB16[..., ::-1]))  # OpenCV writes BGR order
    assert (image.bit_depth, image.channels, image.pixels.dtype) == (16, 3, np.uint16)
    assert np.abs(image.pixels - luma(RGB16)).max() <= 1


def test_it_reads_palette_rgba_and_interlaced_png() -> None:
    palette = Image.fromarray(RGB8).convert("P")
    assert read_sem(pillow_bytes(palette, "PNG")).channels == 3
    rgba = np.dstack([RGB8, np.full((48, 64), 255, np.uint8)])
    assert read_sem(pillow_bytes(Image.fromarray(rgba), "PNG")).channels == 4
    interlaced = pillow_bytes(Image.fromarray(GREY8), "PNG", interlace=1)
    np.testing.assert_array_equal(read_sem(interlaced).pixels, GREY8)


def test_it_reads_grey_and_colour_jpeg() -> None:
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    image = read_sem(pillow_bytes(Image.fromarray(smooth), "JPEG", quality=95))
    assert (image.format, image.mime_type, image.channels, image.bit_depth) == (
        "jpeg",
        "image/jpeg",
        1,
        8,
    )
    assert np.abs(image.pixels.astype(int) - smooth).mean() < 2
    colour = np.dstack([smooth, smooth, smooth])
    image = read_sem(pillow_bytes(Image.fromarray(colour), "JPEG", quality=95, progressive=True))
    assert image.channels == 3
    assert image.pixels.shape == (48, 64)
    assert np.abs(image.pixels.astype(int) - smooth).mean() < 2


# --- metadata -------------------------------------------------------------------------


def test_it_reads_hitachi_text_embedded_in_image_description() -> None:
    data = tiff_bytes(GREY16, description=format_hitachi_text(HITACHI), metadata=None)
    meta = read_sem(data).metadata
    assert meta.pixel_size_nm == pytest.approx(0.9921875)
    assert meta.pixel_size_source == "metadata"
    assert meta.accelerating_voltage_kv == pytest.approx(15.0)
    assert meta.working_distance_mm == pytest.approx(8.1)
    assert meta.magnification == pytest.approx(50000)
    assert (meta.detector, meta.instrument) == ("SE(U)", "SU8020")
    assert meta.acquired_at == datetime(2024, 3, 15, 14, 5, 9)
    assert meta.raw["hitachi"]["PixelSize"] == "0.9921875"
    json.dumps(meta.raw, allow_nan=False)


def test_it_finds_hitachi_text_in_a_private_byte_tag() -> None:
    text = format_hitachi_text({**HITACHI, "SampleName": "グラファイト", "PixelSize": "2.5"})
    tag = (65000, 7, 0, text.encode("cp932") + b"\x00\x00", True)
    meta = read_sem(tiff_bytes(GREY8, extratags=[tag], metadata=None)).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_source) == (2.5, "metadata")
    assert meta.raw["hitachi"]["SampleName"] == "グラファイト"


def test_it_reads_hitachi_text_in_a_png_text_chunk() -> None:
    info = PngInfo()
    info.add_text("Comment", format_hitachi_text(HITACHI))
    data = pillow_bytes(Image.fromarray(GREY8), "PNG", pnginfo=info)
    meta = read_sem(data).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_source) == (0.9921875, "metadata")
    assert "Comment" in meta.raw["png_text"]


def test_it_reads_the_sidecar_with_units_converted() -> None:
    sidecar = decode_sidecar(format_hitachi_text(HITACHI).encode("ascii"))
    meta = read_sem(tiff_bytes(GREY8, metadata=None), sidecar_text=sidecar).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_source) == (0.9921875, "sidecar")
    assert meta.accelerating_voltage_kv == pytest.approx(15.0)
    assert meta.working_distance_mm == pytest.approx(8.1)
    assert meta.acquired_at == datetime(2024, 3, 15, 14, 5, 9)
    assert meta.raw["sidecar"] == HITACHI
    assert "hitachi" not in meta.raw


def test_embedded_metadata_beats_the_sidecar_which_beats_resolution_tags() -> None:
    sidecar = format_hitachi_text({"PixelSize": "3.0", "SignalName": "BSE"})
    resolution = {"resolution": (1e6, 1e6), "resolutionunit": "CENTIMETER", "metadata": None}
    embedded = format_hitachi_text({"PixelSize": "1.5"})
    meta = read_sem(tiff_bytes(GREY8, description=embedded, **resolution), sidecar_text=sidecar)
    assert (meta.metadata.pixel_size_nm, meta.metadata.pixel_size_source) == (1.5, "metadata")
    assert meta.metadata.detector == "BSE"  # missing from the file, taken from the sidecar
    meta = read_sem(tiff_bytes(GREY8, **resolution), sidecar_text=sidecar).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_source) == (3.0, "sidecar")


@pytest.mark.parametrize(
    ("resolution", "unit", "expected_nm"),
    [
        ((1e6, 1e6), "CENTIMETER", 10.0),
        ((25.4e6 / 4, 25.4e6 / 4), "INCH", 4.0),
        ((72, 72), "INCH", None),  # a print setting, not a microscope scale
        ((300, 300), "CENTIMETER", None),
        ((1e6, 1e6), "NONE", None),
    ],
)
def test_resolution_tags_give_a_pixel_size_only_below_one_micrometre(
    resolution: tuple[float, float], unit: str, expected_nm: float | None
) -> None:
    data = tiff_bytes(GREY8, resolution=resolution, resolutionunit=unit, metadata=None)
    meta = read_sem(data).metadata
    assert meta.pixel_size_nm == (pytest.approx(expected_nm) if expected_nm else None)
    assert meta.pixel_size_source == ("metadata" if expected_nm else None)


def test_png_physical_pixel_size_counts_when_microscopic() -> None:
    nm_per_pixel = 5.0
    dpi = 25.4e6 / nm_per_pixel
    meta = read_sem(pillow_bytes(Image.fromarray(GREY8), "PNG", dpi=(dpi, dpi))).metadata
    assert meta.pixel_size_nm == pytest.approx(nm_per_pixel, rel=1e-6)
    meta = read_sem(pillow_bytes(Image.fromarray(GREY8), "PNG", dpi=(72, 72))).metadata
    assert meta.pixel_size_nm is None


def test_raw_tiff_tags_are_json_serialisable() -> None:
    extratags = [
        (65001, 12, 2, (1.5, float("nan")), True),  # DOUBLE with a NaN
        (65002, 10, 2, (-1, 2, 3, 0), True),  # SRATIONAL pairs, one with a zero denominator
        (65003, 7, 6, b"\x00\x01\x02\x03\xff\x10", True),  # binary blob
        (65004, 3, 5000, tuple(range(5000)), True),  # long table
        (65005, 2, 0, "Zeiss-like text", True),
    ]
    data = tiff_bytes(
        GREY8,
        extratags=extratags,
        datetime="2023:05:06 07:08:09",
        resolution=(72, 72),
        metadata=None,
    )
    meta = read_sem(data).metadata
    tags = json.loads(json.dumps(meta.raw, allow_nan=False))["tiff_tags"]
    assert tags["XResolution"] == 72.0
    assert tags["65001"] == [1.5, None]
    assert tags["65002"] == [-0.5, None]
    assert "65003" not in tags  # binary
    assert "65004" not in tags  # over 256 items
    assert tags["65005"] == "Zeiss-like text"
    assert "StripOffsets" not in tags
    assert meta.acquired_at == datetime(2023, 5, 6, 7, 8, 9)


# --- sidecar decoding -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"PixelSize=1.0\r\nSampleName=Graphite", "SampleName=Graphite"),
        ("PixelSize=1.0\r\nSampleName=黒鉛".encode("cp932"), "SampleName=黒鉛"),
        ("PixelSize=1.0\r\nWorkingDistance=8100 µm".encode("latin-1"), "8100 µm"),
        ("PixelSize=1.0\r\nSampleName=Café".encode("utf-16"), "Café"),
    ],
)
def test_decode_sidecar_falls_back_through_encodings(raw: bytes, expected: str) -> None:
    assert expected in decode_sidecar(raw)


def test_a_sidecar_also_calibrates_a_png() -> None:
    text = decode_sidecar(b"[SemImageFile]\r\nPixelSize=0.5\r\nWorkingDistance=3000 um")
    meta = read_sem(opencv_png(GREY8), sidecar_text=text).metadata
    assert (meta.pixel_size_nm, meta.working_distance_mm) == (0.5, pytest.approx(3.0))


def test_a_sidecar_that_is_no_known_dialect_is_refused() -> None:
    with pytest.raises(SEMFileError, match="not Hitachi, JEOL or Tescan SEM metadata"):
        read_sem(opencv_png(GREY8), sidecar_text="just some notes about the sample")
