"""read_mask_layers: a 4-page TIFF or a file per class, as GIMP exports layers, into defect layers.

Files are built in memory (tifffile, Pillow); the platform's upload tests are in
tests/platform/api/test_api_images.py.
"""

import numpy as np
import pytest

from analysis.defects import DEFECT_CLASSES
from analysis.maskfile import MaskFileError, read_mask_layers
from tests.factories import mask_layers, pages_tiff, png_bytes, tiff_bytes

HEIGHT, WIDTH = 96, 128  # the frame; its field above a 16 px data bar is 128x80
SIZES = [(WIDTH, HEIGHT), (WIDTH, 80)]


def test_coloured_strokes_on_transparent_layers_are_defects():
    # GIMP layers: red strokes (opaque) on a transparent background; hidden pixels are not defects.
    strokes = mask_layers(seed=2)
    rgba = np.zeros((*strokes.shape, 4), np.uint8)
    rgba[strokes] = [255, 0, 0, 255]
    rgba[~strokes] = [255, 255, 255, 0]  # white but fully transparent
    tiff = pages_tiff(list(rgba), photometric="rgb", extrasamples=["unassalpha"])
    np.testing.assert_array_equal(read_mask_layers([("m.tif", tiff)], [(WIDTH, HEIGHT)]), strokes)


def test_sixteen_bit_layers_are_split_at_half_scale():
    layer = np.array([[0, 32767, 32768, 65535]], np.uint16)
    files = [(f"{i}.tif", tiff_bytes(layer)) for i in range(4)]
    layers = read_mask_layers(files, [(4, 1)])
    assert layers.tolist() == [[[False, False, True, True]]] * 4


def test_two_files_are_neither_form():
    with pytest.raises(MaskFileError, match="got 2 files"):
        read_mask_layers([("a", b""), ("b", b"")], [(WIDTH, HEIGHT)])


def test_eight_bit_pages_are_split_at_half_scale_in_class_order():
    # Page i holds grey levels around the threshold at column i: above 127 is a defect.
    pages = np.zeros((4, 2, 4), np.uint8)
    for index in range(4):
        pages[index, 0, index] = 127
        pages[index, 1, index] = 128
    layers = read_mask_layers([("m.tif", pages_tiff(list(pages)))], [(4, 2)])
    assert layers.dtype == bool
    assert [np.argwhere(layer).tolist() for layer in layers] == [[[1, i]] for i in range(4)]


def test_one_png_per_class_at_the_fields_size_is_read_in_class_order():
    layers = mask_layers(seed=3, height=80)
    files = [
        (f"{name}.png", png_bytes(np.where(layer, 255, 0).astype(np.uint8)))
        for name, layer in zip(DEFECT_CLASSES, layers, strict=True)
    ]
    read = read_mask_layers(files, SIZES)
    assert read.shape == (4, 80, WIDTH)
    np.testing.assert_array_equal(read, layers)
    np.testing.assert_array_equal(read_mask_layers(files[::-1], SIZES), layers[::-1])


def test_coloured_strokes_on_black_are_defects_by_their_brightest_channel():
    rgb = np.array([[[0, 0, 200], [100, 100, 100], [128, 0, 0], [0, 0, 0]]], np.uint8)
    files = [(f"{i}.png", png_bytes(rgb)) for i in range(4)]
    assert read_mask_layers(files, [(4, 1)]).tolist() == [[[True, False, True, False]]] * 4


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            [("m.tif", pages_tiff([np.zeros((HEIGHT, 64), np.uint8)] * 4))],
            "m.tif: page 1 is 64x96 px; a mask of this image is 128x96 or 128x80 px",
        ),
        (
            [("m.tif", pages_tiff([np.zeros((HEIGHT, WIDTH), np.uint8)] * 3))],
            "m.tif: has 3 pages; a mask needs 4 "
            "(sheet_border, grain_boundary, topological_defect, point_defect)",
        ),
        (
            [("m.tif", pages_tiff([np.zeros((HEIGHT, WIDTH), np.uint8)] * 5))],
            "m.tif: has 5 pages; a mask needs 4",
        ),
        (
            [
                (f"{i}.png", png_bytes(np.zeros((80 if i else HEIGHT, WIDTH), np.uint8)))
                for i in range(4)
            ],
            "the layers have different sizes; give all four at one size",
        ),
        (
            [(f"{i}.tif", tiff_bytes(np.zeros((HEIGHT, WIDTH), np.float32))) for i in range(4)],
            "0.tif: floating-point layers are not masks; export 8-bit layers",
        ),
    ],
    ids=["size", "three pages", "five pages", "mixed sizes", "float"],
)
def test_a_mask_that_does_not_fit_says_why(files, message):
    with pytest.raises(MaskFileError) as refused:
        read_mask_layers(files, SIZES)
    assert str(refused.value) == message
