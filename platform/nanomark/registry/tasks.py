"""django-q2 tasks of the registry app: thin glue around ``ml/``."""

import logging

from nanomark.registry.models import TrainingRun
from nanomark.registry.training import train

logger = logging.getLogger(__name__)


def train_model(run_pk: int) -> None:
    """Train the model of TrainingRun ``run_pk`` and store it as a ModelVersion."""
    if not TrainingRun.claim(run_pk):
        logger.info("training run %s is finished or out of attempts; skipping", run_pk)
        return
    run = TrainingRun.objects.select_related("lab", "created_by").get(pk=run_pk)
    try:
        version = train(run)
    except Exception as exc:
        TrainingRun.record_failure(run_pk, f"{type(exc).__name__}: {exc}")
        raise
    TrainingRun.finish(
        run_pk, model_version=version, log=version.metrics["cross_validation"]["table"]
    )
