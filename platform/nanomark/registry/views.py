"""Model registry pages: the current lab's model versions, a version's metrics and training set.

Every query is lab-scoped (another lab's version is a 404). Activating a
version is the results app's (it queues re-analyses): its section is added
to the model page from there.
"""

import math
from collections import Counter
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django_filters.views import FilterView

from analysis.defects import DEFECT_CLASSES, DEFECT_LABELS, LINE_CLASSES
from ml.metrics import CLASSIFICATION_METRICS
from nanomark.accounts.labcontext import current_lab
from nanomark.pagesections import render_sections
from nanomark.registry.choices import ModelTask
from nanomark.registry.filters import ModelVersionFilter
from nanomark.registry.models import ModelVersion

#: Column headers of the metrics table, in the paper's Table 1 order; others follow by name.
METRIC_HEADERS = {
    **{name: name.replace("_", " ") for name in CLASSIFICATION_METRICS},
    "roc_auc": "ROC AUC",
    **{f"iou_{name}": f"IoU {DEFECT_LABELS[name].lower()}" for name in DEFECT_CLASSES},
    "line_iou": "IoU lines (mean)",
    **{f"line_f1_{name}": f"line F1 {DEFECT_LABELS[name].lower()}" for name in LINE_CLASSES},
    "line_f1": "line F1 (mean)",
    **{
        f"length_error_{name}": f"length error {DEFECT_LABELS[name].lower()}"
        for name in LINE_CLASSES
    },
}


@dataclass(frozen=True)
class MetricsTable:
    """A version's cross-validation results laid out like the paper's Table 1.

    Attributes:
        headers: one per metric column.
        summary: "mean ± std" per column ("—" where undefined).
        folds: one row of values per fold.
        params_millions: trainable parameters in millions, or None if not recorded.
        wall_time_s: training and evaluation time of all folds, seconds, or None.
    """

    headers: list[str]
    summary: list[str]
    folds: list[list[str]]
    params_millions: float | None
    wall_time_s: float | None


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}"


def metrics_table(metrics: dict) -> MetricsTable | None:
    """The ``cross_validation`` part of a version's stored metrics as a table (None if absent).

    ``metrics["cross_validation"]`` holds ``mean`` and ``std`` (metric → value),
    ``folds`` (one metric → value dict per fold), ``n_params`` and ``wall_time_s``
    (see :func:`nanomark.registry.training._store`).
    """
    cv = (metrics or {}).get("cross_validation")
    if not isinstance(cv, dict) or not cv.get("mean"):
        return None
    mean, std = cv["mean"], cv.get("std") or {}
    # Stored JSON may come back with its keys reordered (PostgreSQL's jsonb sorts them).
    names = [name for name in METRIC_HEADERS if name in mean]
    names += sorted(set(mean) - set(names))
    summary = []
    for name in names:
        spread = std.get(name)
        cell = _number(mean[name])
        if cell != "—" and _number(spread) != "—":
            cell += f" ± {_number(spread)}"
        summary.append(cell)
    return MetricsTable(
        headers=[METRIC_HEADERS.get(name, name.replace("_", " ")) for name in names],
        summary=summary,
        folds=[[_number(fold.get(name)) for name in names] for fold in cv.get("folds") or []],
        params_millions=cv["n_params"] / 1e6 if cv.get("n_params") is not None else None,
        wall_time_s=cv.get("wall_time_s"),
    )


class ModelVersionListView(LoginRequiredMixin, FilterView):
    """The current lab's model versions by task, filtered with :class:`ModelVersionFilter`."""

    template_name = "registry/modelversion_list.html"
    filterset_class = ModelVersionFilter
    paginate_by = 50

    def get_queryset(self):
        self.lab = current_lab(self.request)
        return (
            ModelVersion.objects.restrict(self.request.user)
            .filter(lab=self.lab)
            .select_related("created_by")
            .order_by("task", "-created_at", "-pk")
        )

    def get_filterset(self, filterset_class):
        filterset = super().get_filterset(filterset_class)
        # The page shows the current lab only (the API filters by lab instead).
        del filterset.filters["lab"]
        return filterset


def version_or_404(request: HttpRequest, pk: int) -> ModelVersion:
    """The user's model version ``pk`` (another lab's is a 404)."""
    return get_object_or_404(
        ModelVersion.objects.restrict(request.user).select_related("lab", "created_by"), pk=pk
    )


def _training_set(version: ModelVersion) -> dict:
    """The frozen training images with their frozen label and mask counts, and the totals."""
    labels = list(version.training_labels.values_list("image_id", "label"))
    masks = Counter(version.training_masks.values_list("image_id", flat=True))
    per_image = Counter(image_id for image_id, _ in labels)
    images = version.training_images.select_related("sample").order_by(
        "sample__code", "original_filename", "pk"
    )
    return {
        "training_images": [(image, per_image[image.pk], masks[image.pk]) for image in images],
        "label_count": len(labels),
        "label_classes": sorted(Counter(label for _, label in labels).items()),
        "mask_count": sum(masks.values()),
    }


@login_required
@require_GET
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A version: what it is, its cross-validation table, its training set, activation.

    Apps above the registry add their sections (the results app: activation
    and the progress of the re-analysis it queued, :mod:`nanomark.results.activation`).
    """
    version = version_or_404(request, pk)
    context = {
        "version": version,
        "sections": render_sections("model-detail", request, version),
        "metrics": metrics_table(version.metrics),
        "derived_from": version.derived_from,
        "embedder": version.derived.filter(task=ModelTask.PATCH_EMBEDDER).first(),
        **_training_set(version),
    }
    return render(request, "registry/modelversion_detail.html", context)
