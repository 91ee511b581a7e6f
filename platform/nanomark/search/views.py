"""Similar-material search pages: search by image, image region or sample; the embedding map.

Searching is reading, so viewers may search. Every object named in a query is
looked up among the user's labs (another lab's image or sample is a 404), and
the hits come from :func:`nanomark.search.queries.search_similar`, which keeps
them in the user's labs. A query with nothing to search with
(:class:`~nanomark.search.queries.NothingToSearch`) is a message on the page.
"""

import io

import numpy as np
from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from PIL import Image

from analysis.preview import preview_box, thumbnail_png
from nanomark.accounts.fileaccess import login_or_token_required
from nanomark.accounts.labcontext import current_lab
from nanomark.imaging.filters import SEMImageFilter
from nanomark.imaging.models import SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import PatchEmbedding
from nanomark.samples.filters import SampleFilter
from nanomark.samples.models import Material, Sample
from nanomark.search.embeddingmap import embedding_map
from nanomark.search.figures import MAP_COLOURINGS, embedding_map_figure
from nanomark.search.forms import DEFAULT_PATCH_COUNT, QueryForm
from nanomark.search.queries import (
    NothingToSearch,
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
#: Images and samples offered by the picker at a time.
PICKER_SIZE = 24
#: Longest side of a patch thumbnail, px.
PATCH_THUMBNAIL_PX = 128


def _filterset(request: HttpRequest, lab) -> SampleFilter:
    """The sample list's filters, choosing the samples whose patches may be hits."""
    filterset = SampleFilter(request.GET, queryset=Sample.objects.all(), request=request)
    filterset.filters["material"].queryset = Material.objects.filter(lab=lab).order_by("name")
    return filterset


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


def _run_search(request: HttpRequest, form: QueryForm, samples: QuerySet) -> dict:
    """Search with the form's image, region or sample among ``samples``' patches.

    NothingToSearch becomes ``nothing``.
    """
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
            context["similar_samples"] = similar_samples(user, sample, samples=samples)
        result = search_similar(user, query, k=data["k"], samples=samples)
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
    if not form.is_valid() & filterset.is_valid():
        context["errors"] = [*form.non_field_errors(), *_field_errors(form, filterset.form)]
        return render(request, "search/search.html", context, status=400)
    if form.cleaned_data.get("image") or form.cleaned_data.get("sample"):
        context.update(_run_search(request, form, filterset.qs))
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
            context["map_plot"] = embedding_map_figure(points, colour_by)
    return render(request, "search/embedding_map.html", context)
