"""Activating a model version on the web: the form on the model page, the re-analysis it queues.

Activation and the re-analysis it starts belong to the results app (the
registry stores versions and knows nothing of runs): this module adds the
"activate" section, with the progress of the batch an activation queued, to
the registry's model page (:mod:`nanomark.pagesections`), and serves the
POST behind its button. Activating needs a member's or admin's role in the
version's lab (viewers get a 403); another lab's version is a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from nanomark.accounts.labcontext import can_write, require_write
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.registry.views import version_or_404
from nanomark.results.models import AnalysisBatch
from nanomark.results.services import activate_version
from nanomark.runs import RunStatus

#: The template of the section on the model page.
SECTION_TEMPLATE = "results/_model_activation.html"


def activation_section(request: HttpRequest, version: ModelVersion) -> dict:
    """The section's context: can the user activate, and ``?batch=<id>``'s progress if given."""
    batch = None
    if request.GET.get("batch", "").isdigit():
        batch = (
            AnalysisBatch.objects.restrict(request.user)
            .filter(lab=version.lab, pk=int(request.GET["batch"]))
            .first()
        )
    progress = batch.progress() if batch is not None else None
    return {
        "version": version,
        "can_activate": can_write(request.user, version.lab_id),
        "embedder": version.derived.filter(task=ModelTask.PATCH_EMBEDDER).first(),
        "batch": batch,
        "progress": progress,
        "unfinished": bool(progress)
        and progress[RunStatus.QUEUED] + progress[RunStatus.RUNNING] > 0,
    }


@login_required
@require_POST
def model_activate(request: HttpRequest, pk: int) -> HttpResponse:
    """Make the version its lab's active one for its task and queue the lab's re-analysis."""
    version = version_or_404(request, pk)
    require_write(request.user, version.lab_id)
    runs = activate_version(version, created_by=request.user)
    url = reverse("model-detail", args=[version.pk])
    if not runs:
        messages.success(
            request,
            f"{version.name} is now the active {version.get_task_display().lower()}; "
            "every image was already analysed with these models, so nothing was queued.",
        )
        return redirect(url)
    messages.success(
        request,
        f"{version.name} is now the active {version.get_task_display().lower()}; "
        f"{len(runs)} image{'s' if len(runs) != 1 else ''} queued for re-analysis.",
    )
    return redirect(f"{url}?batch={runs[0].batch_id}")
