"""``manage.py reindex``: rebuild the search indexes from the patch embeddings in the database."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nanomark.accounts.commandargs import lab_from_slug
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.search.index import rebuild_index


class Command(BaseCommand):
    help = "Rebuild the FAISS index of every embedder version (or of one) from the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--embedder", type=int, help="embedder ModelVersion primary key")
        parser.add_argument("--lab", help="lab slug: only this lab's embedders")

    def handle(self, *args, **options) -> None:
        embedders = ModelVersion.objects.filter(task=ModelTask.PATCH_EMBEDDER).order_by("pk")
        if options["lab"]:
            embedders = embedders.filter(lab=lab_from_slug(options["lab"]))
        if options["embedder"] is not None:
            embedders = embedders.filter(pk=options["embedder"])
            if not embedders.exists():
                raise CommandError(f"no embedder model version {options['embedder']}")
        for embedder in embedders:
            count = rebuild_index(embedder)
            self.stdout.write(f"{embedder.name}: {count} vectors indexed.")
