"""Choice constants of the imaging app."""

from django.db import models


class PixelSizeSource(models.TextChoices):
    """Where an image's pixel size came from."""

    METADATA = "metadata", "File metadata"
    SIDECAR = "sidecar", "Instrument sidecar file"
    SCALE_BAR = "scale_bar", "Scale bar read from the data bar"
    MANUAL = "manual", "Entered by hand"


class FieldSource(models.TextChoices):
    """How an image's field (the specimen area, without the instrument's data bar) was found."""

    DATA_BAR = "data_bar", "Data bar detected"
    FULL_FRAME = "full_frame", "No data bar found: the whole frame"
    MANUAL = "manual", "Set by hand"


class OrderClass(models.TextChoices):
    """The paper's two classes of particle arrangement."""

    ORDERED = "ordered", "Ordered"
    DISORDERED = "disordered", "Disordered"


class AnnotationSource(models.TextChoices):
    """Who drew a label or mask."""

    HUMAN = "human", "Human annotator"
    SIMULATION = "simulation", "Simulation ground truth"
