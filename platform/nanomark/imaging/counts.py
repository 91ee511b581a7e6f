"""Per-sample image counts, one definition for the sample list page and the API."""

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from nanomark.imaging.models import SEMImage


def with_image_counts(samples: QuerySet) -> QuerySet:
    """``samples`` annotated with ``image_count`` and ``uncalibrated_count`` (no pixel size).

    Correlated subqueries, so a page of samples is one query whatever the number of
    images, and joins made by filters cannot inflate the counts.
    """
    images = SEMImage.objects.filter(sample=OuterRef("pk")).order_by().values("sample")
    uncalibrated = images.filter(pixel_size_nm__isnull=True)
    return samples.annotate(
        image_count=Coalesce(Subquery(images.annotate(n=Count("pk")).values("n")), 0),
        uncalibrated_count=Coalesce(Subquery(uncalibrated.annotate(n=Count("pk")).values("n")), 0),
    )
