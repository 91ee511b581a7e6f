"""django-q2 tasks of the registry app: thin glue around ``ml/``."""

from nanomark.registry.models import TrainingRun
from nanomark.registry.training import train
from nanomark.workers.leases import leased


def train_model(run_pk: int) -> None:
    """Train the model of TrainingRun ``run_pk`` and store it as a ModelVersion."""
    with leased(TrainingRun, run_pk) as holder:
        if holder is None:
            return
        run = TrainingRun.objects.select_related("lab", "created_by").get(pk=run_pk)
        version = train(run)
        TrainingRun.finish(
            run_pk, holder, model_version=version, log=version.metrics["cross_validation"]["table"]
        )
