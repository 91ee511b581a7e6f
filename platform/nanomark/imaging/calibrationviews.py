"""Calibration corrections from the web pages: one image's, or many images of a sample.

Both need write access to the lab; a correction that does not fit changes
nothing and says why. A stored correction queues the re-analysis of the images.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from nanomark.accounts.labcontext import require_write
from nanomark.imaging.calibration import CalibrationRejected, recalibrate
from nanomark.imaging.calibrationforms import CalibrationForm, SampleCalibrationForm
from nanomark.imaging.models import SEMImage
from nanomark.imaging.views import image_or_404, render_image_page
from nanomark.samples.models import Sample


def upload_batches(sample: Sample) -> list[tuple[str, str]]:
    """(key, "date, n images") of the sample's upload batches, newest first."""
    batches = (
        SEMImage.objects.filter(sample=sample)
        .exclude(upload_batch="")
        .values("upload_batch")
        .annotate(first=Min("uploaded_at"), n=Count("pk"))
        .order_by("-first")
    )
    return [
        (row["upload_batch"], f"{row['first']:%Y-%m-%d %H:%M} ({row['n']} images)")
        for row in batches
    ]


def sample_calibration_form(sample: Sample, data=None) -> SampleCalibrationForm:
    """The sample page's form that calibrates many of its images at once."""
    return SampleCalibrationForm(data, batches=upload_batches(sample), prefix="calibrate")


@login_required
@require_POST
def image_calibrate(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct one image's pixel size and/or field box, then re-analyse it."""
    image = image_or_404(request, pk)
    require_write(request.user, image.lab_id)
    form = CalibrationForm(request.POST)
    if form.is_valid():
        try:
            changes = recalibrate([image], form.correction(), user=request.user)
        except CalibrationRejected as exc:
            form.add_error(None, str(exc))
        else:
            if changes:
                messages.success(
                    request, "Calibration corrected; the image is queued for analysis."
                )
            else:
                messages.info(request, "The image already has these values; nothing changed.")
            return redirect(image)
    return render_image_page(request, image, calibration_form=form, status=400)


@login_required
@require_POST
def sample_calibrate(request: HttpRequest, sample_pk: int) -> HttpResponse:
    """Apply one correction to the sample's images (all, uncalibrated, or one upload batch)."""
    sample = get_object_or_404(Sample.objects.restrict(request.user), pk=sample_pk)
    require_write(request.user, sample.lab_id)
    form = sample_calibration_form(sample, request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Calibration not changed: {error}")
        return redirect(sample)
    images = form.images(sample)
    if not images:
        messages.info(request, "No image of the sample matches; nothing changed.")
        return redirect(sample)
    try:
        changes = recalibrate(images, form.correction(), user=request.user)
    except CalibrationRejected as exc:
        messages.error(request, f"Calibration not changed: {exc}")
    else:
        messages.success(
            request,
            f"Calibration corrected on {len(changes)} of {len(images)} image(s); "
            "they are queued for analysis.",
        )
    return redirect(sample)
