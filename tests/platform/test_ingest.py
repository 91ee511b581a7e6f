"""Storing SEM images: validated from content, stored once per lab, file and row or neither."""

import hashlib
from pathlib import Path

import pytest

from nanomark.imaging.choices import PixelSizeSource
from nanomark.imaging.models import SEMImage
from nanomark.imaging.services import ImageRejected, ingest_sem_image
from tests.factories import bad_files, hitachi_sidecar, png_bytes, sem_pixels, tiff_bytes

pytestmark = pytest.mark.django_db


def stored_files(media_root: Path) -> list[Path]:
    return sorted(p for p in Path(media_root).rglob("*") if p.is_file())


def test_it_stores_a_tiff_with_its_sidecar_metadata(labs, settings):
    data = tiff_bytes(sem_pixels(dtype="uint16"))
    outcome = ingest_sem_image(
        sample=labs["sample_a"],
        data=data,
        filename="532-S1-A50-50k-ordered.tif",
        sidecar=hitachi_sidecar(pixel_size_nm=0.9921875),
        uploaded_by=labs["alice"],
    )
    image = outcome.image
    assert outcome.created
    assert image.lab == labs["a"]
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert (image.width_px, image.height_px, image.bit_depth, image.format) == (128, 96, 16, "tiff")
    assert image.pixel_size_nm == pytest.approx(0.9921875)
    assert image.pixel_size_source == PixelSizeSource.SIDECAR
    assert image.accelerating_voltage_kv == pytest.approx(10.0)
    assert image.working_distance_mm == pytest.approx(8.1)
    assert image.magnification == pytest.approx(50000)
    assert image.detector == "SE(U)"
    assert image.instrument == "SU8000"
    assert image.acquired_at.year == 2019
    assert image.original.read() == data
    assert image.preview.read().startswith(b"\x89PNG")
    assert image.thumbnail.read().startswith(b"\x89PNG")
    assert len(stored_files(settings.MEDIA_ROOT)) == 3


def test_it_returns_the_existing_image_for_a_reupload(labs, settings):
    data = png_bytes(sem_pixels())
    first = ingest_sem_image(sample=labs["sample_a"], data=data, filename="a.png")
    again = ingest_sem_image(sample=labs["sample_a"], data=data, filename="renamed.png")
    assert first.created
    assert not again.created
    assert again.image.pk == first.image.pk
    assert SEMImage.objects.count() == 1
    assert len(stored_files(settings.MEDIA_ROOT)) == 3


def test_the_same_file_in_another_lab_is_a_separate_image(labs):
    data = png_bytes(sem_pixels())
    a = ingest_sem_image(sample=labs["sample_a"], data=data, filename="a.png")
    b = ingest_sem_image(sample=labs["sample_b"], data=data, filename="a.png")
    assert b.created
    assert a.image.pk != b.image.pk


def test_a_manual_pixel_size_overrides_the_metadata(labs):
    image = ingest_sem_image(
        sample=labs["sample_a"],
        data=tiff_bytes(sem_pixels()),
        filename="x.tif",
        sidecar=hitachi_sidecar(pixel_size_nm=2.0),
        pixel_size_nm=1.25,
    ).image
    assert (image.pixel_size_nm, image.pixel_size_source) == (1.25, PixelSizeSource.MANUAL)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_it_rejects_a_nonsense_manual_pixel_size(labs, value):
    with pytest.raises(
        ImageRejected, match=r"pixel size (must be positive|is not a number|is inf)"
    ):
        ingest_sem_image(
            sample=labs["sample_a"],
            data=tiff_bytes(sem_pixels()),
            filename="x.tif",
            pixel_size_nm=value,
        )
    assert not SEMImage.objects.exists()


@pytest.mark.parametrize("kind", sorted(bad_files()))
def test_it_rejects_bad_input_and_stores_nothing(labs, settings, kind):
    with pytest.raises(ImageRejected, match=r"^bad\.tif: .{10,}"):
        ingest_sem_image(sample=labs["sample_a"], data=bad_files()[kind], filename="bad.tif")
    assert not SEMImage.objects.exists()
    assert stored_files(settings.MEDIA_ROOT) == []


def test_it_rejects_images_over_the_pixel_cap(labs, settings):
    settings.NANOMARK_MAX_IMAGE_PIXELS = 100 * 100
    with pytest.raises(ImageRejected, match="pixel"):
        ingest_sem_image(sample=labs["sample_a"], data=tiff_bytes(sem_pixels()), filename="big.tif")
    assert not SEMImage.objects.exists()


def test_it_rejects_files_over_the_byte_limit(labs, settings):
    settings.NANOMARK_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(ImageRejected, match="exceeds the 1,000-byte limit"):
        ingest_sem_image(sample=labs["sample_a"], data=tiff_bytes(sem_pixels()), filename="x.tif")


def test_a_failure_while_saving_the_row_leaves_no_files(labs, settings, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(SEMImage.objects, "create", fail)
    with pytest.raises(RuntimeError, match="database went away"):
        ingest_sem_image(sample=labs["sample_a"], data=tiff_bytes(sem_pixels()), filename="x.tif")
    assert stored_files(settings.MEDIA_ROOT) == []
