"""Where media lives: the local filesystem by default, an S3 bucket when one is named.

``NANOMARK_S3_BUCKET`` selects django-storages' S3 backend (boto3) for every
file the platform stores (originals, previews, thumbnails, masks, overlays,
model weights, search indexes, Monte Carlo and xtb outputs), so that web and
worker hosts share them. ``NANOMARK_S3_ENDPOINT_URL`` points it at an
S3-compatible server (MinIO, Ceph, Garage); credentials come from boto3's own
chain (``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, a profile, an
instance role). Objects stay private: the lab-scoped views stream them after
their access check, so browsers never need to reach the bucket.

The settings are checked here, at start-up, rather than at the first upload.
"""

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from nanomark.envvars import envbool, envstr

FILESYSTEM = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
S3_BACKEND = "storages.backends.s3.S3Storage"
#: Variables that mean nothing without NANOMARK_S3_BUCKET.
S3_VARIABLES = (
    "NANOMARK_S3_ENDPOINT_URL",
    "NANOMARK_S3_REGION",
    "NANOMARK_S3_PREFIX",
    "NANOMARK_S3_PATH_STYLE",
)
#: S3's rules for bucket names: 3-63 lowercase letters, digits, dots and hyphens.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION_NAME = re.compile(r"[a-z0-9-]+")
#: Bytes of a file read from the bucket kept in memory before it spills to a temporary file.
SPOOL_BYTES = 16 * 1024 * 1024


def media_storage() -> dict[str, Any]:
    """The ``STORAGES["default"]`` entry that the environment selects.

    Raises:
        ImproperlyConfigured: an S3 variable is set without ``NANOMARK_S3_BUCKET``, the
            bucket, endpoint or region is malformed, or only one half of the AWS key is set.
    """
    bucket = envstr("NANOMARK_S3_BUCKET").strip()
    if not bucket:
        stray = [name for name in S3_VARIABLES if envstr(name).strip()]
        if stray:
            raise ImproperlyConfigured(
                f"{', '.join(stray)} is set but NANOMARK_S3_BUCKET is not: "
                "name the bucket, or unset them to keep media on the filesystem"
            )
        return FILESYSTEM
    if not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise ImproperlyConfigured(
            f"NANOMARK_S3_BUCKET={bucket!r} is not a valid bucket name "
            "(3-63 lowercase letters, digits, dots and hyphens)"
        )
    endpoint = _endpoint_url(envstr("NANOMARK_S3_ENDPOINT_URL").strip())
    region = envstr("NANOMARK_S3_REGION").strip()
    if region and not _REGION_NAME.fullmatch(region):
        raise ImproperlyConfigured(f"NANOMARK_S3_REGION={region!r} is not a region name")
    _check_key_pair()
    # Servers other than AWS rarely resolve <bucket>.<host>: address the bucket in the path.
    path_style = envbool("NANOMARK_S3_PATH_STYLE", endpoint is not None)
    return {
        "BACKEND": S3_BACKEND,
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "region_name": region or None,
            "location": envstr("NANOMARK_S3_PREFIX").strip("/ "),
            "addressing_style": "path" if path_style else None,
            # As on the filesystem, a new file never replaces another of the same name:
            # code that saves a new version and then deletes the old one relies on it.
            "file_overwrite": False,
            "default_acl": None,  # the bucket's own policy: private
            "max_memory_size": SPOOL_BYTES,
        },
    }


def _endpoint_url(value: str) -> str | None:
    """``value`` checked as an http(s) URL of a host (and port), or None when empty."""
    if not value:
        return None
    example = "e.g. http://minio:9000 or https://s3.example.org"
    parts = urlsplit(value)
    try:
        has_server = bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number in 0-65535
        has_server = False
    if parts.scheme not in ("http", "https") or not has_server:
        raise ImproperlyConfigured(
            f"NANOMARK_S3_ENDPOINT_URL={value!r} is not the http:// or https:// URL "
            f"of a server ({example})"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"NANOMARK_S3_ENDPOINT_URL={value!r} must name only the server, not a path "
            f"(the bucket goes in NANOMARK_S3_BUCKET; {example})"
        )
    return value.rstrip("/")


def _check_key_pair() -> None:
    """An access key without its secret (or the reverse) is a typo, not boto3's next source."""
    halves = [name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if envstr(name)]
    if len(halves) == 1:
        missing = ({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} - set(halves)).pop()
        raise ImproperlyConfigured(f"{halves[0]} is set but {missing} is not")
