"""The lease keeper of a worker or pusher process, and the context every run task runs in.

Each django-q2 worker process (and each pusher, see :mod:`.broker`) runs one
:class:`Keeper` thread. Every quarter of ``NANOMARK_LEASE_S`` it renews the
leases its process holds and sweeps lapsed leases of any host
(:func:`nanomark.runs.sweep_lapsed_leases`), so a dead worker's run is queued
again within a lease and a quarter, whichever clusters are still alive.

Stopping: :data:`STOPPING` is set by ``manage.py run_workers`` when it gets
SIGTERM or SIGINT (it is created before the cluster forks, so every process of
the cluster shares it). A busy worker's keeper then interrupts its main
thread, which hands the run back with its attempt refunded (:func:`leased`);
the pusher's keeper releases the runs it prefetched (:mod:`.broker`); the
workers skip what is left in the cluster's memory until django-q2's stop pill
ends them. A SIGTERM sent to a worker process directly (systemd's
``KillMode=control-group``) hands its run back and exits at once.

A task runs its body inside :func:`leased`, which claims the run, registers
its lease with the keeper, and turns what ends the body into the run's state:
an exception or django-q2's timeout spends the attempt (queued again while
attempts remain), a stop hands the run back.
"""

import logging
import multiprocessing
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connections
from django_q.exceptions import TimeoutException

from nanomark.runs import MAX_ATTEMPTS, BackgroundRun, renew_leases, sweep_lapsed_leases

logger = logging.getLogger(__name__)

#: Set in every process of a cluster when ``run_workers`` is asked to stop.
STOPPING = multiprocessing.get_context("fork").Event()


class WorkerStopping(SystemExit):
    """The worker process is asked to stop: its run is handed back.

    ``graceful``: the cluster is stopping through ``run_workers`` (its keeper
    raised this); the worker then goes on taking what the pusher had queued in
    memory, skipping it (:func:`leased`), until django-q2's stop pill ends it.
    Otherwise (a SIGTERM from outside) the process exits at once.
    """

    def __init__(self, graceful: bool = False) -> None:
        super().__init__(0)
        self.graceful = graceful


def renew_interval_s() -> float:
    """Seconds between a keeper's renewals and sweeps: a quarter of the lease."""
    return settings.NANOMARK_LEASE_S / 4


class Keeper(threading.Thread):
    """Renews this process's leases and sweeps lapsed ones until the cluster stops.

    Args:
        on_stop: called in the keeper thread once :data:`STOPPING` is set.
    """

    def __init__(self, on_stop) -> None:
        super().__init__(name="lease-keeper", daemon=True)
        self.holders: set[str] = set()
        self._lock = threading.Lock()
        self._on_stop = on_stop

    def hold(self, holder: str) -> None:
        with self._lock:
            self.holders.add(holder)

    def release(self, holder: str) -> None:
        with self._lock:
            self.holders.discard(holder)

    def run(self) -> None:
        while not STOPPING.wait(renew_interval_s()):
            with self._lock:
                holders = set(self.holders)
            try:
                renew_leases(holders)
                swept = sweep_lapsed_leases()
                if swept:
                    logger.warning("queued again %d run(s) whose lease lapsed", swept)
            except DatabaseError:
                logger.exception("renewing or sweeping leases failed; trying again")
            finally:
                connections.close_all()  # the thread's own; idle between cycles
        self._on_stop()


_keeper: Keeper | None = None


def keeper() -> Keeper | None:
    """This process's keeper, or None where none runs (the web, tests running tasks inline)."""
    return _keeper


def start_keeper(on_stop) -> Keeper:
    """Start this process's keeper (once); ``on_stop`` runs in it when the cluster stops."""
    global _keeper
    if _keeper is None or not _keeper.is_alive():
        _keeper = Keeper(on_stop)
        _keeper.start()
    return _keeper


def signal_main_thread() -> None:
    """Send SIGTERM to this process's main thread (it interrupts a blocking wait there)."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)


_stop_from_keeper = threading.Event()


def _interrupt_run() -> None:
    """The worker keeper's stop: interrupt the run the worker holds, if any."""
    if _keeper is not None and _keeper.holders:
        _stop_from_keeper.set()
        signal_main_thread()


def _stop_worker(signum, frame) -> None:
    graceful = _stop_from_keeper.is_set()
    if graceful and not (_keeper and _keeper.holders):
        return  # the run ended meanwhile; the stop pill will end the worker
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the hand-back must not be cut short
    raise WorkerStopping(graceful)


def start_in_worker(sender, proc_name: str, **kwargs) -> None:
    """django-q2 ``post_spawn`` receiver: a worker process stops on SIGTERM and keeps leases."""
    signal.signal(signal.SIGTERM, _stop_worker)
    start_keeper(_interrupt_run)


@contextmanager
def leased(model: type[BackgroundRun], pk: int, max_attempts: int = MAX_ATTEMPTS) -> Iterator:
    """Claim run ``pk`` of ``model`` for the body; yields the lease holder, or None.

    None: the run is finished, held by another delivery, or out of attempts,
    or the cluster is stopping (the pusher released the run); the body should
    return. An exception of the body is saved on the run (queued again while
    attempts remain) and not raised further.
    """
    holder = None if STOPPING.is_set() else model.claim(pk, max_attempts)
    if holder is None:
        logger.info("%s %s is finished, taken or out of attempts; skipping", model.__name__, pk)
        yield None
        return
    process_keeper = keeper()
    if process_keeper is not None:
        process_keeper.hold(holder)
    started = time.monotonic()
    try:
        yield holder
    except TimeoutException:
        model.record_failure(pk, holder, _timeout_message(started), max_attempts)
        raise
    except WorkerStopping as stop:
        if time.monotonic() - started >= settings.Q_TIMEOUT_S:
            # The cluster's guard stops a worker that ran past the timeout with SIGTERM.
            model.record_failure(pk, holder, _timeout_message(started), max_attempts)
        else:
            model.hand_back(pk, holder, "The worker was stopped; queued again.", interrupted=False)
        if not stop.graceful:
            raise
    except Exception as exc:
        logger.exception("%s %s failed", model.__name__, pk)
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"
        model.record_failure(pk, holder, error, max_attempts)
    finally:
        if process_keeper is not None:
            process_keeper.release(holder)


def _timeout_message(started: float) -> str:
    return (
        f"TimeoutError: stopped after {time.monotonic() - started:.0f} s, past "
        f"NANOMARK_TASK_TIMEOUT_S ({settings.Q_TIMEOUT_S} s)."
    )
