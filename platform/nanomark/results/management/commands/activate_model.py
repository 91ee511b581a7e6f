"""``manage.py activate_model VERSION``: make a version the lab's active one and re-analyse."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nanomark.registry.models import ModelVersion
from nanomark.results.services import activate_version


class Command(BaseCommand):
    help = (
        "Activate a model version (by primary key or name); the lab's previous one is retired "
        "and the lab's images are queued for analysis with the new set of models."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="primary key or name")
        parser.add_argument("--lab", help="lab slug (needed when names repeat across labs)")

    def handle(self, *args, **options) -> None:
        versions = ModelVersion.objects.select_related("lab")
        if options["lab"]:
            versions = versions.filter(lab__slug=options["lab"])
        key = options["version"]
        found = list(
            (versions.filter(pk=int(key)) if key.isdigit() else versions.filter(name=key))[:2]
        )
        if not found:
            raise CommandError(f"no model version {key!r}")
        if len(found) > 1:
            raise CommandError(f"several labs have a version {key!r}: name one with --lab")
        version = found[0]
        runs = activate_version(version)
        self.stdout.write(
            f"{version.name} is now the active {version.get_task_display().lower()} "
            f"of {version.lab}; {len(runs)} images queued for analysis."
        )
