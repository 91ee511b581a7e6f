"""Queueing analyses: one run per image, active model versions and calibration, on commit.

An image is analysed when it is stored, when a model version is activated
(the lab's images are re-analysed in a batch), when its calibration is
corrected, and when someone asks (``manage.py analyze``, a retry). Asking
twice for the same image, models and calibration finds the existing run
instead of adding one.
"""

from collections.abc import Iterable

from django.db import transaction

from nanomark.imaging.models import SEMImage
from nanomark.registry.models import ModelVersion
from nanomark.results.models import MODEL_ROLES, AnalysisBatch, AnalysisRun, models_key_of
from nanomark.runs import RunStatus


def active_versions(lab_id: int) -> dict[str, ModelVersion | None]:
    """The lab's active version in each role of :data:`MODEL_ROLES` (None where none is active)."""
    active = {v.task: v for v in ModelVersion.objects.filter(lab_id=lab_id, is_active=True)}
    return {role: active.get(task) for role, task in MODEL_ROLES.items()}


def queue_analyses(
    images: Iterable[SEMImage],
    *,
    reason: str | None = None,
    created_by=None,
    enqueue_runs: bool = True,
) -> list[AnalysisRun]:
    """Create the missing runs of ``images`` with their labs' active models and queue them.

    Images that already have a run with the same model versions and their
    current calibration version are skipped, whatever its status (a failed
    run is retried with :func:`retry_run`). Runs of the other images that no
    worker has started yet, queued with other model versions or an older
    calibration, are superseded: they are deleted (their queued task then
    finds no run and does nothing).
    With a ``reason`` the runs of each lab form a batch whose progress can be
    followed (``run.batch``).

    Returns:
        The runs created, in the order of ``images``.
    """
    by_lab: dict[int, list[SEMImage]] = {}
    for image in images:
        by_lab.setdefault(image.lab_id, []).append(image)
    created = []
    with transaction.atomic():
        for lab_id, lab_images in by_lab.items():
            versions = active_versions(lab_id)
            key = models_key_of(**versions)
            done = set(
                AnalysisRun.objects.filter(image__in=lab_images, models_key=key).values_list(
                    "image_id", "calibration_version"
                )
            )
            todo = [
                image for image in lab_images if (image.pk, image.calibration_version) not in done
            ]
            if not todo:
                continue
            AnalysisRun.objects.filter(image__in=todo, status=RunStatus.QUEUED, attempts=0).delete()
            batch = None
            if reason is not None:
                batch = AnalysisBatch.objects.create(
                    lab_id=lab_id, reason=reason[:200], created_by=created_by
                )
            runs = AnalysisRun.objects.bulk_create(
                AnalysisRun(
                    lab_id=lab_id,
                    image=image,
                    batch=batch,
                    models_key=key,
                    calibration_version=image.calibration_version,
                    **versions,
                )
                for image in todo
            )
            created.extend(runs)
        if enqueue_runs:
            pks = [run.pk for run in created]
            transaction.on_commit(lambda: [AnalysisRun.enqueue(pk) for pk in pks])
    return created


def retry_run(run: AnalysisRun) -> bool:
    """Give a failed run fresh attempts and queue it; False if it was not failed."""
    with transaction.atomic():
        reset = AnalysisRun.objects.filter(pk=run.pk, status=RunStatus.FAILED).update(
            status=RunStatus.QUEUED,
            attempts=0,
            interruptions=0,
            error="",
            started_at=None,
            finished_at=None,
        )
        if reset:
            transaction.on_commit(lambda: AnalysisRun.enqueue(run.pk))
    return bool(reset)


def activate_version(version: ModelVersion, *, created_by=None, enqueue_runs: bool = True):
    """Make ``version`` its lab's active one and queue the re-analysis of the lab's images.

    A classifier's patch embedder is activated with it (:meth:`ModelVersion.activate`).

    Returns:
        The runs queued (images already analysed with these models are skipped).
    """
    activated = version.activate()
    return queue_analyses(
        SEMImage.objects.filter(lab_id=version.lab_id).order_by("pk"),
        reason="activated " + " and ".join(v.name for v in activated),
        created_by=created_by,
        enqueue_runs=enqueue_runs,
    )
