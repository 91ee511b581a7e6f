"""The leasing brokers mark the runs they hand out, so a dead cluster's prefetched runs return."""

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from nanomark.results.models import AnalysisRun
from nanomark.runs import RunStatus, sweep_lapsed_leases
from nanomark.workers.broker import _lease_prefetched, release_prefetched

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(queued_run):
    """A queued analysis run and the payload of its task in the ORM broker."""
    AnalysisRun.enqueue(queued_run.pk)
    (message,) = OrmQ.objects.all()
    return queued_run, message.payload


def test_a_prefetched_run_is_leased_to_the_pusher(queued):
    run, payload = queued
    _lease_prefetched(payload, "host:1:pusher")
    run.refresh_from_db()
    assert (run.status, run.lease_holder, run.attempts) == (RunStatus.QUEUED, "host:1:pusher", 0)
    assert run.lease_expires_at > timezone.now()
    assert run.queue_task == "nanomark.results.tasks.analyse_image"
    assert sweep_lapsed_leases() == 0  # the pusher's lease is live


def test_a_worker_claim_takes_over_the_pushers_lease(queued):
    run, payload = queued
    _lease_prefetched(payload, "host:1:pusher")
    holder = AnalysisRun.claim(run.pk)
    run.refresh_from_db()
    assert (run.status, run.lease_holder) == (RunStatus.RUNNING, holder)
    assert release_prefetched("host:1:pusher") == 0  # no longer the pusher's


def test_a_stopping_pusher_releases_its_prefetched_runs_with_a_fresh_task(queued):
    run, payload = queued
    _lease_prefetched(payload, "host:1:pusher")
    OrmQ.objects.all().delete()  # the dead cluster's copy is gone (Redis) or locked (ORM)
    assert release_prefetched("host:1:pusher") == 1
    run.refresh_from_db()
    assert (run.status, run.lease_holder, run.lease_expires_at) == (RunStatus.QUEUED, "", None)
    assert OrmQ.objects.count() == 1


def test_tasks_of_other_functions_and_bad_payloads_are_left_alone(queued):
    run, _ = queued
    _lease_prefetched("not a signed package", "host:1:pusher")
    run.refresh_from_db()
    assert run.lease_holder == ""
