import cv2
import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from simulation.particlescene import (
    BACKGROUND_CONTRAST,
    BACKGROUNDS,
    Arrangement,
    SizeDistribution,
    render_particle_scene,
)
from simulation.render import MIN_DIAMETER_PX, RenderStyle

QUIET = RenderStyle(texture=0.0, photons_per_full_scale=1e6, line_noise=0.0)
SMALL = SizeDistribution(median_px=2.2, spread=0.0, min_px=2.2, max_px=2.2)


def _background_pixels(scene, reach_px=9):
    """(H, W) bool: pixels away from every particle."""
    near = cv2.dilate(scene.mask.astype(np.uint8), np.ones((reach_px, reach_px), np.uint8))
    return near == 0


def _high_pass_std(image):
    pixels = image.astype(np.float64)
    return float((pixels - cv2.GaussianBlur(pixels, (0, 0), 8.0)).std())


def _small_particle_contrast():
    """Peak brightness of a ~2 px particle above dark carbon, grey levels."""
    scene = render_particle_scene(
        diameters=SMALL, style=QUIET, n_particles=40, touching_fraction=0.0, agglomerates=0
    )
    x, y = np.round(scene.particles_xy).astype(int).T
    return float(np.mean(scene.image[y, x]) - np.median(scene.image))


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_same_seed_same_scene(background):
    first = render_particle_scene(background=background, seed=3, shape=(128, 160), n_particles=20)
    again = render_particle_scene(background=background, seed=3, shape=(128, 160), n_particles=20)
    other = render_particle_scene(background=background, seed=4, shape=(128, 160), n_particles=20)
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.particles_xy, again.particles_xy)
    np.testing.assert_array_equal(first.mask, again.mask)
    assert not np.array_equal(first.particles_xy, other.particles_xy)
    assert first.image.shape == first.mask.shape == (128, 160)
    assert first.image.dtype == np.uint8


def test_layout_follows_the_counts_and_sizes():
    sizes = SizeDistribution(median_px=6.0, spread=0.4)
    scene = render_particle_scene(
        diameters=sizes, n_particles=200, touching_fraction=0.3, agglomerates=4, seed=1
    )
    counts = np.bincount(scene.arrangement, minlength=3)
    assert counts[Arrangement.TOUCHING_PAIR] == 60
    assert 12 <= counts[Arrangement.AGGLOMERATE] <= 24
    assert counts.sum() == scene.particles_xy.shape[0] == scene.diameters_px.size == 200
    assert len(np.unique(scene.group[scene.arrangement == Arrangement.AGGLOMERATE])) == 4
    assert scene.diameters_px.min() >= MIN_DIAMETER_PX - 1e-9
    assert scene.diameters_px.max() <= 20.0 + 1e-9
    assert np.median(scene.diameters_px) == pytest.approx(6.0, rel=0.15)
    # Every particle lies wholly inside the frame.
    radius = scene.diameters_px[:, None] / 2
    assert np.all(scene.particles_xy >= radius)
    assert np.all(scene.particles_xy <= np.array([511, 511]) - radius)


def test_sizes_spread_around_the_median_in_log_steps():
    sizes = SizeDistribution(median_px=8.0, spread=0.8, min_px=2.0, max_px=20.0)
    drawn = sizes.draw(2000, np.random.default_rng(0))
    assert drawn.min() == 2.0
    assert drawn.max() == 20.0
    assert np.median(drawn) == pytest.approx(8.0, rel=0.1)
    steps = 32 * np.log10(drawn[(drawn > 2.0) & (drawn < 20.0)])
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)


def test_truth_diameters_are_the_drawn_sizes_or_the_narrowest_drawable():
    sizes = SizeDistribution(median_px=3.0, spread=0.5, min_px=2.0, max_px=20.0)
    scene = render_particle_scene(diameters=sizes, n_particles=150, seed=2)
    narrowest = np.isclose(scene.diameters_px, MIN_DIAMETER_PX)
    assert 0 < narrowest.sum() < 150
    steps = 32 * np.log10(scene.diameters_px[~narrowest])
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)


def _peak_is_at_centre(image, xy, diameter_px):
    """Whether the brightest pixel within diameter / 2 + 1 px of ``xy`` is within 1 px of it."""
    rows, cols = np.indices(image.shape)
    x, y = np.round(xy).astype(int)
    disk = np.hypot(cols - xy[0], rows - xy[1]) <= diameter_px / 2 + 1
    centre = (np.abs(cols - x) <= 1) & (np.abs(rows - y) <= 1)
    return image[centre].max() == image[disk].max()


def test_truth_centres_land_on_the_blobs():
    for background in ("dark_smooth", "graded"):
        scene = render_particle_scene(background=background, style=QUIET, n_particles=150, seed=5)
        isolated = np.flatnonzero(scene.arrangement == Arrangement.ISOLATED)
        assert isolated.size > 50
        for i in isolated:
            assert _peak_is_at_centre(scene.image, scene.particles_xy[i], scene.diameters_px[i])


def test_mask_area_is_the_particles_disks():
    scene = render_particle_scene(n_particles=200, touching_fraction=0.0, agglomerates=0, seed=6)
    disks = np.sum(np.pi * (scene.diameters_px / 2) ** 2)
    assert scene.mask.sum() == pytest.approx(disks, rel=0.1)
    x, y = np.round(scene.particles_xy).astype(int).T
    assert scene.mask[y, x].all()


def test_pairs_touch_and_agglomerates_are_tight():
    scene = render_particle_scene(n_particles=160, touching_fraction=0.5, agglomerates=6, seed=7)
    radii = scene.diameters_px / 2
    for g in np.unique(scene.group):
        members = np.flatnonzero(scene.group == g)
        if members.size == 1:
            continue
        xy, r = scene.particles_xy[members], radii[members]
        distance = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
        radius_sum = r[:, None] + r[None]
        off_diagonal = ~np.eye(members.size, dtype=bool)
        if members.size == 2:
            assert scene.arrangement[members].tolist() == [Arrangement.TOUCHING_PAIR] * 2
            assert 1.0 - 1e-9 <= distance[0, 1] / radius_sum[0, 1] <= 1.1 + 1e-9
            continue
        assert 3 <= members.size <= 6
        ratio = np.where(off_diagonal, distance / radius_sum, np.inf)
        assert ratio.min() >= 0.75 - 1e-9
        assert np.all(ratio.min(axis=1) <= 1.0 + 1e-9)  # each member touches another
    # Different groups keep clear of each other.
    distance = np.linalg.norm(scene.particles_xy[:, None] - scene.particles_xy[None], axis=-1)
    other_group = scene.group[:, None] != scene.group[None]
    assert np.all(distance[other_group] >= 1.5 * (radii[:, None] + radii[None])[other_group])


def test_bright_sheet_is_brighter_and_holds_particles_on_and_off_it():
    scene = render_particle_scene(background="bright_sheet", n_particles=150, seed=8)
    kernel = np.ones((11, 11), np.uint8)
    on = cv2.erode(scene.sheet_mask.astype(np.uint8), kernel).astype(bool)
    off = cv2.erode((~scene.sheet_mask).astype(np.uint8), kernel).astype(bool)
    background = _background_pixels(scene)
    image = scene.image.astype(np.float64)
    step = image[on & background].mean() - image[off & background].mean()
    assert step >= 0.8 * BACKGROUND_CONTRAST["bright_sheet"] * 255
    assert 0.3 <= scene.sheet_mask.mean() <= 0.65
    x, y = np.round(scene.particles_xy).astype(int).T
    assert 0.2 <= scene.sheet_mask[y, x].mean() <= 0.8
    assert not render_particle_scene(n_particles=10, agglomerates=0).sheet_mask.any()


@pytest.mark.parametrize("seed", range(5))
def test_graded_background_rises_across_the_frame(seed):
    scene = render_particle_scene(background="graded", seed=seed)
    background = _background_pixels(scene)
    columns = np.where(background, scene.image, 0).sum(axis=0) / background.sum(axis=0)
    smoothed = uniform_filter1d(columns, 128, mode="nearest")[64:-64]
    assert np.all(np.diff(smoothed) > 0)
    assert smoothed[-1] - smoothed[0] > 0.3 * BACKGROUND_CONTRAST["graded"] * 255


def test_texture_is_as_strong_as_small_particles_at_their_scale():
    contrast = _small_particle_contrast()
    bare = {
        background: render_particle_scene(
            background=background, style=QUIET, n_particles=0, agglomerates=0
        ).image
        for background in ("dark_smooth", "textured")
    }
    assert 0.2 * contrast <= _high_pass_std(bare["textured"]) <= contrast
    assert _high_pass_std(bare["dark_smooth"]) < 0.1 * contrast


def test_default_scenes_carry_shot_and_scan_noise():
    scene = render_particle_scene(n_particles=0, agglomerates=0)
    quiet = render_particle_scene(n_particles=0, agglomerates=0, style=QUIET)
    noise = scene.image.astype(np.float64) - cv2.GaussianBlur(
        scene.image.astype(np.float64), (0, 0), 3
    )
    quiet_noise = quiet.image.astype(np.float64) - cv2.GaussianBlur(
        quiet.image.astype(np.float64), (0, 0), 3
    )
    assert noise.std() > 3 * quiet_noise.std()


def test_it_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown background"):
        render_particle_scene(background="snow")
    with pytest.raises(ValueError, match="too few"):
        render_particle_scene(n_particles=5, agglomerates=3)
    with pytest.raises(ValueError, match="min_px"):
        SizeDistribution(min_px=1.0)
    with pytest.raises(ValueError, match="cannot place"):
        render_particle_scene(shape=(64, 64), n_particles=400, agglomerates=0)
