"""django-q2 task of the results app: analyse one image and store what it found.

Model versions are loaded inside the worker process (``registry.loading``
caches them per process and version), never before the fork. A delivery
claims the run first (counting the attempt). An exception is saved on the run
and, while attempts remain, the run is queued again at once instead of
waiting for django-q2's redelivery (``retry`` is longer than ``timeout``);
a worker that dies is covered by that redelivery, and the claim counts it.
"""

import logging
import traceback

from django.conf import settings

from analysis.semfile import read_sem
from nanomark.registry.loading import load_version
from nanomark.results.compute import analyse_pixels
from nanomark.results.models import AnalysisRun
from nanomark.results.services import enqueue
from nanomark.results.storing import RunNoLongerRunning, discard_partial_files, store_analysis
from nanomark.search.index import sync_index

logger = logging.getLogger(__name__)


def analyse_image(run_pk: int) -> None:
    """Analyse the image of AnalysisRun ``run_pk`` with the run's model versions."""
    if not AnalysisRun.claim(run_pk):
        logger.info("analysis run %s is finished or out of attempts; skipping", run_pk)
        return
    run = AnalysisRun.objects.select_related("image", "classifier", "segmenter", "embedder").get(
        pk=run_pk
    )
    try:
        discard_partial_files(run)
        with run.image.original.open("rb") as handle:
            pixels = read_sem(handle.read(), max_pixels=settings.NANOMARK_MAX_IMAGE_PIXELS).pixels
        analysis = analyse_pixels(
            pixels,
            run.image.pixel_size_nm,
            field=run.image.field_box,
            **{
                role: load_version(version) if version is not None else None
                for role, version in (
                    ("classifier", run.classifier),
                    ("segmenter", run.segmenter),
                    ("embedder", run.embedder),
                )
            },
        )
        store_analysis(run, analysis)
    except RunNoLongerRunning:
        logger.warning("analysis run %s was finished by another delivery", run_pk)
        return
    except Exception as exc:
        logger.exception("analysis run %s failed", run_pk)
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"
        if not AnalysisRun.record_failure(run_pk, error):
            enqueue(run_pk, attempt=run.attempts + 1)
        return
    if run.embedder is not None:
        # The run has succeeded; if this fails, the next sync or `reindex` adds the vectors.
        try:
            sync_index(run.embedder)
        except Exception:
            logger.exception("adding run %s to the search index failed", run_pk)
