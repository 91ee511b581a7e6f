import ast
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial import cKDTree

import simulation.evalimaging as evalimaging
import simulation.evalscenes as evalscenes
from analysis.magnification import pixel_size_for_magnification
from analysis.semfile import decode_sidecar, read_sem
from analysis.spatial import clark_evans
from simulation.evalscenes import (
    DIAMETER_RANGE_NM,
    eval_scene,
    hard_core_scatter,
    write_eval_set,
)

SHAPE = (256, 384)
SEEDS = range(20)


@pytest.fixture(scope="module")
def scenes():
    """Ordered scenes of seeds 0-19, disordered of seeds 100-119 (no shared seed)."""
    return {
        True: [eval_scene(seed, True, shape=SHAPE) for seed in SEEDS],
        False: [eval_scene(100 + seed, False, shape=SHAPE) for seed in SEEDS],
    }


def _unit_mean(image: np.ndarray) -> float:
    return float(image.mean()) / np.iinfo(image.dtype).max


@pytest.mark.parametrize("module", [evalscenes, evalimaging])
def test_it_imports_nothing_of_the_training_renderer(module):
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    renderer = {"render", "montecarlo", "defectmaps", "surface", "particlescene", "dataset"}
    assert not {name for name in imported if name.split(".")[-1] in renderer}


def test_the_same_seed_gives_the_same_scene():
    first, second = eval_scene(7, True, shape=SHAPE), eval_scene(7, True, shape=SHAPE)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.positions_px, second.positions_px)
    assert not np.array_equal(first.image, eval_scene(8, True, shape=SHAPE).image)


def test_only_the_positions_depend_on_the_class():
    ordered, disordered = eval_scene(3, True, shape=SHAPE), eval_scene(3, False, shape=SHAPE)
    assert ordered.magnification == disordered.magnification
    np.testing.assert_array_equal(ordered.diameters_px, disordered.diameters_px)
    assert not np.allclose(ordered.positions_px, disordered.positions_px)
    assert ordered.image.dtype == disordered.image.dtype


def test_images_have_the_field_shape_both_bit_depths_and_little_clipping(scenes):
    all_scenes = scenes[True] + scenes[False]
    assert {scene.image.shape for scene in all_scenes} == {SHAPE}
    assert {scene.image.dtype for scene in all_scenes} == {np.dtype(np.uint8), np.dtype(np.uint16)}
    for scene in all_scenes:
        white = np.iinfo(scene.image.dtype).max
        assert (scene.image == white).mean() < 0.05
        assert (scene.image == 0).mean() < 0.1


def test_truth_fields_describe_the_scene(scenes):
    for ordered, group in scenes.items():
        for scene in group:
            assert scene.ordered is ordered
            assert scene.label == ("ordered" if ordered else "disordered")
            assert scene.pixel_size_nm == pixel_size_for_magnification(scene.magnification)
            assert 0.49 < scene.pixel_size_nm < 2.0
            xy = scene.positions_px
            assert xy.shape == (scene.diameters_px.size, 2) == (scene.on_network.size, 2)
            assert (xy >= 0).all()
            assert (xy <= [SHAPE[1] - 1, SHAPE[0] - 1]).all()
            diameters_nm = scene.diameters_px * scene.pixel_size_nm
            assert DIAMETER_RANGE_NM[0] - 1e-9 <= diameters_nm.min()
            assert diameters_nm.max() <= DIAMETER_RANGE_NM[1] + 1e-9
            assert scene.on_network.any() == ordered == bool(scene.network)


def test_a_given_magnification_sets_the_pixel_size():
    scene = eval_scene(0, False, magnification=100_000, shape=SHAPE)
    assert scene.magnification == 100_000
    assert scene.pixel_size_nm == pytest.approx(0.9922, abs=1e-4)


def _distance_to_network(network, positions_px: np.ndarray) -> np.ndarray:
    """(N,) distance of each (x, y) position to the polylines of ``network``, px (on a raster)."""
    off_line = np.full(SHAPE, 255, np.uint8)
    for line in network:
        cv2.polylines(off_line, [np.round(line).astype(np.int32)], False, 0, 1)
    distance = cv2.distanceTransform(off_line, cv2.DIST_L2, 5)
    cols, rows = np.round(positions_px).astype(int).T
    return distance[rows, cols]


def test_ordered_particles_lie_on_the_network_and_scattered_ones_do_not(scenes):
    on_line, scattered = [], []
    for seed, scene in zip(SEEDS, scenes[True], strict=True):
        reach = 1.5 * scene.diameters_px.mean() + 1.0
        near = _distance_to_network(scene.network, scene.positions_px) <= reach
        on_line.append(near[scene.on_network].mean())
        assert scene.on_network.mean() >= 0.3
        # The same particles scattered (the disordered scene of the same seed).
        random_xy = eval_scene(seed, False, shape=SHAPE).positions_px
        scattered.append((_distance_to_network(scene.network, random_xy) <= reach).mean())
    assert min(on_line) >= 0.9
    assert np.mean(scattered) < 0.4


def test_disordered_particles_are_randomly_scattered_without_overlap(scenes):
    ratios = []
    for scene in scenes[False]:
        height, width = SHAPE
        ratios.append(clark_evans(scene.positions_px, width, height))
        tree = cKDTree(scene.positions_px)
        pairs = tree.query_pairs(float(scene.diameters_px.max()), output_type="ndarray")
        gaps = np.hypot(*(scene.positions_px[pairs[:, 0]] - scene.positions_px[pairs[:, 1]]).T)
        contact = 0.5 * (scene.diameters_px[pairs[:, 0]] + scene.diameters_px[pairs[:, 1]])
        assert (gaps >= contact).all()
    ordered = [clark_evans(s.positions_px, SHAPE[1], SHAPE[0]) for s in scenes[True]]
    assert 0.9 < np.mean(ratios) < 1.15
    assert min(ratios) > 0.8
    assert np.mean(ordered) < 0.8


def test_count_and_brightness_do_not_give_the_class_away(scenes):
    for measure in (lambda s: s.positions_px.shape[0], lambda s: _unit_mean(s.image)):
        ordered = np.array([measure(scene) for scene in scenes[True]], float)
        disordered = np.array([measure(scene) for scene in scenes[False]], float)
        spread = min(ordered.std(), disordered.std())
        assert spread > 0
        assert abs(ordered.mean() - disordered.mean()) < spread


def test_hard_core_scatter_refuses_a_crowded_field():
    with pytest.raises(RuntimeError, match="crowded"):
        hard_core_scatter(np.full(50, 30.0), (64, 64), np.random.default_rng(0))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("evalscenes")
    return out, write_eval_set(out, 4, seed=1, shape=SHAPE)


def test_the_writer_writes_a_balanced_manifest(written):
    out, items = written
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shape"] == list(SHAPE)
    assert manifest["items"] == items
    assert sorted(item["class"] for item in items) == ["disordered"] * 2 + ["ordered"] * 2
    for item in items:
        scene = eval_scene(item["seed"], item["class"] == "ordered", shape=SHAPE)
        assert item["pixel_size_nm"] == scene.pixel_size_nm
        assert item["n_particles"] == scene.positions_px.shape[0]


def test_written_files_load_with_their_pixel_size(written):
    out, items = written
    for item in items:
        sidecar = decode_sidecar((out / item["sidecar"]).read_bytes())
        decoded = read_sem((out / item["image"]).read_bytes(), sidecar_text=sidecar)
        assert decoded.pixels.shape == SHAPE
        assert decoded.bit_depth == item["bit_depth"]
        assert decoded.metadata.pixel_size_nm == pytest.approx(item["pixel_size_nm"], rel=1e-5)
        assert decoded.metadata.magnification == item["magnification"]


def test_the_training_loader_reads_the_folder(written):
    from ml.data import read_folder

    out, items = written
    records = read_folder(out, masks=False)
    assert [r.label for r in records] == [int(item["class"] == "ordered") for item in items]
    expected = [item["pixel_size_nm"] for item in items]
    assert [r.pixel_size_nm for r in records] == pytest.approx(expected, rel=1e-5)


def test_the_writer_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="ordered_fraction"):
        write_eval_set(tmp_path, 2, seed=0, ordered_fraction=1.5)
