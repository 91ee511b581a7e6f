"""Choice constants of the computations app."""

from django.db import models


class XtbTaskKind(models.TextChoices):
    """What an xtb calculation computed."""

    SINGLE_POINT = "sp", "Single point"
    OPTIMIZATION = "opt", "Geometry optimisation"
    SCAN = "scan", "Relaxed scan"
    MD = "md", "Molecular dynamics"


class AdsorptionSiteKind(models.TextChoices):
    """Where on the carbon surface a cluster sits."""

    BASAL = "basal", "Basal plane"
    ARMCHAIR_EDGE = "armchair_edge", "Armchair edge"
    ZIGZAG_EDGE = "zigzag_edge", "Zigzag edge"
    DEFECT = "defect", "Defect"
