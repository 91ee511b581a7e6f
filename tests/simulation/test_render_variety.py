import hashlib
import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import tifffile

from simulation.acquisition import charging_streaks, scan_jitter, to_bit_depth
from simulation.dataset import main, synthesize_image, write_dataset
from simulation.defectmaps import generate_defect_map
from simulation.montecarlo import ParticleState
from simulation.render import RenderStyle, draw_diameters_nm, render_sem, render_sem_with_truth
from simulation.surface import SurfaceType, surface_from_layers
from simulation.variety import (
    AGGLOMERATE_SIZES,
    add_agglomerates,
    decoration_gaps,
    draw_look,
)

SHAPE = (120, 160)
QUIET = RenderStyle(texture=0.0, photons_per_full_scale=1e6, line_noise=0.0)


def _sha(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _mean_level(synthetic):
    """Mean of the image as a fraction of its bit depth's full scale."""
    return float(synthetic.image.mean()) / (2**synthetic.bit_depth - 1)


def test_paper_images_are_byte_identical_to_before_the_wide_variety():
    # Hashes taken from the renderer before the wide variety was added.
    ordered = synthesize_image(3, True, shape=SHAPE, n_steps=40)
    disordered = synthesize_image(3, False, shape=SHAPE, n_steps=40)
    with_bar = synthesize_image(4, True, shape=SHAPE, n_steps=40, databar=True)
    assert _sha(ordered.image).startswith("3822280353ad4218dbe005a9")
    assert _sha(ordered.particle_mask).startswith("e324d317c69cd1ef")
    assert _sha(disordered.image).startswith("15bbfc9d4cb4a82458ea6711")
    assert _sha(with_bar.image).startswith("a919c6401bae0c7ba2d45aca")
    assert (ordered.variety, ordered.bit_depth, ordered.image.dtype) == ("paper", 8, np.uint8)
    positions = np.random.default_rng(0).random((30, 2)) * [160, 120]
    defect_map = generate_defect_map(SHAPE, 1.0, np.random.default_rng(1))
    image = render_sem(
        positions, 1.0, np.random.default_rng(2), defect_map=defect_map, dtype=np.uint16
    )
    assert _sha(image).startswith("fd5c5764cfddd852696428849b")


def test_wide_styles_span_dark_to_bright_backgrounds():
    levels, rough = [], 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        style = RenderStyle.wide(rng)
        rough += style.roughness > 0
        image = render_sem(np.empty((0, 2)), 1.0, rng, shape=(64, 96), style=style)
        levels.append(image.mean() / 255)
    assert min(levels) < 0.1
    assert max(levels) > 0.6
    assert np.std(levels) > 0.15
    assert 8 < rough < 32  # smooth and rough supports both


def test_wide_look_is_the_same_for_both_classes_and_carries_no_brightness():
    ordered, disordered = [], []
    for seed in range(10):
        first = synthesize_image(seed, True, shape=SHAPE, n_steps=300, variety="wide")
        second = synthesize_image(seed, False, shape=SHAPE, n_steps=300, variety="wide")
        assert first.bit_depth == second.bit_depth
        ordered.append(_mean_level(first))
        disordered.append(_mean_level(second))
    ordered, disordered = np.array(ordered), np.array(disordered)
    # Brightness varies a lot from image to image, hardly at all with the class.
    assert np.std(ordered) > 0.1
    assert np.abs(ordered - disordered).max() < 0.04
    assert abs(ordered.mean() - disordered.mean()) < 0.02
    assert max(ordered.min(), disordered.min()) < min(ordered.max(), disordered.max())


def test_wide_variety_is_deterministic_per_seed():
    first = synthesize_image(5, True, shape=SHAPE, n_steps=100, variety="wide")
    again = synthesize_image(5, True, shape=SHAPE, n_steps=100, variety="wide")
    other = synthesize_image(6, True, shape=SHAPE, n_steps=100, variety="wide")
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.positions_px, again.positions_px)
    assert not np.array_equal(first.image, other.image)


@pytest.mark.parametrize("bit_depth", [8, 12, 16])
def test_bit_depths_reach_their_full_scale(bit_depth):
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    image = render_sem(
        np.empty((0, 2)),
        1.0,
        np.random.default_rng(0),
        shape=SHAPE,
        style=QUIET,
        databar=True,
        dtype=dtype,
        bit_depth=bit_depth,
    )
    assert image.dtype == dtype
    # The bar's text is white: full scale of the bit depth, no more.
    assert image.max() == 2**bit_depth - 1
    assert 0.2 * 2**bit_depth < np.median(image[: SHAPE[0]]) < 0.4 * 2**bit_depth


def test_bit_depth_must_fit_the_dtype():
    with pytest.raises(ValueError, match="bit_depth"):
        to_bit_depth(np.zeros((2, 2), np.uint8), 12)
    np.testing.assert_array_equal(
        to_bit_depth(np.array([[0, 65535, 4096]], np.uint16), 12), [[0, 4095, 256]]
    )


def test_charging_streaks_are_horizontal_bands():
    streaks = charging_streaks((300, 400), 0.2, np.random.default_rng(3))
    assert streaks.std(axis=1).mean() < streaks.mean(axis=1).std()
    assert np.abs(streaks).max() <= 0.2 + 1e-6
    charged = _blank(replace(QUIET, charging=0.2))
    assert charged.mean(axis=1).std() > 3 * charged.mean(axis=0).std()
    assert charged.mean(axis=1).std() > 5 * _blank(QUIET).mean(axis=1).std()


def _blank(style, shape=(300, 400)):
    """(H, W) float image of a surface without particles in ``style``."""
    image = render_sem(np.empty((0, 2)), 1.0, np.random.default_rng(1), shape=shape, style=style)
    return image.astype(float)


def _centroid(image, x, y, radius=6):
    """Brightness-weighted centre of the blob around (x, y), above the window's median."""
    x0, y0 = round(x), round(y)
    window = image[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1].astype(float)
    weight = np.clip(window - np.median(window), 0, None)
    rows, cols = np.indices(window.shape)
    total = weight.sum()
    return x0 - radius + (weight * cols).sum() / total, y0 - radius + (weight * rows).sum() / total


def test_truth_follows_the_particles_under_scan_jitter_and_charging():
    rng = np.random.default_rng(11)
    grid = np.stack(np.meshgrid(np.arange(20, 290, 30), np.arange(20, 190, 30)), -1)
    positions = grid.reshape(-1, 2) + rng.uniform(-3, 3, (grid.size // 2, 2))
    style = replace(QUIET, scan_jitter_px=2.0, charging=0.1, roughness=0.02, blur_px=1.2)
    truth = render_sem_with_truth(
        positions,
        0.5,
        np.random.default_rng(4),
        shape=(200, 300),
        diameters_nm=np.full(len(positions), 3.0),
        style=style,
        dtype=np.uint16,
    )
    found = np.array([_centroid(truth.image, x, y) for x, y in truth.particles_xy])
    moved = np.hypot(*(truth.particles_xy - positions).T)
    assert moved.mean() > 1.0
    assert np.hypot(*(found - truth.particles_xy).T).mean() < 0.35
    x, y = np.round(truth.particles_xy).astype(int).T
    assert truth.mask[y, x].all()


def test_scan_jitter_moves_lines_smoothly():
    image = np.zeros((100, 200), np.float32)
    image[:, 100] = 1.0
    jittered, positions = scan_jitter(
        image, np.array([[100.0, 50.0]]), 1.5, np.random.default_rng(2)
    )
    line_x = (jittered * np.arange(200)).sum(axis=1) / jittered.sum(axis=1)
    assert 0.7 < np.std(line_x) < 2.5
    assert np.abs(np.diff(line_x)).max() < 0.5  # smooth from one scan line to the next
    assert positions[0, 0] == pytest.approx(line_x[50], abs=0.05)


def test_wide_truth_mask_matches_the_drawn_particles():
    for seed in range(4):
        synthetic = synthesize_image(seed, seed % 2 == 0, shape=SHAPE, n_steps=200, variety="wide")
        x, y = np.round(synthetic.positions_px).astype(int).T
        inside = (x >= 0) & (x < SHAPE[1]) & (y >= 0) & (y < SHAPE[0])
        assert synthetic.particle_mask[y[inside], x[inside]].all()
        disks = np.pi * (synthetic.diameters_px / 2) ** 2
        assert 0 < synthetic.particle_mask.sum() <= disks.sum() * 1.1


def test_diameters_follow_the_drawn_median_spread_and_range():
    rng = np.random.default_rng(0)
    wide = draw_diameters_nm(20_000, rng, median_nm=6.0, spread=0.4, range_nm=(2.0, 10.0))
    assert np.median(wide) == pytest.approx(6.0, rel=0.03)
    assert (wide.min(), wide.max()) == (2.0, 10.0)
    narrow = draw_diameters_nm(20_000, rng, median_nm=6.0, spread=0.1, range_nm=(2.0, 10.0))
    assert np.std(np.log(narrow)) == pytest.approx(0.1, rel=0.05)
    looks = [draw_look("wide", np.random.default_rng(seed)) for seed in range(30)]
    medians = [look.median_nm for look in looks]
    assert min(medians) < 3.5
    assert max(medians) > 5.5
    assert {look.bit_depth for look in looks} == {8, 12, 16}


def test_unknown_variety_is_refused(tmp_path):
    with pytest.raises(ValueError, match="variety"):
        draw_look("glossy", np.random.default_rng(0))
    with pytest.raises(ValueError, match="variety"):
        write_dataset(tmp_path, 1, seed=0, shape=SHAPE, variety="glossy")


def test_agglomerates_stack_particles_in_their_state():
    positions = np.array([[5.0, 5.0], [20.0, 20.0], [40.0, 8.0]])
    state = np.array([1, 2, 1], np.int8)
    stacked, stacked_state = add_agglomerates(positions, state, 2, np.random.default_rng(0))
    added = stacked[3:]
    assert 2 * (AGGLOMERATE_SIZES[0] - 1) <= len(added) <= 2 * (AGGLOMERATE_SIZES[1] - 1)
    _, counts = np.unique(stacked, axis=0, return_counts=True)
    assert min(counts) == 1
    assert set(counts[counts > 1]) <= set(AGGLOMERATE_SIZES)
    for point, point_state in zip(added, stacked_state[3:], strict=True):
        assert point_state == state[np.flatnonzero((positions == point).all(axis=1))[0]]
    same, same_state = add_agglomerates(positions, state, 0, np.random.default_rng(0))
    assert same is positions
    assert same_state is state


def test_decoration_gaps_cut_lines_and_keep_point_defects():
    layers = generate_defect_map((400, 600), 1.0, np.random.default_rng(3)).layers
    surface = surface_from_layers(layers, 1.0)
    gapped = decoration_gaps(surface, 0.3, 1.0, np.random.default_rng(0))
    lines = np.isin(surface, (SurfaceType.SHEET_BORDER, SurfaceType.GRAIN_BOUNDARY))
    cut = lines & (gapped == SurfaceType.PRISTINE)
    assert 0.1 < cut.sum() / lines.sum() < 0.45
    assert np.array_equal(gapped[~lines], surface[~lines])
    assert decoration_gaps(surface, 0.0, 1.0, np.random.default_rng(0)) is surface


@pytest.fixture(scope="module")
def wide_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("wide")
    items = write_dataset(out, 6, seed=2, shape=(178, 256), variety="wide")
    return out, items


def test_wide_dataset_records_its_variety_and_bit_depths(wide_dataset):
    out, items = wide_dataset
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variety"] == "wide"
    for item, entry in zip(items, manifest["items"], strict=True):
        assert entry["bit_depth"] == item.bit_depth in (8, 12, 16)
        image = tifffile.imread(out / item.image)
        assert image.dtype == (np.uint8 if item.bit_depth == 8 else np.uint16)
        assert image.max() < 2**item.bit_depth


def test_wide_dataset_particles_on_defects_lie_on_the_masks(wide_dataset):
    out, items = wide_dataset
    for item in items:
        if item.label != "ordered":
            continue
        layers = np.stack([cv2.imread(str(out / name), 0) > 0 for name in item.masks.values()])
        near = cv2.dilate(
            (surface_from_layers(layers, item.pixel_size_nm) > 0).astype(np.uint8),
            np.ones((9, 9), np.uint8),
        )
        table = np.loadtxt(out / item.particles, delimiter=",", skiprows=1, ndmin=2)
        on_defect = table[table[:, 2] == ParticleState.DEFECT]
        x = np.clip(np.round(on_defect[:, 0]).astype(int), 0, 255)
        y = np.clip(np.round(on_defect[:, 1]).astype(int), 0, 177)
        assert near[y, x].mean() > 0.9


def test_command_line_takes_the_variety(tmp_path):
    main([str(tmp_path / "set"), "--n", "1", "--seed", "1", "--variety", "wide"])
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["variety"] == "wide"
