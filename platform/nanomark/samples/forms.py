"""Forms of the sample pages: a sample with its synthesis steps, their parameters and
its measured properties, edited together and saved in one transaction; the CSV upload.
"""

from django import forms
from django.db import IntegrityError, transaction
from django.forms import BaseInlineFormSet, inlineformset_factory

from nanomark.accounts.models import Lab
from nanomark.samples.choices import MaterialKind
from nanomark.samples.csvimport import CSVImportError, check_size
from nanomark.samples.models import (
    SYNTHESIS_CONDITIONS,
    Material,
    PropertyMeasurement,
    Sample,
    Synthesis,
    SynthesisParameter,
)

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# Text, not type=number, so that a mistyped value is shown back next to its error.
_NUMBER = forms.TextInput(attrs={"inputmode": "decimal", "size": 8})


class SampleForm(forms.ModelForm):
    """A sample of ``lab``: its code (unique in the lab), material (chosen or new), parent."""

    material = forms.ModelChoiceField(queryset=Material.objects.none(), required=False)
    new_material_name = forms.CharField(
        max_length=Material._meta.get_field("name").max_length,
        required=False,
        label="or a new material",
    )
    new_material_kind = forms.ChoiceField(
        choices=MaterialKind.choices, initial=MaterialKind.OTHER, required=False, label="of kind"
    )

    class Meta:
        model = Sample
        fields = ["code", "parent", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, lab: Lab, **kwargs):
        super().__init__(*args, **kwargs)
        self.lab = lab
        self.instance.lab = lab
        self.fields["material"].queryset = Material.objects.filter(lab=lab)
        parents = Sample.objects.filter(lab=lab).exclude(pk=self.instance.pk)
        self.fields["parent"].queryset = parents
        if self.instance.material_id:
            self.initial.setdefault("material", self.instance.material_id)
        self.order_fields(["code", "material", "new_material_name", "new_material_kind"])

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        taken = Sample.objects.filter(lab=self.lab, code=code).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"{self.lab.name} already has a sample {code}.")
        return code

    def clean(self) -> dict:
        data = super().clean()
        name = data.get("new_material_name", "").strip()
        if not name:
            if not data.get("material"):
                self.add_error("material", "Choose a material or name a new one.")
        elif data.get("material"):
            self.add_error("new_material_name", "Choose a material or name a new one, not both.")
        elif Material.objects.filter(lab=self.lab, name=name).exists():
            self.add_error("new_material_name", f"{name} exists already: choose it in the list.")
        else:
            data["material"] = Material(
                lab=self.lab, name=name, kind=data.get("new_material_kind") or MaterialKind.OTHER
            )
        return data

    def save(self, commit: bool = True) -> Sample:
        """Save the sample, and first its new material if one was named."""
        material = self.cleaned_data["material"]
        if material.pk is None:
            material.save()
        self.instance.material = material
        return super().save(commit)


class SynthesisForm(forms.ModelForm):
    """One synthesis step; ``parameters`` is the formset of its further conditions."""

    class Meta:
        model = Synthesis
        fields = ["kind", *SYNTHESIS_CONDITIONS, "notes"]
        labels = {
            "precursor_mass_mg": "Precursor mass (mg)",
            "support_mass_mg": "Support mass (mg)",
            "solvent_volume_ml": "Solvent volume (mL)",
            "temperature_c": "Temperature (°C)",
            "duration_min": "Duration (min)",
        }
        widgets = {
            "performed_on": _DATE,
            "notes": forms.Textarea(attrs={"rows": 2}),
            **{
                name: _NUMBER
                for name in (
                    "precursor_mass_mg",
                    "support_mass_mg",
                    "solvent_volume_ml",
                    "temperature_c",
                    "duration_min",
                )
            },
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.parameters = SynthesisParameterFormSet(
            data=self.data if self.is_bound else None,
            instance=self.instance,
            prefix=f"{self.prefix}-parameters",
        )

    def has_changed(self) -> bool:
        # A new step with only parameters filled in is still a step to save.
        return super().has_changed() or self.parameters.has_changed()


SynthesisParameterFormSet = inlineformset_factory(
    Synthesis,
    SynthesisParameter,
    fields=["name", "value", "unit"],
    widgets={"value": _NUMBER},
    extra=2,
    can_delete=True,
)


class BaseSynthesisFormSet(BaseInlineFormSet):
    """Synthesis steps, each with its nested parameter formset, validated and saved together."""

    def is_valid(self) -> bool:
        if not self.is_bound:
            return False
        valid = super().is_valid()
        kept = [form for form in self.forms if not self._should_delete_form(form)]
        return all([form.parameters.is_valid() for form in kept]) and valid

    def save(self, commit: bool = True) -> list[Synthesis]:
        saved = super().save(commit)
        for form in self.forms:
            if form.instance.pk is not None and not self._should_delete_form(form):
                form.parameters.save(commit)
        return saved


SynthesisFormSet = inlineformset_factory(
    Sample,
    Synthesis,
    form=SynthesisForm,
    formset=BaseSynthesisFormSet,
    extra=1,
    can_delete=True,
)

PropertyFormSet = inlineformset_factory(
    Sample,
    PropertyMeasurement,
    fields=["name", "value", "unit", "method", "measured_on"],
    widgets={"measured_on": _DATE, "value": _NUMBER},
    extra=3,
    can_delete=True,
)


class SampleForms:
    """The sample form and its synthesis and property formsets, as one unit."""

    def __init__(self, lab: Lab, instance: Sample | None = None, data=None):
        instance = instance or Sample(lab=lab)
        self.sample = SampleForm(data, instance=instance, lab=lab)
        self.syntheses = SynthesisFormSet(data, instance=instance, prefix="syntheses")
        self.properties = PropertyFormSet(data, instance=instance, prefix="properties")

    def is_valid(self) -> bool:
        """Whether all forms are valid (each is validated, so each shows its errors)."""
        return all([self.sample.is_valid(), self.syntheses.is_valid(), self.properties.is_valid()])

    def save(self, user) -> Sample | None:
        """Save everything in one transaction; None (with a form error) if the save collides.

        Validation has checked the code; a sample saved with the same code in the
        meantime makes the save fail as a whole instead of a server error.
        """
        try:
            with transaction.atomic():
                if self.sample.instance.pk is None:
                    self.sample.instance.created_by = user
                sample = self.sample.save()
                self.syntheses.save()
                self.properties.save()
        except IntegrityError:
            self.sample.add_error(
                None, "Someone changed this lab's samples at the same time; check and save again."
            )
            return None
        return sample


class CSVUploadForm(forms.Form):
    """A CSV of samples to preview before importing."""

    file = forms.FileField(label="CSV file", widget=forms.FileInput(attrs={"accept": ".csv"}))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            check_size(upload.size)
        except CSVImportError as error:
            raise forms.ValidationError(str(error)) from None
        return upload
