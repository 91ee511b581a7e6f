"""API exports: the tidy tables with token or session auth, in the lab's rows only."""

import csv
import io
import json

import pyarrow.parquet as pq
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from nanomark.samples.models import PropertyMeasurement
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(labs):
    """One image in each lab; a BET measurement of lab A's sample."""
    for sample, name in [(labs["sample_a"], "a.png"), (labs["sample_b"], "b.png")]:
        image_row(sample, name, original=f"originals/{name}", size_bytes=1000, pixel_size_nm=0.99)
    PropertyMeasurement.objects.create(
        sample=labs["sample_a"], name="BET", value=512.0, unit="m2/g"
    )


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_token_fetches_the_image_table_as_csv(labs, rows):
    response = _token_client(labs["alice"]).get("/api/export/images.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="nanomark-images.csv"'
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["lab"], row["filename"], row["pixel_size_nm"]) for row in table] == [
        ("lab-a", "a.png", "0.99")
    ]
    assert table[0]["prop:BET [m2/g]"] == "512.0"


def test_the_sample_table_as_json_and_parquet(api, labs, rows):
    bob = api("bob")
    body = b"".join(bob.get("/api/export/samples.json").streaming_content)
    assert [(r["lab"], r["sample_code"], r["image_count"]) for r in json.loads(body)] == [
        ("lab-b", "S1", 1)
    ]
    parquet = b"".join(bob.get("/api/export/samples.parquet", {"lab": "lab-a"}).streaming_content)
    assert pq.read_table(io.BytesIO(parquet)).num_rows == 0  # lab A is not bob's


def test_a_bad_filter_is_a_400_and_an_unknown_format_a_404(api, rows):
    alice = api("alice")
    bad = alice.get("/api/export/images.csv", {"date_from": "yesterday"}, HTTP_ACCEPT="text/csv")
    assert bad.status_code == 400
    assert "date_from='yesterday' is not a date" in bad.content.decode()
    assert alice.get("/api/export/images.xlsx").status_code == 404


def test_exports_need_credentials(labs):
    assert APIClient().get("/api/export/samples.csv").status_code == 401
