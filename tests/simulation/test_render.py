from dataclasses import replace

import numpy as np
import pytest

from analysis.defects import channel
from simulation.databar import (
    DATABAR_HEIGHT_PX,
    FONTS,
    draw_random_databar,
    format_length,
    magnification_for_pixel_size,
    pixel_size_for_magnification,
    scale_bar_length_nm,
)
from simulation.defectmaps import smooth_defect_map
from simulation.render import (
    FWHM_PER_DIAMETER,
    MIN_DIAMETER_PX,
    RenderStyle,
    jitter_positions,
    render_sem,
    render_sem_with_truth,
)

SHAPE = (200, 300)
QUIET = RenderStyle(texture=0.0, photons_per_full_scale=1e6, line_noise=0.0)


def _render(positions, seed=0, **kwargs):
    kwargs.setdefault("shape", SHAPE)
    kwargs.setdefault("style", QUIET)
    return render_sem(positions, 1.0, np.random.default_rng(seed), **kwargs)


def test_renders_a_grayscale_field_of_the_requested_shape():
    image = render_sem(np.empty((0, 2)), 1.0, np.random.default_rng(0), shape=SHAPE)
    assert image.shape == SHAPE
    assert image.dtype == np.uint8
    wide = _render(np.empty((0, 2)), dtype=np.uint16)
    assert wide.dtype == np.uint16
    assert wide.max() > 255


def test_particles_are_bright_blobs_at_their_positions():
    positions = np.array([[50.3, 60.7], [200.0, 150.0], [np.nan, np.nan]])
    image = _render(positions, diameters_nm=np.array([3.0, 3.0, 3.0])).astype(float)
    background = np.median(image)
    for x, y in positions[:2]:
        assert image[round(y), round(x)] > background + 60
    assert image[100, 100] == pytest.approx(background, abs=3)


def test_same_seed_same_image():
    rng = np.random.default_rng(1)
    positions = rng.random((100, 2)) * [300, 200]
    first = render_sem(positions, 1.0, np.random.default_rng(7), shape=SHAPE)
    again = render_sem(positions, 1.0, np.random.default_rng(7), shape=SHAPE)
    np.testing.assert_array_equal(first, again)


def _separated(rng, n, min_distance_px, shape=SHAPE, margin_px=10):
    """(n, 2) random x, y at least ``min_distance_px`` apart, ``margin_px`` inside the field."""
    points = []
    while len(points) < n:
        candidate = rng.uniform([margin_px] * 2, [shape[1] - margin_px, shape[0] - margin_px])
        if all(np.hypot(*(candidate - point)) >= min_distance_px for point in points):
            points.append(candidate)
    return np.array(points)


def _half_width(profile):
    """Full width at half maximum above the median of a 1-D peak, px (linear interpolation)."""
    base = np.median(profile)
    half = base + (profile.max() - base) / 2
    above = np.flatnonzero(profile > half)
    first, last = above[0], above[-1]
    left = first - (profile[first] - half) / (profile[first] - profile[first - 1])
    right = last + (profile[last] - half) / (profile[last] - profile[last + 1])
    return right - left


def test_render_sem_is_the_image_of_render_sem_with_truth():
    positions = np.random.default_rng(5).random((80, 2)) * [300, 200]
    positions[::9] = np.nan
    plain = render_sem(positions, 0.7, np.random.default_rng(6), shape=SHAPE, databar=True)
    truth = render_sem_with_truth(
        positions, 0.7, np.random.default_rng(6), shape=SHAPE, databar=True
    )
    np.testing.assert_array_equal(truth.image, plain)
    drawn = np.isfinite(positions).all(axis=1)
    np.testing.assert_array_equal(truth.particles_xy, positions[drawn])
    assert truth.diameters_px.shape == (int(drawn.sum()),)
    assert truth.mask.shape == SHAPE
    assert truth.mask.dtype == bool


def test_pixel_centres_are_at_integer_coordinates():
    diameters = np.full(2, 4.0)
    image = _render(np.array([[50.0, 60.0], [200.5, 100.0]]), diameters_nm=diameters)
    assert np.unravel_index(np.argmax(image[40:80, 30:70]), (40, 40)) == (20, 20)
    assert image[100, 200] == image[100, 201]
    assert image[100, 200] > image[100, 199]


def test_truth_centres_land_on_the_blobs():
    rng = np.random.default_rng(8)
    positions = _separated(rng, 40, 20.0)
    truth = render_sem_with_truth(
        positions, 1.0, rng, shape=SHAPE, diameters_nm=rng.uniform(2.0, 6.0, 40), style=QUIET
    )
    rows, cols = np.indices(SHAPE)
    for (x, y), diameter in zip(truth.particles_xy, truth.diameters_px, strict=True):
        disk = np.hypot(cols - x, rows - y) <= diameter / 2 + 1
        centre = (np.abs(cols - round(x)) <= 1) & (np.abs(rows - round(y)) <= 1)
        assert truth.image[centre].max() == truth.image[disk].max()


def test_truth_diameters_are_the_drawn_half_widths():
    sharp = replace(QUIET, blur_px=0.01, photons_per_full_scale=1e7)
    diameters_nm = np.array([1.0, 2.0, 3.5, 5.0])
    positions = np.array([[40.0, 100.0], [100.0, 100.0], [170.0, 100.0], [250.0, 100.0]])
    truth = render_sem_with_truth(
        positions,
        0.5,
        np.random.default_rng(0),
        shape=SHAPE,
        diameters_nm=diameters_nm,
        style=sharp,
        dtype=np.uint16,
    )
    assert truth.diameters_px.min() >= MIN_DIAMETER_PX - 1e-9
    np.testing.assert_allclose(
        truth.diameters_px, FWHM_PER_DIAMETER * diameters_nm / 0.5, rtol=0.15
    )
    for (x, _), diameter in zip(positions, truth.diameters_px, strict=True):
        profile = truth.image[100, int(x) - 25 : int(x) + 26].astype(np.float64)
        # A peak 2-3 px wide is measured to a few % by interpolating between pixels.
        assert _half_width(profile) == pytest.approx(diameter, rel=0.03 if diameter > 4 else 0.08)


def test_mask_covers_the_particles_disks():
    rng = np.random.default_rng(9)
    positions = _separated(rng, 60, 16.0)
    truth = render_sem_with_truth(positions, 0.5, rng, shape=SHAPE, style=QUIET)
    disks = np.sum(np.pi * (truth.diameters_px / 2) ** 2)
    assert truth.mask.sum() == pytest.approx(disks, rel=0.1)
    x, y = np.round(positions).astype(int).T
    assert truth.mask[y, x].all()
    assert not truth.mask[0].any()


def test_sheet_borders_are_brightened():
    defect_map = smooth_defect_map(SHAPE, 1.0)
    defect_map.sheet_index[:, 150:] = 1
    defect_map.layers[channel("sheet_border"), :, 150] = True
    image = _render(np.empty((0, 2)), defect_map=defect_map).astype(float)
    assert image[:, 150].mean() > image[:, 100].mean() + 20
    assert image[:, 150].mean() > image[:, 250].mean() + 20


def test_bends_add_a_soft_brightness_gradient():
    defect_map = smooth_defect_map(SHAPE, 1.0)
    x = np.arange(SHAPE[1])
    defect_map.bend_height[:] = -np.exp(-0.5 * ((x - 150) / 30.0) ** 2)
    image = _render(np.empty((0, 2)), defect_map=defect_map).astype(float)
    profile = image.mean(axis=0)
    assert profile.max() - profile.min() > 10
    assert np.abs(np.diff(profile)).max() < 3  # soft: no edge


def test_databar_is_appended_under_an_unchanged_field():
    positions = np.random.default_rng(2).random((50, 2)) * [300, 200]
    plain = _render(positions, seed=3)
    with_bar = _render(positions, seed=3, databar=True, magnification=100_000)
    assert with_bar.shape == (SHAPE[0] + DATABAR_HEIGHT_PX, SHAPE[1])
    np.testing.assert_array_equal(with_bar[: SHAPE[0]], plain)
    bar = with_bar[SHAPE[0] :]
    assert 0.005 < np.mean(bar > 128) < 0.3  # white text and scale bar on black


def test_hitachi_magnification_scale():
    assert pixel_size_for_magnification(100_000) == pytest.approx(0.992, abs=1e-3)
    assert magnification_for_pixel_size(pixel_size_for_magnification(70_000)) == pytest.approx(
        70_000
    )
    assert scale_bar_length_nm(0.992, 1280) == 200.0
    assert scale_bar_length_nm(1.98, 1280) == 500.0
    assert (format_length(500.0), format_length(2000.0)) == ("500nm", "2.00um")


def test_random_databars_vary_and_return_their_truth():
    field = np.full((200, 640), 90, np.uint8)
    heights, labels = set(), set()
    for seed in range(8):
        frame, truth = draw_random_databar(
            field, 2.0, np.random.default_rng(seed), allow_jpeg=False
        )
        assert frame.shape == (200 + truth.band.height_px, 640)
        np.testing.assert_array_equal(truth.field.crop(frame), field)
        assert truth.label_nm / truth.ruler_px == pytest.approx(2.0, rel=0.01)
        assert truth.magnification == pytest.approx(magnification_for_pixel_size(2.0, 640))
        heights.add(truth.band.height_px)
        labels.add(truth.label)
    assert len(heights) > 4
    assert len(labels) > 1
    assert len(FONTS) >= 5
    assert [format_length(2000.0, s) for s in ("micro", "micro_short", "one_decimal")] == [
        "2.00µm",
        "2µm",
        "2.0um",
    ]


def test_jitter_keeps_single_particles_in_their_pixel_and_spreads_stacks():
    rng = np.random.default_rng(4)
    positions = np.array([[10.0, 10.0], [50.0, 50.0], [50.0, 50.0], [50.0, 50.0]])
    jittered = jitter_positions(positions, np.full(4, 3.0), 0.5, rng)
    assert np.all(np.abs(jittered[0] - positions[0]) <= 0.5)
    assert np.ptp(jittered[1:], axis=0).max() > 1.0
    corner = np.zeros((5, 2))
    kept = jitter_positions(corner, np.full(5, 3.0), 0.5, rng, shape=(20, 30))
    assert kept.min() >= 0.0
