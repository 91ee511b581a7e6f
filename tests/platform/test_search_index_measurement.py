"""The search index's measured kind: stored, shown, re-measured on growth, reloaded everywhere."""

import numpy as np
import pytest
from django.urls import reverse

from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, PatchEmbedding
from nanomark.runs import RunStatus
from nanomark.search import index as search_index
from nanomark.search.index import load_index, rebuild_index, sync_index
from nanomark.search.models import SearchIndex
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db
DIM = 16


def _analysed(lab, sample, embedder, name: str, count: int, seed: int) -> AnalysisRun:
    """A succeeded run of a new image of ``sample`` with ``count`` random unit patch vectors."""
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    run = AnalysisRun.objects.create(
        lab=lab, image=image_row(sample, name), embedder=embedder, status=RunStatus.SUCCEEDED
    )
    PatchEmbedding.objects.bulk_create(
        PatchEmbedding(run=run, x_px=8 * i, y_px=0, size_px=8, vector=v.tobytes())
        for i, v in enumerate(vectors)
    )
    return run


@pytest.fixture
def embedder(labs):
    version = ModelVersion.objects.create(lab=labs["a"], task=ModelTask.PATCH_EMBEDDER, name="emb")
    _analysed(labs["a"], labs["sample_a"], version, "first.png", 4, seed=0)
    sync_index(version)
    return version


def test_a_build_stores_what_it_measured(embedder):
    state = SearchIndex.objects.get(embedder=embedder)
    measured = state.index_measurement
    assert (state.kind, measured.kind, measured.vector_count, measured.recall_at_10) == (
        "flat",
        "flat",
        4,
        1.0,
    )
    assert measured.qps > 0
    assert measured.latency_p99_ms >= measured.latency_p50_ms > 0
    assert measured.bytes_per_vector >= 4 * DIM


def test_the_index_is_measured_again_once_the_collection_doubled(labs, embedder, settings):
    settings.NANOMARK_SEARCH_RETUNE_GROWTH = 2.0
    _analysed(labs["a"], labs["sample_a"], embedder, "second.png", 4, seed=1)
    assert sync_index(embedder) == 4  # 8 vectors: added to the index measured at 4
    state = SearchIndex.objects.get(embedder=embedder)
    assert (state.vector_count, state.index_measurement.vector_count, state.retune_size) == (
        8,
        4,
        8,
    )
    _analysed(labs["a"], labs["sample_a"], embedder, "third.png", 1, seed=2)
    assert sync_index(embedder) == 9  # past 2x: rebuilt from every run and measured
    state.refresh_from_db()
    assert (state.vector_count, state.index_measurement.vector_count) == (9, 9)


def test_an_index_built_before_measuring_is_rebuilt_at_the_next_sync(labs, embedder):
    SearchIndex.objects.filter(embedder=embedder).update(measurement={})
    _analysed(labs["a"], labs["sample_a"], embedder, "second.png", 1, seed=1)
    assert sync_index(embedder) == 5
    assert SearchIndex.objects.get(embedder=embedder).index_measurement.vector_count == 5


def test_a_rebuild_elsewhere_is_loaded_from_storage_and_an_unchanged_index_is_not(labs, embedder):
    loaded = load_index(embedder)
    assert load_index(embedder) is loaded  # one load per process, not one per request
    # This process keeps the index it loaded while another one rebuilds with more vectors.
    mine = dict(search_index._loaded)
    _analysed(labs["a"], labs["sample_a"], embedder, "second.png", 3, seed=1)
    rebuild_index(embedder)
    search_index._loaded.clear()
    search_index._loaded.update(mine)
    fresh = load_index(embedder)
    assert fresh is not loaded
    assert len(fresh) == 7
    assert load_index(embedder) is fresh


def test_the_embedders_model_page_shows_the_measurement(client, labs, embedder):
    client.force_login(labs["charlie"])
    page = client.get(reverse("model-detail", args=[embedder.pk])).content.decode()
    assert "Search index" in page
    assert "4 patch embeddings in a <strong>flat</strong> index" in page
    assert "bytes per vector" in page
    assert "past 8 vectors" in page


def test_other_model_pages_have_no_index_section(client, labs):
    classifier = ModelVersion.objects.create(
        lab=labs["a"], task=ModelTask.ORDER_CLASSIFIER, name="clf"
    )
    client.force_login(labs["charlie"])
    page = client.get(reverse("model-detail", args=[classifier.pk])).content.decode()
    assert "Search index" not in page
