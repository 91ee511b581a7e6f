"""The context every run task runs in: what ends the body becomes the run's state."""

import pytest
from django_q.exceptions import TimeoutException
from django_q.models import OrmQ

from nanomark.results.models import AnalysisRun
from nanomark.runs import RunStatus
from nanomark.workers.leases import STOPPING, WorkerStopping, leased

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(queued_run):
    return queued_run


def _state(run) -> tuple:
    run.refresh_from_db()
    return run.status, run.attempts, run.lease_holder


def test_an_error_is_saved_and_the_run_queued_again_at_once(run):
    with leased(AnalysisRun, run.pk) as holder:
        assert holder
        raise OSError("disk full")
    assert _state(run) == (RunStatus.QUEUED, 1, "")
    assert run.error.startswith("OSError: disk full")
    assert OrmQ.objects.count() == 1


def test_the_task_timeout_spends_the_attempt_and_does_not_leave_the_run_running(run):
    with pytest.raises(TimeoutException), leased(AnalysisRun, run.pk):
        # What django-q2's SIGALRM handler raises at NANOMARK_TASK_TIMEOUT_S.
        raise TimeoutException("Task exceeded maximum timeout value (45 seconds)")
    assert _state(run) == (RunStatus.QUEUED, 1, "")
    assert run.error.startswith("TimeoutError: stopped after")
    assert OrmQ.objects.count() == 1


def test_a_graceful_stop_hands_the_run_back_and_lets_the_worker_drain(run):
    with leased(AnalysisRun, run.pk):
        raise WorkerStopping(graceful=True)
    assert _state(run) == (RunStatus.QUEUED, 0, "")
    assert "The worker was stopped" in run.error


def test_a_sigterm_from_outside_hands_the_run_back_and_exits(run):
    with pytest.raises(WorkerStopping), leased(AnalysisRun, run.pk):
        raise WorkerStopping()
    assert _state(run) == (RunStatus.QUEUED, 0, "")


def test_nothing_is_claimed_while_the_cluster_stops(run):
    STOPPING.set()
    try:
        with leased(AnalysisRun, run.pk) as holder:
            assert holder is None
    finally:
        STOPPING.clear()
    assert _state(run) == (RunStatus.QUEUED, 0, "")
