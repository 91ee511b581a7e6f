"""API of images (upload, files, analysis requests), order labels and defect masks."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.defects import DEFECT_CLASSES
from nanomark.imaging.filters import SEMImageFilter
from nanomark.imaging.models import DefectMask, OrderLabel, SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun
from tests.factories import (
    bad_files,
    hitachi_sidecar,
    mask_layers,
    pages_tiff,
    png_bytes,
    sem_pixels,
    tiff_bytes,
)

pytestmark = pytest.mark.django_db

HEIGHT, WIDTH = 96, 128  # of sem_pixels()


def _upload(client, sample, data: bytes, name: str = "a.png", **extra):
    body = {"file": SimpleUploadedFile(name, data), "sample": sample.pk, **extra}
    return client.post("/api/images/", body, format="multipart")


@pytest.fixture
def image(labs) -> SEMImage:
    from nanomark.imaging.services import ingest_sem_image

    return ingest_sem_image(
        sample=labs["sample_a"], data=png_bytes(sem_pixels()), filename="a.png", pixel_size_nm=1.0
    ).image


def test_an_upload_stores_the_image_with_its_metadata(api, labs):
    data = tiff_bytes(sem_pixels())
    alice = api("alice")
    response = _upload(
        alice,
        labs["sample_a"],
        data,
        "s1.tif",
        sidecar=SimpleUploadedFile("s1.txt", hitachi_sidecar(0.99)),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["duplicate"] is False
    assert (body["lab"], body["sample_code"], body["format"]) == ("lab-a", "S1", "tiff")
    assert (body["width_px"], body["height_px"], body["bit_depth"]) == (WIDTH, HEIGHT, 8)
    assert (body["pixel_size_nm"], body["pixel_size_source"]) == (0.99, "sidecar")
    assert body["instrument"] == "SU8000"
    assert alice.get(body["original_url"]).getvalue() == data
    assert alice.get(body["thumbnail_url"])["Content-Type"] == "image/png"
    # Stored images are queued for analysis.
    assert AnalysisRun.objects.filter(image_id=body["id"]).count() == 1


def test_a_manual_pixel_size_overrides_the_metadata(api, labs):
    response = _upload(api("alice"), labs["sample_a"], png_bytes(sem_pixels()), pixel_size_nm=2.5)
    assert (response.json()["pixel_size_nm"], response.json()["pixel_size_source"]) == (
        2.5,
        "manual",
    )


def test_uploading_the_same_file_again_returns_the_stored_image(api, labs):
    data = png_bytes(sem_pixels())
    first = _upload(api("alice"), labs["sample_a"], data, "first.png")
    again = _upload(api("alice"), labs["sample_a"], data, "again.png")
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["original_filename"] == "first.png"
    assert SEMImage.objects.count() == 1


@pytest.mark.parametrize("kind", ["plain_text", "truncated_png", "multi_page_tiff", "html"])
def test_a_refused_file_is_a_400_that_says_why_and_stores_nothing(api, labs, kind, tmp_path):
    response = _upload(api("alice"), labs["sample_a"], bad_files()[kind], f"{kind}.bin")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{kind}.bin: ")
    assert not SEMImage.objects.exists()
    assert not [p for p in (tmp_path / "media").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"pixel_size_nm": "-1"}, "detail"), ({"pixel_size_nm": "big"}, "pixel_size_nm")],
)
def test_a_bad_pixel_size_is_a_400(api, labs, extra, field):
    response = _upload(api("alice"), labs["sample_a"], png_bytes(sem_pixels()), **extra)
    assert response.status_code == 400
    assert field in response.json()


def test_uploads_need_write_access_to_the_samples_lab(api, labs):
    data = png_bytes(sem_pixels())
    assert _upload(api("charlie"), labs["sample_a"], data).status_code == 403
    # Another lab's sample does not exist for bob.
    refused = _upload(api("bob"), labs["sample_a"], data)
    assert refused.status_code == 400
    assert "sample" in refused.json()
    missing = api("alice").post("/api/images/", {"sample": labs["sample_a"].pk})
    assert missing.status_code == 400
    assert "file" in missing.json()
    assert not SEMImage.objects.exists()


def test_images_are_listed_and_shown_in_their_lab_only(api, labs, image):
    alice, bob = api("alice"), api("bob")
    assert [row["id"] for row in alice.get("/api/images/").json()["results"]] == [image.pk]
    assert bob.get("/api/images/").json()["count"] == 0
    assert bob.get(f"/api/images/{image.pk}/").status_code == 404
    assert alice.get("/api/images/", {"sample": labs["sample_b"].pk}).json()["count"] == 0
    assert alice.get("/api/images/", {"filename": "A.P"}).json()["count"] == 1
    assert api("charlie").get(f"/api/images/{image.pk}/").json()["sha256"] == image.sha256


def test_analyze_queues_a_run_with_the_labs_active_models(api, labs, image):
    alice = api("alice")
    url = f"/api/images/{image.pk}/analyze/"
    # The run queued on upload already used the active models (none): nothing new.
    existing = alice.post(url)
    assert existing.status_code == 200
    assert [run["id"] for run in existing.json()] == [AnalysisRun.objects.get().pk]

    classifier = ModelVersion.objects.create(
        lab=labs["a"], task=ModelTask.ORDER_CLASSIFIER, name="clf", architecture="resnet34"
    )
    classifier.activate()
    queued = alice.post(url)
    assert queued.status_code == 202
    [run] = queued.json()
    assert (run["status"], run["classifier"]["id"], run["order_score"]) == (
        "queued",
        classifier.pk,
        None,
    )
    # The upload's run, never started, is superseded by the one with the classifier.
    assert list(AnalysisRun.objects.filter(image=image).values_list("pk", flat=True)) == [run["id"]]
    assert api("charlie").post(url).status_code == 403
    assert api("bob").post(url).status_code == 404
    assert AnalysisRun.objects.count() == 1


def test_a_new_order_label_replaces_the_users_earlier_one(api, labs, image):
    alice = api("alice")
    first = alice.post("/api/order-labels/", {"image": image.pk, "label": "ordered"})
    assert first.status_code == 201
    assert (first.json()["annotator"], first.json()["source"]) == ("alice", "human")
    changed = alice.post(
        "/api/order-labels/", {"image": image.pk, "label": "disordered", "note": "on second look"}
    )
    assert changed.status_code == 200
    assert (changed.json()["label"], changed.json()["replaced_at"]) == ("disordered", None)
    label = OrderLabel.objects.current().get()
    assert (label.pk, label.label, label.note, label.annotator) == (
        changed.json()["id"],
        "disordered",
        "on second look",
        labs["alice"],
    )
    charlie = api("charlie")
    listed = charlie.get("/api/order-labels/", {"image": image.pk}).json()
    assert [row["label"] for row in listed["results"]] == ["disordered"]
    history = charlie.get("/api/order-labels/", {"image": image.pk, "include_replaced": "true"})
    rows = {row["id"]: row for row in history.json()["results"]}
    assert rows[first.json()["id"]]["label"] == "ordered"
    assert rows[first.json()["id"]]["replaced_at"] is not None
    assert charlie.get(f"/api/order-labels/{first.json()['id']}/").status_code == 404
    assert (
        charlie.get(
            f"/api/order-labels/{first.json()['id']}/", {"include_replaced": "true"}
        ).json()["label"]
        == "ordered"
    )


def test_a_relabel_leaves_a_frozen_training_set_as_it_was(labs, image):
    first, created = OrderLabel.record(image, labs["alice"], "ordered")
    version = ModelVersion.objects.create(
        lab=labs["a"], task=ModelTask.ORDER_CLASSIFIER, name="clf", architecture="resnet34"
    )
    version.training_labels.add(first)
    second, created_again = OrderLabel.record(image, labs["alice"], "disordered")
    assert (created, created_again) == (True, False)
    assert [label.label for label in version.training_labels.all()] == ["ordered"]
    assert list(OrderLabel.objects.current().values_list("pk", "label")) == [
        (second.pk, "disordered")
    ]
    # Lists filter by the current label only.
    assert not SEMImageFilter({"label": "ordered"}, SEMImage.objects.all()).qs.exists()
    assert list(SEMImageFilter({"label": "disordered"}, SEMImage.objects.all()).qs) == [image]


def test_order_labels_are_refused_to_viewers_and_other_labs(api, labs, image):
    bad = api("alice").post("/api/order-labels/", {"image": image.pk, "label": "maybe"})
    assert bad.status_code == 400
    assert "label" in bad.json()
    viewer = api("charlie").post("/api/order-labels/", {"image": image.pk, "label": "ordered"})
    assert viewer.status_code == 403
    other = api("bob").post("/api/order-labels/", {"image": image.pk, "label": "ordered"})
    assert other.status_code == 400
    assert "image" in other.json()
    assert not OrderLabel.objects.exists()
    OrderLabel.objects.create(image=image, label="ordered", annotator=labs["alice"])
    assert api("bob").get("/api/order-labels/").json()["count"] == 0


def _post_mask(client, image, files: dict[str, bytes]):
    body = {"image": image.pk, **{k: SimpleUploadedFile(f"{k}.tif", v) for k, v in files.items()}}
    return client.post("/api/defect-masks/", body, format="multipart")


def test_a_four_page_tiff_is_stored_as_the_four_layers(api, labs, image):
    layers = mask_layers()
    tiff = pages_tiff([np.where(layer, 255, 0).astype(np.uint8) for layer in layers])
    response = _post_mask(api("alice"), image, {"file": tiff})
    assert response.status_code == 201, response.json()
    mask = DefectMask.objects.get(pk=response.json()["id"])
    assert (mask.image, mask.annotator, mask.source) == (image, labs["alice"], "human")
    np.testing.assert_array_equal(mask.load_layers(), layers)
    layer_url = response.json()["layer_urls"]["grain_boundary"]
    assert api("alice").get(layer_url).getvalue() == mask.grain_boundary.open("rb").read()
    assert api("bob").get(f"/api/defect-masks/{mask.pk}/").status_code == 404
    assert api("charlie").get("/api/defect-masks/").json()["count"] == 1


def test_one_file_per_class_is_stored_in_class_order(api, labs, image):
    layers = mask_layers(seed=1)
    files = {
        name: png_bytes(np.where(layer, 255, 0).astype(np.uint8))
        for name, layer in zip(DEFECT_CLASSES, layers, strict=True)
    }
    response = _post_mask(api("alice"), image, files)
    assert response.status_code == 201, response.json()
    np.testing.assert_array_equal(DefectMask.objects.get().load_layers(), layers)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "missing sheet_border"),
        ({"file": b"not an image"}, "not a readable PNG or TIFF mask"),
        ({"file": pages_tiff([np.zeros((HEIGHT, WIDTH), np.uint8)] * 3)}, "has 3 pages"),
        ({"file": pages_tiff([np.zeros((HEIGHT, 64), np.uint8)] * 4)}, "page 1 is 64x96 px"),
    ],
)
def test_a_mask_that_does_not_fit_is_a_400(api, labs, image, files, message):
    response = _post_mask(api("alice"), image, files)
    assert response.status_code == 400
    assert message in str(response.json())
    assert not DefectMask.objects.exists()


def test_masks_need_write_access(api, labs, image):
    tiff = pages_tiff([np.zeros((HEIGHT, WIDTH), np.uint8)] * 4)
    assert _post_mask(api("charlie"), image, {"file": tiff}).status_code == 403
    refused = _post_mask(api("bob"), image, {"file": tiff})
    assert refused.status_code == 400
    assert "image" in refused.json()
