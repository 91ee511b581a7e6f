"""Real django-q2 workers (``manage.py run_workers`` clusters) against the test database.

The ``cluster`` fixture (conftest.py) runs workers with a short lease
(8 s; 40 s, the default, with NANOMARK_SLOW) and the broker's default
redelivery (timeout + 300 s), so a killed cluster's work that comes back
within a test came back by its lease.
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
from tests.platform.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _kill(process: subprocess.Popen) -> None:
    """kill -9 every process of the cluster, as a crash or an OOM kill would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


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
    wait_for(lambda: _status(run_pk) == RunStatus.SUCCEEDED, 90, "the run to succeed")
    run = AnalysisRun.objects.get(pk=run_pk)
    assert run.attempts == 1
    assert OrderScore.objects.filter(run=run).count() == 1
    assert DefectStatistic.objects.filter(run=run).count() == 4
    # The vectors join the index right after the run's success is committed.
    wait_for(
        lambda: AnalysisRun.objects.filter(pk=run_pk, indexed_at__isnull=False).exists(),
        30,
        "the embeddings to be indexed",
    )
    wait_for(lambda: not OrmQ.objects.exists(), 10, "the task to be acknowledged")


def _results_once(run_pk: int) -> None:
    run = AnalysisRun.objects.get(pk=run_pk)
    assert run.status == RunStatus.SUCCEEDED
    assert OrderScore.objects.filter(run=run).count() == 1
    assert DefectStatistic.objects.filter(run=run).count() == 4
    patches = PatchEmbedding.objects.filter(run=run)
    assert patches.count() == patches.values("x_px", "y_px").distinct().count() > 0


def test_a_killed_cluster_run_is_queued_again_by_its_lease_and_finishes_once(
    labs, active_models, rendered_png, cluster
):
    # A larger image keeps the worker busy for a few seconds after its claim.
    run_pk = _queued_run(labs, rendered_png(shape=(448, 640), n=500))
    first = cluster()
    wait_for(lambda: _status(run_pk) == RunStatus.RUNNING, 90, "the worker to claim the run")
    time.sleep(1.0)
    _kill(first)
    assert _status(run_pk) == RunStatus.RUNNING  # killed mid-run: nothing stored
    assert not OrderScore.objects.filter(run_id=run_pk).exists()

    killed_at = time.monotonic()
    cluster()
    # The broker would redeliver only after timeout + 300 s: the lease decides.
    wait_for(lambda: _status(run_pk) == RunStatus.SUCCEEDED, cluster.lease_s + 90, "the sweep")
    assert time.monotonic() - killed_at > cluster.lease_s - 1  # not before the lease lapsed
    run = AnalysisRun.objects.get(pk=run_pk)
    assert (run.attempts, run.interruptions) == (1, 1)  # the kill spent no attempt
    assert "stopped renewing the lease" in run.error or run.error == ""
    _results_once(run_pk)


def test_sigterm_hands_back_the_running_and_the_prefetched_runs(
    labs, active_models, rendered_png, cluster
):
    pks = [_queued_run(labs, rendered_png(seed=seed, shape=(448, 640), n=500)) for seed in (1, 2)]
    first = cluster()
    running = wait_for(
        lambda: (
            AnalysisRun.objects.filter(status=RunStatus.RUNNING)
            .values_list("pk", flat=True)
            .first()
        ),
        90,
        "a worker to claim a run",
    )
    first.send_signal(signal.SIGTERM)  # the main process only, as `docker stop` does
    first.wait(timeout=20)
    runs = {run.pk: run for run in AnalysisRun.objects.filter(pk__in=pks)}
    for run in runs.values():
        assert (run.status, run.attempts, run.interruptions, run.lease_holder) == (
            RunStatus.QUEUED,
            0,
            0,
            "",
        )
    assert "The worker was stopped" in runs[running].error

    cluster()
    for pk in pks:
        wait_for(lambda pk=pk: _status(pk) == RunStatus.SUCCEEDED, 120, f"run {pk} to succeed")
        assert AnalysisRun.objects.get(pk=pk).attempts == 1
        _results_once(pk)


def _running() -> dict[int, int]:
    """Running runs → their interruptions so far."""
    return dict(
        AnalysisRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", "interruptions")
    )


def _a_fresh_run_started(fresh: set[int]) -> bool:
    """True once one of ``fresh`` (never started before) has started, or none is left."""
    waiting = AnalysisRun.objects.filter(pk__in=fresh)
    return waiting.filter(started_at__isnull=False).exists() or not waiting.exists()


def _taken_back(killed: dict[int, int]) -> bool:
    """True once every run in ``killed`` counted the interruption (or finished)."""
    now = dict(AnalysisRun.objects.filter(pk__in=killed).values_list("pk", "interruptions"))
    done = set(
        AnalysisRun.objects.filter(pk__in=killed, status=RunStatus.SUCCEEDED).values_list(
            "pk", flat=True
        )
    )
    return all(pk in done or now[pk] > before for pk, before in killed.items())


def test_kill_drill_nothing_stalls_and_no_run_fails_because_of_kills(
    labs, active_models, rendered_png, cluster
):
    """SIGKILL the cluster mid-run and restart it at once, twice (5 times with NANOMARK_SLOW)."""
    kills = 5 if os.environ.get("NANOMARK_SLOW") else 2
    pks = [
        _queued_run(labs, rendered_png(seed=seed, shape=(448, 640), n=500))
        for seed in range(3 * kills + 2)
    ]
    process = cluster(workers=2)
    to_next_start, to_killed_back = [], []
    for _ in range(kills):
        wait_for(_running, 120, "a run to be running")
        time.sleep(1.0)
        _kill(process)
        killed = _running()
        fresh = set(
            AnalysisRun.objects.filter(pk__in=pks, started_at=None).values_list("pk", flat=True)
        )
        process = cluster(workers=2)
        restarted = time.monotonic()
        wait_for(lambda: _a_fresh_run_started(fresh), 120, "a queued run to start")  # noqa: B023
        to_next_start.append(time.monotonic() - restarted)
        wait_for(lambda: _taken_back(killed), 120, "the killed runs to come back")  # noqa: B023
        to_killed_back.append(time.monotonic() - restarted)
    for pk in pks:
        wait_for(lambda pk=pk: _status(pk) == RunStatus.SUCCEEDED, 300, f"run {pk} to succeed")
        _results_once(pk)
    print(
        f"\nkill drill: {kills} kills, lease {cluster.lease_s} s; restart to a queued run "
        f"started: {', '.join(f'{t:.1f}' for t in to_next_start)} s; restart to the killed "
        f"runs queued again: {', '.join(f'{t:.1f}' for t in to_killed_back)} s"
    )
    assert max(to_next_start) < 120


def test_a_run_that_always_fails_stops_after_three_attempts(labs, rendered_png, cluster):
    run_pk = _queued_run(labs, rendered_png())
    image = AnalysisRun.objects.get(pk=run_pk).image
    image.original.storage.delete(image.original.name)  # every attempt fails to read it
    cluster()
    wait_for(lambda: _status(run_pk) == RunStatus.FAILED, 90, "the run to fail for good")
    run = AnalysisRun.objects.get(pk=run_pk)
    assert run.attempts == MAX_ATTEMPTS
    assert "FileNotFoundError" in run.error
    wait_for(lambda: not OrmQ.objects.exists(), 10, "the last task to be acknowledged")
    time.sleep(2.0)
    assert AnalysisRun.objects.get(pk=run_pk).attempts == MAX_ATTEMPTS
