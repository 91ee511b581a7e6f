"""Choice constants of the computations app (values are simulation's constants)."""

from django.db import models

from simulation.adsorption import AdsorptionSite
from simulation.xtbspec import XtbTask


class XtbTaskKind(models.TextChoices):
    """What an xtb calculation computed."""

    SINGLE_POINT = XtbTask.SINGLE_POINT, "Single point"
    OPTIMIZATION = XtbTask.OPTIMIZATION, "Geometry optimisation"
    SCAN = XtbTask.SCAN, "Relaxed scan"
    MD = XtbTask.MD, "Molecular dynamics"


class AdsorptionSiteKind(models.TextChoices):
    """Where on the carbon surface a cluster sits."""

    BASAL = AdsorptionSite.BASAL, "Basal plane"
    ARMCHAIR_EDGE = AdsorptionSite.ARMCHAIR_EDGE, "Armchair edge"
    ZIGZAG_EDGE = AdsorptionSite.ZIGZAG_EDGE, "Zigzag edge"
    DEFECT = AdsorptionSite.DEFECT, "Defect"
