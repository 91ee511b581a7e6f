"""Monte Carlo deposition runs and GFN2-xTB calculations, with their provenance.

A Monte Carlo run names the defect map it used (a stored DefectMask, or the
segmentation of an analysis run) and the adsorption energies its probabilities
came from; those energies name the three xtb calculations behind them.
Energies are stored in Eh (hartree) for raw results and kcal/mol for
adsorption energies; lengths in Å for geometries and nm for images.
"""

from django.conf import settings
from django.db import models

from nanomark.accounts.models import LabOwned
from nanomark.computations.choices import AdsorptionSiteKind, XtbTaskKind
from nanomark.imaging.models import DefectMask, SEMImage
from nanomark.results.models import AnalysisRun
from nanomark.runs import BackgroundRun
from nanomark.samples.models import Material, Sample


class XtbCalculation(LabOwned, BackgroundRun):
    """One run of the xtb program (GFN2-xTB by default) on one geometry."""

    TASKS = (
        "nanomark.computations.tasks.run_xtb_calculation",
        "nanomark.computations.tasks.run_adsorption_complex",
    )

    sample = models.ForeignKey(
        Sample, null=True, blank=True, on_delete=models.SET_NULL, related_name="xtb_calculations"
    )
    material = models.ForeignKey(
        Material, null=True, blank=True, on_delete=models.SET_NULL, related_name="xtb_calculations"
    )
    derived_from = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="+")
    name = models.CharField(max_length=120, help_text="e.g. Pd13 on C96H24, zigzag edge")
    task = models.CharField(max_length=4, choices=XtbTaskKind.choices)
    method = models.CharField(max_length=20, default="GFN2-xTB")
    program_version = models.CharField(max_length=40, blank=True)
    input_xyz = models.TextField(help_text="XYZ, Å")
    charge = models.SmallIntegerField(default=0)
    unpaired_electrons = models.PositiveSmallIntegerField(default=0)
    electronic_temperature_k = models.FloatField(default=300.0)
    solvent = models.CharField(max_length=40, blank=True, help_text="implicit solvent, if any")
    parameters = models.JSONField(default=dict, blank=True, help_text="scan / MD settings")
    energy_eh = models.FloatField(null=True, blank=True)
    gradient_norm_eh_bohr = models.FloatField(null=True, blank=True)
    homo_lumo_gap_ev = models.FloatField(null=True, blank=True)
    optimized_xyz = models.TextField(blank=True)
    output = models.JSONField(default=dict, blank=True, help_text="charges, scan, MD summary")
    retries = models.JSONField(default=list, blank=True, help_text="SCC retries and outcomes")
    log = models.FileField(max_length=255, blank=True)
    wall_time_s = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-queued_at"]
        verbose_name = "xtb calculation"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_task_display()}, {self.status})"


class AdsorptionEnergy(LabOwned):
    """E_ads = E_complex − E_cluster − E_surface for one adsorption site, in kcal/mol.

    The row is made once the complex has converged (its electronic temperature
    fixes the one at which cluster and surface are computed) and the energy is
    filled in when the last of the three calculations succeeds.
    """

    material = models.ForeignKey(
        Material, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    site = models.CharField(max_length=20, choices=AdsorptionSiteKind.choices)
    complex_calculation = models.OneToOneField(
        XtbCalculation, on_delete=models.PROTECT, related_name="adsorption_energy"
    )
    cluster_calculation = models.ForeignKey(
        XtbCalculation, on_delete=models.PROTECT, related_name="+"
    )
    surface_calculation = models.ForeignKey(
        XtbCalculation, on_delete=models.PROTECT, related_name="+"
    )
    energy_kcal_mol = models.FloatField(
        null=True, blank=True, help_text="empty until all three calculations succeeded"
    )
    electronic_temperature_k = models.FloatField(help_text="of all three calculations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["energy_kcal_mol"]
        verbose_name_plural = "adsorption energies"

    def __str__(self) -> str:
        if self.energy_kcal_mol is None:
            return f"{self.get_site_display()}: pending"
        return f"{self.get_site_display()}: {self.energy_kcal_mol:.1f} kcal/mol"


class MonteCarloRun(LabOwned, BackgroundRun):
    """A Monte Carlo deposition of Pd particles on a defect map (Boiko et al. 2021, Fig. 4-5)."""

    TASKS = ("nanomark.computations.tasks.run_monte_carlo",)

    sample = models.ForeignKey(
        Sample, null=True, blank=True, on_delete=models.SET_NULL, related_name="monte_carlo_runs"
    )
    source_image = models.ForeignKey(
        SEMImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="monte_carlo_runs"
    )
    defect_mask = models.ForeignKey(
        DefectMask,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="monte_carlo_runs",
        help_text="the defect map used, when taken from a stored mask",
    )
    segmentation_run = models.ForeignKey(
        AnalysisRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="monte_carlo_runs",
        help_text="the defect map used, when taken from a segmentation",
    )
    adsorption_energies = models.ManyToManyField(
        AdsorptionEnergy, blank=True, related_name="monte_carlo_runs"
    )
    parameters = models.JSONField(default=dict, help_text="DepositionParams as a dict")
    seed = models.BigIntegerField(default=0)
    pixel_size_nm = models.FloatField(null=True, blank=True)
    particle_diameter_nm = models.FloatField(
        default=3.0, help_text="defect lines are widened to half of it, as in the paper"
    )
    kinetics = models.JSONField(
        default=dict, blank=True, help_text="per-step counts in solution / pristine / defect"
    )
    rate_per_step = models.FloatField(null=True, blank=True, help_text="first-order fit")
    rate_r_squared = models.FloatField(null=True, blank=True)
    clark_evans_r = models.FloatField(null=True, blank=True)
    final_positions = models.FileField(
        max_length=255, blank=True, help_text="CSV x_px,y_px,state (px in the image's field)"
    )
    rendered_image = models.FileField(max_length=255, blank=True, help_text="PNG")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-queued_at"]
        verbose_name = "Monte Carlo run"

    def __str__(self) -> str:
        return f"Monte Carlo run {self.pk} ({self.status})"
