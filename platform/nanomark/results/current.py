"""Which analysis of an image counts: its *current* one, the latest requested that succeeded.

Latest requested means the highest primary key (runs are created when asked
for, with the models active then), not the latest to finish: a run queued
before a model activation that finishes after the re-analysis must not
become current. Older runs, and runs with other model versions, stay stored
(a prediction always names its models) but lists, filters, plots and exports
read the current run only.
"""

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from nanomark.results.models import AnalysisRun, OrderScore
from nanomark.runs import RunStatus


def current_analysis_runs(runs: QuerySet | None = None) -> QuerySet:
    """Each image's current analysis among ``runs`` (default: all runs).

    ``runs`` must not be filtered by run fields other than status (that would
    change which run is the latest); filters on the image or sample are fine.
    """
    runs = AnalysisRun.objects.all() if runs is None else runs
    return (
        runs.filter(status=RunStatus.SUCCEEDED)
        .annotate(
            recency=Window(
                RowNumber(),
                partition_by=F("image_id"),
                order_by=F("pk").desc(),
            )
        )
        .filter(recency=1)
    )


def current_order_scores(runs: QuerySet | None = None) -> QuerySet:
    """OrderScore rows of the current analyses among ``runs``."""
    current = current_analysis_runs(runs).values("pk")
    return OrderScore.objects.filter(run_id__in=current)
