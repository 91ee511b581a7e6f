"""The instrument's data bar is found at upload and never analysed as specimen."""

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image

from analysis.magnification import pixel_size_for_magnification
from analysis.ocr import tesseract_available
from nanomark.imaging.masks import store_defect_mask
from nanomark.imaging.models import SEMImage
from nanomark.imaging.services import ImageRejected, ingest_sem_image
from nanomark.results.models import AnalysisRun, PatchEmbedding
from nanomark.results.tasks import analyse_image
from nanomark.runs import RunStatus
from simulation.databar import DataBarStyle, draw_databar, render_databar
from simulation.render import render_sem
from tests.factories import png_bytes, tiff_bytes

pytestmark = pytest.mark.django_db

# Larger than one embedding patch (224 px at 2 nm/px), so patches lie inside the field.
FIELD_H, FIELD_W, BAR_H = 480, 512, 56


def _frame(seed: int = 0) -> np.ndarray:
    """A rendered field at 1 nm/px with particles everywhere, and a data bar under it."""
    rng = np.random.default_rng(seed)
    positions = rng.random((500, 2)) * [FIELD_W, FIELD_H]
    field = render_sem(positions, 1.0, rng, shape=(FIELD_H, FIELD_W))
    return draw_databar(field, 1.0, 127e6 / FIELD_W, height_px=BAR_H)


def _png(image: np.ndarray) -> bytes:
    return png_bytes(image)


def test_the_field_box_is_found_at_upload(labs):
    image = ingest_sem_image(
        sample=labs["sample_a"], data=_png(_frame()), filename="bar.png", pixel_size_nm=1.0
    ).image
    assert (image.width_px, image.height_px) == (FIELD_W, FIELD_H + BAR_H)
    assert image.field_box.to_json() == {
        "x_px": 0,
        "y_px": 0,
        "width_px": FIELD_W,
        "height_px": FIELD_H,
    }
    assert image.field_source == "data_bar"


def test_an_analysis_stores_nothing_inside_the_bar(labs, active_models):
    image = ingest_sem_image(
        sample=labs["sample_a"], data=_png(_frame()), filename="bar.png", pixel_size_nm=1.0
    ).image
    run = AnalysisRun.objects.get(image=image)
    analyse_image(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.field_box["height_px"] == FIELD_H
    assert run.pixel_size_nm == 1.0

    rows = run.particles.positions.read().decode().splitlines()[1:]
    ys = np.array([float(row.split(",")[1]) for row in rows])
    assert ys.size > 50
    assert ys.max() < FIELD_H

    patches = PatchEmbedding.objects.filter(run=run)
    assert patches.exists()
    assert all(p.y_px + p.size_px <= FIELD_H for p in patches)

    for stat in run.defect_stats.all():
        probability = np.asarray(Image.open(io.BytesIO(stat.probability_map.read())))
        assert probability.shape == (FIELD_H + BAR_H, FIELD_W)
        assert not probability[FIELD_H:].any(), stat.defect_class
    saliency = np.asarray(Image.open(io.BytesIO(run.order_score.saliency.read())))
    assert not saliency[FIELD_H:].any()
    assert saliency[:FIELD_H].any()


def test_a_mask_of_the_field_or_of_the_frame_is_stored_frame_sized(labs):
    image = ingest_sem_image(
        sample=labs["sample_a"], data=_png(_frame()), filename="bar.png", pixel_size_nm=1.0
    ).image
    field_mask = np.ones((4, FIELD_H, FIELD_W), bool)
    stored = store_defect_mask(image, field_mask).load_layers()
    assert stored.shape == (4, FIELD_H + BAR_H, FIELD_W)
    assert stored[:, :FIELD_H].all()
    assert not stored[:, FIELD_H:].any()
    frame_mask = np.ones((4, FIELD_H + BAR_H, FIELD_W), bool)
    stored = store_defect_mask(image, frame_mask).load_layers()
    assert not stored[:, FIELD_H:].any()  # the bar holds no defects


def test_images_too_small_to_analyse_are_refused(labs, api):
    tiny = png_bytes(np.arange(4, dtype=np.uint8).reshape(2, 2) * 60)
    with pytest.raises(ImageRejected, match="at least 64 x 64 px"):
        ingest_sem_image(sample=labs["sample_a"], data=tiny, filename="tiny.png")
    one = png_bytes(np.full((1, 1), 128, np.uint8))
    body = {"file": SimpleUploadedFile("one.png", one), "sample": labs["sample_a"].pk}
    response = api("alice").post("/api/images/", body, format="multipart")
    assert response.status_code == 400
    assert "one.png" in response.json()["detail"]


def test_a_mask_layer_is_not_a_micrograph(labs):
    layer = np.zeros((100, 120), np.uint8)
    layer[40:60] = 255
    with pytest.raises(ImageRejected, match="not an SEM micrograph"):
        ingest_sem_image(sample=labs["sample_a"], data=png_bytes(layer), filename="x.png")


def test_an_out_of_range_pixel_size_is_refused(labs):
    with pytest.raises(ImageRejected, match="1000"):
        ingest_sem_image(
            sample=labs["sample_a"], data=_png(_frame()), filename="a.png", pixel_size_nm=2000.0
        )


def test_detect_calibration_reads_old_images_again_and_keeps_hand_values(labs):
    frame = _frame()
    old = ingest_sem_image(sample=labs["sample_a"], data=_png(frame), filename="old.png").image
    # As stored before field boxes and scale bars were read: the whole frame, no pixel size.
    SEMImage.objects.filter(pk=old.pk).update(field_height_px=FIELD_H + BAR_H, field_source="")
    hand = ingest_sem_image(
        sample=labs["sample_a"], data=_png(_frame(1)), filename="hand.png", pixel_size_nm=0.5
    ).image
    SEMImage.objects.filter(pk=hand.pk).update(field_height_px=FIELD_H + BAR_H)
    out = io.StringIO()
    call_command("detect_calibration", "--lab", "lab-a", stdout=out, verbosity=0)
    assert "2 image(s) changed" in out.getvalue()
    old.refresh_from_db()
    hand.refresh_from_db()
    assert (old.field_height_px, old.field_source) == (FIELD_H, "data_bar")
    assert (hand.field_height_px, hand.pixel_size_nm) == (FIELD_H, 0.5)
    assert old.calibration_changes.get().note == "read again from the original file"
    assert old.calibration_version == 2
    call_command("detect_calibration", "--lab", "lab-a", stdout=out, verbosity=0)
    assert "0 image(s) changed, 2 unchanged" in out.getvalue()


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed")
def test_an_su8000_frame_without_metadata_is_calibrated_from_its_scale_bar(api, labs):
    rng = np.random.default_rng(3)
    pixel = pixel_size_for_magnification(100_000, 1280)
    field = render_sem(rng.random((900, 2)) * [1280, 890], pixel, rng, shape=(890, 1280))
    style = DataBarStyle(font="dejavu_sans", text_height_px=16, height_px=70)
    frame, _ = render_databar(field, pixel, 100_000, style, "SU8000 10.0kV 9.5mm x100k SE(U)", 500)
    body = {
        "file": SimpleUploadedFile("su8000.tif", tiff_bytes(frame)),
        "sample": labs["sample_a"].pk,
    }
    response = api("alice").post("/api/images/", body, format="multipart")
    assert response.status_code == 201, response.json()
    image = response.json()
    assert image["pixel_size_source"] == "scale_bar"
    assert image["pixel_size_nm"] == pytest.approx(pixel, rel=0.01)
    assert image["magnification"] == 100_000
    assert image["field"] == {"x_px": 0, "y_px": 0, "width_px": 1280, "height_px": 890}
    assert image["calibration"]["scale_bar"]["label"] == "500nm"
