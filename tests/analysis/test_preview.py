"""Browser previews: percentile contrast stretch, bounded size, area-averaged shrinking."""

import cv2
import numpy as np
import pytest

from analysis.preview import display_uint8, preview_box, preview_png, thumbnail_png

RNG = np.random.default_rng(3)


def decode_png(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_a_low_contrast_16_bit_image_is_stretched_to_the_full_range() -> None:
    # 300 grey levels out of 65,536: a plain shift to 8 bit spans 2 or 3 levels.
    pixels = RNG.normal(1150, 50, (200, 300)).clip(1000, 1300).astype(np.uint16)
    assert np.ptp(pixels >> 8) <= 2
    shown = display_uint8(pixels)
    assert shown.dtype == np.uint8
    assert shown.shape == pixels.shape
    assert shown.min() == 0
    assert shown.max() == 255
    assert 100 < shown.mean() < 155


def test_outliers_beyond_the_percentiles_are_clipped() -> None:
    pixels = np.full((100, 100), 2000, np.uint16)
    pixels[:50] = 3000
    pixels[0, 0] = 65535  # one hot pixel must not squash the rest into black
    shown = display_uint8(pixels)
    assert shown[1, 0] == 255
    assert shown[99, 0] == 0


def test_8_bit_images_are_shown_as_saved() -> None:
    pixels = RNG.integers(100, 120, (20, 30), dtype=np.uint8)
    np.testing.assert_array_equal(display_uint8(pixels), pixels)


@pytest.mark.parametrize(
    ("pixels", "level"),
    [
        (np.full((10, 12), 65535, np.uint16), 255),
        (np.full((10, 12), 0, np.uint16), 0),
        (np.full((10, 12), 0.7, np.float32), 0),
    ],
)
def test_a_constant_image_gives_a_flat_preview(pixels: np.ndarray, level: int) -> None:
    shown = display_uint8(pixels)
    assert shown.dtype == np.uint8
    assert (shown == level).all()


def test_the_preview_fits_the_longest_side_and_keeps_the_aspect_ratio() -> None:
    pixels = RNG.integers(0, 65536, (1500, 3000), dtype=np.uint16)
    preview = decode_png(preview_png(pixels))
    assert preview.shape == (640, 1280)
    assert preview.dtype == np.uint8


def test_a_small_image_is_not_enlarged() -> None:
    pixels = RNG.integers(0, 256, (90, 120), dtype=np.uint8)
    assert decode_png(preview_png(pixels)).shape == (90, 120)


def test_the_thumbnail_is_256_pixels_on_its_longest_side() -> None:
    pixels = RNG.integers(0, 256, (1000, 750), dtype=np.uint8)
    assert decode_png(thumbnail_png(pixels)).shape == (256, 192)
    assert decode_png(thumbnail_png(pixels, max_side=64)).shape == (64, 48)


def test_shrinking_averages_areas_instead_of_sampling_pixels() -> None:
    # A one-pixel checkerboard sampled every 4th pixel stays black or white;
    # averaged over areas it is mid-grey.
    checkerboard = (np.indices((1024, 1024)).sum(axis=0) % 2 * 255).astype(np.uint8)
    thumbnail = decode_png(thumbnail_png(checkerboard))
    assert thumbnail.shape == (256, 256)
    assert np.abs(thumbnail.astype(int) - 128).max() <= 1


def test_a_colour_array_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(H, W\) greyscale"):
        preview_png(np.zeros((10, 10, 3), np.uint8))


def test_preview_box_scales_and_stays_inside_the_preview():
    assert preview_box(1280, 0, 256, (2560, 256), (1280, 128)) == (640, 0, 768, 128)
    # A patch past the preview's edge is clipped; a tiny one keeps at least one pixel.
    assert preview_box(2500, 250, 256, (2560, 256), (1280, 128)) == (1250, 125, 1280, 128)
    assert preview_box(0, 0, 1, (2560, 256), (1280, 128)) == (0, 0, 1, 1)
    with pytest.raises(ValueError, match="positive"):
        preview_box(0, 0, 1, (0, 256), (1280, 128))
