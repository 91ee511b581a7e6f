"""Uploading images from the web UI: inspect without storing, then store what the user confirms."""

import os
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape
from django_q.models import OrmQ

from analysis.semfile import SEMFileError, read_sem
from nanomark.imaging.choices import PixelSizeSource
from nanomark.imaging.models import SEMImage
from nanomark.imaging.services import ingest_sem_image
from nanomark.imaging.uploads import discard_stale_uploads, load_staged
from nanomark.results.models import AnalysisRun
from nanomark.runs import RunStatus
from tests.factories import bad_files, hitachi_sidecar, png_bytes, sem_pixels, tiff_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def media_files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def staged_folders(settings) -> list[Path]:
    return sorted(p for p in (Path(settings.VAR_DIR) / "uploads").glob("*/*") if p.is_dir())


def upload(client, sample, files: dict[str, bytes], **extra):
    url = reverse("image-upload", args=[sample.pk])
    payload = [SimpleUploadedFile(name, data) for name, data in files.items()]
    return client.post(url, {"files": payload}, **extra)


def review_token(response) -> str:
    assert response.status_code == 302, response.content[:500]
    return response["Location"].rstrip("/").rsplit("/", 1)[1]


def test_inspection_shows_metadata_duplicates_and_refusals_and_stores_nothing(
    client, labs, settings
):
    sample = labs["sample_a"]
    known = png_bytes(sem_pixels(seed=9))
    ingest_sem_image(sample=sample, data=known, filename="earlier.png")
    before = media_files(settings)
    truncated = bad_files()["truncated_tiff"]
    with pytest.raises(SEMFileError) as reader:
        read_sem(truncated)
    client.force_login(labs["alice"])

    response = upload(
        client,
        sample,
        {
            "S1-50k.tif": tiff_bytes(sem_pixels(dtype="uint16")),
            "S1-50k.txt": hitachi_sidecar(pixel_size_nm=0.9921875),
            "plain.png": png_bytes(sem_pixels(seed=3)),
            "again.png": known,
            "broken.tif": truncated,
            "empty.tif": b"",
        },
    )
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    # The TIFF with its sidecar: format, size, pixel size and its source, instrument, date.
    for text in (
        "S1-50k.tif",
        "+ S1-50k.txt",
        "TIFF, 16-bit",
        "128 × 96 px",
        "0.9922 nm/px",
        "Instrument sidecar file",
        "×50000",
        "SU8000",
        "2019-03-15 14:22:10",
    ):
        assert text in html, text
    assert "Already stored as earlier.png" in html
    assert escape(str(reader.value)) in html
    assert "The file is empty (0 bytes)." in html
    # Only the two new readable files can be stored; the PNG asks for a pixel size.
    staged = load_staged(labs["alice"], review_token(response))
    assert [(f.filename, f.status) for f in staged.files] == [
        ("S1-50k.tif", "new"),
        ("plain.png", "new"),
        ("again.png", "duplicate"),
        ("broken.tif", "unreadable"),
        ("empty.tif", "unreadable"),
    ]
    assert 'name="store_0"' in html
    assert 'name="store_1"' in html
    assert 'name="store_2"' not in html
    assert 'name="pixel_size_nm_1"' in html
    assert 'name="pixel_size_nm_0"' not in html
    # Nothing stored: one image as before, no new media files; two files staged.
    assert SEMImage.objects.count() == 1
    assert media_files(settings) == before
    assert {p.name for p in staged_folders(settings)[0].iterdir()} == {
        "manifest.json",
        "0.data",
        "0.sidecar",
        "1.data",
    }


def test_confirming_stores_the_chosen_files_and_queues_their_analysis(
    client, labs, settings, django_capture_on_commit_callbacks
):
    sample = labs["sample_a"]
    client.force_login(labs["alice"])
    token = review_token(
        upload(
            client,
            sample,
            {
                "a.tif": tiff_bytes(sem_pixels()),
                "a.txt": hitachi_sidecar(pixel_size_nm=2.5),
                "b.png": png_bytes(sem_pixels(seed=4)),
                "c.png": png_bytes(sem_pixels(seed=5)),
            },
        )
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("image-upload-review", args=[token]),
            # c.png (index 2) is left unticked.
            {"store_0": "on", "store_1": "on", "pixel_size_nm_1": "1.25", "confirm": ""},
        )
    assert response.status_code == 302
    assert response["Location"] == sample.get_absolute_url()
    images = {image.original_filename: image for image in SEMImage.objects.all()}
    assert set(images) == {"a.tif", "b.png"}
    assert (images["a.tif"].pixel_size_nm, images["a.tif"].pixel_size_source) == (
        2.5,
        PixelSizeSource.SIDECAR,
    )
    assert (images["b.png"].pixel_size_nm, images["b.png"].pixel_size_source) == (
        1.25,
        PixelSizeSource.MANUAL,
    )
    assert all(image.uploaded_by == labs["alice"] for image in images.values())
    runs = AnalysisRun.objects.filter(image__in=images.values())
    assert sorted(run.status for run in runs) == [RunStatus.QUEUED, RunStatus.QUEUED]
    assert OrmQ.objects.count() == 2
    assert staged_folders(settings) == []
    # A second confirmation finds nothing to store.
    again = client.post(reverse("image-upload-review", args=[token]), {"store_0": "on"})
    assert again.status_code == 404


def test_a_bad_pixel_size_is_refused_and_nothing_is_stored(client, labs, settings):
    client.force_login(labs["alice"])
    token = review_token(upload(client, labs["sample_a"], {"b.png": png_bytes(sem_pixels())}))
    response = client.post(
        reverse("image-upload-review", args=[token]), {"store_0": "on", "pixel_size_nm_0": "-1"}
    )
    assert response.status_code == 400
    assert "The pixel size must be positive (got -1" in response.content.decode()
    assert SEMImage.objects.count() == 0
    assert len(staged_folders(settings)) == 1  # still there to correct and confirm


def test_the_same_file_twice_in_one_upload_is_reported_once(client, labs):
    client.force_login(labs["alice"])
    data = png_bytes(sem_pixels())
    token = review_token(upload(client, labs["sample_a"], {"x.png": data, "y.png": data}))
    staged = load_staged(labs["alice"], token)
    assert [(f.status, f.message) for f in staged.files] == [
        ("new", ""),
        ("duplicate", "Same file as x.png in this upload."),
    ]


def test_files_over_the_size_limit_are_reported_unread(client, labs, settings):
    settings.NANOMARK_MAX_UPLOAD_BYTES = 1000
    client.force_login(labs["alice"])
    data = png_bytes(sem_pixels())
    assert len(data) > 1000
    token = review_token(upload(client, labs["sample_a"], {"big.png": data}))
    [item] = load_staged(labs["alice"], token).files
    assert item.status == "unreadable"
    assert item.message == f"{len(data):,} bytes exceeds the 1,000-byte limit."


def test_the_upload_script_gets_the_review_address_as_json(client, labs):
    client.force_login(labs["alice"])
    response = upload(
        client, labs["sample_a"], {"a.png": png_bytes(sem_pixels())}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    token = response.json()["review_url"].rstrip("/").rsplit("/", 1)[1]
    assert load_staged(labs["alice"], token).files[0].filename == "a.png"
    only_sidecar = upload(
        client, labs["sample_a"], {"a.txt": hitachi_sidecar()}, HTTP_ACCEPT="application/json"
    )
    assert only_sidecar.status_code == 400
    assert "at least one image file" in only_sidecar.json()["errors"]["files"][0]["message"]


def test_an_upload_without_files_shows_the_form_again(client, labs, settings):
    client.force_login(labs["alice"])
    response = client.post(reverse("image-upload", args=[labs["sample_a"].pk]), {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert staged_folders(settings) == []


def test_cancel_discards_the_staged_files(client, labs, settings):
    client.force_login(labs["alice"])
    token = review_token(upload(client, labs["sample_a"], {"a.png": png_bytes(sem_pixels())}))
    response = client.post(reverse("image-upload-review", args=[token]), {"cancel": ""})
    assert response.status_code == 302
    assert staged_folders(settings) == []
    assert SEMImage.objects.count() == 0


def test_staged_uploads_older_than_a_day_are_swept(client, labs, settings):
    client.force_login(labs["alice"])
    review_token(upload(client, labs["sample_a"], {"old.png": png_bytes(sem_pixels())}))
    [old] = staged_folders(settings)
    day_ago = time.time() - 24 * 3600 - 60
    os.utime(old, (day_ago, day_ago))
    review_token(upload(client, labs["sample_a"], {"new.png": png_bytes(sem_pixels(seed=2))}))
    [kept] = staged_folders(settings)
    assert kept != old
    assert discard_stale_uploads(max_age_s=0) == 1


def test_viewers_cannot_upload(client, labs, settings):
    client.force_login(labs["charlie"])
    url = reverse("image-upload", args=[labs["sample_a"].pk])
    assert client.get(url).status_code == 403
    assert upload(client, labs["sample_a"], {"a.png": png_bytes(sem_pixels())}).status_code == 403
    assert staged_folders(settings) == []


def test_other_labs_samples_and_uploads_are_404(client, labs):
    client.force_login(labs["alice"])
    token = review_token(upload(client, labs["sample_a"], {"a.png": png_bytes(sem_pixels())}))
    assert client.get(reverse("image-upload", args=[labs["sample_b"].pk])).status_code == 404
    client.force_login(labs["bob"])
    assert client.get(reverse("image-upload", args=[labs["sample_a"].pk])).status_code == 404
    # A token is only good for the user who staged it.
    assert client.get(reverse("image-upload-review", args=[token])).status_code == 404
    assert client.get(reverse("image-upload-review", args=["not-a-token"])).status_code == 404
