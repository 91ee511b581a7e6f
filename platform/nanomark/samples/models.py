"""Samples of carbon materials and how they were made and measured.

Physical quantities are stored in one unit each, named in the field:
masses in mg, volumes in mL, temperatures in °C, durations in min.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse

from nanomark.accounts.models import LabOwned
from nanomark.accounts.querysets import LabScopedQuerySet
from nanomark.samples.choices import MaterialKind, SynthesisKind

ABSOLUTE_ZERO_C = -273.15
_non_negative = [MinValueValidator(0.0)]


class Material(LabOwned):
    """A carbon material as bought or made (the support that particles decorate)."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=30, choices=MaterialKind.choices, default=MaterialKind.OTHER)
    supplier = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name"], name="unique_material_name_per_lab")
        ]

    def __str__(self) -> str:
        return self.name


class Sample(LabOwned):
    """A physical sample; ``parent`` links a decorated sample to the one it was made from."""

    code = models.CharField(max_length=60, help_text="Lab code, unique in the lab, e.g. 532-S1.")
    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="samples")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "code"], name="unique_sample_code_per_lab")
        ]

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return reverse("sample-detail", args=[self.pk])

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.material_id and self.lab_id and self.material.lab_id != self.lab_id:
            raise ValidationError({"material": "The material belongs to another lab."})
        if self.parent_id:
            if self.parent.lab_id != self.lab_id:
                raise ValidationError({"parent": "The parent sample belongs to another lab."})
            ancestor = self.parent
            while ancestor is not None:
                if ancestor.pk == self.pk:
                    raise ValidationError({"parent": "A sample cannot descend from itself."})
                ancestor = ancestor.parent


#: The conditions a synthesis step records (fields of :class:`Synthesis`), in the order
#: forms, the API, CSV imports and exports list them.
SYNTHESIS_CONDITIONS = (
    "precursor",
    "precursor_mass_mg",
    "support_mass_mg",
    "solvent",
    "solvent_volume_ml",
    "temperature_c",
    "duration_min",
    "performed_on",
)


class Synthesis(models.Model):
    """One preparation step of a sample, e.g. Pd2dba3 decoration in CHCl3 at 80 °C for 1-5 min."""

    lab_path = "sample__lab"

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="syntheses")
    kind = models.CharField(
        max_length=30, choices=SynthesisKind.choices, default=SynthesisKind.PD_DECORATION
    )
    precursor = models.CharField(max_length=120, blank=True, help_text="e.g. Pd2dba3·CHCl3")
    precursor_mass_mg = models.FloatField(null=True, blank=True, validators=_non_negative)
    support_mass_mg = models.FloatField(null=True, blank=True, validators=_non_negative)
    solvent = models.CharField(max_length=80, blank=True, help_text="e.g. CHCl3")
    solvent_volume_ml = models.FloatField(null=True, blank=True, validators=_non_negative)
    temperature_c = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(ABSOLUTE_ZERO_C)]
    )
    duration_min = models.FloatField(null=True, blank=True, validators=_non_negative)
    performed_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        ordering = ["sample", "performed_on", "pk"]
        verbose_name_plural = "syntheses"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(temperature_c__gte=ABSOLUTE_ZERO_C)
                | models.Q(temperature_c__isnull=True),
                name="synthesis_temperature_above_absolute_zero",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.sample}"


class SynthesisParameter(models.Model):
    """A further condition of a synthesis step that has no column: name, value and unit."""

    lab_path = "synthesis__sample__lab"

    synthesis = models.ForeignKey(Synthesis, on_delete=models.CASCADE, related_name="parameters")
    name = models.CharField(max_length=80, help_text="e.g. stirring rate")
    value = models.FloatField()
    unit = models.CharField(max_length=30, blank=True, help_text="e.g. rpm")

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["synthesis", "name"], name="unique_parameter_per_synthesis"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} = {self.value:g} {self.unit}".strip()


class PropertyMeasurement(models.Model):
    """A measured property of a sample (for correlation with image features)."""

    lab_path = "sample__lab"

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="properties")
    name = models.CharField(max_length=80, help_text="e.g. BET surface area")
    value = models.FloatField()
    unit = models.CharField(max_length=30, blank=True, help_text="e.g. m2/g")
    method = models.CharField(max_length=120, blank=True, help_text="e.g. N2 adsorption, 77 K")
    measured_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        ordering = ["sample", "name", "measured_on"]

    def __str__(self) -> str:
        return f"{self.name} of {self.sample}: {self.value:g} {self.unit}".strip()
