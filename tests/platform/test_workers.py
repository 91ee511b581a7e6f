"""Real django-q2 workers (``manage.py qcluster`` processes) against the test database.

The ``cluster`` fixture (conftest.py) runs workers with a short redelivery
delay, so that a killed worker's task comes back within the test.
"""

import os
import signal
import subprocess
import time

import pytest
from django_q.models import OrmQ

from nanomark.imaging.services import ingest_sem_image
from nanomark.results.models import AnalysisRun, DefectStatistic, OrderScore, PatchEmbedding
from nanomark.runs import MAX_ATTEMPTS, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _kill(process: subprocess.Popen) -> None:
    """kill -9 every process of the cluster, as a crash or an OOM kill would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _status(run_pk: int) -> str:
    return AnalysisRun.objects.values_list("status", flat=True).get(pk=run_pk)


def _queued_run(labs, png: bytes) -> int:
    image = ingest_sem_image(
        sample=labs["sample_a"], data=png, filename="w.png", pixel_size_nm=1.0
    ).image
    return AnalysisRun.objects.get(image=image).pk


def test_a_worker_takes_a_queued_run_to_the_end(labs, active_models, rendered_png, cluster):
    run_pk = _queued_run(labs, rendered_png())
    assert OrmQ.objects.count() == 1  # enqueued on commit
    cluster()
    _wait_for(lambda: _status(run_pk) == RunStatus.SUCCEEDED, 90, "the run to succeed")
    run = AnalysisRun.objects.get(pk=run_pk)
    assert run.attempts == 1
    assert OrderScore.objects.filter(run=run).count() == 1
    assert DefectStatistic.objects.filter(run=run).count() == 4
    # The vectors join the index right after the run's success is committed.
    _wait_for(
        lambda: AnalysisRun.objects.filter(pk=run_pk, indexed_at__isnull=False).exists(),
        30,
        "the embeddings to be indexed",
    )
    _wait_for(lambda: not OrmQ.objects.exists(), 10, "the task to be acknowledged")


def test_a_killed_worker_run_finishes_exactly_once_after_redelivery(
    labs, active_models, rendered_png, cluster
):
    # A larger image keeps the worker busy for a few seconds after its claim.
    run_pk = _queued_run(labs, rendered_png(shape=(448, 640), n=500))
    first = cluster()
    _wait_for(lambda: _status(run_pk) == RunStatus.RUNNING, 90, "the worker to claim the run")
    time.sleep(1.0)
    _kill(first)
    assert _status(run_pk) == RunStatus.RUNNING  # killed mid-run: nothing stored
    assert not OrderScore.objects.filter(run_id=run_pk).exists()

    killed_at = time.monotonic()
    cluster()
    _wait_for(lambda: _status(run_pk) == RunStatus.SUCCEEDED, cluster.retry_s + 90, "redelivery")
    assert time.monotonic() - killed_at > 5  # it came back by redelivery, not at once
    run = AnalysisRun.objects.get(pk=run_pk)
    assert run.attempts == 2
    assert OrderScore.objects.filter(run=run).count() == 1
    assert DefectStatistic.objects.filter(run=run).count() == 4
    patches = PatchEmbedding.objects.filter(run=run)
    assert patches.count() == patches.values("x_px", "y_px").distinct().count() > 0


def test_a_run_that_always_fails_stops_after_three_attempts(labs, rendered_png, cluster):
    run_pk = _queued_run(labs, rendered_png())
    image = AnalysisRun.objects.get(pk=run_pk).image
    image.original.storage.delete(image.original.name)  # every attempt fails to read it
    cluster()
    _wait_for(lambda: _status(run_pk) == RunStatus.FAILED, 90, "the run to fail for good")
    run = AnalysisRun.objects.get(pk=run_pk)
    assert run.attempts == MAX_ATTEMPTS
    assert "FileNotFoundError" in run.error
    _wait_for(lambda: not OrmQ.objects.exists(), 10, "the last task to be acknowledged")
    time.sleep(2.0)
    assert AnalysisRun.objects.get(pk=run_pk).attempts == MAX_ATTEMPTS
