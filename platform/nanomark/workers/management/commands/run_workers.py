"""``manage.py run_workers``: django-q2's qcluster whose SIGTERM hands running work back.

django-q2's own stop lets the workers finish what they run and what the
pusher prefetched, which can take up to the task timeout; an orchestrator
kills them long before (Docker after 10 s). This command sets
:data:`nanomark.workers.leases.STOPPING` first, so every worker hands its run
back (attempt refunded) and the pusher releases its prefetched runs within a
second, then stops the cluster as qcluster does.
"""

from django.core.management.base import BaseCommand
from django_q.cluster import Cluster

from nanomark.workers.leases import STOPPING


class HandingBackCluster(Cluster):
    """A django-q2 cluster whose SIGTERM/SIGINT first tells every process to hand back."""

    def sig_handler(self, signum, frame) -> None:
        STOPPING.set()
        super().sig_handler(signum, frame)


class Command(BaseCommand):
    help = "Start the background workers (django-q2 qcluster); SIGTERM hands running work back."

    def handle(self, *args, **options) -> None:
        HandingBackCluster().start()
