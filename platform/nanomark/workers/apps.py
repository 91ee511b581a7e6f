"""Django app of the worker side of run leases: starts the keeper in every worker process."""

from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "nanomark.workers"
    verbose_name = "Background workers"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from nanomark.workers.leases import start_in_worker

        post_spawn.connect(start_in_worker, dispatch_uid="nanomark-lease-keeper")
