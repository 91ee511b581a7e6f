"""Oversized uploads are refused while they arrive: by Content-Length, or at the file limit."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from nanomark.imaging.models import SEMImage
from tests.factories import png_bytes, sem_pixels

pytestmark = pytest.mark.django_db


def test_a_request_too_long_by_its_content_length_is_refused_unread(api, labs, settings):
    settings.NANOMARK_MAX_REQUEST_BYTES = 10_000
    body = {
        "file": SimpleUploadedFile("a.png", png_bytes(sem_pixels())),
        "sample": labs["sample_a"].pk,
    }
    response = api("alice").post("/api/images/", body, format="multipart", CONTENT_LENGTH="20000")
    assert response.status_code == 413
    assert "at most 10,000" in response.json()["detail"]
    assert not SEMImage.objects.exists()


def test_a_file_past_the_limit_stops_the_upload_without_reading_it_all(api, labs, settings):
    settings.NANOMARK_MAX_UPLOAD_BYTES = 20_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000  # stream to a temporary file
    data = png_bytes(sem_pixels(256, 256, seed=1))
    assert len(data) > 20_000
    body = {"file": SimpleUploadedFile("big.png", data), "sample": labs["sample_a"].pk}
    response = api("alice").post("/api/images/", body, format="multipart")
    assert response.status_code == 413
    assert response.json()["detail"].startswith("big.png: the file exceeds the 20,000-byte limit")
    assert not SEMImage.objects.exists()


def test_the_web_upload_is_refused_the_same_way(client, labs, settings):
    settings.NANOMARK_MAX_UPLOAD_BYTES = 20_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000
    client.force_login(labs["alice"])
    data = png_bytes(sem_pixels(256, 256, seed=2))
    response = client.post(
        f"/images/upload/{labs['sample_a'].pk}/", {"files": [SimpleUploadedFile("big.png", data)]}
    )
    assert response.status_code == 413
    assert "big.png: the file exceeds" in response.content.decode()
