"""Every query and page is restricted to the user's labs; another lab's row is a 404."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from nanomark.imaging.services import ingest_sem_image
from nanomark.samples.models import PropertyMeasurement, Sample
from tests.factories import sem_pixels, tiff_bytes

pytestmark = pytest.mark.django_db


def test_restrict_shows_only_the_users_labs(labs):
    assert list(Sample.objects.restrict(labs["alice"])) == [labs["sample_a"]]
    assert list(Sample.objects.restrict(labs["bob"])) == [labs["sample_b"]]
    assert list(Sample.objects.restrict(labs["charlie"])) == [labs["sample_a"]]


def test_restrict_shows_nothing_to_anonymous_users(labs):
    assert not Sample.objects.restrict(AnonymousUser()).exists()


def test_restrict_by_role(labs):
    assert not Sample.objects.restrict(labs["charlie"], roles=["member", "admin"]).exists()


def test_restrict_follows_the_lab_path_of_child_rows(labs):
    PropertyMeasurement.objects.create(sample=labs["sample_b"], name="BET", value=12.0, unit="m2/g")
    assert not PropertyMeasurement.objects.restrict(labs["alice"]).exists()
    assert PropertyMeasurement.objects.restrict(labs["bob"]).count() == 1


def test_sample_page_of_another_lab_is_404(client, labs):
    client.force_login(labs["alice"])
    assert client.get(labs["sample_a"].get_absolute_url()).status_code == 200
    assert client.get(labs["sample_b"].get_absolute_url()).status_code == 404


def test_image_files_of_another_lab_are_404(client, labs):
    image = ingest_sem_image(
        sample=labs["sample_b"], data=tiff_bytes(sem_pixels()), filename="b.tif"
    ).image
    client.force_login(labs["alice"])
    for name in ("image-detail", "image-preview", "image-thumbnail", "image-original"):
        assert client.get(reverse(name, args=[image.pk])).status_code == 404, name
    client.force_login(labs["bob"])
    response = client.get(reverse("image-preview", args=[image.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_pages_need_login(client, labs):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
