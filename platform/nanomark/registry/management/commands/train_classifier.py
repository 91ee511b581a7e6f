"""``manage.py train_classifier --lab SLUG``: train an order classifier on the lab's labels."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.devicerecipes import AUTO
from nanomark.accounts.commandargs import lab_from_slug, user_from_name
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import TrainingRun
from nanomark.registry.tasks import train_model
from nanomark.registry.training import TrainingRejected, create_training_run, task_settings


class Command(BaseCommand):
    help = (
        "Cross-validate and train an order classifier on the lab's labelled images; the result "
        "is a new model version (activate it with activate_model). Queued for the worker "
        "unless --now."
    )
    task = ModelTask.ORDER_CLASSIFIER
    default_architecture = AUTO
    default_encoder: str | None = None

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lab", required=True, help="lab slug")
        parser.add_argument(
            "--architecture",
            default=self.default_architecture,
            help=f"network; {AUTO} (default): the training device's recipe's",
        )
        if self.default_encoder is not None:
            parser.add_argument("--encoder", default=self.default_encoder)
        parser.add_argument("--user", help="username recorded as the trainer")
        for name, default in task_settings(self.task).items():
            option = f"--{name.replace('_', '-')}"
            # A default of None leaves the value to the recipe; minutes may be fractional.
            kind = type(default) if default is not None else float if "minutes" in name else int
            parser.add_argument(option, type=kind, default=default, dest=name)
        parser.add_argument("--now", action="store_true", help="train in this process")

    def handle(self, *args, **options) -> None:
        lab = lab_from_slug(options["lab"])
        user = user_from_name(options["user"])
        try:
            run = create_training_run(
                lab=lab,
                task=self.task,
                architecture=options["architecture"],
                encoder=options.get("encoder"),
                options={name: options[name] for name in task_settings(self.task)},
                created_by=user,
                enqueue=not options["now"],
            )
        except TrainingRejected as exc:
            raise CommandError(str(exc)) from exc
        if not options["now"]:
            self.stdout.write(f"Training run {run.pk} queued.")
            return
        train_model(run.pk)
        run = TrainingRun.objects.select_related("model_version").get(pk=run.pk)
        self.stdout.write(run.log)
        self.stdout.write(f"Stored model version {run.model_version.pk}: {run.model_version.name}")
