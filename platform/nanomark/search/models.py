"""The stored state of each embedder's vector index.

The database is the source of truth: the index file in media storage is a
cache of the patch embeddings of the runs marked ``indexed_at``, and
``manage.py reindex`` rebuilds it from those rows at any time. Each build
measures which index kind serves the collection (:mod:`analysis.indextuning`)
and stores the measurement here; the index is rebuilt and measured again once
the collection has grown ``NANOMARK_SEARCH_RETUNE_GROWTH`` times past the measured size.
"""

from django.conf import settings
from django.db import models

from analysis.indextuning import IndexMeasurement
from nanomark.accounts.models import LabOwned
from nanomark.registry.models import ModelVersion


class SearchIndex(LabOwned):
    """The FAISS index of one embedder version's patch embeddings, and how it was chosen."""

    embedder = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="search_index"
    )
    file = models.FileField(max_length=255, blank=True, help_text="serialised FAISS index")
    kind = models.CharField(max_length=20, blank=True, help_text="flat (exact), hnsw, ivf or ivfpq")
    vector_count = models.PositiveIntegerField(default=0)
    measurement = models.JSONField(
        default=dict,
        blank=True,
        help_text="what the last build measured (analysis.indextuning.IndexMeasurement)",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "search indexes"

    def __str__(self) -> str:
        return f"Index of {self.embedder} ({self.vector_count} vectors, {self.kind})"

    @property
    def index_measurement(self) -> IndexMeasurement | None:
        """The last build's measurement, or None for an index built before measuring."""
        return IndexMeasurement.from_dict(self.measurement) if self.measurement else None

    @property
    def retune_size(self) -> int:
        """Vector count past which the next sync rebuilds and measures again (0: at once)."""
        measured = self.index_measurement
        growth = settings.NANOMARK_SEARCH_RETUNE_GROWTH
        return int(growth * measured.vector_count) if measured is not None else 0

    def needs_retuning(self, vector_count: int) -> bool:
        """Whether an index of ``vector_count`` vectors has outgrown its measurement."""
        return vector_count > self.retune_size
