"""``manage.py load_synthetic FOLDER --lab SLUG``: load a simulation/ data set into a lab."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nanomark.accounts.commandargs import lab_from_slug, user_from_name
from nanomark.imaging.services import ImageRejected
from nanomark.imaging.synthetic import DatasetInvalid, load_synthetic_dataset


class Command(BaseCommand):
    help = (
        "Load images written by `python -m simulation.dataset` into a lab as samples, images, "
        "order labels and defect masks (simulation ground truth). Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--lab", required=True, help="lab slug")
        parser.add_argument("--user", help="username recorded as the uploader")

    def handle(self, *args, **options) -> None:
        lab = lab_from_slug(options["lab"])
        user = user_from_name(options["user"])
        try:
            counts = load_synthetic_dataset(options["folder"], lab, user)
        except (DatasetInvalid, ImageRejected) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{counts['images_created']} images imported, {counts['images_existing']} already "
            f"there; {counts['labels_created']} order labels and {counts['masks_created']} "
            f"defect masks added (lab {lab.slug})"
        )
