"""``manage.py activate_model VERSION``: make a model version the lab's active one for its task."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nanomark.registry.models import ModelVersion


class Command(BaseCommand):
    help = "Activate a model version (by primary key or name); the lab's previous one is retired."

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
        version.activate()
        self.stdout.write(
            f"{version.name} is now the active {version.get_task_display().lower()} "
            f"of {version.lab}."
        )
