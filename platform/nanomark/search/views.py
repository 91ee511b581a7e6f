"""Similar-material search pages: search by image, image region or sample; the embedding map.

Searching is reading, so viewers may search. Every object named in a query is
looked up among the user's labs (another lab's image or sample is a 404), and
the hits come from :func:`nanomark.search.queries.search_similar`, which keeps
them in the user's labs. A query with nothing to search with
(:class:`~nanomark.search.queries.NothingToSearch`) is a message on the page.
"""

import io

import numpy as np
import plotly.graph_objects as go
from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from PIL import Image

from analysis.preview import thumbnail_png
from nanomark.accounts.fileaccess import login_or_token_required
from nanomark.accounts.labcontext import current_lab
from nanomark.idfilters import IdField
from nanomark.imaging.choices import OrderClass
from nanomark.imaging.filters import SEMImageFilter
from nanomark.imaging.models import SEMImage
from nanomark.plots import figure_html
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import PatchEmbedding
from nanomark.samples.filters import SampleFilter
from nanomark.samples.models import Material, Sample
from nanomark.search.embeddingmap import UNLABELLED, embedding_map
from nanomark.search.queries import (
    NothingToSearch,
    SearchFilters,
    image_query,
    region_query,
    sample_query,
    search_similar,
    similar_samples,
)

#: The sample-list filters that restrict search hits (named as on the sample list and the API).
FILTER_FIELDS = (
    "material",
    "material_kind",
    "synthesis_kind",
    "precursor",
    "temperature_min",
    "temperature_max",
)
#: Patches a search may show, and how many it shows unless asked.
PATCH_COUNTS = (12, 24, 48, 96)
DEFAULT_PATCH_COUNT = 24
#: Images and samples offered by the picker at a time.
PICKER_SIZE = 24
#: Longest side of a patch thumbnail, px.
PATCH_THUMBNAIL_PX = 128
#: Map colours of the order classes (Okabe–Ito).
ORDER_COLOURS = {
    OrderClass.ORDERED.value: "#0072b2",
    OrderClass.DISORDERED.value: "#d55e00",
    UNLABELLED: "#999999",
}
MAP_COLOURINGS = {"order": "order class", "sample": "sample"}


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


def _filterset(request: HttpRequest, lab) -> SampleFilter:
    filterset = SampleFilter(request.GET, queryset=Sample.objects.none(), request=request)
    filterset.filters["material"].queryset = Material.objects.filter(lab=lab).order_by("name")
    return filterset


def _search_filters(data: dict) -> SearchFilters:
    material = data.get("material")
    low, high = data.get("temperature_min"), data.get("temperature_max")
    return SearchFilters(
        material_id=material.pk if material is not None else None,
        material_kind=data.get("material_kind") or "",
        synthesis_kind=data.get("synthesis_kind") or "",
        precursor=data.get("precursor") or "",
        temperature_c_min=float(low) if low is not None else None,
        temperature_c_max=float(high) if high is not None else None,
    )


def _picker(request: HttpRequest, lab, find: str) -> dict:
    """The current lab's images and samples matching ``find`` (recent ones without it)."""
    images = SEMImage.objects.restrict(request.user).filter(lab=lab).select_related("sample")
    samples = Sample.objects.restrict(request.user).filter(lab=lab).order_by("code")
    if find:
        images = SEMImageFilter({"filename": find}, queryset=images).qs
        samples = SampleFilter({"q": find}, queryset=samples, request=request).qs
    return {
        "picker_images": list(images.order_by("-uploaded_at", "-pk")[:PICKER_SIZE]),
        "picker_samples": list(samples[:PICKER_SIZE]),
    }


def _named_results(request: HttpRequest, result) -> dict:
    """The result's patches, images and samples with their rows, for the template."""
    image_ids = {hit.image_id for hit in result.patches}
    sample_ids = {hit.sample_id for hit in result.patches}
    images = SEMImage.objects.restrict(request.user).in_bulk(image_ids)
    samples = Sample.objects.restrict(request.user).in_bulk(sample_ids)
    return {
        "patches": [(hit, images[hit.image_id], samples[hit.sample_id]) for hit in result.patches],
        "ranked_images": [(group, images[group.key]) for group in result.images],
        "ranked_samples": [(group, samples[group.key]) for group in result.samples],
        "embedder": result.embedder,
    }


def _run_search(request: HttpRequest, form: QueryForm, filters: SearchFilters) -> dict:
    """Search with the form's image, region or sample; NothingToSearch becomes ``nothing``."""
    data, user = form.cleaned_data, request.user
    context: dict = {}
    try:
        if data.get("image"):
            image = get_object_or_404(
                SEMImage.objects.restrict(user).select_related("sample"), pk=data["image"]
            )
            context["query_image"] = image
            region = form.region()
            context["region"] = region
            query = region_query(image, *region) if region is not None else image_query(image)
        else:
            sample = get_object_or_404(Sample.objects.restrict(user), pk=data["sample"])
            context["query_sample"] = sample
            query = sample_query(sample)
            context["similar_samples"] = similar_samples(user, sample, filters=filters)
        result = search_similar(user, query, k=data["k"], filters=filters)
    except NothingToSearch as reason:
        context["nothing"] = str(reason)
        return context
    context.update(_named_results(request, result))
    return context


@login_required
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """Pick an image (``?image=``, a rectangle of it with ``x, y, width, height``) or a sample
    (``?sample=``) and see the most similar patches, images and samples, optionally filtered."""
    lab = current_lab(request)
    data = request.GET.copy()
    data.setdefault("k", str(DEFAULT_PATCH_COUNT))  # so the menu shows the count searched
    form = QueryForm(data)
    filterset = _filterset(request, lab)
    context = {
        "lab": lab,
        "form": form,
        "filter_fields": [filterset.form[name] for name in FILTER_FIELDS],
    }
    if lab is None:
        return render(request, "search/search.html", context)
    valid = form.is_valid() & filterset.form.is_valid()
    if valid:
        low = filterset.form.cleaned_data.get("temperature_min")
        high = filterset.form.cleaned_data.get("temperature_max")
        if low is not None and high is not None and low > high:
            filterset.form.add_error("temperature_min", "T min is above T max.")
            valid = False
    if not valid:
        context["errors"] = [*form.non_field_errors(), *_field_errors(form, filterset.form)]
        return render(request, "search/search.html", context, status=400)
    if form.cleaned_data.get("image") or form.cleaned_data.get("sample"):
        context.update(_run_search(request, form, _search_filters(filterset.form.cleaned_data)))
    else:
        context.update(_picker(request, lab, form.cleaned_data.get("find", "")))
    return render(request, "search/search.html", context)


def _field_errors(*bound_forms: forms.Form) -> list[str]:
    return [
        f"{form.fields[name].label or name}: {error}"
        for form in bound_forms
        for name, errors in form.errors.items()
        if name in form.fields
        for error in errors
    ]


def preview_box(
    x_px: int, y_px: int, size_px: int, image_size: tuple[int, int], preview_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A square patch of the original image as a box of its preview (at least 1 px wide).

    Args:
        x_px, y_px, size_px: the patch's left and top edges and side, original pixels.
        image_size: (width, height) of the original, px.
        preview_size: (width, height) of the preview, px (at most 1280 on the long side).

    Returns:
        (left, top, right, bottom) preview pixels, right and bottom exclusive, inside the preview.
    """
    (width, height), (preview_width, preview_height) = image_size, preview_size
    if min(width, height, preview_width, preview_height) <= 0:
        raise ValueError(f"sizes must be positive, got {image_size} and {preview_size}")
    scale_x, scale_y = preview_width / width, preview_height / height
    left = min(int(x_px * scale_x), preview_width - 1)
    top = min(int(y_px * scale_y), preview_height - 1)
    right = min(max(round((x_px + size_px) * scale_x), left + 1), preview_width)
    bottom = min(max(round((y_px + size_px) * scale_y), top + 1), preview_height)
    return left, top, right, bottom


@login_or_token_required
@require_GET
@cache_control(private=True, max_age=24 * 3600)
def patch_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    """PNG of one embedded patch, cut from its image's preview (at most 128 px a side)."""
    patch = get_object_or_404(
        PatchEmbedding.objects.restrict(request.user).select_related("run__image"), pk=pk
    )
    image = patch.run.image
    if not image.preview:
        raise Http404("This image has no preview.")
    with image.preview.open("rb") as handle:
        preview = np.asarray(Image.open(io.BytesIO(handle.read())).convert("L"))
    left, top, right, bottom = preview_box(
        patch.x_px,
        patch.y_px,
        patch.size_px,
        (image.width_px, image.height_px),
        (preview.shape[1], preview.shape[0]),
    )
    crop = np.ascontiguousarray(preview[top:bottom, left:right])
    return HttpResponse(thumbnail_png(crop, PATCH_THUMBNAIL_PX), content_type="image/png")


def _map_figure(points, colour_by: str) -> str:
    projection = points.projection
    groups = np.array(points.sample_codes if colour_by == "sample" else points.order_classes)
    hover = np.array(
        [
            f"{code} · {name}"
            for code, name in zip(points.sample_codes, points.image_names, strict=True)
        ]
    )
    figure = go.Figure()
    names = ORDER_COLOURS if colour_by == "order" else sorted(set(groups.tolist()))
    for name in names:
        chosen = groups == name
        if not chosen.any():
            continue
        marker = {"size": 4, "opacity": 0.7}
        if colour_by == "order":
            marker["color"] = ORDER_COLOURS[name]
        figure.add_trace(
            go.Scattergl(
                x=projection.coordinates[chosen, 0],
                y=projection.coordinates[chosen, 1],
                mode="markers",
                name=str(name),
                text=hover[chosen],
                hovertemplate="%{text}<extra>%{fullData.name}</extra>",
                marker=marker,
            )
        )
    ratio = projection.explained_variance_ratio
    figure.update_layout(
        xaxis_title=f"PC 1 ({ratio[0]:.1%} of the variance)",
        yaxis_title=f"PC 2 ({ratio[1]:.1%} of the variance)",
        legend_title_text=MAP_COLOURINGS[colour_by],
        margin={"l": 60, "r": 10, "t": 10, "b": 50},
        height=640,
    )
    return figure_html(figure)


@login_required
@require_GET
def embedding_map_page(request: HttpRequest) -> HttpResponse:
    """PCA map of the current lab's patch embeddings (``?embedder=<id>``, default the active
    one), coloured by order class or sample (``?colour=order|sample``)."""
    lab = current_lab(request)
    embedders = list(
        ModelVersion.objects.restrict(request.user)
        .filter(lab=lab, task=ModelTask.PATCH_EMBEDDER)
        .order_by("-is_active", "-created_at", "-pk")
    )
    colour_by = request.GET.get("colour") or "order"
    context = {
        "lab": lab,
        "embedders": embedders,
        "colourings": MAP_COLOURINGS,
        "colour_by": colour_by,
    }
    chosen = request.GET.get("embedder", "")
    embedder = next((e for e in embedders if str(e.pk) == chosen), None) if chosen else None
    if chosen and embedder is None:
        context["error"] = f"No patch embedder {chosen!r} in {lab.name if lab else 'your labs'}."
    elif colour_by not in MAP_COLOURINGS:
        context["error"] = f"Colour by {', '.join(MAP_COLOURINGS)}, not {colour_by!r}."
    if context.get("error"):
        return render(request, "search/embedding_map.html", context, status=400)
    embedder = embedder or next(iter(embedders), None)
    context["embedder"] = embedder
    if embedder is not None:
        try:
            points = embedding_map(lab, embedder)
        except ValueError as reason:
            context["nothing"] = str(reason)
        else:
            context["points"] = points
            context["shown"] = len(points.sample_codes)
            context["map_plot"] = _map_figure(points, colour_by)
    return render(request, "search/embedding_map.html", context)
