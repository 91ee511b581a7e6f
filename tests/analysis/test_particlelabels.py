"""Hand-labelled particles: instances of a particle mask, mask files, and CSV tables of centres."""

import doctest

import numpy as np
import pytest

from analysis import particlelabels
from analysis.particlelabels import (
    LabelFileError,
    disc_mask,
    particle_instances,
    particles_from_labels,
    particles_from_mask,
    read_particle_csv,
    read_particle_mask,
    seeded_instances,
    write_particle_csv,
)
from analysis.particlescore import score_particles
from tests.factories import pages_tiff, png_bytes, tiff_bytes

SHAPE = (60, 90)


def _disc(cx, cy, radius, shape=SHAPE):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return (cols - cx) ** 2 + (rows - cy) ** 2 <= radius**2


def _by_x(found):
    order = np.argsort(found.xy[:, 0])
    return found.xy[order], found.diameters_px[order]


def test_separate_discs_give_their_centres_and_diameters():
    centres = np.array([[12.3, 15.6], [40.0, 30.2], [70.5, 40.5]])
    radii = np.array([3.0, 5.0, 8.0])
    mask = np.zeros(SHAPE, bool)
    for (cx, cy), r in zip(centres, radii, strict=True):
        mask |= _disc(cx, cy, r)
    xy, diameters = _by_x(particles_from_mask(mask))
    np.testing.assert_allclose(xy, centres, atol=0.25)
    np.testing.assert_allclose(diameters, 2 * radii, rtol=0.05)


def test_touching_discs_are_split_by_the_watershed():
    mask = _disc(30.0, 30.0, 6.0) | _disc(42.0, 30.0, 6.0)  # touching at x = 36
    assert particle_instances(mask).max() == 2
    xy, diameters = _by_x(particles_from_mask(mask))
    np.testing.assert_allclose(xy, [[30.0, 30.0], [42.0, 30.0]], atol=0.5)
    np.testing.assert_allclose(diameters, [12.0, 12.0], rtol=0.05)


def test_touching_discs_stay_one_particle_without_splitting():
    mask = _disc(30.0, 30.0, 6.0) | _disc(42.0, 30.0, 6.0)
    found = particles_from_mask(mask, split_touching=False)
    assert len(found) == 1
    np.testing.assert_allclose(found.xy, [[36.0, 30.0]])
    np.testing.assert_allclose(found.diameters_px, [12.0 * np.sqrt(2)], rtol=0.05)


def test_elongated_particles_and_diagonal_neighbours_are_not_split():
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    ellipse = ((cols - 45.0) / 14.0) ** 2 + ((rows - 30.0) / 6.0) ** 2 <= 1
    bar = np.zeros(SHAPE, bool)
    bar[5:8, 10:40] = True
    assert particle_instances(ellipse).max() == 1
    assert particle_instances(bar).max() == 1
    diagonal = np.zeros(SHAPE, bool)
    diagonal[10, 10] = diagonal[11, 11] = True  # 8-connected: one particle
    found = particles_from_mask(diagonal)
    assert len(found) == 1
    np.testing.assert_allclose(found.xy, [[10.5, 10.5]])


def test_every_particle_pixel_gets_a_label():
    rng = np.random.default_rng(5)
    mask = np.zeros(SHAPE, bool)
    for cx, cy, r in rng.uniform([0, 0, 1], [90, 60, 6], (40, 3)):
        mask |= _disc(cx, cy, r)
    labels = particle_instances(mask)
    assert np.array_equal(labels > 0, mask)
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
    assert labels.max() >= particle_instances(mask, split_touching=False).max()


def test_empty_and_full_masks():
    empty = particles_from_mask(np.zeros(SHAPE, np.uint8))
    assert len(empty) == 0
    assert empty.xy.shape == (0, 2)
    assert empty.diameters_px.shape == (0,)
    full = particles_from_mask(np.ones((4, 6), bool))
    np.testing.assert_allclose(full.xy, [[2.5, 1.5]])


def test_any_nonzero_value_is_particle():
    mask = np.zeros((5, 5), np.uint16)
    mask[1, 1], mask[3, 3] = 1, 40000  # e.g. instance ids exported by CVAT
    found = particles_from_mask(mask)
    assert found.xy.tolist() == [[1.0, 1.0], [3.0, 3.0]]


def test_mask_labels_score_perfectly_against_the_discs_drawn():
    centres = np.array([[10.0, 10.0], [30.0, 12.0], [50.0, 40.0], [61.0, 40.0]])
    mask = np.zeros(SHAPE, bool)
    for cx, cy in centres:
        mask |= _disc(cx, cy, 5.0)
    found = particles_from_mask(mask)
    score = score_particles(found.xy, found.diameters_px, centres, np.full(4, 10.0))
    assert score.f1 == 1.0
    assert abs(score.median_size_error) < 0.05


@pytest.mark.parametrize(("mask", "message"), [(np.zeros((3, 3, 4)), "must be 2-D"), (1, "2-D")])
def test_masks_that_are_not_2d_are_refused(mask, message):
    with pytest.raises(ValueError, match=message):
        particles_from_mask(mask)


def test_split_depth_must_be_positive():
    with pytest.raises(ValueError, match="split_depth_px must be positive"):
        particle_instances(np.ones((3, 3)), split_depth_px=0.0)


def _strokes():
    mask = np.zeros((20, 30), bool)
    mask[3:7, 4:9] = True
    mask[12:16, 20:26] = True
    return mask


def test_rgba_png_with_a_transparent_background():
    strokes = _strokes()
    rgba = np.zeros((*strokes.shape, 4), np.uint8)
    rgba[~strokes] = [255, 255, 255, 0]  # white but fully transparent
    rgba[strokes] = [255, 0, 0, 255]
    rgba[0, 0] = [0, 0, 0, 255]  # opaque black is background too
    np.testing.assert_array_equal(read_particle_mask(png_bytes(rgba), "m.png"), strokes)


def test_coloured_strokes_on_black_and_grey_pngs():
    strokes = _strokes()
    rgb = np.zeros((*strokes.shape, 3), np.uint8)
    rgb[strokes] = [0, 0, 90]
    np.testing.assert_array_equal(read_particle_mask(png_bytes(rgb)), strokes)
    grey = strokes.astype(np.uint8)  # 0/1, as label tools export
    np.testing.assert_array_equal(read_particle_mask(png_bytes(grey)), strokes)
    np.testing.assert_array_equal(read_particle_mask(png_bytes(strokes)), strokes)  # 1-bit


@pytest.mark.parametrize(
    ("pixels", "options"),
    [
        (lambda s: s, {}),  # bilevel
        (lambda s: s.astype(np.uint16) * 300, {}),
        (lambda s: s.astype(np.uint8) * 255, {"compression": "zlib"}),
        (
            lambda s: np.dstack([s * 200, s * 0, s * 0, s * 255]).astype(np.uint8),
            {"photometric": "rgb", "extrasamples": ["unassalpha"]},
        ),
        (
            lambda s: np.dstack([np.full(s.shape, 255), s * 255]).astype(np.uint8),
            {"photometric": "minisblack", "extrasamples": ["unassalpha"]},
        ),
    ],
    ids=["bilevel", "16-bit", "deflate", "rgba", "grey-alpha"],
)
def test_tiff_masks(pixels, options):
    strokes = _strokes()
    data = tiff_bytes(pixels(strokes), **options)
    np.testing.assert_array_equal(read_particle_mask(data, "m.tif"), strokes)


def test_palette_tiff_is_read_by_its_colours():
    strokes = _strokes()
    colormap = np.zeros((3, 256), np.uint16)
    colormap[0, 1] = 65535  # index 1 is red (particles), index 2 black (background)
    indices = np.where(strokes, 1, 2).astype(np.uint8)
    data = tiff_bytes(indices, photometric="palette", colormap=colormap)
    np.testing.assert_array_equal(read_particle_mask(data, "m.tif"), strokes)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "m: not a PNG or TIFF image"),
        (b"x_px,y_px\n", "m: not a PNG or TIFF image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "m: not a readable PNG"),
        (png_bytes(np.zeros((2, 2), np.uint8))[:40], "m: corrupt or unsupported image"),
        (b"II*\x00" + b"\x00" * 20, "m: not a readable TIFF"),
        (pages_tiff([np.zeros((2, 2), np.uint8)] * 2), "m: has 2 pages"),
    ],
    ids=["empty", "text", "no-ihdr", "truncated-png", "bad-tiff", "two-pages"],
)
def test_unreadable_mask_files_say_why(data, message):
    with pytest.raises(LabelFileError, match=message):
        read_particle_mask(data, "m")


@pytest.mark.parametrize("encode", [png_bytes, tiff_bytes], ids=["png", "tiff"])
def test_masks_over_the_pixel_limit_are_refused_before_decoding(encode):
    data = encode(np.zeros((40, 50), np.uint8))
    with pytest.raises(LabelFileError, match="50 x 40 px is over the limit"):
        read_particle_mask(data, "big", max_pixels=1999)
    assert read_particle_mask(data, "big", max_pixels=2000).shape == (40, 50)


def test_csv_in_px():
    found = read_particle_csv("x_px,y_px,diameter_px\n10,20.5,4\n\n30.25, 40 ,6.5\n")
    assert found.xy.tolist() == [[10.0, 20.5], [30.25, 40.0]]
    assert found.diameters_px.tolist() == [4.0, 6.5]


def test_csv_in_nm_with_other_columns_in_any_order():
    text = "state,diameter_nm,y_px,x_px\r\n1,2.5,11,12\r\n1,5,21,22\r\n"
    found = read_particle_csv(text.encode("utf-8-sig"), pixel_size_nm=0.5)
    assert found.xy.tolist() == [[12.0, 11.0], [22.0, 21.0]]
    assert found.diameters_px.tolist() == [5.0, 10.0]


def test_csv_prefers_px_when_both_units_are_given():
    found = read_particle_csv("x_px,y_px,diameter_nm,diameter_px\n1,2,10,4\n", pixel_size_nm=1.0)
    assert found.diameters_px.tolist() == [4.0]


def test_csv_with_a_header_only_has_no_particles():
    found = read_particle_csv(b"x_px,y_px,diameter_px\n")
    assert found.xy.shape == (0, 2)
    assert len(found) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "p.csv: empty; expected a header x_px,y_px,diameter_px"),
        ("x,y,d\n1,2,3\n", "p.csv line 1: missing column x_px, y_px, diameter_px"),
        ("x_px,y_px\n1,2\n", "p.csv line 1: missing column diameter_px"),
        ("x_px,y_px,diameter_px,x_px\n", "p.csv line 1: column x_px appears twice"),
        ("x_px,y_px,diameter_nm\n1,2,3\n", "diameters are in nm .* give the pixel size"),
        ("x_px,y_px,diameter_px\n1,2,3\n4,five,6\n", "p.csv line 3: y_px is not a number: 'five'"),
        ("x_px,y_px,diameter_px\n1,2,-3\n", "p.csv line 2: diameter_px must be positive, got -3"),
        ("x_px,y_px,diameter_px\n1,2,0\n", "p.csv line 2: diameter_px must be positive, got 0"),
        ("x_px,y_px,diameter_px\n1,2,3\n\n4,5\n", "p.csv line 4: has 2 fields, the header has 3"),
        ("x_px,y_px,diameter_px\n1,2,3,4\n", "p.csv line 2: has 4 fields, the header has 3"),
        ("x_px,y_px,diameter_px\nnan,2,3\n", "p.csv line 2: x_px is not finite: 'nan'"),
        ("x_px,y_px,diameter_px\n1,2,\n", "p.csv line 2: diameter_px is not a number: ''"),
        ('x_px,y_px,diameter_px\n1,2,"3\n', "p.csv line 2: not valid CSV"),
    ],
)
def test_bad_csv_names_the_line(text, message):
    with pytest.raises(LabelFileError, match=message):
        read_particle_csv(text, name="p.csv")


def test_csv_errors_are_value_errors_with_the_pixel_size_checked():
    with pytest.raises(ValueError, match="pixel_size_nm must be positive"):
        read_particle_csv("x_px,y_px,diameter_nm\n1,2,3\n", pixel_size_nm=-1.0)
    with pytest.raises(ValueError, match="not UTF-8 text"):
        read_particle_csv(b"x_px,y_px,diameter_px\n1,2,\xff\n")


def test_csv_row_limit():
    text = "x_px,y_px,diameter_px\n" + "1,2,3\n" * 3
    assert len(read_particle_csv(text, max_rows=3)) == 3
    with pytest.raises(LabelFileError, match="line 4: more than 2 particles; split the file"):
        read_particle_csv(text, name="p.csv", max_rows=2)
    assert particlelabels.MAX_CSV_ROWS == 200_000


def test_the_docstring_examples_run():
    assert doctest.testmod(particlelabels).failed == 0


def test_a_written_csv_reads_back_to_the_same_particles():
    xy = np.array([[1.234, 5.0], [10.0, 20.5]])
    diameters = np.array([3.0, 4.567])
    particles = read_particle_csv(write_particle_csv(xy, diameters))
    np.testing.assert_allclose(particles.xy, xy.round(2))
    np.testing.assert_allclose(particles.diameters_px, diameters.round(2))
    in_nm = read_particle_csv(write_particle_csv(xy, diameters, "diameter_nm"), pixel_size_nm=2.0)
    np.testing.assert_allclose(in_nm.diameters_px, diameters.round(2) / 2)


def test_seeded_instances_give_one_particle_per_seed_and_keep_unseeded_blobs():
    mask = np.zeros((20, 30), bool)
    mask[5:10, 2:14] = True  # one blob, two seeds
    mask[15:18, 20:23] = True  # no seed
    seeds = np.zeros_like(mask)
    seeds[7, 4] = seeds[7, 11] = True
    seeds[1, 1] = True  # outside the mask: ignored
    labels = seeded_instances(mask, seeds)
    assert labels.max() == 3
    assert set(np.unique(labels[5:10, 2:14])) == {1, 2}
    assert (labels[15:18, 20:23] == 3).all()
    assert labels[1, 1] == 0
    found = particles_from_labels(labels)
    assert len(found) == 3
    assert sorted(found.xy[:2, 0].tolist()) == [4.5, 10.5]  # split down the middle


def test_seeded_instances_of_a_mask_that_is_all_particle():
    mask = np.ones((6, 6), bool)
    assert (seeded_instances(mask, np.zeros_like(mask)) == 1).all()


def test_disc_mask_is_the_disc_of_each_radius_clipped_to_the_frame():
    mask = disc_mask((9, 9), np.array([[4.0, 4.0], [-5.0, -5.0], [8.6, 0.0]]), [4.0, 2.0, 1.5])
    rows, cols = np.indices((9, 9))
    expected = (np.hypot(cols - 4, rows - 4) <= 2.0) | (np.hypot(cols - 8.6, rows) <= 0.75)
    np.testing.assert_array_equal(mask, expected)
    assert mask[0, 8]  # a disc centred past the last pixel centre still marks it
    assert not disc_mask((5, 5), np.empty((0, 2)), np.empty(0)).any()
