"""Choice constants of the registry app (values are ml.spec's task names)."""

from django.db import models

from ml import spec


class ModelTask(models.TextChoices):
    """What a model version does."""

    ORDER_CLASSIFIER = spec.ORDER_CLASSIFIER, "Order classifier"
    DEFECT_SEGMENTER = spec.DEFECT_SEGMENTER, "Defect segmenter"
    PATCH_EMBEDDER = spec.PATCH_EMBEDDER, "Patch embedder"
    PARTICLE_SEGMENTER = spec.PARTICLE_SEGMENTER, "Particle segmenter"
