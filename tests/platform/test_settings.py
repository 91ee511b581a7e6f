"""Settings come from the environment with safe defaults; production passes check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from nanomark.envvars import envbool, envfloat, envint, envlist
from nanomark.secretkey import load_or_create_secret_key

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NANOMARK_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_envbool_reads_common_spellings(monkeypatch):
    monkeypatch.setenv("X_FLAG", "Yes")
    assert envbool("X_FLAG") is True
    monkeypatch.setenv("X_FLAG", "0")
    assert envbool("X_FLAG", True) is False


def test_envbool_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        envbool("X_FLAG")


def test_envint_and_envlist(monkeypatch):
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert envint("X_INT", 1) == 12
    assert envlist("X_LIST", "") == ["a", "b", "c"]
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        envint("X_INT", 1)


def test_envfloat_reads_numbers_and_refuses_the_rest(monkeypatch):
    assert envfloat("X_FLOAT", 2.0) == 2.0
    monkeypatch.setenv("X_FLOAT", " 1.5 ")
    assert envfloat("X_FLOAT", 2.0) == 1.5
    for bad in ("two", "nan", "inf"):
        monkeypatch.setenv("X_FLOAT", bad)
        with pytest.raises(ImproperlyConfigured, match="is not a number"):
            envfloat("X_FLOAT", 2.0)


def test_secret_key_is_generated_once_and_private(tmp_path):
    path = tmp_path / "var" / "secret_key"
    first = load_or_create_secret_key(path)
    assert len(first) >= 50
    assert load_or_create_secret_key(path) == first
    assert path.stat().st_mode & 0o777 == 0o600


def test_defaults_use_sqlite_under_var_and_the_orm_broker(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.DEBUG, s.Q_CLUSTER.get('orm'), s.MEDIA_ROOT)"
    )
    out = _manage("shell", "--no-imports", "-c", code, NANOMARK_VAR_DIR=str(tmp_path))
    assert out.returncode == 0, out.stderr
    engine, debug, broker, media = out.stdout.split()
    assert (engine, debug, broker) == ("django.db.backends.sqlite3", "False", "default")
    assert media == str(tmp_path / "media")
    assert (tmp_path / "secret_key").exists()


def test_database_and_redis_urls_select_postgresql_and_redis(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.Q_CLUSTER['redis'])"
    )
    out = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        NANOMARK_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://u@127.0.0.1:5432/x",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["django.db.backends.postgresql", "redis://127.0.0.1:6379/3"]


def test_production_settings_pass_check_deploy(tmp_path):
    out = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        NANOMARK_VAR_DIR=str(tmp_path),
        NANOMARK_HTTPS="1",
        DJANGO_ALLOWED_HOSTS="nanomark.example.org",
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_task_timeout_alone_sets_consistent_dependent_limits():
    script = (
        "from django.conf import settings; "
        "print(settings.Q_TIMEOUT_S, settings.Q_RETRY_S, settings.NANOMARK_XTB_TIMEOUT_S)"
    )
    result = _manage("shell", "-c", script, NANOMARK_TASK_TIMEOUT_S="60")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["60", "360", "50"]
    result = _manage("check", NANOMARK_TASK_TIMEOUT_S="60", NANOMARK_XTB_TIMEOUT_S="90")
    assert result.returncode != 0
    assert "NANOMARK_XTB_TIMEOUT_S must be below NANOMARK_TASK_TIMEOUT_S" in result.stderr


@pytest.mark.django_db
def test_a_refused_request_is_logged_in_one_line(client, labs):
    import logging

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    console = next(h for h in logging.getLogger().handlers if h.filters)
    keep = Keep()
    keep.filters = console.filters
    logging.getLogger("django.request").addHandler(keep)
    try:
        client.force_login(labs["charlie"])  # a viewer
        response = client.post(f"/samples/{labs['sample_a'].pk}/edit/", {})
    finally:
        logging.getLogger("django.request").removeHandler(keep)
    assert response.status_code == 403
    assert len(records) == 1
    assert records[0].startswith("Forbidden (Permission denied)")
    assert "Traceback" not in records[0]
