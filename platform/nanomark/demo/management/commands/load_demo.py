"""``manage.py load_demo``: a demo lab with simulated SEM images, ready to explore.

Creates the lab "Demo lab" and the user ``demo`` with a password generated
for this run (printed once; earlier ones stop working), generates a synthetic
data set under ``var/demo/`` unless it is there already, loads it, trains a
quick order classifier (with its patch embedder) and defect segmenter if the
lab has none active, analyses the images, and runs Monte Carlo depositions on
the first defect masks so the computations pages have results. Later runs
reuse everything and take seconds.

The demo models are trained with the recipe of the machine's device
(:mod:`ml.devicerecipes`; on a CPU its ResNet18 classifier and FPN-ResNet18
segmenter) for a fixed budget, :data:`DEMO_TRAINING`, so that a first run
stays within minutes: half the images are ordered, so the classifier is
cross-validated on both classes.
"""

import secrets
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from ml.devicerecipes import AUTO
from nanomark.accounts.choices import Role
from nanomark.accounts.models import Lab, Membership
from nanomark.computations.models import MonteCarloRun
from nanomark.computations.services import create_monte_carlo_run
from nanomark.computations.tasks import run_monte_carlo
from nanomark.imaging.choices import AnnotationSource
from nanomark.imaging.models import DefectMask, OrderLabel, SEMImage
from nanomark.imaging.synthetic import load_synthetic_dataset
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion, TrainingRun
from nanomark.registry.tasks import train_model
from nanomark.registry.training import TrainingRejected, create_training_run
from nanomark.results.models import AnalysisRun
from nanomark.results.services import queue_analyses
from nanomark.results.tasks import analyse_image
from nanomark.runs import RunStatus
from simulation.dataset import write_dataset
from simulation.montecarlo import DepositionParams

DEMO_LAB = ("Demo lab", "demo")
DEMO_USER = "demo"
DEMO_STEPS = 4000
#: Training budget of each demo model: two folds of 0.4 minutes and a final fit of
#: 1.2 minutes (about 2 minutes a model on two cores).
DEMO_TRAINING = {"folds": 2, "minutes": 1.2, "fold_minutes": 0.4}
#: The demo's models, (task, architecture, encoder): the device's recipe's.
DEMO_MODELS = [
    (ModelTask.ORDER_CLASSIFIER, AUTO, None),
    (ModelTask.DEFECT_SEGMENTER, "fpn", AUTO),
]
#: Share of ordered demo images.
DEMO_ORDERED_FRACTION = 0.5


class Command(BaseCommand):
    help = "Create or refresh the demo lab, its user and its simulated images."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--images", type=int, default=12, help="synthetic images (default 12)")
        parser.add_argument("--seed", type=int, default=2021)
        parser.add_argument(
            "--no-training", action="store_true", help="analyse without training demo models"
        )
        parser.add_argument(
            "--monte-carlo-runs", type=int, default=2, help="depositions to simulate (default 2)"
        )

    def handle(self, *args, **options) -> None:
        lab, _ = Lab.objects.get_or_create(slug=DEMO_LAB[1], defaults={"name": DEMO_LAB[0]})
        user, password = self._demo_user()
        Membership.objects.update_or_create(user=user, lab=lab, defaults={"role": Role.ADMIN})

        folder = settings.VAR_DIR / "demo" / f"seed{options['seed']}-n{options['images']}-half"
        if not (folder / "manifest.json").exists():
            self.stdout.write(f"Generating {options['images']} synthetic SEM images in {folder} …")
            write_dataset(
                folder, options["images"], options["seed"], DEMO_ORDERED_FRACTION, progress=False
            )
        counts = load_synthetic_dataset(folder, lab, user)
        self.stdout.write(
            f"Demo images: {counts['images_created']} new, "
            f"{counts['images_existing']} already loaded."
        )
        if not options["no_training"]:
            self._train(lab, user)
        self._analyse(lab, user)
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

    def _train(self, lab: Lab, user) -> None:
        active = {v.task for v in ModelVersion.objects.filter(lab=lab, is_active=True)}
        for task, architecture, encoder in DEMO_MODELS:
            if task in active:
                continue
            try:
                run = create_training_run(
                    lab=lab,
                    task=task,
                    architecture=architecture,
                    encoder=encoder,
                    options=DEMO_TRAINING,
                    created_by=user,
                    enqueue=False,
                )
            except TrainingRejected as exc:
                self.stdout.write(f"No demo {task.replace('_', ' ')}: {exc}")
                continue
            self.stdout.write(f"Training a demo {task.replace('_', ' ')} …")
            started = time.monotonic()
            train_model(run.pk)
            version = TrainingRun.objects.get(pk=run.pk).model_version
            version.activate()  # a classifier brings its patch embedder along
            self.stdout.write(f"Trained {version.name} in {time.monotonic() - started:.0f} s.")

    def _analyse(self, lab: Lab, user) -> None:
        queue_analyses(
            SEMImage.objects.filter(lab=lab).order_by("pk"),
            reason="demo",
            created_by=user,
            enqueue_runs=False,
        )
        # Also runs queued earlier and not superseded (the worker skips finished ones).
        runs = list(AnalysisRun.objects.filter(lab=lab, status=RunStatus.QUEUED).order_by("pk"))
        for number, run in enumerate(runs, start=1):
            # Here rather than on the worker, so the pages show results at once.
            started = time.monotonic()
            analyse_image(run.pk)
            self.stdout.write(
                f"Analysed demo image {number} of {len(runs)} "
                f"in {time.monotonic() - started:.1f} s."
            )

    def _simulate(self, lab: Lab, user, wanted: int) -> None:
        masks = DefectMask.objects.filter(
            image__lab=lab,
            source=AnnotationSource.SIMULATION,
            image_id__in=OrderLabel.objects.current().filter(label="ordered").values("image_id"),
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
