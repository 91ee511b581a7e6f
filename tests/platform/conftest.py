"""Fixtures of the Django tests: named users in different labs (healthchecks style).

alice is a member of lab A, bob a member of lab B, charlie a viewer in lab A.
Media files go to a per-test temporary folder. File builders live in factories.py.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Task timeout of the test workers, s; the broker's redelivery stays at its default
#: (timeout + 300 s), so a run that comes back within a test came back by its lease.
QCLUSTER_TIMEOUT_S = 45
#: Run lease of the test workers, s (the platform's default is 40 s; NANOMARK_SLOW uses it).
QCLUSTER_LEASE_S = 40 if os.environ.get("NANOMARK_SLOW") else 8


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hashing fixture users' passwords with PBKDF2 would dominate the tests' time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def labs(db, django_user_model):
    """Two labs and three users: alice (member, A), bob (member, B), charlie (viewer, A)."""
    from nanomark.accounts.choices import Role
    from nanomark.accounts.models import Lab, Membership
    from nanomark.samples.models import Material, Sample

    lab_a = Lab.objects.create(name="Lab A", slug="lab-a")
    lab_b = Lab.objects.create(name="Lab B", slug="lab-b")
    users = {}
    for name, lab, role in [
        ("alice", lab_a, Role.MEMBER),
        ("bob", lab_b, Role.MEMBER),
        ("charlie", lab_a, Role.VIEWER),
    ]:
        users[name] = django_user_model.objects.create_user(name, password=f"{name}-pw-Long-9")
        Membership.objects.create(user=users[name], lab=lab, role=role)
    graphite_a = Material.objects.create(lab=lab_a, name="Graphite", kind="graphite")
    graphite_b = Material.objects.create(lab=lab_b, name="Graphite", kind="graphite")
    return {
        "a": lab_a,
        "b": lab_b,
        **users,
        "sample_a": Sample.objects.create(lab=lab_a, code="S1", material=graphite_a),
        "sample_b": Sample.objects.create(lab=lab_b, code="S1", material=graphite_b),
    }


@pytest.fixture
def active_models(labs):
    """Lab A's active classifier, segmenter and embedder: untrained, seeded, so always the same."""
    import torch

    from ml.embedder import PatchEmbedder
    from ml.registry import create_model
    from nanomark.registry.storing import store_model

    torch.manual_seed(0)
    classifier = create_model("order_classifier", "resnet34")
    models = {
        "classifier": classifier,
        "segmenter": create_model("defect_segmenter", "fpn", "resnet34"),
        "embedder": PatchEmbedder.from_classifier(classifier),
    }
    versions = {}
    for role, model in models.items():
        versions[role] = store_model(
            model, lab_id=labs["a"].pk, name=f"test-{role}", metadata={}, metrics={}
        )
        versions[role].activate()
    return versions


@pytest.fixture
def rendered_png():
    """Build a PNG of ``n`` rendered Pd particles on a smooth surface (1 nm/px)."""
    from simulation.render import render_sem
    from tests.factories import png_bytes

    def build(seed: int = 0, shape: tuple[int, int] = (256, 320), n: int = 120) -> bytes:
        rng = np.random.default_rng(seed)
        positions = rng.random((n, 2)) * [shape[1], shape[0]]
        return png_bytes(render_sem(positions, 1.0, rng, shape=shape))

    return build


@pytest.fixture
def queued_run(labs):
    """The analysis run that storing an image queued (no models active), its task not yet sent.

    The broker's queue is emptied, so a test sees only the tasks it causes.
    """
    from django_q.models import OrmQ

    from nanomark.imaging.services import ingest_sem_image
    from nanomark.results.models import AnalysisRun
    from tests.factories import png_bytes, sem_pixels

    image = ingest_sem_image(
        sample=labs["sample_a"], data=png_bytes(sem_pixels()), filename="a.png"
    ).image
    OrmQ.objects.all().delete()
    return AnalysisRun.objects.get(image=image)


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db["HOST"] or "127.0.0.1"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def cluster(settings, tmp_path):
    """Start ``manage.py run_workers`` clusters on demand; any still running is killed at the end.

    ``cluster(workers=1)`` starts one in its own process group. Their output
    goes to ``qcluster.log`` in the test's temporary folder. ``prefix`` runs
    it through another program that execs it (``ip netns exec …``);
    ``environ`` sets variables over the fixture's own (``cluster.env``).
    """
    started: list[subprocess.Popen] = []
    log = (tmp_path / "qcluster.log").open("ab")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "NANOMARK_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "NANOMARK_TASK_TIMEOUT_S": str(QCLUSTER_TIMEOUT_S),
        "NANOMARK_LEASE_S": str(QCLUSTER_LEASE_S),
        "NANOMARK_XTB_TIMEOUT_S": "20",
        "NANOMARK_DEVICE": "cpu",
    }

    def start(workers: int = 1, prefix: Sequence[str] = (), **environ: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [*prefix, sys.executable, "manage.py", "run_workers"],
            cwd=ROOT,
            env={**env, "NANOMARK_WORKERS": str(workers), **environ},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: sentinel, workers, monitor
        )
        started.append(process)
        return process

    start.lease_s = QCLUSTER_LEASE_S
    start.env = env
    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log.close()


@pytest.fixture
def api(labs):
    """``api("alice")``: an APIClient with alice's session (``api(None)``: anonymous)."""
    from rest_framework.test import APIClient

    def client_of(name: str | None) -> APIClient:
        client = APIClient()
        if name is not None:
            client.force_login(labs[name])
        return client

    return client_of
