"""Calibration after upload: pixel size and field box set by a member, recorded, re-analysed.

Through the API (``PATCH /api/images/{id}/``, ``POST /api/images/calibrate/``)
and the web pages (image page, sample page); viewers and other labs cannot.
"""

import pytest

from nanomark.imaging.models import CalibrationChange, SEMImage
from nanomark.imaging.services import ingest_sem_image, new_upload_batch
from nanomark.results.models import AnalysisRun
from nanomark.runs import RunStatus
from tests.factories import png_bytes, sem_pixels

pytestmark = pytest.mark.django_db

HEIGHT, WIDTH = 96, 128  # of sem_pixels()


def _image(labs, seed: int = 0, sample: str = "sample_a", **options) -> SEMImage:
    return ingest_sem_image(
        sample=labs[sample],
        data=png_bytes(sem_pixels(seed=seed)),
        filename=f"{seed}.png",
        **options,
    ).image


def test_an_uncalibrated_upload_says_why(labs):
    image = _image(labs)
    assert image.pixel_size_nm is None
    assert image.pixel_size_source == ""
    assert "pixel size" in image.uncalibrated_reason.lower()
    assert (image.field_width_px, image.field_height_px) == (WIDTH, HEIGHT)


def test_a_member_sets_the_pixel_size_through_the_api(api, labs):
    image = _image(labs)
    first_run = AnalysisRun.objects.get(image=image)
    response = api("alice").patch(
        f"/api/images/{image.pk}/", {"pixel_size_nm": 0.75, "note": "from the lab book"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["pixel_size_nm"], body["pixel_size_source"]) == (0.75, "manual")
    assert body["calibration_version"] == 2
    assert "reason" not in body["calibration"]
    change = CalibrationChange.objects.get(image=image)
    assert change.changed_by == labs["alice"]
    assert (change.old_pixel_size_nm, change.new_pixel_size_nm) == (None, 0.75)
    assert (change.old_pixel_size_source, change.new_pixel_size_source) == ("", "manual")
    assert change.note == "from the lab book"
    # The unstarted run of the old calibration is superseded by one of the new.
    runs = AnalysisRun.objects.filter(image=image)
    assert [run.calibration_version for run in runs] == [2]
    assert not runs.filter(pk=first_run.pk).exists()
    listed = api("alice").get(f"/api/calibration-changes/?image={image.pk}").json()
    assert [row["new_pixel_size_nm"] for row in listed["results"]] == [0.75]


def test_a_finished_analysis_is_kept_and_a_new_one_queued(api, labs):
    image = _image(labs)
    AnalysisRun.objects.filter(image=image).update(status=RunStatus.SUCCEEDED)
    api("alice").patch(f"/api/images/{image.pk}/", {"pixel_size_nm": 2.0}, format="json")
    versions = sorted(AnalysisRun.objects.filter(image=image).values_list("calibration_version"))
    assert versions == [(1,), (2,)]


def test_a_field_box_is_set_and_must_fit_the_frame(api, labs):
    image = _image(labs)
    alice = api("alice")
    box = {"x_px": 0, "y_px": 0, "width_px": WIDTH, "height_px": 80}
    response = alice.patch(f"/api/images/{image.pk}/", {"field": box}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["field"] == box
    assert response.json()["field_source"] == "manual"
    too_big = {**box, "height_px": HEIGHT + 1}
    response = alice.patch(f"/api/images/{image.pk}/", {"field": too_big}, format="json")
    assert response.status_code == 400
    assert "does not fit" in response.json()["detail"]
    image.refresh_from_db()
    assert image.field_height_px == 80
    assert image.calibration_changes.count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"pixel_size_nm": 0.001}, "0.01"),
        ({"pixel_size_nm": 5000}, "1000"),
        ({"pixel_size_nm": -1}, ""),
        ({"pixel_size_nm": "abc"}, ""),
        ({}, "pixel size, a field box"),
        ({"field": {"x_px": 0, "y_px": 0, "width_px": 10, "height_px": 10}}, "at least 64"),
        ({"field": {"x_px": -1, "y_px": 0, "width_px": 100, "height_px": 90}}, ""),
        ({"field": {"x_px": 0, "y_px": 0, "width_px": 1e30, "height_px": 90}}, ""),
    ],
)
def test_bad_values_are_a_400_that_changes_nothing(api, labs, body, message):
    image = _image(labs)
    response = api("alice").patch(f"/api/images/{image.pk}/", body, format="json")
    assert response.status_code == 400
    assert message in str(response.json())
    image.refresh_from_db()
    assert (image.pixel_size_nm, image.calibration_version) == (None, 1)
    assert not CalibrationChange.objects.exists()


def test_viewers_and_other_labs_cannot_calibrate(api, labs):
    image = _image(labs)
    assert api("charlie").patch(f"/api/images/{image.pk}/", {"pixel_size_nm": 1}).status_code == 403
    assert api("bob").patch(f"/api/images/{image.pk}/", {"pixel_size_nm": 1}).status_code == 404
    response = api("bob").post("/api/images/calibrate/", {"images": [image.pk], "pixel_size_nm": 1})
    assert response.status_code == 400  # bob's labs have no such image
    assert api("alice").put(f"/api/images/{image.pk}/", {"pixel_size_nm": 1}).status_code == 405
    image.refresh_from_db()
    assert image.pixel_size_nm is None


def test_a_batch_calibrates_every_image_of_an_upload(api, labs):
    batch = new_upload_batch()
    batch_images = [_image(labs, seed, upload_batch=batch) for seed in (1, 2)]
    other = _image(labs, 3)
    response = api("alice").post(
        "/api/images/calibrate/", {"upload_batch": batch, "pixel_size_nm": 1.5}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert sorted(row["image"] for row in response.json()) == sorted(i.pk for i in batch_images)
    sizes = dict(SEMImage.objects.values_list("pk", "pixel_size_nm"))
    assert [sizes[i.pk] for i in batch_images] == [1.5, 1.5]
    assert sizes[other.pk] is None


def test_a_batch_of_a_sample_can_leave_calibrated_images_alone(api, labs):
    calibrated = _image(labs, 1, pixel_size_nm=0.9)
    uncalibrated = _image(labs, 2)
    body = {"sample": labs["sample_a"].pk, "pixel_size_nm": 2.0, "only_uncalibrated": True}
    response = api("alice").post("/api/images/calibrate/", body, format="json")
    assert [row["image"] for row in response.json()] == [uncalibrated.pk]
    calibrated.refresh_from_db()
    assert calibrated.pixel_size_nm == 0.9


def test_a_batch_that_does_not_fit_one_image_changes_none(api, labs):
    small = ingest_sem_image(
        sample=labs["sample_a"], data=png_bytes(sem_pixels(70, 70)), filename="small.png"
    ).image
    large = _image(labs, 1)
    body = {
        "images": [small.pk, large.pk],
        "field": {"x_px": 0, "y_px": 0, "width_px": 100, "height_px": 90},
    }
    response = api("alice").post("/api/images/calibrate/", body, format="json")
    assert response.status_code == 400
    assert "small.png" in response.json()["detail"]
    assert not CalibrationChange.objects.exists()


def test_the_uncalibrated_filter_lists_images_without_a_pixel_size(api, labs):
    calibrated = _image(labs, 1, pixel_size_nm=0.9)
    uncalibrated = _image(labs, 2)
    alice = api("alice")
    ids = [row["id"] for row in alice.get("/api/images/?calibrated=false").json()["results"]]
    assert ids == [uncalibrated.pk]
    ids = [row["id"] for row in alice.get("/api/images/?calibrated=true").json()["results"]]
    assert ids == [calibrated.pk]
    samples = alice.get("/api/samples/?uncalibrated=true").json()["results"]
    assert [row["code"] for row in samples] == ["S1"]


def test_the_image_page_calibrates_and_shows_the_history(client, labs):
    image = _image(labs)
    client.force_login(labs["alice"])
    page = client.get(image.get_absolute_url()).content.decode()
    assert "Uncalibrated:" in page
    response = client.post(
        f"/images/{image.pk}/calibration/", {"pixel_size_nm": "0.5", "note": "scale bar"}
    )
    assert response.status_code == 302
    page = client.get(image.get_absolute_url()).content.decode()
    assert "Uncalibrated:" not in page
    assert "0.5000 nm/px (Entered by hand)" in page
    assert "scale bar" in page  # the change's note in the history
    response = client.post(f"/images/{image.pk}/calibration/", {"pixel_size_nm": "0"})
    assert response.status_code == 400
    assert "must be positive" in response.content.decode()


def test_the_sample_page_calibrates_its_uncalibrated_images(client, labs):
    calibrated = _image(labs, 1, pixel_size_nm=0.9)
    uncalibrated = _image(labs, 2)
    client.force_login(labs["alice"])
    page = client.get(labs["sample_a"].get_absolute_url()).content.decode()
    assert "1 uncalibrated" in page
    response = client.post(
        f"/images/calibrate/{labs['sample_a'].pk}/",
        {"calibrate-scope": "uncalibrated", "calibrate-pixel_size_nm": "1.25"},
    )
    assert response.status_code == 302
    sizes = dict(SEMImage.objects.values_list("pk", "pixel_size_nm"))
    assert (sizes[calibrated.pk], sizes[uncalibrated.pk]) == (0.9, 1.25)
    client.force_login(labs["charlie"])
    response = client.post(
        f"/images/calibrate/{labs['sample_a'].pk}/",
        {"calibrate-scope": "all", "calibrate-pixel_size_nm": "3"},
    )
    assert response.status_code == 403
