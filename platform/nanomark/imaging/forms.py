"""Forms of the image pages: upload and its confirmation, order labels, defect masks,
particle labels."""

from collections.abc import Iterator

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from analysis.calibration import pixel_size_problem
from analysis.defects import DEFECT_CLASSES, DEFECT_LABELS
from analysis.maskfile import MaskFileError, read_mask_layers
from nanomark.imaging.choices import OrderClass
from nanomark.imaging.masks import mask_sizes
from nanomark.imaging.models import OrderLabel, SEMImage
from nanomark.imaging.particleannotations import ParticleLabelsRejected, read_particle_upload
from nanomark.imaging.uploads import SIDECAR_SUFFIXES, InspectedFile, StagedUpload


class MultipleFileInput(forms.ClearableFileInput):
    """A file input that lets the browser pick several files."""

    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A list of uploaded files; empty files are kept (the inspection reports them)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list[UploadedFile]:
        files = [item for item in (data if isinstance(data, list | tuple) else [data]) if item]
        if not files and self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class ImageUploadForm(forms.Form):
    """Step 1 of an upload: the SEM files and their optional Hitachi ``.txt`` sidecars."""

    files = MultipleFileField(
        label="SEM images",
        help_text=(
            "TIFF, PNG or JPEG; add each instrument metadata file (Hitachi or JEOL .txt, "
            "Tescan .hdr) with the image of the same name."
        ),
    )

    def clean_files(self) -> list[UploadedFile]:
        files = self.cleaned_data["files"]
        if all(f.name.lower().endswith(SIDECAR_SUFFIXES) for f in files):
            raise ValidationError("Choose at least one image file (not only metadata sidecars).")
        return files


def valid_pixel_size(value: float) -> None:
    """Form validator: a pixel size NanoMark accepts (see :func:`pixel_size_problem`)."""
    problem = pixel_size_problem(value)
    if problem:
        raise ValidationError(problem)


class ConfirmUploadForm(forms.Form):
    """Step 2: which inspected files to store, and pixel sizes for those that lack one.

    One ``store_<i>`` box per storable file, and a ``pixel_size_nm_<i>`` field where
    the file carries no pixel size (``i`` is the file's index in the upload).
    """

    def __init__(self, *args, staged: StagedUpload, **kwargs):
        super().__init__(*args, **kwargs)
        self.staged = staged
        for item in staged.new_files:
            label = f"Store {item.filename}"
            self.fields[f"store_{item.index}"] = forms.BooleanField(
                required=False,
                initial=True,
                label=label,
                widget=forms.CheckboxInput(attrs={"aria-label": label}),
            )
            if item.pixel_size_nm is None:
                self.fields[f"pixel_size_nm_{item.index}"] = forms.FloatField(
                    required=False,
                    validators=[valid_pixel_size],
                    label=f"Pixel size of {item.filename} (nm/px)",
                    widget=forms.NumberInput(
                        attrs={
                            "step": "any",
                            "placeholder": "nm/px",
                            "aria-label": f"Pixel size of {item.filename} in nm/px",
                        }
                    ),
                )

    def rows(
        self,
    ) -> Iterator[tuple[InspectedFile, forms.BoundField | None, forms.BoundField | None]]:
        """Each inspected file with its store box and pixel-size field (None where absent)."""
        for item in self.staged.files:
            store = f"store_{item.index}"
            size = f"pixel_size_nm_{item.index}"
            yield (
                item,
                self[store] if store in self.fields else None,
                self[size] if size in self.fields else None,
            )

    def pixel_sizes_nm(self) -> dict[int, float | None]:
        """File index -> pixel size entered (None: the file's own) for each file to store."""
        return {
            item.index: self.cleaned_data.get(f"pixel_size_nm_{item.index}")
            for item in self.staged.new_files
            if self.cleaned_data.get(f"store_{item.index}")
        }


class OrderLabelForm(forms.Form):
    """An annotator's judgement of an image: ordered or disordered."""

    label = forms.ChoiceField(choices=OrderClass.choices)
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def save(self, image: SEMImage, annotator) -> OrderLabel:
        """Record the label as ``annotator``'s; it replaces their earlier label of ``image``."""
        label, _ = OrderLabel.record(
            image, annotator, self.cleaned_data["label"], self.cleaned_data["note"]
        )
        return label


class DefectMaskForm(forms.Form):
    """A hand-drawn defect mask: one 4-page TIFF, or one PNG/TIFF per defect class.

    Reading follows :func:`analysis.maskfile.read_mask_layers` (the API
    reads masks the same way); ``cleaned_data["layers"]`` is the (4, H, W) bool
    array of the image's size.
    """

    stack = forms.FileField(
        required=False,
        label="4-layer TIFF",
        help_text=(
            "As GIMP exports an image's layers: one page per class in the order "
            + ", ".join(DEFECT_LABELS.values()).lower()
            + "."
        ),
    )
    note = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, image: SEMImage, **kwargs):
        super().__init__(*args, **kwargs)
        self.image = image
        for name in DEFECT_CLASSES:
            self.fields[name] = forms.FileField(required=False, label=DEFECT_LABELS[name])
        self.order_fields(["stack", *DEFECT_CLASSES, "note"])

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        stack = cleaned.get("stack")
        layers = [cleaned.get(name) for name in DEFECT_CLASSES]
        if stack and any(layers):
            raise ValidationError("Upload either one 4-layer TIFF or one file per layer, not both.")
        if not stack and not all(layers):
            missing = [DEFECT_LABELS[n].lower() for n in DEFECT_CLASSES if not cleaned.get(n)]
            if len(missing) == len(DEFECT_CLASSES):
                raise ValidationError("Choose a 4-layer TIFF or one file per defect class.")
            raise ValidationError(f"Missing layer file(s): {', '.join(missing)}.")
        uploads = [stack] if stack else layers
        limit = settings.NANOMARK_MAX_UPLOAD_BYTES
        for upload in uploads:
            if upload.size > limit:
                raise ValidationError(
                    f"{upload.name}: {upload.size:,} bytes exceeds the {limit:,}-byte limit."
                )
        try:
            cleaned["layers"] = read_mask_layers(
                [(upload.name, upload.read()) for upload in uploads], mask_sizes(self.image)
            )
        except MaskFileError as exc:
            raise ValidationError(str(exc)) from exc
        return cleaned


class ParticleAnnotationForm(forms.Form):
    """Hand-labelled particles: a particle mask (PNG or TIFF) or a CSV of centres and diameters.

    ``cleaned_data["mask"]`` is the frame-sized bool mask (None for a CSV) and
    ``cleaned_data["particles"]`` the labelled particles
    (:func:`nanomark.imaging.particleannotations.read_particle_upload`).
    """

    file = forms.FileField(
        label="Particle mask or CSV",
        help_text=(
            "A mask (PNG or TIFF, any non-black pixel is particle; touching particles are "
            "split) or a CSV with columns x_px, y_px and diameter_px (or diameter_nm)."
        ),
    )
    note = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, image: SEMImage, **kwargs):
        super().__init__(*args, **kwargs)
        self.image = image

    def clean(self) -> dict:
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is None:
            return cleaned
        limit = settings.NANOMARK_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise ValidationError(
                f"{upload.name}: {upload.size:,} bytes exceeds the {limit:,}-byte limit."
            )
        try:
            cleaned["mask"], cleaned["particles"] = read_particle_upload(
                self.image, upload.name, upload.read()
            )
        except ParticleLabelsRejected as exc:
            raise ValidationError(str(exc)) from exc
        return cleaned
