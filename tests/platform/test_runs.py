"""Run records: claimed once per delivery, attempts counted by us, given up after the bound."""

import pytest

from nanomark.results.models import AnalysisRun
from nanomark.runs import MAX_ATTEMPTS, RunStatus
from tests.factories import png_bytes, sem_pixels

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(labs):
    """The analysis run that storing an image queued (no models active: key 0-0-0)."""
    from nanomark.imaging.services import ingest_sem_image

    image = ingest_sem_image(
        sample=labs["sample_a"], data=png_bytes(sem_pixels()), filename="a.png"
    ).image
    return AnalysisRun.objects.get(image=image)


def test_a_claim_counts_an_attempt(run):
    assert AnalysisRun.claim(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.RUNNING, 1)
    assert run.worker_host
    assert run.started_at


def test_a_finished_run_is_not_claimed_again(run):
    AnalysisRun.claim(run.pk)
    AnalysisRun.finish(run.pk, timings_s={"total": 1.0})
    assert not AnalysisRun.claim(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)


def test_a_run_left_running_by_a_dead_worker_is_claimed_until_the_bound(run):
    for _ in range(MAX_ATTEMPTS):
        assert AnalysisRun.claim(run.pk)
    assert not AnalysisRun.claim(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert f"Gave up after {MAX_ATTEMPTS} attempts" in run.error


def test_failures_requeue_then_fail_with_the_error(run):
    AnalysisRun.claim(run.pk)
    assert not AnalysisRun.record_failure(run.pk, "boom 1")
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.QUEUED, "boom 1")
    AnalysisRun.claim(run.pk)
    AnalysisRun.claim(run.pk)
    assert AnalysisRun.record_failure(run.pk, "boom 3")
    run.refresh_from_db()
    assert (run.status, run.error, run.attempts) == (RunStatus.FAILED, "boom 3", 3)


def test_one_run_per_image_and_model_versions(run):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        AnalysisRun.objects.create(lab=run.lab, image=run.image)
