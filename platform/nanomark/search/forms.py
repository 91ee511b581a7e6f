"""The search page's query form: an image (optionally a rectangle of it) or a sample, and k."""

from django import forms

from nanomark.idfilters import IdField

#: Patches a search may show, and how many it shows unless asked.
PATCH_COUNTS = (12, 24, 48, 96)
DEFAULT_PATCH_COUNT = 24


class QueryForm(forms.Form):
    """What to search with: an image (optionally a rectangle of it, original px) or a sample."""

    image = IdField(required=False, widget=forms.HiddenInput)
    sample = IdField(required=False, widget=forms.HiddenInput)
    x = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    y = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    width = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    height = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    k = forms.TypedChoiceField(
        choices=[(n, n) for n in PATCH_COUNTS],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PATCH_COUNT,
        label="Patches",
    )
    find = forms.CharField(required=False, max_length=120, label="Find an image or sample")

    REGION = ("x", "y", "width", "height")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("image") and data.get("sample"):
            raise forms.ValidationError("Search with an image or a sample, not both.")
        given = [name for name in self.REGION if data.get(name) is not None]
        if given and len(given) != len(self.REGION):
            raise forms.ValidationError("A region needs x, y, width and height together.")
        if given and not data.get("image"):
            raise forms.ValidationError("A region belongs to an image: choose the image first.")
        return data

    def region(self) -> tuple[int, int, int, int] | None:
        """(x, y, width, height) in original pixels, or None for the whole image."""
        values = tuple(self.cleaned_data.get(name) for name in self.REGION)
        return None if values[0] is None else values
