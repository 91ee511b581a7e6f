import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class SearchConfig(AppConfig):
    name = "nanomark.search"
    label = "search"
    verbose_name = "Similar-material search"

    def ready(self) -> None:
        from nanomark.pagesections import add_section
        from nanomark.results.signals import run_succeeded
        from nanomark.search import modelpage
        from nanomark.search.index import sync_index

        def index_vectors(sender, run, **kwargs) -> None:
            if run.embedder is None:
                return
            # The run has succeeded; if this fails, the next sync or `reindex` adds the vectors.
            try:
                sync_index(run.embedder)
            except Exception:
                logger.exception("adding run %s to the search index failed", run.pk)

        run_succeeded.connect(index_vectors, weak=False, dispatch_uid="search-index-vectors")
        add_section("model-detail", modelpage.SECTION_TEMPLATE, modelpage.index_section, 50)
