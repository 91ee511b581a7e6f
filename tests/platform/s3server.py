"""A real S3 API server for tests: moto's ``moto_server``, an HTTP server in its own process.

The platform talks to it over the network with boto3, exactly as to MinIO or
AWS; nothing in the test process is patched. Data lives in the server's
memory and goes with it.

Example:
    >>> with running_s3_server(tmp_path / "s3.log") as endpoint:
    ...     bucket = Bucket.create(endpoint, "nanomark-test")
    ...     bucket.object_keys()
    []
"""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

#: Credentials the server accepts (any pair is accepted; these are the ones the tests send).
ACCESS_KEY_ID = "nanomark-test"
SECRET_ACCESS_KEY = "nanomark-test-secret"
REGION = "us-east-1"
#: The server program, installed into the virtualenv by moto[server] (requirements-dev.txt).
MOTO_SERVER = Path(sys.executable).parent / "moto_server"
#: Seconds the server gets to start listening.
START_TIMEOUT_S = 30.0


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextmanager
def running_s3_server(log_path: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``moto_server`` on a free port of ``host``; yields its endpoint URL, stops it after.

    Args:
        log_path: file that receives the server's output (read it when a test fails).
        host: the address it listens on (one of this machine's).

    Raises:
        RuntimeError: the server exited or did not listen within START_TIMEOUT_S.
    """
    port = _free_port(host)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [MOTO_SERVER, "--host", host, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_listening(process, host, port, log_path)
            yield f"http://{host}:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_listening(process: subprocess.Popen, host: str, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}: {log_path}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on port {port} in {START_TIMEOUT_S} s")


def client(endpoint: str):
    """A boto3 S3 client of the server at ``endpoint``, independent of the platform's."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )


@dataclass
class Bucket:
    """One bucket on the server, read with boto3 directly (not through Django's storage)."""

    endpoint: str
    name: str

    @classmethod
    def create(cls, endpoint: str, name: str) -> "Bucket":
        """Create bucket ``name`` on the server at ``endpoint``."""
        client(endpoint).create_bucket(Bucket=name)
        return cls(endpoint, name)

    def media_environment(self, prefix: str) -> dict[str, str]:
        """The variables that select this bucket, under key ``prefix``, for the platform's media."""
        return {
            "NANOMARK_S3_BUCKET": self.name,
            "NANOMARK_S3_ENDPOINT_URL": self.endpoint,
            "NANOMARK_S3_REGION": REGION,
            "NANOMARK_S3_PREFIX": prefix,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    def use_for_media(self, prefix: str, settings, monkeypatch) -> None:
        """Select this bucket for media in this test (``settings.STORAGES``) and, through
        :meth:`media_environment`, in the processes it starts; checks S3 is selected."""
        from nanomark.objectstorage import S3_BACKEND, media_storage

        for name, value in self.media_environment(prefix).items():
            monkeypatch.setenv(name, value)
        settings.STORAGES = {**settings.STORAGES, "default": media_storage()}
        assert settings.STORAGES["default"]["BACKEND"] == S3_BACKEND

    def object_keys(self) -> list[str]:
        """Every object key in the bucket, sorted."""
        pages = client(self.endpoint).get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def read(self, key: str) -> bytes:
        """The bytes stored under ``key``."""
        return client(self.endpoint).get_object(Bucket=self.name, Key=key)["Body"].read()
