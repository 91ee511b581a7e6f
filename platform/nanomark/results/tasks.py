"""django-q2 task of the results app: analyse one image and store what it found.

Model versions are loaded inside the worker process (``registry.loading``
caches them per process and version), never before the fork. The run is
claimed under a lease (:func:`nanomark.workers.leases.leased`): an exception
is saved on the run, which is queued again at once while attempts remain; a
worker that dies loses the lease and the run is queued again by the sweep.
"""

import logging

from nanomark.registry.loading import load_version
from nanomark.results.compute import analyse_pixels
from nanomark.results.models import MODEL_ROLES, AnalysisRun
from nanomark.results.signals import run_succeeded
from nanomark.results.storing import RunNoLongerRunning, discard_partial_files, store_analysis
from nanomark.workers.leases import leased

logger = logging.getLogger(__name__)


def analyse_image(run_pk: int) -> None:
    """Analyse the image of AnalysisRun ``run_pk`` with the run's model versions."""
    with leased(AnalysisRun, run_pk) as holder:
        if holder is None:
            return
        run = AnalysisRun.objects.select_related("image", *MODEL_ROLES).get(pk=run_pk)
        discard_partial_files(run)
        analysis = analyse_pixels(
            run.image.read_pixels(),
            run.image.pixel_size_nm,
            field=run.image.field_box,
            **{
                role: load_version(version) if version is not None else None
                for role, version in run.versions().items()
            },
        )
        try:
            store_analysis(run, analysis, holder)
        except RunNoLongerRunning:
            logger.warning("analysis run %s was taken over by another delivery", run_pk)
            return
        run_succeeded.send(sender=AnalysisRun, run=run)
