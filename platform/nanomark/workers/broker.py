"""django-q2 brokers that lease the runs they prefetch, so a dead cluster's queue comes back.

A cluster's pusher takes tasks from the broker before a worker is free to
start them (up to ``queue_limit``). If the cluster dies then, the broker
has already handed those tasks out: Redis has removed them, the ORM broker
has locked them for ``retry`` seconds (35 minutes by default). These brokers
mark each run they hand out with a lease of the pusher process
(``lease_holder``), renewed by the pusher's keeper while the run waits, so
that the sweep (:func:`nanomark.runs.sweep_lapsed_leases`) queues it again
a lease after the cluster died. A worker's claim replaces the pusher's lease
with its own. When the cluster stops, the pusher releases its prefetched runs
at once (queued again with a fresh task for another cluster).

The broker's own redelivery can still bring a task back later; claims make
such a duplicate harmless (a run is finished, held, or run once).
"""

import logging
import signal

from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.signing import BadSignature, SignedPackage

from nanomark.runs import RunStatus, lease_expiry, model_of_task, new_holder, run_models
from nanomark.workers.leases import STOPPING, keeper, signal_main_thread, start_keeper

logger = logging.getLogger(__name__)


class LeasingBroker:
    """Mixin of a django-q2 broker: leases the runs of the tasks :meth:`dequeue` hands out."""

    _pusher_holder: str | None = None

    def dequeue(self):
        tasks = super().dequeue()
        if tasks:
            holder = self._start_pusher_keeper()
            for _ack_id, payload in tasks:
                _lease_prefetched(payload, holder)
        return tasks

    def _start_pusher_keeper(self) -> str:
        """The pusher's lease holder; its keeper and SIGTERM hand-back are set up once."""
        if LeasingBroker._pusher_holder is None:
            LeasingBroker._pusher_holder = new_holder()
            # dequeue() runs in the pusher's main thread, where handlers can be installed.
            signal.signal(signal.SIGTERM, _release_and_exit)
            start_keeper(signal_main_thread).hold(LeasingBroker._pusher_holder)
        return LeasingBroker._pusher_holder


class LeasingORM(LeasingBroker, ORM):
    """The ORM broker (the database as queue) with leases on prefetched runs."""


class LeasingRedis(LeasingBroker, Redis):
    """The Redis broker with leases on prefetched runs."""


def _lease_prefetched(payload, holder: str) -> None:
    """Lease the queued run that the task ``payload`` (a signed package) is for, if any."""
    try:
        task = SignedPackage.loads(payload)
    except (TypeError, BadSignature):
        return  # the pusher fails such a task itself
    func, args = task.get("func"), task.get("args") or ()
    model = model_of_task(func) if isinstance(func, str) else None
    if model is None or not args:
        return
    # A task taken while the cluster stops lapses at once, for the next sweep anywhere.
    expiry = timezone.now() if STOPPING.is_set() else lease_expiry()
    model.objects.filter(pk=args[0], status=RunStatus.QUEUED).update(
        lease_holder=holder, lease_expires_at=expiry
    )


def release_prefetched(holder: str) -> int:
    """Queue again every run still waiting under the pusher lease ``holder``; how many."""
    released = 0
    for model in run_models():
        waiting = model.objects.filter(lease_holder=holder, status=RunStatus.QUEUED)
        for pk in waiting.values_list("pk", flat=True):
            released += model.hand_back(
                pk, holder, "Its cluster stopped before starting it.", interrupted=False
            )
    return released


def _release_and_exit(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    holder = LeasingBroker._pusher_holder
    if holder is not None:
        count = release_prefetched(holder)
        logger.info("pusher stopping: %d prefetched run(s) queued again", count)
        pusher_keeper = keeper()
        if pusher_keeper is not None:
            pusher_keeper.release(holder)
    raise SystemExit(0)
