"""``manage.py monte_carlo --mask PK``: simulate Pd deposition on a stored defect mask."""

from dataclasses import replace

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nanomark.computations.services import (
    DEFAULT_PARTICLE_DIAMETER_NM,
    SimulationRejected,
    create_monte_carlo_run,
)
from nanomark.computations.tasks import run_monte_carlo
from nanomark.imaging.models import DefectMask
from simulation.montecarlo import DepositionParams


class Command(BaseCommand):
    help = (
        "Queue (or, with --now, run here) a Monte Carlo deposition on a defect mask, "
        "with the paper's settings unless told otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mask", type=int, required=True, help="DefectMask primary key")
        parser.add_argument("--particles", type=int, default=1500)
        parser.add_argument("--steps", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--particle-diameter-nm", type=float, default=DEFAULT_PARTICLE_DIAMETER_NM
        )
        parser.add_argument("--now", action="store_true", help="run in this process")

    def handle(self, *args, **options) -> None:
        mask = DefectMask.objects.select_related("image").filter(pk=options["mask"]).first()
        if mask is None:
            raise CommandError(f"no defect mask {options['mask']}")
        try:
            params = replace(
                DepositionParams.paper_defaults(ordered=True),
                n_particles=options["particles"],
                n_steps=options["steps"],
            )
            run = create_monte_carlo_run(
                defect_mask=mask,
                params=params,
                seed=options["seed"],
                particle_diameter_nm=options["particle_diameter_nm"],
                enqueue=not options["now"],
            )
        except (ValueError, SimulationRejected) as exc:
            raise CommandError(str(exc)) from exc
        if options["now"]:
            run_monte_carlo(run.pk)
            run.refresh_from_db()
            self.stdout.write(
                f"Monte Carlo run {run.pk}: {run.status}; k = {run.rate_per_step:.4g}/step "
                f"(R² {run.rate_r_squared:.4f}), Clark-Evans R = {run.clark_evans_r:.3f}"
            )
        else:
            self.stdout.write(f"Monte Carlo run {run.pk} queued for the worker.")
