"""Run records: claimed under a lease, never twice at once, swept back when a lease lapses."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from nanomark.results.models import AnalysisRun
from nanomark.runs import (
    MAX_ATTEMPTS,
    MAX_INTERRUPTIONS,
    RunStatus,
    renew_leases,
    sweep_lapsed_leases,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(queued_run):
    return queued_run


def _lapse(run) -> None:
    """Make the run's lease lapse, as when its holder stopped renewing it."""
    AnalysisRun.objects.filter(pk=run.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_claim_counts_an_attempt_and_takes_a_lease(run, settings):
    before = timezone.now()
    holder = AnalysisRun.claim(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.lease_holder) == (RunStatus.RUNNING, 1, holder)
    assert run.worker_host
    assert run.started_at
    lease_s = (run.lease_expires_at - before).total_seconds()
    assert settings.NANOMARK_LEASE_S - 1 < lease_s < settings.NANOMARK_LEASE_S + 1


def test_a_run_under_a_live_lease_is_not_claimed_by_a_second_delivery(run):
    holder = AnalysisRun.claim(run.pk)
    assert AnalysisRun.claim(run.pk) is None
    run.refresh_from_db()
    assert (run.status, run.attempts, run.lease_holder) == (RunStatus.RUNNING, 1, holder)


def test_a_finished_run_is_not_claimed_again(run):
    holder = AnalysisRun.claim(run.pk)
    assert AnalysisRun.finish(run.pk, holder, timings_s={"total": 1.0})
    assert not AnalysisRun.claim(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.lease_holder) == (RunStatus.SUCCEEDED, 1, "")


def test_a_holder_that_lost_its_lease_cannot_finish_or_fail_the_run(run):
    first = AnalysisRun.claim(run.pk)
    _lapse(run)
    second = AnalysisRun.claim(run.pk)  # a lapsed lease may be taken over
    assert second
    assert second != first
    assert not AnalysisRun.finish(run.pk, first, timings_s={"late": 1.0})
    assert not AnalysisRun.record_failure(run.pk, first, "late error")
    run.refresh_from_db()
    assert (run.status, run.lease_holder, run.error) == (RunStatus.RUNNING, second, "")
    assert AnalysisRun.finish(run.pk, second)


def test_a_lapsed_lease_is_swept_back_to_the_queue_with_its_attempt_refunded(run):
    holder = AnalysisRun.claim(run.pk)
    assert sweep_lapsed_leases() == 0  # a live lease stays
    _lapse(run)
    assert sweep_lapsed_leases() == 1
    run.refresh_from_db()
    assert (run.status, run.attempts, run.interruptions) == (RunStatus.QUEUED, 0, 1)
    assert (run.lease_holder, run.lease_expires_at) == ("", None)
    assert f"{holder} stopped renewing the lease" in run.error
    assert OrmQ.objects.count() == 1  # a fresh task, whatever the broker's retry
    assert sweep_lapsed_leases() == 0


def test_a_run_that_keeps_losing_its_worker_is_given_up(run):
    for _ in range(MAX_INTERRUPTIONS):
        assert AnalysisRun.claim(run.pk)
        _lapse(run)
        sweep_lapsed_leases()
    run.refresh_from_db()
    assert (run.status, run.interruptions) == (RunStatus.FAILED, MAX_INTERRUPTIONS)
    assert f"Gave up after {MAX_INTERRUPTIONS} lost workers" in run.error


def test_a_prefetched_run_is_released_without_counting_anything(run):
    AnalysisRun.objects.filter(pk=run.pk).update(
        lease_holder="pusher", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert sweep_lapsed_leases() == 1
    run.refresh_from_db()
    assert (run.status, run.attempts, run.interruptions, run.lease_holder) == (
        RunStatus.QUEUED,
        0,
        0,
        "",
    )


def test_a_handed_back_run_gets_its_attempt_back(run):
    holder = AnalysisRun.claim(run.pk)
    assert AnalysisRun.hand_back(run.pk, holder, "stopping", interrupted=False)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.interruptions) == (RunStatus.QUEUED, 0, 0)
    assert not AnalysisRun.hand_back(run.pk, holder, "again", interrupted=False)


def test_renewal_moves_only_the_holders_leases(run):
    holder = AnalysisRun.claim(run.pk)
    _lapse(run)
    assert renew_leases({"someone else"}) == 0
    assert renew_leases({holder}) == 1
    run.refresh_from_db()
    assert run.lease_expires_at > timezone.now()


def test_failures_requeue_then_fail_with_the_error(run):
    holder = AnalysisRun.claim(run.pk)
    assert not AnalysisRun.record_failure(run.pk, holder, "boom 1")
    run.refresh_from_db()
    assert (run.status, run.error, run.lease_holder) == (RunStatus.QUEUED, "boom 1", "")
    assert not AnalysisRun.record_failure(run.pk, AnalysisRun.claim(run.pk), "boom 2")
    assert AnalysisRun.record_failure(run.pk, AnalysisRun.claim(run.pk), "boom 3")
    run.refresh_from_db()
    assert (run.status, run.error, run.attempts) == (RunStatus.FAILED, "boom 3", 3)


def test_a_run_left_running_without_a_lease_is_claimed_until_the_bound(run):
    # Rows claimed before leases existed have none: a new delivery may take them.
    for _ in range(MAX_ATTEMPTS):
        assert AnalysisRun.claim(run.pk)
        AnalysisRun.objects.filter(pk=run.pk).update(lease_expires_at=None)
    assert not AnalysisRun.claim(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert f"Gave up after {MAX_ATTEMPTS} attempts" in run.error


def test_one_run_per_image_and_model_versions(run):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        AnalysisRun.objects.create(lab=run.lab, image=run.image)
