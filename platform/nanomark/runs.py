"""Background runs: the stored record of every queued job (training, analysis, simulation, xtb).

The record, not the broker, decides who runs what:

- A worker **claims** a run with a conditional UPDATE that must touch exactly
  one row. The claim counts an attempt and takes a **lease**: a holder name
  (host, process, claim) and an expiry :data:`~django.conf.settings.NANOMARK_LEASE_S`
  ahead, which the worker's lease keeper (:mod:`nanomark.workers.leases`)
  renews while the task works. A run whose lease is live is never claimed by
  a second delivery, so no run is executed by two workers at once.
- Finishing and failing are conditional on the lease: a worker whose lease
  was taken from it cannot overwrite what the new holder does.
- A lease that lapsed (its worker or whole cluster died) is **swept**: the run
  is handed back to the queue at once, with its attempt refunded and one
  interruption counted; after :data:`MAX_INTERRUPTIONS` the run fails (it
  probably kills its worker, e.g. out of memory). A graceful stop hands runs
  back the same way without counting anything.
- A run that has been delivered to a cluster but not started yet (prefetched)
  holds a lease of that cluster's pusher (:mod:`nanomark.workers.broker`), so
  prefetched work is recovered the same way when the cluster dies.
- An error spends the attempt; the run is queued again at once while attempts
  remain, then fails with the error saved.

Each concrete run model names the task functions that take its primary key
(:attr:`BackgroundRun.TASKS`); the task a run was queued with is stored with
it so that a hand-back queues the same one.
"""

import os
import socket
import uuid
from datetime import timedelta
from typing import ClassVar

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, When
from django.db.models.functions import Concat
from django.utils import timezone
from django_q.tasks import async_task

#: Deliveries of a run that end in an error (or the task timeout) before it is given up.
MAX_ATTEMPTS = 3
#: Lapsed leases (a worker that died under the run) before the run is given up.
MAX_INTERRUPTIONS = 10


class RunStatus(models.TextChoices):
    """Life cycle of a background run."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


_ACTIVE = [RunStatus.QUEUED, RunStatus.RUNNING]


def new_holder() -> str:
    """A lease holder name unique to this claim: ``host:pid:random``."""
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_expiry():
    """When a lease taken or renewed now lapses."""
    return timezone.now() + timedelta(seconds=settings.NANOMARK_LEASE_S)


def _note(text: str) -> Case:
    """The run's error text with ``text`` appended on a new line (an SQL expression)."""
    return Case(
        When(error="", then=models.Value(text)),
        default=Concat(F("error"), models.Value(f"\n{text}"), output_field=models.TextField()),
        output_field=models.TextField(),
    )


class BackgroundRun(models.Model):
    """Abstract base of run records: status, attempts, lease, error, timings, worker host."""

    #: Dotted paths of the task functions that take this model's primary key; the first is
    #: the default of :meth:`enqueue`.
    TASKS: ClassVar[tuple[str, ...]] = ()

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    interruptions = models.PositiveSmallIntegerField(
        default=0, help_text="leases that lapsed under the run (its worker died)"
    )
    error = models.TextField(blank=True)
    worker_host = models.CharField(max_length=120, blank=True)
    queue_task = models.CharField(
        max_length=120, blank=True, help_text="dotted path of the task the run was queued with"
    )
    lease_holder = models.CharField(max_length=80, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def task_cluster(cls) -> str | None:
        """The django-q2 cluster the tasks go to (None: the default cluster)."""
        return None

    @classmethod
    def enqueue(cls, pk: int, task: str | None = None) -> None:
        """Hand run ``pk`` to the workers now with ``task`` (default: the first of TASKS).

        Call it inside ``transaction.on_commit`` where the run was just created.
        """
        task = task or cls.TASKS[0]
        cls.objects.filter(pk=pk).update(queue_task=task)
        cls._send(pk, task)

    @classmethod
    def _requeue(cls, pk: int) -> None:
        """Send run ``pk``'s stored task again (after a failure or a hand-back)."""
        stored = cls.objects.filter(pk=pk).values_list("queue_task", flat=True).first()
        cls._send(pk, stored or cls.TASKS[0])

    @classmethod
    def _send(cls, pk: int, task: str) -> None:
        async_task(
            task,
            pk,
            task_name=f"{task.rsplit('.', 1)[1]}-{pk}-{uuid.uuid4().hex[:6]}",
            cluster=cls.task_cluster(),
        )

    @classmethod
    def claim(cls, pk: int, max_attempts: int = MAX_ATTEMPTS) -> str | None:
        """Mark run ``pk`` running under a new lease; its holder name, or None.

        None when the run is finished, held by a live lease (another delivery
        is working on it), or out of attempts (then it is marked failed).
        """
        now = timezone.now()
        takeable = cls.objects.filter(pk=pk).filter(
            Q(status=RunStatus.QUEUED)
            | Q(status=RunStatus.RUNNING, lease_expires_at__lt=now)
            | Q(status=RunStatus.RUNNING, lease_expires_at__isnull=True)
        )
        holder = new_holder()
        claimed = takeable.filter(attempts__lt=max_attempts).update(
            status=RunStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            worker_host=socket.gethostname()[:120],
            lease_holder=holder,
            lease_expires_at=lease_expiry(),
        )
        if claimed == 1:
            return holder
        takeable.update(
            status=RunStatus.FAILED,
            finished_at=now,
            lease_holder="",
            lease_expires_at=None,
            error=_note(f"Gave up after {max_attempts} attempts."),
        )
        return None

    @classmethod
    def held(cls, pk: int, holder: str) -> models.QuerySet:
        """Run ``pk`` while ``holder`` holds it running (empty once it lost the lease)."""
        return cls.objects.filter(pk=pk, status=RunStatus.RUNNING, lease_holder=holder)

    @classmethod
    def finish(cls, pk: int, holder: str, **fields) -> bool:
        """Mark run ``pk`` succeeded, saving ``fields``; False if ``holder`` lost the lease."""
        return bool(
            cls.held(pk, holder).update(
                status=RunStatus.SUCCEEDED,
                finished_at=timezone.now(),
                error="",
                lease_holder="",
                lease_expires_at=None,
                **fields,
            )
        )

    @classmethod
    def record_failure(
        cls, pk: int, holder: str, error: str, max_attempts: int = MAX_ATTEMPTS
    ) -> bool:
        """Save ``error``; queue the run again while attempts remain. True if it failed for good.

        Nothing happens (False) when ``holder`` no longer holds the run.
        """
        held = cls.held(pk, holder)
        released = {"lease_holder": "", "lease_expires_at": None, "error": error}
        if held.filter(attempts__gte=max_attempts).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), **released
        ):
            return True
        if held.update(status=RunStatus.QUEUED, **released):
            cls._requeue(pk)
        return False

    @classmethod
    def hand_back(cls, pk: int, holder: str, note: str, *, interrupted: bool) -> bool:
        """Queue run ``pk`` again from ``holder`` without spending an attempt; True if it did.

        A run that had started gets its attempt back. ``interrupted`` (the lease
        lapsed: its worker died) counts an interruption, and the run fails
        after :data:`MAX_INTERRUPTIONS`; a graceful stop counts nothing.
        """
        mine = cls.objects.filter(pk=pk, lease_holder=holder, status__in=_ACTIVE)
        released = {"lease_holder": "", "lease_expires_at": None}
        if interrupted:
            given_up = mine.filter(
                status=RunStatus.RUNNING, interruptions__gte=MAX_INTERRUPTIONS - 1
            ).update(
                status=RunStatus.FAILED,
                finished_at=timezone.now(),
                interruptions=F("interruptions") + 1,
                error=_note(f"{note} Gave up after {MAX_INTERRUPTIONS} lost workers."),
                **released,
            )
            if given_up:
                return False
        returned = mine.filter(status=RunStatus.RUNNING).update(
            status=RunStatus.QUEUED,
            attempts=F("attempts") - 1,
            interruptions=F("interruptions") + int(interrupted),
            error=_note(note),
            **released,
        ) or mine.filter(status=RunStatus.QUEUED).update(**released)
        if returned:
            cls._requeue(pk)
        return bool(returned)


def run_models() -> list[type[BackgroundRun]]:
    """Every concrete run model of the installed apps."""
    return [model for model in apps.get_models() if issubclass(model, BackgroundRun)]


def model_of_task(task: str) -> type[BackgroundRun] | None:
    """The run model whose primary key ``task`` (a dotted path) takes; None for other tasks."""
    for model in run_models():
        if task in model.TASKS:
            return model
    return None


def renew_leases(holders: set[str]) -> int:
    """Push the expiry of every active run held by ``holders`` forward; the number renewed."""
    if not holders:
        return 0
    expiry = lease_expiry()
    return sum(
        model.objects.filter(lease_holder__in=holders, status__in=_ACTIVE).update(
            lease_expires_at=expiry
        )
        for model in run_models()
    )


def sweep_lapsed_leases() -> int:
    """Hand back every active run whose lease lapsed; the number handed back."""
    now = timezone.now()
    count = 0
    for model in run_models():
        lapsed = model.objects.filter(status__in=_ACTIVE, lease_expires_at__lt=now)
        for pk, holder in lapsed.values_list("pk", "lease_holder"):
            note = (
                f"{now:%Y-%m-%d %H:%M:%S} UTC: {holder or 'a worker'} stopped renewing the lease."
            )
            count += model.hand_back(pk, holder, note, interrupted=True)
    return count
