"""Forms that correct calibration on the web pages: one image's, or a sample's images at once."""

from django import forms
from django.core.exceptions import ValidationError

from analysis.databar import FieldBox
from nanomark.imaging.calibration import Correction
from nanomark.imaging.forms import valid_pixel_size
from nanomark.imaging.models import SEMImage

_MAX_PX = 2**31 - 1
_BOX_FIELDS = ("field_x_px", "field_y_px", "field_width_px", "field_height_px")


def _px_field(label: str, minimum: int) -> forms.IntegerField:
    return forms.IntegerField(required=False, min_value=minimum, max_value=_MAX_PX, label=label)


class CalibrationForm(forms.Form):
    """A pixel size and/or a field box (all four numbers or none), with a note."""

    pixel_size_nm = forms.FloatField(
        required=False,
        validators=[valid_pixel_size],
        label="Pixel size (nm/px)",
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "nm/px"}),
    )
    field_x_px = _px_field("Field left (px)", 0)
    field_y_px = _px_field("Field top (px)", 0)
    field_width_px = _px_field("Field width (px)", 1)
    field_height_px = _px_field("Field height (px)", 1)
    note = forms.CharField(required=False, max_length=2000, label="Why")

    def clean(self) -> dict:
        cleaned = super().clean()
        given = [cleaned.get(name) is not None for name in _BOX_FIELDS]
        if any(given) and not all(given):
            raise ValidationError("Give all four numbers of the field box, or none.")
        if cleaned.get("pixel_size_nm") is None and not any(given) and not self.errors:
            raise ValidationError("Give a pixel size, a field box or both.")
        return cleaned

    def correction(self) -> Correction:
        """The cleaned values as a :class:`~nanomark.imaging.calibration.Correction`."""
        data = self.cleaned_data
        box = None
        if data.get("field_x_px") is not None:
            box = FieldBox(*(data[name] for name in _BOX_FIELDS))
        return Correction(pixel_size_nm=data.get("pixel_size_nm"), field=box, note=data["note"])

    @classmethod
    def for_image(cls, image: SEMImage) -> "CalibrationForm":
        """An unbound form showing ``image``'s current values."""
        box = image.field_box
        return cls(
            initial={
                "pixel_size_nm": image.pixel_size_nm,
                "field_x_px": box.x_px,
                "field_y_px": box.y_px,
                "field_width_px": box.width_px,
                "field_height_px": box.height_px,
            }
        )


class SampleCalibrationForm(CalibrationForm):
    """The same correction for a sample's images: all, the uncalibrated, or one upload batch."""

    scope = forms.ChoiceField(label="Images", choices=[])

    def __init__(self, *args, batches: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = [
            ("uncalibrated", "every image without a pixel size"),
            ("all", "every image of the sample"),
            *((f"batch:{key}", f"the upload of {label}") for key, label in batches),
        ]

    def images(self, sample) -> list[SEMImage]:
        """The sample's images the chosen scope names."""
        images = SEMImage.objects.filter(sample=sample)
        scope = self.cleaned_data["scope"]
        if scope == "uncalibrated":
            images = images.filter(pixel_size_nm__isnull=True)
        elif scope.startswith("batch:"):
            images = images.filter(upload_batch=scope.removeprefix("batch:"))
        return list(images)
