"""The stored state of each embedder's vector index.

The database is the source of truth: the index file in media storage is a
cache of the patch embeddings of the runs marked ``indexed_at``, and
``manage.py reindex`` rebuilds it from those rows at any time.
"""

from django.db import models

from nanomark.accounts.models import LabOwned
from nanomark.registry.models import ModelVersion


class SearchIndex(LabOwned):
    """The FAISS index of one embedder version's patch embeddings."""

    embedder = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="search_index"
    )
    file = models.FileField(max_length=255, blank=True, help_text="serialised FAISS index")
    kind = models.CharField(max_length=20, blank=True, help_text="flat (exact) or ivf")
    vector_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "search indexes"

    def __str__(self) -> str:
        return f"Index of {self.embedder} ({self.vector_count} vectors, {self.kind})"
