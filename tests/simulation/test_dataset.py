import json
import re

import cv2
import numpy as np
import pytest
import tifffile

from analysis.defects import DEFECT_CLASSES
from analysis.hitachi import parse_hitachi_text
from simulation.dataset import main, synthesize_image, write_dataset
from simulation.montecarlo import DepositionParams
from simulation.surface import surface_from_layers

SHAPE = (178, 256)
NAME = re.compile(r"^(\d+)-S(\d+)-A(\d+)-(\d+)k-(ordered|disordered)\.tif$")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    items = write_dataset(out, 4, seed=0, shape=SHAPE)
    return out, items


def test_writes_every_file_with_paper_style_names(dataset):
    out, items = dataset
    assert len(items) == 4
    for item in items:
        match = NAME.match(item.image)
        assert match, item.image
        assert match.group(5) == item.label
        assert int(match.group(4)) == round(item.magnification / 1000)
        stem = item.image.removesuffix(".tif")
        assert item.sidecar == f"{stem}.txt"
        assert item.particles == f"{stem}.particles.csv"
        assert item.particle_mask == f"{stem}.particles.png"
        assert item.masks == {name: f"{stem}.mask.{name}.png" for name in DEFECT_CLASSES}
        files = (item.image, item.sidecar, item.particles, item.particle_mask, *item.masks.values())
        for name in files:
            assert (out / name).is_file()


def test_class_counts_follow_the_ordered_fraction(dataset):
    _, items = dataset
    assert sorted(item.label for item in items) == ["disordered", "ordered", "ordered", "ordered"]


def test_images_are_8_bit_single_page_grayscale(dataset):
    out, items = dataset
    for item in items:
        with tifffile.TiffFile(out / item.image) as tif:
            assert len(tif.pages) == 1
            image = tif.pages[0].asarray()
        assert image.dtype == np.uint8
        assert image.shape == SHAPE


def test_sidecars_parse_as_hitachi_metadata(dataset):
    out, items = dataset
    for item in items:
        metadata = parse_hitachi_text((out / item.sidecar).read_text())
        assert metadata.pixel_size_nm == pytest.approx(item.pixel_size_nm, rel=1e-5)
        assert metadata.magnification == item.magnification
        assert metadata.accelerating_voltage_kv == 10.0
        assert metadata.working_distance_mm == pytest.approx(8.1)
        assert (metadata.detector, metadata.instrument) == ("SE(U)", "SU8000")
        assert metadata.acquired_at is not None
        assert metadata.raw["ImageName"] == item.image
        assert metadata.raw["DataSize"] == f"{SHAPE[1]}x{SHAPE[0]}"


def test_masks_are_the_ground_truth_of_the_particles(dataset):
    out, items = dataset
    for item in items:
        layers = np.stack([cv2.imread(str(out / item.masks[name]), 0) for name in DEFECT_CLASSES])
        assert layers.shape == (4, *SHAPE)
        assert set(np.unique(layers)) <= {0, 255}
        table = np.loadtxt(out / item.particles, delimiter=",", skiprows=1, ndmin=2)
        assert (out / item.particles).read_text().startswith("x_px,y_px,state,diameter_px\n")
        assert table.shape[0] == item.n_particles_on_surface > 0
        if item.label == "disordered":
            assert not layers.any()
            assert np.all(table[:, 2] == 1)
            continue
        assert layers.any()
        # Particles counted on a defect lie on the surface rebuilt from the
        # stored masks (within the sub-pixel jitter and agglomerate spread).
        surface = surface_from_layers(layers > 0, item.pixel_size_nm)
        near_defect = cv2.dilate((surface > 0).astype(np.uint8), np.ones((7, 7), np.uint8))
        on_defect = table[table[:, 2] == 2]
        x = np.clip(np.round(on_defect[:, 0]).astype(int), 0, SHAPE[1] - 1)
        y = np.clip(np.round(on_defect[:, 1]).astype(int), 0, SHAPE[0] - 1)
        assert near_defect[y, x].mean() > 0.9


def test_particle_files_read_back_as_the_truth(dataset):
    out, items = dataset
    for item in items:
        truth = synthesize_image(
            item.seed, item.label == "ordered", magnification=item.magnification, shape=SHAPE
        )
        table = np.loadtxt(out / item.particles, delimiter=",", skiprows=1, ndmin=2)
        np.testing.assert_allclose(table[:, :2], truth.positions_px, atol=0.005 + 1e-9)
        np.testing.assert_array_equal(table[:, 2], truth.state)
        np.testing.assert_allclose(table[:, 3], truth.diameters_px, atol=0.005 + 1e-9)
        mask = cv2.imread(str(out / item.particle_mask), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, truth.particle_mask.astype(np.uint8) * 255)


def test_particle_mask_is_the_disks_of_the_particles(dataset):
    out, items = dataset
    for item in items:
        table = np.loadtxt(out / item.particles, delimiter=",", skiprows=1, ndmin=2)
        mask = cv2.imread(str(out / item.particle_mask), cv2.IMREAD_GRAYSCALE) > 0
        x, y = np.round(table[:, :2]).astype(int).T
        inside = (x >= 0) & (x < SHAPE[1]) & (y >= 0) & (y < SHAPE[0])
        assert mask[y[inside], x[inside]].all()
        # Overlapping particles share pixels, so the mask is at most their disks.
        assert mask.sum() <= np.sum(np.pi * (table[:, 3] / 2 + 0.01) ** 2) * 1.1
        assert mask.sum() > 0


def test_manifest_lists_every_item(dataset):
    out, items = dataset
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0
    assert manifest["variety"] == "paper"
    assert manifest["defect_classes"] == list(DEFECT_CLASSES)
    assert [entry["image"] for entry in manifest["items"]] == [item.image for item in items]
    for entry in manifest["items"]:
        assert entry["class"] in {"ordered", "disordered"}
        assert entry["particle_mask"].endswith(".particles.png")
        assert entry["pixel_size_nm"] > 0
        assert entry["magnification"] > 0
        assert entry["bit_depth"] == 8
        params = DepositionParams.from_dict(entry["mc_params"])
        assert params.n_particles == (1500 if entry["class"] == "ordered" else 1000)


def test_same_seed_writes_the_same_files(dataset, tmp_path):
    out, items = dataset
    write_dataset(tmp_path, 4, seed=0, shape=SHAPE)
    for item in items:
        for name in (item.image, item.particles, item.particle_mask, item.masks["grain_boundary"]):
            assert (tmp_path / name).read_bytes() == (out / name).read_bytes()
    assert (tmp_path / "manifest.json").read_text() == (out / "manifest.json").read_text()


def test_synthesize_image_with_databar():
    synthetic = synthesize_image(11, ordered=True, shape=SHAPE, n_steps=50, databar=True)
    assert synthetic.image.shape == (SHAPE[0] + 70, SHAPE[1])
    assert synthetic.defect_map.layers.shape == (4, *SHAPE)
    assert synthetic.params.n_steps == 50
    assert synthetic.positions_px.shape == (synthetic.state.size, 2)
    assert synthetic.diameters_px.shape == (synthetic.state.size,)
    assert synthetic.particle_mask.shape == SHAPE


def test_command_line_writes_a_folder(tmp_path, capsys):
    main([str(tmp_path / "set"), "--n", "2", "--seed", "3", "--ordered-fraction", "0.5"])
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert sorted(entry["class"] for entry in manifest["items"]) == ["disordered", "ordered"]
    assert "wrote 2 images" in capsys.readouterr().out
