"""Fixtures of the API tests: an API client logged in as one of the named users."""

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api(labs):
    """``api("alice")``: an APIClient with alice's session (``api(None)``: anonymous)."""

    def client_of(name: str | None) -> APIClient:
        client = APIClient()
        if name is not None:
            client.force_login(labs[name])
        return client

    return client_of
