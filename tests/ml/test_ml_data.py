"""Preprocessing to a physical scale, records from bytes and folders, training datasets."""

import io

import numpy as np
import pytest
import tifffile

from analysis.hitachi import format_hitachi_text
from ml.data import (
    DefectDataset,
    OrderDataset,
    make_record,
    prepare_image,
    prepare_mask,
    prepare_records,
    read_folder,
    scale_factor,
    to_tensor,
    unit_intensity,
)
from simulation.dataset import write_dataset


def test_prepare_image_resamples_by_pixel_size():
    image = np.zeros((90, 128), np.uint8)
    assert prepare_image(image, 1.0, 2.0).shape == (45, 64)
    assert prepare_image(image, 3.0, 1.5).shape == (180, 256)
    assert prepare_image(image, None, 2.0).shape == (90, 128)
    assert scale_factor(0.5, 2.0) == 0.25


def test_resampling_keeps_physical_sizes():
    # A 20 nm bright square at 0.5 nm/px is 10 px wide at 2 nm/px.
    image = np.zeros((200, 200), np.uint8)
    image[48:88, 60:100] = 200
    unit = prepare_image(image, 0.5, 2.0)
    rows, cols = np.nonzero(unit > 0.5)
    assert rows.max() - rows.min() + 1 == 10
    assert cols.max() - cols.min() + 1 == 10


def test_unit_intensity_maps_8_and_16_bit_images_alike():
    ramp = np.linspace(0, 1, 100 * 100).reshape(100, 100)
    eight = unit_intensity((ramp * 255).astype(np.uint8))
    sixteen = unit_intensity((ramp * 4095 + 1000).astype(np.uint16))
    assert eight.dtype == np.float32
    assert eight.min() >= 0.0
    assert eight.max() <= 1.0
    np.testing.assert_allclose(eight, sixteen, atol=0.01)
    assert not unit_intensity(np.full((5, 5), 7, np.uint8)).any()


def test_to_tensor_adds_channel_and_normalises():
    x = to_tensor(np.full((4, 6), 0.5, np.float32))
    assert x.shape == (1, 1, 4, 6)
    assert float(x.abs().max()) == 0.0
    assert to_tensor(np.zeros((3, 4, 6), np.float32)).shape == (3, 1, 4, 6)


def test_prepare_mask_draws_lines_half_a_particle_diameter_wide():
    mask = np.zeros((4, 100, 100), bool)
    mask[1, 50, 10:90] = True  # grain boundary, 1 px wide at 1 nm/px
    mask[3, 20:24, 20:24] = True  # point defect, 4 × 4 nm
    # At 0.5 nm/px, 1.5 nm (half of 3 nm) is 3 px.
    out = prepare_mask(mask, 1.0, 0.5, particle_diameter_nm=3.0)
    assert out.shape == (4, 200, 200)
    assert out.dtype == np.uint8
    column = out[1, :, 100]
    assert column.sum() == 3
    assert abs(np.nonzero(column)[0].mean() - 100.5) <= 1
    assert out[3].sum() == pytest.approx(64, abs=16)
    assert not out[0].any()
    assert not out[2].any()


def _tiff_bytes(pixels):
    stream = io.BytesIO()
    tifffile.imwrite(stream, pixels, photometric="minisblack")
    return stream.getvalue()


def test_make_record_decodes_bytes_with_pixel_size_from_the_sidecar():
    pixels = (np.arange(64 * 80) % 251).astype(np.uint8).reshape(64, 80)
    sidecar = format_hitachi_text({"PixelSize": "1.25", "DataSize": "80x64"})
    record = make_record(_tiff_bytes(pixels), label="ordered", sidecar_text=sidecar, key="a")
    np.testing.assert_array_equal(record.image, pixels)
    assert record.pixel_size_nm == pytest.approx(1.25)
    assert record.label == 1
    assert make_record(pixels, 2.0, label=False).label == 0


def test_make_record_rejects_bad_shapes_and_labels():
    with pytest.raises(ValueError, match="uint8 or uint16"):
        make_record(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="mask must be"):
        make_record(np.zeros((4, 4), np.uint8), mask=np.zeros((4, 5, 5)))
    with pytest.raises(ValueError, match="ordered, disordered"):
        make_record(np.zeros((4, 4), np.uint8), label="messy")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    write_dataset(out, 4, seed=1, shape=(96, 128), magnifications=(200_000,))
    return out


def test_read_folder_reads_a_simulation_data_set(folder):
    records = read_folder(folder)
    assert len(records) == 4
    assert {r.label for r in records} <= {0, 1}
    for record in records:
        assert record.image.shape == (96, 128)
        assert record.mask.shape == (4, 96, 128)
        assert record.mask.dtype == bool
        assert record.pixel_size_nm == pytest.approx(127e6 / (200_000 * 128))
        assert record.key.endswith(".tif")
        if record.label == 0:
            assert not record.mask.any()


def test_datasets_give_crops_of_the_asked_size(folder):
    records = read_folder(folder)
    order = OrderDataset(prepare_records(records, 8.0), crop_size=64, samples_per_image=2, seed=0)
    image, label = order[3]
    assert len(order) == 8
    assert image.shape == (1, 64, 64)
    assert label.item() in (0.0, 1.0)
    prepared = prepare_records(records, 4.0, particle_diameter_nm=3.0)
    defects = DefectDataset(prepared, crop_size=48, samples_per_image=3, seed=0)
    image, mask = defects[0]
    assert len(defects) == 12
    assert image.shape == (1, 48, 48)
    assert mask.shape == (4, 48, 48)
    assert set(np.unique(mask.numpy())) <= {0.0, 1.0}


def test_augmentation_is_reproducible_with_a_seed(folder):
    prepared = prepare_records(read_folder(folder), 4.0, particle_diameter_nm=3.0)
    a = DefectDataset(prepared, crop_size=48, seed=5)
    b = DefectDataset(prepared, crop_size=48, seed=5)
    for index in (0, 9):
        np.testing.assert_array_equal(a[index][0].numpy(), b[index][0].numpy())
        np.testing.assert_array_equal(a[index][1].numpy(), b[index][1].numpy())


def test_prepared_records_keep_labels_and_masks_at_the_model_scale(folder):
    records = read_folder(folder)
    prepared = prepare_records(records, 4.0, particle_diameter_nm=3.0, workers=2)
    assert [p.key for p in prepared] == [r.key for r in records]
    for item, record in zip(prepared, records, strict=True):
        assert item.unit.dtype == np.float16
        assert item.unit.shape == prepare_image(record.image, record.pixel_size_nm, 4.0).shape
        assert item.mask.shape == (4, *item.unit.shape)
        assert item.label == record.label
    assert prepare_records(records[:1], 4.0)[0].mask is None


def test_datasets_need_labels_or_masks():
    unlabelled = prepare_records([make_record(np.zeros((32, 32), np.uint8), 1.0)], 1.0, 3.0)
    with pytest.raises(ValueError, match="order label"):
        OrderDataset(unlabelled)
    with pytest.raises(ValueError, match="defect mask"):
        DefectDataset(prepare_records([make_record(np.zeros((32, 32), np.uint8))], 1.0))
