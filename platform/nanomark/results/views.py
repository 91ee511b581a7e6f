"""Analysis outputs on the web: overlay files, run status, retry and "analyse now".

Every view is lab-scoped: another lab's run or image is a 404, and changing
anything (queueing, retrying) needs write access to the image's lab (403).
Files stream from storage; nothing is decoded or re-encoded here.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from analysis.defects import DEFECT_CLASSES, DEFECT_LABELS
from nanomark.accounts.fileaccess import login_or_token_required
from nanomark.accounts.labcontext import require_write
from nanomark.imaging.models import SEMImage
from nanomark.results.current import current_analysis_runs
from nanomark.results.models import (
    MODEL_ROLES,
    AnalysisRun,
    DefectStatistic,
    OrderScore,
    ParticleStatistics,
)
from nanomark.results.particlescoring import score_run
from nanomark.results.services import queue_analyses, retry_run
from nanomark.runs import MAX_ATTEMPTS, RunStatus

#: Overlay colours (Okabe–Ito, readable with colour-blindness), CSS hex.
OVERLAY_COLOURS = {
    "sheet_border": "#e69f00",
    "grain_boundary": "#56b4e9",
    "topological_defect": "#009e73",
    "point_defect": "#d55e00",
    "saliency": "#cc79a7",
    "particles": "#f0e442",
}
#: Statuses of a run that is still to finish (the image page polls while one exists).
UNFINISHED = (RunStatus.QUEUED, RunStatus.RUNNING)


def image_analysis(request: HttpRequest, image: SEMImage) -> dict:
    """The image page's analysis panel: every run, the current one's results and overlays.

    Added to the image page's context (``nanomark.pagesections``, see ``apps.py``).

    Returns:
        ``runs`` (newest first, with their model versions), ``current_run`` (the
        latest succeeded run or None), ``order_score``, ``defect_stats`` (in
        :data:`DEFECT_CLASSES` order), ``particles``, ``overlays`` (dicts of
        ``key``, ``label``, ``colour``, ``url`` for each stored map),
        ``particles_url`` and ``particle_scores`` ((annotation, ParticleScore)
        of the current run's particles against each particle annotation).
    """
    runs = list(_runs_of(image))
    current = current_analysis_runs(AnalysisRun.objects.filter(image=image)).first()
    context = {
        "runs": runs,
        "busy": any(run.status in UNFINISHED for run in runs),
        "current_run": current,
        "order_score": None,
        "defect_stats": [],
        "particles": None,
        "overlays": [],
        "particles_url": "",
        "particle_scores": [],
    }
    if current is None:
        return context
    score = OrderScore.objects.filter(run=current).first()
    stats = sorted(
        DefectStatistic.objects.filter(run=current),
        key=lambda stat: DEFECT_CLASSES.index(stat.defect_class),
    )
    particles = (
        ParticleStatistics.objects.filter(run=current)
        .select_related("run__particle_segmenter")
        .first()
    )
    overlays = [
        {
            "key": stat.defect_class,
            "label": DEFECT_LABELS[stat.defect_class],
            "colour": OVERLAY_COLOURS[stat.defect_class],
            "url": reverse("analysis-probability", args=[current.pk, stat.defect_class]),
        }
        for stat in stats
        if stat.probability_map
    ]
    if score is not None and score.saliency:
        overlays.append(
            {
                "key": "saliency",
                "label": "Saliency |dS/dx|",
                "colour": OVERLAY_COLOURS["saliency"],
                "url": reverse("analysis-saliency", args=[current.pk]),
            }
        )
    context.update(order_score=score, defect_stats=stats, particles=particles, overlays=overlays)
    if particles is not None and particles.positions:
        context["particles_url"] = reverse("analysis-particles", args=[current.pk])
        context["particle_scores"] = score_run(current, image.particle_annotations.all())
    return context


def _runs_of(image: SEMImage):
    return (
        AnalysisRun.objects.filter(image=image)
        .select_related(*MODEL_ROLES)
        .order_by("-queued_at", "-pk")
    )


def run_json(run: AnalysisRun) -> dict:
    """One run for the status endpoint: status, attempts, model names, ISO times, seconds."""
    return {
        "id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "attempts": run.attempts,
        "max_attempts": MAX_ATTEMPTS,
        "models": {
            role: version.name if version is not None else None
            for role, version in run.versions().items()
        },
        "queued_at": run.queued_at.isoformat() if run.queued_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "timings_s": run.timings_s,
        "error": run.error,
    }


@login_required
@require_GET
def analysis_status(request: HttpRequest, image_pk: int) -> JsonResponse:
    """Every run of an image as JSON, newest first; ``busy`` while one is queued or running."""
    image = get_object_or_404(SEMImage.objects.restrict(request.user), pk=image_pk)
    payload = [run_json(run) for run in _runs_of(image)]
    return JsonResponse(
        {
            "image": image.pk,
            "busy": any(run["status"] in UNFINISHED for run in payload),
            "runs": payload,
        }
    )


@login_required
@require_POST
def queue_image_analysis(request: HttpRequest, image_pk: int) -> HttpResponseRedirect:
    """Queue an analysis of the image with its lab's active models ("Analyse now")."""
    image = get_object_or_404(SEMImage.objects.restrict(request.user), pk=image_pk)
    require_write(request.user, image.lab_id)
    created = queue_analyses(
        [image], reason=f"asked for on the page of image {image.pk}", created_by=request.user
    )
    if created:
        messages.success(request, f"Analysis queued (run {created[0].pk}).")
    else:
        messages.info(
            request,
            "This image already has an analysis with the lab's active models; "
            "retry it below if it failed.",
        )
    return redirect(image)


@login_required
@require_POST
def retry_analysis(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    """Give a failed run fresh attempts and queue it again."""
    run = get_object_or_404(
        AnalysisRun.objects.restrict(request.user).select_related("image"), pk=pk
    )
    require_write(request.user, run.lab_id)
    if retry_run(run):
        messages.success(request, f"Run {run.pk} queued again.")
    else:
        messages.error(request, f"Run {run.pk} is {run.get_status_display().lower()}, not failed.")
    return redirect(run.image)


@login_or_token_required
@require_GET
def run_file(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    """Stream a run's saliency PNG or particles CSV; another lab's run is a 404."""
    run = get_object_or_404(AnalysisRun.objects.restrict(request.user), pk=pk)
    if kind == "saliency":
        row = OrderScore.objects.filter(run=run).first()
        stored, content_type = (row.saliency if row else None), "image/png"
    else:
        row = ParticleStatistics.objects.filter(run=run).first()
        stored, content_type = (row.positions if row else None), "text/csv"
    if not stored:
        raise Http404("This run has no such file.")
    return FileResponse(stored.open("rb"), content_type=content_type)


@login_or_token_required
@require_GET
def probability_map(request: HttpRequest, pk: int, defect_class: str) -> FileResponse:
    """Stream a run's 8-bit probability PNG of one defect class (0 → p = 0, 255 → p = 1)."""
    run = get_object_or_404(AnalysisRun.objects.restrict(request.user), pk=pk)
    stat = get_object_or_404(DefectStatistic, run=run, defect_class=defect_class)
    if not stat.probability_map:
        raise Http404("This run stored no probability map for that class.")
    return FileResponse(stat.probability_map.open("rb"), content_type="image/png")
