"""Choice constants of the registry app."""

from django.db import models


class ModelTask(models.TextChoices):
    """What a model version does."""

    ORDER_CLASSIFIER = "order_classifier", "Order classifier"
    DEFECT_SEGMENTER = "defect_segmenter", "Defect segmenter"
    PATCH_EMBEDDER = "patch_embedder", "Patch embedder"
