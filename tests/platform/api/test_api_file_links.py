"""File links in API responses work for token clients as for browsers, lab-scoped."""

import numpy as np
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from nanomark.imaging.masks import store_defect_mask
from nanomark.imaging.services import ingest_sem_image
from tests.factories import png_bytes, sem_pixels

pytestmark = pytest.mark.django_db


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def image(labs):
    data = png_bytes(sem_pixels())
    image = ingest_sem_image(sample=labs["sample_a"], data=data, filename="a.png").image
    store_defect_mask(image, np.zeros((4, image.height_px, image.width_px), bool))
    return image


def test_a_token_client_downloads_the_files_an_image_links(labs, image):
    alice = _token_client(labs["alice"])
    body = alice.get(f"/api/images/{image.pk}/").json()
    original = alice.get(body["original_url"])
    assert original.status_code == 200
    assert b"".join(original.streaming_content) == image.original.open("rb").read()
    for name in ("preview_url", "thumbnail_url"):
        response = alice.get(body[name])
        assert response.status_code == 200, name
        assert response["Content-Type"] == "image/png"
    mask = alice.get(f"/api/defect-masks/?image={image.pk}").json()["results"][0]
    for url in mask["layer_urls"].values():
        assert alice.get(url).status_code == 200


def test_another_labs_token_gets_404_and_a_bad_token_401(labs, image):
    url = f"/images/{image.pk}/original"
    assert _token_client(labs["bob"]).get(url).status_code == 404
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = stranger.get(url)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert APIClient().get(url).status_code == 302  # a browser without a session logs in
