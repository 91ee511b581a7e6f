"""API authentication and documentation: 401 without credentials, tokens, CSRF, schema, docs."""

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.platform.html import external_urls

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/labs/",
    "/api/materials/",
    "/api/samples/",
    "/api/syntheses/",
    "/api/properties/",
    "/api/images/",
    "/api/order-labels/",
    "/api/defect-masks/",
    "/api/analysis-runs/",
    "/api/models/",
    "/api/monte-carlo-runs/",
    "/api/xtb-calculations/",
]


@pytest.mark.parametrize(
    "url", [*LISTS, "/api/export/images.csv", "/api/schema/", "/api/docs/", "/api/"]
)
def test_anonymous_requests_are_401_with_a_token_challenge(api, url):
    response = api(None).get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_anonymous_writes_are_401(api, labs):
    response = api(None).post("/api/search/", {"image": 1}, format="json")
    assert response.status_code == 401
    response = api(None).post("/api/materials/", {"lab": "lab-a", "name": "CNT"}, format="json")
    assert response.status_code == 401


@pytest.mark.parametrize("url", LISTS)
def test_every_list_is_paginated(api, url):
    body = api("alice").get(url).json()
    assert set(body) == {"count", "next", "previous", "results"}


def test_a_token_from_the_password_authenticates_the_api(labs):
    client = APIClient()
    refused = client.post(
        "/api/auth/token/", {"username": "alice", "password": "wrong"}, format="json"
    )
    assert refused.status_code == 400
    token = client.post(
        "/api/auth/token/", {"username": "alice", "password": "alice-pw-Long-9"}, format="json"
    ).json()["token"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    samples = client.get("/api/samples/").json()["results"]
    assert [(s["lab"], s["code"]) for s in samples] == [("lab-a", "S1")]
    created = client.post(
        "/api/materials/", {"lab": "lab-a", "name": "CNT", "kind": "cnt"}, format="json"
    )
    assert created.status_code == 201  # no CSRF token needed with a token

    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    assert client.get("/api/samples/").status_code == 401


def test_session_writes_need_the_csrf_token(labs):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(labs["alice"])
    assert client.get("/api/materials/").status_code == 200
    response = client.post("/api/materials/", {"lab": "lab-a", "name": "CNT"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_labs_are_the_users_own_with_their_roles(api):
    alice = api("alice").get("/api/labs/").json()["results"]
    charlie = api("charlie").get("/api/labs/").json()["results"]
    assert alice == [{"slug": "lab-a", "name": "Lab A", "role": "member", "can_write": True}]
    assert charlie == [{"slug": "lab-a", "name": "Lab A", "role": "viewer", "can_write": False}]
    assert api("alice").get("/api/labs/lab-a/").json()["role"] == "member"
    assert api("alice").get("/api/labs/lab-b/").status_code == 404


def test_the_schema_describes_every_resource(api):
    response = api("alice").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {url for url in LISTS} <= paths
    assert {
        "/api/images/{id}/analyze/",
        "/api/analysis-runs/{id}/retry/",
        "/api/models/{id}/activate/",
        "/api/samples/{id}/similar/",
        "/api/search/",
        "/api/export/images.{fmt}",
        "/api/export/samples.{fmt}",
        "/api/auth/token/",
    } <= paths


def test_the_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns every drf-spectacular warning (an unresolvable field type,
    # an enum name collision) into an error; --validate checks it against OpenAPI 3.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3")


def test_swagger_ui_is_served_from_this_site(api, settings):
    # Tests do not run collectstatic, so no manifest: plain static URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    page = api("alice").get("/api/docs/").content.decode()
    bundle = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert f"/static/{bundle}" in page
    assert finders.find(bundle) is not None
    assert external_urls(page) == []
    assert "https://" not in page
