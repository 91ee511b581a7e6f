"""Choosing media storage by environment variables, and refusing bad ones at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from nanomark.objectstorage import FILESYSTEM, S3_BACKEND, S3_VARIABLES, media_storage

ROOT = Path(__file__).resolve().parents[2]
AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@pytest.fixture(autouse=True)
def _no_storage_variables(monkeypatch):
    for name in ("NANOMARK_S3_BUCKET", *S3_VARIABLES, *AWS_KEYS):
        monkeypatch.delenv(name, raising=False)


def test_with_nothing_set_media_stays_on_the_filesystem():
    assert media_storage() == FILESYSTEM


def test_a_bucket_selects_s3_and_an_endpoint_addresses_it_in_the_path(monkeypatch):
    monkeypatch.setenv("NANOMARK_S3_BUCKET", "nanomark")
    monkeypatch.setenv("NANOMARK_S3_ENDPOINT_URL", "http://minio:9000/")
    monkeypatch.setenv("NANOMARK_S3_PREFIX", "/lab-media/")
    storage = media_storage()
    assert storage["BACKEND"] == S3_BACKEND
    options = storage["OPTIONS"]
    assert options["bucket_name"] == "nanomark"
    assert options["endpoint_url"] == "http://minio:9000"
    assert options["location"] == "lab-media"
    assert options["addressing_style"] == "path"
    assert options["file_overwrite"] is False  # as on the filesystem


def test_aws_itself_gets_its_default_addressing_unless_told(monkeypatch):
    monkeypatch.setenv("NANOMARK_S3_BUCKET", "nanomark")
    monkeypatch.setenv("NANOMARK_S3_REGION", "eu-central-1")
    options = media_storage()["OPTIONS"]
    assert (options["endpoint_url"], options["addressing_style"]) == (None, None)
    assert options["region_name"] == "eu-central-1"
    monkeypatch.setenv("NANOMARK_S3_PATH_STYLE", "1")
    assert media_storage()["OPTIONS"]["addressing_style"] == "path"


BUCKET = {"NANOMARK_S3_BUCKET": "nanomark"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"NANOMARK_S3_ENDPOINT_URL": "http://minio:9000"}, "NANOMARK_S3_BUCKET is not"),
        ({"NANOMARK_S3_BUCKET": "Lab_Media"}, "not a valid bucket name"),
        ({"NANOMARK_S3_BUCKET": "ab"}, "not a valid bucket name"),
        ({**BUCKET, "NANOMARK_S3_ENDPOINT_URL": "minio:9000"}, "not the http:// or https://"),
        ({**BUCKET, "NANOMARK_S3_ENDPOINT_URL": "ftp://minio"}, "not the http:// or https://"),
        ({**BUCKET, "NANOMARK_S3_ENDPOINT_URL": "http://minio:90000"}, "not the http://"),
        ({**BUCKET, "NANOMARK_S3_ENDPOINT_URL": "http://:9000"}, "not the http:// or https://"),
        ({**BUCKET, "NANOMARK_S3_ENDPOINT_URL": "http://minio:9000/nanomark"}, "not a path"),
        ({**BUCKET, "NANOMARK_S3_REGION": "EU Central"}, "not a region name"),
        ({**BUCKET, "AWS_ACCESS_KEY_ID": "key"}, "AWS_SECRET_ACCESS_KEY is not"),
        ({**BUCKET, "NANOMARK_S3_PATH_STYLE": "maybe"}, "is not a boolean"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(monkeypatch, variables, message):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        media_storage()


def test_a_malformed_endpoint_stops_manage_py_before_it_does_anything():
    env = {
        **os.environ,
        "NANOMARK_S3_BUCKET": "nanomark",
        "NANOMARK_S3_ENDPOINT_URL": "minio:9000",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: NANOMARK_S3_ENDPOINT_URL='minio:9000'" in result.stderr


def test_create_bucket_refuses_when_media_is_on_the_filesystem():
    with pytest.raises(CommandError, match="set NANOMARK_S3_BUCKET first"):
        call_command("create_bucket")
