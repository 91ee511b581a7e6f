"""Choice constants of the imaging app."""

from django.db import models


class PixelSizeSource(models.TextChoices):
    """Where an image's pixel size came from."""

    METADATA = "metadata", "File metadata"
    SIDECAR = "sidecar", "Instrument sidecar file"
    MANUAL = "manual", "Entered by hand"


class OrderClass(models.TextChoices):
    """The paper's two classes of particle arrangement."""

    ORDERED = "ordered", "Ordered"
    DISORDERED = "disordered", "Disordered"


class AnnotationSource(models.TextChoices):
    """Who drew a label or mask."""

    HUMAN = "human", "Human annotator"
    SIMULATION = "simulation", "Simulation ground truth"
