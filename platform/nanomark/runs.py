"""Background runs: the stored record of every queued job (training, analysis, simulation, xtb).

django-q2 does not count attempts when a worker dies, so the record counts
them: a worker claims a run with a conditional UPDATE that must touch exactly
one row, and a run that has used up its attempts fails with its error saved.
"""

import socket

from django.db import models
from django.db.models import F
from django.utils import timezone

#: Deliveries of a run before it is given up (a delivery that kills its worker counts).
MAX_ATTEMPTS = 3


class RunStatus(models.TextChoices):
    """Life cycle of a background run."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BackgroundRun(models.Model):
    """Abstract base of run records: status, attempts, error, timings, worker host."""

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    worker_host = models.CharField(max_length=120, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def claim(cls, pk: int, max_attempts: int = MAX_ATTEMPTS) -> bool:
        """Mark run ``pk`` running for this worker; False if it is finished or out of attempts.

        A run still marked running was left by a worker that died (django-q2
        redelivers only after ``retry`` > ``timeout``), so it may be claimed again.
        """
        active = cls.objects.filter(pk=pk, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        claimed = active.filter(attempts__lt=max_attempts).update(
            status=RunStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=timezone.now(),
            worker_host=socket.gethostname()[:120],
        )
        if claimed == 1:
            return True
        active.update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            error=models.functions.Concat(
                F("error"), models.Value(f"\nGave up after {max_attempts} attempts.")
            ),
        )
        return False

    @classmethod
    def finish(cls, pk: int, **fields) -> None:
        """Mark run ``pk`` succeeded, saving ``fields`` with it."""
        cls.objects.filter(pk=pk).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), error="", **fields
        )

    @classmethod
    def record_failure(cls, pk: int, error: str, max_attempts: int = MAX_ATTEMPTS) -> bool:
        """Save ``error`` and requeue the run if attempts remain; True if it failed for good."""
        run = cls.objects.filter(pk=pk)
        final = run.filter(attempts__gte=max_attempts).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error=error
        )
        if not final:
            run.update(status=RunStatus.QUEUED, error=error)
        return bool(final)
