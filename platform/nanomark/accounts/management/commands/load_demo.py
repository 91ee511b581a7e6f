"""``manage.py load_demo``: a demo lab with simulated SEM images, ready to explore.

Creates the lab "Demo lab" and the user ``demo`` with a password generated
for this run (printed once; earlier ones stop working), generates a synthetic
data set under ``var/demo/`` unless it is there already, loads it, and runs
Monte Carlo depositions on the first defect masks so the computations pages
have results. Later runs reuse everything and take seconds.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from nanomark.accounts.choices import Role
from nanomark.accounts.models import Lab, Membership
from nanomark.computations.models import MonteCarloRun
from nanomark.computations.services import create_monte_carlo_run
from nanomark.computations.tasks import run_monte_carlo
from nanomark.imaging.choices import AnnotationSource
from nanomark.imaging.models import DefectMask
from nanomark.imaging.synthetic import load_synthetic_dataset
from simulation.dataset import write_dataset
from simulation.montecarlo import DepositionParams

DEMO_LAB = ("Demo lab", "demo")
DEMO_USER = "demo"
DEMO_STEPS = 4000


class Command(BaseCommand):
    help = "Create or refresh the demo lab, its user and its simulated images."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--images", type=int, default=12, help="synthetic images (default 12)")
        parser.add_argument("--seed", type=int, default=2021)
        parser.add_argument(
            "--monte-carlo-runs", type=int, default=2, help="depositions to simulate (default 2)"
        )

    def handle(self, *args, **options) -> None:
        lab, _ = Lab.objects.get_or_create(slug=DEMO_LAB[1], defaults={"name": DEMO_LAB[0]})
        user, password = self._demo_user()
        Membership.objects.update_or_create(user=user, lab=lab, defaults={"role": Role.ADMIN})

        folder = settings.VAR_DIR / "demo" / f"seed{options['seed']}-n{options['images']}"
        if not (folder / "manifest.json").exists():
            self.stdout.write(f"Generating {options['images']} synthetic SEM images in {folder} …")
            write_dataset(folder, options["images"], options["seed"], progress=False)
        counts = load_synthetic_dataset(folder, lab, user)
        self.stdout.write(
            f"Demo images: {counts['images_created']} new, "
            f"{counts['images_existing']} already loaded."
        )
        self._simulate(lab, user, options["monte_carlo_runs"])

        self.stdout.write(
            self.style.SUCCESS(f"Log in as '{DEMO_USER}' with password: {password}")
            + "\n(generated for this run; `make run` prints a new one each time)"
        )

    def _demo_user(self):
        user, _ = get_user_model().objects.get_or_create(
            username=DEMO_USER, defaults={"is_staff": True, "is_superuser": True}
        )
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save(update_fields=["password"])
        return user, password

    def _simulate(self, lab: Lab, user, wanted: int) -> None:
        masks = DefectMask.objects.filter(
            image__lab=lab,
            source=AnnotationSource.SIMULATION,
            image__order_labels__label="ordered",
            monte_carlo_runs__isnull=True,
        ).select_related("image")
        missing = max(0, wanted - MonteCarloRun.objects.filter(lab=lab).count())
        for mask in masks[:missing]:
            run = create_monte_carlo_run(
                defect_mask=mask,
                # Longer than the paper's 1,000 steps, so most particles reach the defects.
                params=DepositionParams.paper_defaults(ordered=True, n_steps=DEMO_STEPS),
                seed=mask.pk,
                created_by=user,
                enqueue=False,
            )
            # Run here rather than on the worker, so the pages show results at once.
            run_monte_carlo(run.pk)
            self.stdout.write(f"Simulated Monte Carlo deposition on {mask.image}.")
