"""docker/: the compose file as a compose program reads it, and what the image is built from.

No container engine runs here. Debian's ``docker-compose`` (v1, installed by
``make test``) needs none for ``config``: it validates the file against the
Compose schema and interpolates it from ``docker/.env``, made the way the
README's production section says (copied from ``docker/.env.example``, the
secrets filled in). Building and starting the containers is not tested.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from nanomark.objectstorage import S3_BACKEND, media_storage

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = shutil.which("docker-compose")
#: What the README says to fill in, with the values this test fills in.
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret-1",
    "DJANGO_SECRET_KEY": "django-secret-1",
    "AWS_SECRET_ACCESS_KEY": "s3-secret-123",
}
APP_SERVICES = ("migrate", "web", "worker", "gpu-worker")

needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (make test installs it as root)"
)


def _copy_of_docker_folder(tmp_path: Path, secrets: dict[str, str]) -> Path:
    """docker/ copied into ``tmp_path``; its ``.env`` is ``.env.example`` with ``secrets`` in."""
    folder = tmp_path / "docker"
    shutil.copytree(DOCKER, folder, ignore=shutil.ignore_patterns(".env"))
    env = (folder / ".env.example").read_text()
    for name, value in secrets.items():
        env, count = re.subn(rf"^{name}=$", f"{name}={value}", env, flags=re.MULTILINE)
        assert count == 1, f"docker/.env.example has no empty {name}= to fill in"
    (folder / ".env").write_text(env)
    return folder


def _config(folder: Path, *options: str) -> subprocess.CompletedProcess:
    """``docker-compose -f docker/docker-compose.yml [options] config`` in a clean environment."""
    return subprocess.run(
        [COMPOSE, "-f", str(folder / "docker-compose.yml"), *options, "config"],
        cwd=folder.parent,
        env={"PATH": os.environ["PATH"]},  # nothing from this shell is interpolated
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def compose(tmp_path) -> dict:
    """The compose file with the gpu profile, resolved from a filled-in docker/.env."""
    result = _config(_copy_of_docker_folder(tmp_path, SECRETS), "--profile", "gpu")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@needs_compose
def test_the_compose_file_is_valid_with_the_env_example_filled_in(compose):
    assert set(compose["services"]) == {"postgres", "redis", "minio", *APP_SERVICES}
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["DATABASE_URL"] == (
            f"postgres://nanomark:{SECRETS['POSTGRES_PASSWORD']}@postgres:5432/nanomark"
        )
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["DJANGO_SECRET_KEY"] == SECRETS["DJANGO_SECRET_KEY"]
    assert compose["services"]["gpu-worker"]["environment"]["NANOMARK_DEVICE"] == "cuda"


@needs_compose
def test_every_app_service_keeps_media_in_the_minio_bucket(compose, monkeypatch):
    minio = compose["services"]["minio"]["environment"]
    for name in APP_SERVICES:
        service = compose["services"][name]
        environment = service["environment"]
        assert environment["NANOMARK_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert (environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"]) == (
            minio["MINIO_ROOT_USER"],
            minio["MINIO_ROOT_PASSWORD"],
        )
        # Started once MinIO answers: migrate (which creates the bucket) waits for it, the
        # others for migrate.
        expected = (
            {"minio": "service_healthy"}
            if name == "migrate"
            else {"migrate": "service_completed_successfully"}
        )
        assert {key: service["depends_on"][key]["condition"] for key in expected} == expected
        # What the platform makes of that environment at start-up.
        for variable, value in environment.items():
            monkeypatch.setenv(variable, str(value))
        storage = media_storage()
        assert storage["BACKEND"] == S3_BACKEND
        assert storage["OPTIONS"]["bucket_name"] == environment["NANOMARK_S3_BUCKET"]
    assert "create_bucket" in " ".join(compose["services"]["migrate"]["command"])


@needs_compose
def test_an_env_file_left_unfilled_is_refused_with_what_to_set(tmp_path):
    result = _config(_copy_of_docker_folder(tmp_path, {}))
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in docker/.env" in result.stderr


def _dockerfile() -> str:
    return (DOCKER / "Dockerfile").read_text()


def test_the_image_installs_the_requirements_files_that_make_install_does():
    makefile = (ROOT / "Makefile").read_text()
    default = re.search(r"^ARG REQUIREMENTS=(\S+)$", _dockerfile(), re.MULTILINE).group(1)
    assert f"pip install --quiet -r {default}" in makefile
    gpu = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]["gpu-worker"]
    for name in (default, gpu["build"]["args"]["REQUIREMENTS"]):
        assert "-r requirements-core.txt" in (ROOT / name).read_text().splitlines()
    assert "COPY requirements*.txt ./" in _dockerfile()


def test_the_image_has_the_programs_make_run_installs():
    makefile = (ROOT / "Makefile").read_text()
    pairs = re.search(r"^RUN_PROGRAMS := (.+)$", makefile, re.MULTILINE).group(1).split()
    installed = re.search(r"apt-get install -y --no-install-recommends (.+?) \\", _dockerfile())
    assert {pair.split(":")[1] for pair in pairs} <= set(installed.group(1).split())


def test_local_files_and_secrets_stay_out_of_the_image():
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert {".venv", "var", "docker/.env", ".git"} <= set(ignored)
