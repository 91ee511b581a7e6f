"""Image pages: upload (inspect, then confirm), the image viewer, labels, masks, particle
labels, file downloads.

Every query is lab-scoped (another lab's image or sample is a 404) and every
change needs write access to the object's lab (viewers get a 403). Media is
never served publicly: files stream through these views.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analysis.defects import DEFECT_CLASSES
from nanomark.accounts.fileaccess import login_or_token_required
from nanomark.accounts.labcontext import can_write, require_write
from nanomark.imaging.calibrationforms import CalibrationForm
from nanomark.imaging.forms import (
    ConfirmUploadForm,
    DefectMaskForm,
    ImageUploadForm,
    OrderLabelForm,
    ParticleAnnotationForm,
)
from nanomark.imaging.masks import MaskRejected, store_defect_mask
from nanomark.imaging.models import DefectMask, ParticleAnnotation, SEMImage
from nanomark.imaging.particleannotations import (
    ParticleLabelsRejected,
    store_particle_annotation,
)
from nanomark.imaging.storage import EXTENSIONS
from nanomark.imaging.uploads import (
    STAGING_MAX_AGE_S,
    StoreResult,
    UploadExpired,
    discard_staged,
    load_staged,
    stage_upload,
    store_staged,
)
from nanomark.pagesections import page_context
from nanomark.samples.models import Sample


def image_or_404(request: HttpRequest, pk: int) -> SEMImage:
    """The user's image ``pk`` (another lab's is a 404)."""
    return get_object_or_404(
        SEMImage.objects.restrict(request.user).select_related("sample", "lab", "uploaded_by"),
        pk=pk,
    )


def render_image_page(
    request: HttpRequest,
    image: SEMImage,
    *,
    label_form: OrderLabelForm | None = None,
    mask_form: DefectMaskForm | None = None,
    particle_form: ParticleAnnotationForm | None = None,
    calibration_form: CalibrationForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The image page, with the forms given (bound, with errors) or fresh ones."""
    context = {
        "image": image,
        "can_edit": can_write(request.user, image.lab_id),
        "labels": image.order_labels.history().select_related("annotator"),
        "masks": image.defect_masks.select_related("annotator", "reviewer"),
        "label_form": label_form or OrderLabelForm(),
        "mask_form": mask_form or DefectMaskForm(image=image),
        "particle_annotations": image.particle_annotations.select_related("annotator", "reviewer"),
        "particle_form": particle_form or ParticleAnnotationForm(image=image),
        "calibration_form": calibration_form or CalibrationForm.for_image(image),
        "calibration_changes": image.calibration_changes.select_related("changed_by"),
        # The analysis panel and overlays, from the results app (nanomark.pagesections).
        **page_context("image-detail", request, image),
    }
    return render(request, "imaging/image_detail.html", context, status=status)


@login_required
@require_GET
def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The image viewer with overlays, labels, masks and analysis status."""
    return render_image_page(request, image_or_404(request, pk))


@login_required
@require_POST
def image_label(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the user's order label of the image (it replaces their earlier one)."""
    image = image_or_404(request, pk)
    require_write(request.user, image.lab_id)
    form = OrderLabelForm(request.POST)
    if not form.is_valid():
        return render_image_page(request, image, label_form=form, status=400)
    label = form.save(image, request.user)
    messages.success(request, f"Labelled {label.get_label_display().lower()}.")
    return redirect(image)


@login_required
@require_POST
def image_mask_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Store a hand-drawn defect mask of the image (4-layer TIFF or one file per layer)."""
    image = image_or_404(request, pk)
    require_write(request.user, image.lab_id)
    form = DefectMaskForm(request.POST, request.FILES, image=image)
    if form.is_valid():
        try:
            store_defect_mask(
                image,
                form.cleaned_data["layers"],
                annotator=request.user,
                note=form.cleaned_data["note"],
            )
        except MaskRejected as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Defect mask stored.")
            return redirect(image)
    return render_image_page(request, image, mask_form=form, status=400)


@login_required
@require_POST
def image_particles_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Store hand-labelled particles of the image (a particle mask or a CSV of centres)."""
    image = image_or_404(request, pk)
    require_write(request.user, image.lab_id)
    form = ParticleAnnotationForm(request.POST, request.FILES, image=image)
    if form.is_valid():
        try:
            annotation = store_particle_annotation(
                image,
                form.cleaned_data["particles"],
                mask=form.cleaned_data["mask"],
                annotator=request.user,
                note=form.cleaned_data["note"],
            )
        except ParticleLabelsRejected as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{annotation.count} labelled particles stored.")
            return redirect(image)
    return render_image_page(request, image, particle_form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def image_upload(request: HttpRequest, sample_pk: int) -> HttpResponse:
    """Step 1 of an upload: send files, see them inspected (nothing is stored yet).

    A plain form POST is redirected to the review page; the page's script posts
    with ``Accept: application/json`` and gets ``{"review_url": ...}`` or the errors.
    """
    sample = get_object_or_404(Sample.objects.restrict(request.user), pk=sample_pk)
    require_write(request.user, sample.lab_id)
    form = ImageUploadForm()
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    if request.method == "POST":
        form = ImageUploadForm(request.POST, request.FILES)
        if form.is_valid():
            staged = stage_upload(
                user=request.user, sample=sample, files=form.cleaned_data["files"]
            )
            review_url = reverse("image-upload-review", args=[staged.token])
            return JsonResponse({"review_url": review_url}) if wants_json else redirect(review_url)
        if wants_json:
            return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    context = {
        "sample": sample,
        "form": form,
        "max_upload_bytes": settings.NANOMARK_MAX_UPLOAD_BYTES,
        "max_image_pixels": settings.NANOMARK_MAX_IMAGE_PIXELS,
    }
    return render(request, "imaging/image_upload.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def image_upload_review(request: HttpRequest, token: str) -> HttpResponse:
    """Step 2: the inspected files; confirming stores the chosen ones, cancelling drops all."""
    try:
        staged = load_staged(request.user, token)
    except UploadExpired as exc:
        raise Http404(str(exc)) from exc
    sample = get_object_or_404(Sample.objects.restrict(request.user), pk=staged.sample_id)
    require_write(request.user, sample.lab_id)
    if request.method == "POST" and "cancel" in request.POST:
        discard_staged(request.user, token)
        messages.info(request, "Upload cancelled; nothing was stored.")
        return redirect("image-upload", sample_pk=sample.pk)
    form = ConfirmUploadForm(request.POST if request.method == "POST" else None, staged=staged)
    if form.is_valid():
        results = store_staged(
            staged, user=request.user, sample=sample, pixel_sizes_nm=form.pixel_sizes_nm()
        )
        _report_stored(request, results)
        return redirect(sample)
    context = {
        "sample": sample,
        "staged": staged,
        "form": form,
        "max_age_h": STAGING_MAX_AGE_S // 3600,
    }
    return render(
        request, "imaging/image_upload_review.html", context, status=400 if form.errors else 200
    )


def _report_stored(request: HttpRequest, results: list[StoreResult]) -> None:
    created = [result.filename for result in results if result.created]
    if created:
        messages.success(
            request,
            f"Stored {len(created)} image(s): {', '.join(created)}. Their analysis is queued.",
        )
    for result in results:
        if result.image is None:
            messages.error(request, result.message)
        elif not result.created:
            messages.info(request, f"{result.filename} was already stored meanwhile.")
    if not results:
        messages.info(request, "No file was chosen; nothing was stored.")


@login_or_token_required
@require_GET
def image_file(request: HttpRequest, pk: int, field: str) -> FileResponse:
    """Stream one of an image's files; another lab's image is a 404."""
    image = get_object_or_404(SEMImage.objects.restrict(request.user), pk=pk)
    if field == "original":
        stem = image.original_filename.rsplit(".", 1)[0] or f"image-{image.pk}"
        return FileResponse(
            getattr(image, field).open("rb"),
            as_attachment=True,
            filename=f"{stem}.{EXTENSIONS[image.format]}",
        )
    return FileResponse(getattr(image, field).open("rb"), content_type="image/png")


@login_or_token_required
@require_GET
def mask_layer(request: HttpRequest, pk: int, layer: str) -> FileResponse:
    """Stream one layer PNG of a defect mask (0 background, 255 defect)."""
    mask = get_object_or_404(DefectMask.objects.restrict(request.user), pk=pk)
    if layer not in DEFECT_CLASSES:
        raise Http404("No such defect class.")
    return FileResponse(getattr(mask, layer).open("rb"), content_type="image/png")


@login_or_token_required
@require_GET
def particle_annotation_file(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    """A particle annotation's CSV (``x_px,y_px,diameter_px``) or its mask PNG."""
    annotation = get_object_or_404(ParticleAnnotation.objects.restrict(request.user), pk=pk)
    if kind == "mask":
        if not annotation.mask:
            raise Http404("These labels came as a CSV: there is no mask.")
        return FileResponse(annotation.mask.open("rb"), content_type="image/png")
    return FileResponse(annotation.particles.open("rb"), content_type="text/csv; charset=utf-8")
