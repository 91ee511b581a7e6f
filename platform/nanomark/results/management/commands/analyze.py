"""``manage.py analyze``: analyse images with their labs' active models (all, a sample, recent)."""

import datetime as dt
from collections import Counter

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from nanomark.accounts.commandargs import lab_from_slug, user_from_name
from nanomark.imaging.models import SEMImage
from nanomark.results.models import AnalysisRun
from nanomark.results.services import queue_analyses
from nanomark.results.tasks import analyse_image
from nanomark.runs import RunStatus


class Command(BaseCommand):
    help = (
        "Queue (or, with --now, run here) the analysis of images that have no run with their "
        "lab's active model versions yet. Choose images with --all, --sample or --since."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        chosen = parser.add_mutually_exclusive_group(required=True)
        chosen.add_argument("--all", action="store_true", help="every image")
        chosen.add_argument("--sample", help="one sample's code (with --lab)")
        chosen.add_argument(
            "--since", type=dt.date.fromisoformat, help="images uploaded on or after YYYY-MM-DD"
        )
        parser.add_argument("--lab", help="lab slug: only this lab's images")
        parser.add_argument("--user", help="username recorded as the batch's creator")
        parser.add_argument("--now", action="store_true", help="analyse in this process")

    def handle(self, *args, **options) -> None:
        images = SEMImage.objects.order_by("pk")
        if options["lab"]:
            images = images.filter(lab=lab_from_slug(options["lab"]))
        if options["sample"]:
            if not options["lab"]:
                raise CommandError("--sample needs --lab (sample codes are unique per lab)")
            images = images.filter(sample__code=options["sample"])
            if not images.exists():
                raise CommandError(f"sample {options['sample']!r} has no images in that lab")
        if options["since"]:
            images = images.filter(uploaded_at__date__gte=options["since"])
        runs = queue_analyses(
            images,
            reason="manage.py analyze",
            created_by=user_from_name(options["user"]),
            enqueue_runs=not options["now"],
        )
        if not runs:
            self.stdout.write("Nothing to do: every image chosen has a run with the active models.")
            return
        batches = ", ".join(str(pk) for pk in sorted({run.batch_id for run in runs}))
        if not options["now"]:
            self.stdout.write(f"Queued {len(runs)} analyses for the workers (batch {batches}).")
            return
        for run in tqdm(runs, desc="analysing", unit="image", disable=None):
            analyse_image(run.pk)
        statuses = Counter(
            AnalysisRun.objects.filter(pk__in=[run.pk for run in runs]).values_list(
                "status", flat=True
            )
        )
        self.stdout.write(
            f"Analysed {statuses[RunStatus.SUCCEEDED]} of {len(runs)} images (batch {batches}); "
            f"{statuses[RunStatus.FAILED]} failed, {statuses[RunStatus.QUEUED]} queued again "
            "for the workers after an error."
        )
