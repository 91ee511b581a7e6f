"""The search index section of an embedder's model page (:mod:`nanomark.pagesections`).

It shows what the last build measured: the index kind and parameters kept,
recall@10 against exact search, one-thread batched QPS and single-query
p50/p99 latency of the index and of exact search, memory per vector, build
time, and the size at which the next sync measures again.
"""

from django.conf import settings
from django.http import HttpRequest

from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.search.models import SearchIndex

#: The section's template (``pagesections.add_section("model-detail", ...)``).
SECTION_TEMPLATE = "search/_model_index.html"


def index_section(request: HttpRequest, version: ModelVersion) -> dict | None:
    """The section's context for an embedder version; None (no section) for other tasks."""
    if version.task != ModelTask.PATCH_EMBEDDER:
        return None
    state = SearchIndex.objects.filter(embedder=version).first()
    return {
        "state": state,
        "measurement": state.index_measurement if state is not None else None,
        "growth": settings.NANOMARK_SEARCH_RETUNE_GROWTH,
    }
