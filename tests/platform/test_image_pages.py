"""The image page: overlays, order labels, mask upload, analysis status with retry and queueing."""

import csv
import io

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_q.models import OrmQ
from PIL import Image

from analysis.defects import DEFECT_CLASSES
from analysis.particles import Particles, particle_statistics
from nanomark.imaging.models import DefectMask, OrderLabel
from nanomark.imaging.services import ingest_sem_image
from nanomark.results.compute import DefectClassResult, ImageAnalysis
from nanomark.results.models import AnalysisRun
from nanomark.results.storing import store_analysis
from nanomark.results.tasks import analyse_image
from nanomark.runs import RunStatus
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db


HEIGHT, WIDTH = 96, 128


@pytest.fixture
def image(labs, rendered_png):
    """Lab A's image, 320 × 256 px at 1 nm/px, with its (model-free) run still queued."""
    return ingest_sem_image(
        sample=labs["sample_a"], data=rendered_png(), filename="a.png", pixel_size_nm=1.0
    ).image


@pytest.fixture
def small_image(labs):
    """A 128 × 96 px image of lab A for masks."""
    pixels = np.random.default_rng(0).integers(0, 255, (HEIGHT, WIDTH), dtype=np.uint8)
    return ingest_sem_image(sample=labs["sample_a"], data=png_bytes(pixels), filename="m.png").image


def finished_run(image) -> tuple[AnalysisRun, ImageAnalysis]:
    """Store known results as the image's run, through the worker's own storing code."""
    run = AnalysisRun.objects.get(image=image)
    holder = AnalysisRun.claim(run.pk)
    assert holder
    height, width = image.height_px, image.width_px
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :].repeat(height, 0)
    positions = np.array([[10.0, 20.0], [100.5, 50.25], [300.0, 200.0]])
    diameters = np.array([3.0, 4.0, 5.0])
    analysis = ImageAnalysis(
        order_score=0.8,
        saliency=ramp[::-1].copy(),
        defects=[
            DefectClassResult(name, ramp * (index + 1) / 4, 0.01 * (index + 1))
            for index, name in enumerate(DEFECT_CLASSES)
        ],
        particles_xy=positions,
        particle_diameters_nm=diameters,
        particle_summary=particle_statistics(Particles(positions, diameters), width, height, 1.0),
        timings_s={"classifier": 0.5},
    )
    store_analysis(run, analysis, holder)
    run.refresh_from_db()
    return run, analysis


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def png_values(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_the_page_shows_overlays_scores_and_statistics(client, labs, image):
    run, analysis = finished_run(image)
    client.force_login(labs["alice"])
    html = client.get(image.get_absolute_url()).content.decode()
    for name in DEFECT_CLASSES:
        assert reverse("analysis-probability", args=[run.pk, name]) in html
    assert reverse("analysis-saliency", args=[run.pk]) in html
    assert reverse("analysis-particles", args=[run.pk]) in html
    assert f'viewBox="0 0 {image.width_px} {image.height_px}"' in html
    assert 'data-pixel-size="1.0"' in html
    assert "<strong>0.800</strong>" in html
    assert "Particles (3)" in html
    for stat in analysis.defects:
        assert f"<td>{stat.area_fraction:.4f}</td>" in html
    # Alice may write in lab A: label buttons, mask form and "Analyse now" are there.
    for action in ("image-label", "image-mask-upload", "analysis-queue"):
        assert reverse(action, args=[image.pk]) in html


def test_overlay_files_stream_the_stored_maps(client, labs, image):
    run, analysis = finished_run(image)
    client.force_login(labs["alice"])
    for stat in analysis.defects:
        response = client.get(reverse("analysis-probability", args=[run.pk, stat.defect_class]))
        assert response["Content-Type"] == "image/png"
        expected = np.round(stat.probability * 255).astype(np.uint8)
        assert np.array_equal(png_values(streamed(response)), expected)
    saliency = client.get(reverse("analysis-saliency", args=[run.pk]))
    expected = np.round(analysis.saliency * 255).astype(np.uint8)
    assert np.array_equal(png_values(streamed(saliency)), expected)
    particles = client.get(reverse("analysis-particles", args=[run.pk]))
    rows = list(csv.DictReader(io.StringIO(streamed(particles).decode())))
    assert [(float(r["x_px"]), float(r["y_px"]), float(r["diameter_nm"])) for r in rows] == [
        (10.0, 20.0, 3.0),
        (100.5, 50.25, 4.0),
        (300.0, 200.0, 5.0),
    ]
    unknown = client.get(reverse("analysis-probability", args=[run.pk, "crack"]))
    assert unknown.status_code == 404


def test_a_real_model_free_analysis_shows_its_particles(client, labs, image):
    run = AnalysisRun.objects.get(image=image)
    analyse_image(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    client.force_login(labs["alice"])
    html = client.get(image.get_absolute_url()).content.decode()
    count = run.particles.count
    assert 75 <= count <= 130  # 120 particles were rendered, some overlap
    assert f"Particles ({count})" in html
    assert "No segmentation" in html
    rows = streamed(client.get(reverse("analysis-particles", args=[run.pk]))).decode().splitlines()
    assert len(rows) == count + 1


def test_another_labs_image_and_its_files_are_404(client, labs, image):
    run, _ = finished_run(image)
    mask = DefectMask.objects.create(image=image, **{name: "x.png" for name in DEFECT_CLASSES})
    client.force_login(labs["bob"])
    gets = [
        reverse("image-detail", args=[image.pk]),
        reverse("analysis-status", args=[image.pk]),
        reverse("analysis-saliency", args=[run.pk]),
        reverse("analysis-particles", args=[run.pk]),
        reverse("analysis-probability", args=[run.pk, "sheet_border"]),
        reverse("defect-mask-layer", args=[mask.pk, "sheet_border"]),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        reverse("image-label", args=[image.pk]),
        reverse("image-mask-upload", args=[image.pk]),
        reverse("analysis-queue", args=[image.pk]),
        reverse("analysis-retry", args=[run.pk]),
    ]
    for url in posts:
        assert client.post(url, {"label": "ordered"}).status_code == 404, url
    assert not OrderLabel.objects.exists()


def test_viewers_see_the_page_but_cannot_change_anything(client, labs, image):
    run = AnalysisRun.objects.get(image=image)
    AnalysisRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="boom")
    client.force_login(labs["charlie"])
    page = client.get(image.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "Analyse now" not in html
    assert "Retry" not in html
    assert "Store mask" not in html
    for url in (
        reverse("image-label", args=[image.pk]),
        reverse("image-mask-upload", args=[image.pk]),
        reverse("analysis-queue", args=[image.pk]),
        reverse("analysis-retry", args=[run.pk]),
    ):
        assert client.post(url, {"label": "ordered"}).status_code == 403, url
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert not OrderLabel.objects.exists()


def test_label_buttons_record_the_annotators_label(client, labs, image):
    client.force_login(labs["alice"])
    url = reverse("image-label", args=[image.pk])
    assert client.post(url, {"label": "ordered", "note": "clear lines"}).status_code == 302
    label = OrderLabel.objects.get(image=image)
    assert (label.label, label.annotator, label.source, label.note) == (
        "ordered",
        labs["alice"],
        "human",
        "clear lines",
    )
    # A second click is alice's new judgement; it replaces her first, which is kept.
    client.post(url, {"label": "disordered"})
    assert list(OrderLabel.objects.current().values_list("label", "annotator__username")) == [
        ("disordered", "alice")
    ]
    assert OrderLabel.objects.get(label="ordered").replaced_at is not None
    html = client.get(image.get_absolute_url()).content.decode()
    assert "<td>alice</td>" in html
    # The page shows alice's history: the current label first, then the replaced one.
    current, replaced = html.index("<td>Disordered</td>"), html.index("<td>Ordered</td>")
    assert current < html.index("<td>current</td>") < replaced < html.index("<td>replaced ")
    bad = client.post(url, {"label": "maybe"})
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()
    assert OrderLabel.objects.current().get().label == "disordered"


def layers_of(shape=(HEIGHT, WIDTH)) -> np.ndarray:
    """(4, H, W) uint8 layers, 0 or 255, a different known region per class."""
    layers = np.zeros((4, *shape), np.uint8)
    layers[0, 10, :] = 255
    layers[1, :, 20] = 255
    layers[2, 40:44, 40:44] = 255
    layers[3, 30, 50] = 255
    return layers


def _tiff(layers) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for layer in layers:
            writer.write(layer)
    return SimpleUploadedFile("mask.tif", buffer.getvalue())


def test_a_four_page_tiff_mask_is_stored(client, labs, small_image):
    layers = layers_of()
    client.force_login(labs["alice"])
    response = client.post(
        reverse("image-mask-upload", args=[small_image.pk]),
        {"stack": _tiff(layers), "note": "drawn in GIMP"},
    )
    assert response.status_code == 302
    mask = DefectMask.objects.get(image=small_image)
    assert (mask.annotator, mask.note) == (labs["alice"], "drawn in GIMP")
    assert np.array_equal(mask.load_layers(), layers > 0)
    layer = client.get(reverse("defect-mask-layer", args=[mask.pk, "grain_boundary"]))
    assert np.array_equal(png_values(streamed(layer)) > 0, layers[1] > 0)


def test_one_file_per_layer_is_stored_with_transparent_layers(client, labs, small_image):
    layers = layers_of()
    files = {}
    for name, layer in zip(DEFECT_CLASSES, layers, strict=True):
        rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
        rgba[..., 0] = 255  # red paint everywhere, visible only where opaque
        rgba[..., 3] = layer
        files[name] = SimpleUploadedFile(f"{name}.png", png_bytes(rgba))
    client.force_login(labs["alice"])
    response = client.post(reverse("image-mask-upload", args=[small_image.pk]), files)
    assert response.status_code == 302
    assert np.array_equal(DefectMask.objects.get().load_layers(), layers > 0)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"stack": lambda: _tiff(layers_of((50, 60)))},
            "page 1 is 60x50 px; a mask of this image is 128x96 px",
        ),
        ({"stack": lambda: _tiff(layers_of()[:3])}, "has 3 pages; a mask needs 4"),
        (
            {"stack": lambda: SimpleUploadedFile("m.tif", b"not an image at all")},
            "not a readable PNG or TIFF mask",
        ),
        ({"sheet_border": lambda: _tiff(layers_of()[:1])}, "Missing layer file(s): grain bound"),
        ({}, "Choose a 4-layer TIFF or one file per defect class."),
    ],
)
def test_a_mask_that_does_not_fit_is_refused_clearly(
    client, labs, small_image, settings, files, message
):
    client.force_login(labs["alice"])
    payload = {name: build() for name, build in files.items()}
    response = client.post(reverse("image-mask-upload", args=[small_image.pk]), payload)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DefectMask.objects.exists()
    assert not (settings.MEDIA_ROOT / "masks").exists()


def test_a_failed_run_can_be_retried(client, labs, image, django_capture_on_commit_callbacks):
    run = AnalysisRun.objects.get(image=image)
    AnalysisRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, attempts=3, error="RuntimeError: out of memory"
    )
    client.force_login(labs["alice"])
    html = client.get(image.get_absolute_url()).content.decode()
    assert "RuntimeError: out of memory" in html
    assert reverse("analysis-retry", args=[run.pk]) in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("analysis-retry", args=[run.pk]))
    assert response["Location"] == image.get_absolute_url()
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == (RunStatus.QUEUED, 0, "")
    assert OrmQ.objects.count() == 1
    # A run that is not failed is left alone.
    client.post(reverse("analysis-retry", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert OrmQ.objects.count() == 1


def test_analyse_now_queues_a_run_once(client, labs, image, django_capture_on_commit_callbacks):
    AnalysisRun.objects.filter(image=image).delete()
    client.force_login(labs["alice"])
    url = reverse("analysis-queue", args=[image.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    run = AnalysisRun.objects.get(image=image)
    assert (run.status, run.batch.created_by) == (RunStatus.QUEUED, labs["alice"])
    assert OrmQ.objects.count() == 1
    client.post(url)  # same image, same active models: nothing new
    assert AnalysisRun.objects.filter(image=image).count() == 1


def test_status_json_lists_every_run(client, labs, image):
    queued = AnalysisRun.objects.get(image=image)
    client.force_login(labs["charlie"])  # viewers read
    url = reverse("analysis-status", args=[image.pk])
    body = client.get(url).json()
    assert body["image"] == image.pk
    assert body["busy"] is True
    assert [(r["id"], r["status"], r["attempts"]) for r in body["runs"]] == [
        (queued.pk, "queued", 0)
    ]
    assert body["runs"][0]["models"] == dict.fromkeys(
        ["classifier", "segmenter", "embedder", "particle_segmenter"]
    )
    finished_run(image)
    body = client.get(url).json()
    assert body["busy"] is False
    assert body["runs"][0]["status"] == "succeeded"
    assert body["runs"][0]["timings_s"] == {"classifier": 0.5}
    assert body["runs"][0]["finished_at"] is not None
