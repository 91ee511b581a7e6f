"""Similar-material search over stored patch embeddings: index upkeep, queries, scoping, filters."""

from datetime import UTC, datetime

import numpy as np
import pytest
from django.core.management import call_command
from django.db.models import QuerySet

from nanomark.imaging.models import SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, PatchEmbedding
from nanomark.runs import RunStatus
from nanomark.samples.filters import SampleFilter
from nanomark.samples.models import Material, Sample, Synthesis
from nanomark.search.index import load_index, rebuild_index, sync_index
from nanomark.search.models import SearchIndex
from nanomark.search.queries import (
    NothingToSearch,
    image_query,
    region_query,
    search_similar,
    similar_samples,
)
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db
DIM = 16


def _unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _direction(axis: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vector = np.zeros(DIM, np.float32)
    vector[axis] = 1.0
    return _unit(vector + noise * rng.normal(size=DIM))


def _embedder(lab, name="emb") -> ModelVersion:
    return ModelVersion.objects.create(lab=lab, task=ModelTask.PATCH_EMBEDDER, name=name)


def _image(sample, name: str) -> SEMImage:
    return image_row(sample, name, width_px=448, height_px=224)


def _analysed(image, embedder, vectors: list[np.ndarray], day: int = 1) -> AnalysisRun:
    """A succeeded run of ``image`` with one 224-px patch per vector, left to right."""
    run = AnalysisRun.objects.create(
        lab=image.lab,
        image=image,
        embedder=embedder,
        status=RunStatus.SUCCEEDED,
        finished_at=datetime(2026, 1, day, tzinfo=UTC),
    )
    PatchEmbedding.objects.bulk_create(
        PatchEmbedding(run=run, x_px=224 * i, y_px=0, size_px=224, vector=v.tobytes())
        for i, v in enumerate(vectors)
    )
    return run


@pytest.fixture
def collection(labs):
    """Lab A: S1 (axis-0 patches), S2 (axis-1 patches, other material); lab B: axis 0 too."""
    embedder = _embedder(labs["a"])
    s1 = labs["sample_a"]
    carbon = Material.objects.create(lab=labs["a"], name="Carbon black", kind="carbon_black")
    s2 = Sample.objects.create(lab=labs["a"], code="S2", material=carbon)
    Synthesis.objects.create(sample=s1, precursor="Pd2dba3", temperature_c=80)
    Synthesis.objects.create(sample=s2, precursor="Pd2dba3", temperature_c=25)
    images = {
        "query": _image(s1, "query.png"),
        "twin": _image(s1, "twin.png"),
        "other": _image(s2, "other.png"),
    }
    _analysed(images["query"], embedder, [_direction(0), _direction(5)])
    _analysed(images["twin"], embedder, [_direction(0, 0.1, 1), _direction(0, 0.1, 2)])
    _analysed(images["other"], embedder, [_direction(1, 0.1, 3), _direction(0, 0.6, 4)])
    embedder_b = _embedder(labs["b"], "emb-b")
    images["foreign"] = _image(labs["sample_b"], "foreign.png")
    _analysed(images["foreign"], embedder_b, [_direction(0), _direction(0)])
    for version in (embedder, embedder_b):
        sync_index(version)
    return {"embedder": embedder, "s1": s1, "s2": s2, **images}


def test_sync_adds_only_runs_not_yet_indexed(collection):
    embedder = collection["embedder"]
    assert len(load_index(embedder)) == 6
    assert sync_index(embedder) == 0
    late = _image(collection["s2"], "late.png")
    _analysed(late, embedder, [_direction(2)])
    assert sync_index(embedder) == 1
    assert SearchIndex.objects.get(embedder=embedder).vector_count == 7


def test_an_image_query_ranks_its_twin_first_and_stays_in_the_users_labs(labs, collection):
    query = image_query(collection["query"])
    assert query.embedder == collection["embedder"]
    assert query.exclude_image_ids == (collection["query"].pk,)
    result = search_similar(labs["alice"], query, k=5)
    assert result.images[0].key == collection["twin"].pk
    assert result.images[0].similarity > 0.9
    assert result.samples[0].key == collection["s1"].pk
    assert collection["query"].pk not in {hit.image_id for hit in result.patches}
    similarities = [hit.similarity for hit in result.patches]
    assert similarities == sorted(similarities, reverse=True)
    # Bob's lab has its own index and never sees lab A's patches.
    assert search_similar(labs["bob"], query, k=5).patches == []


def test_a_region_query_uses_the_patches_under_the_region(labs, collection):
    # The right half of the query image is the axis-5 patch: nothing else is like it.
    query = region_query(collection["query"], 230, 10, 200, 200)
    assert query.embedder == collection["embedder"]
    assert query.vectors.shape == (1, DIM)
    assert np.argmax(query.vectors[0]) == 5
    # The patch under the region is not a hit; the rest of its image may be.
    result = search_similar(labs["alice"], query, k=10)
    hits = {(hit.image_id, hit.x_px) for hit in result.patches}
    assert (collection["query"].pk, 224) not in hits
    assert (collection["query"].pk, 0) in hits
    with pytest.raises(NothingToSearch, match="no embedded patch overlaps"):
        region_query(collection["query"], 1000, 1000, 10, 10)
    with pytest.raises(NothingToSearch, match="positive size"):
        region_query(collection["query"], 0, 0, 0, 10)


def test_hits_are_of_the_samples_the_sample_filters_choose(labs, collection):
    query = image_query(collection["query"])

    def chosen(**data) -> QuerySet:
        filterset = SampleFilter(data, queryset=Sample.objects.all())
        assert filterset.is_valid(), filterset.errors
        return filterset.qs

    result = search_similar(labs["alice"], query, k=10, samples=chosen(temperature_min=50))
    assert {group.key for group in result.samples} == {collection["s1"].pk}
    result = search_similar(
        labs["alice"], query, k=10, samples=chosen(material_kind="carbon_black")
    )
    assert {group.key for group in result.images} == {collection["other"].pk}


def test_samples_rank_by_the_distance_between_their_embeddings(labs, collection):
    s3 = Sample.objects.create(lab=labs["a"], code="S3", material=collection["s1"].material)
    _analysed(_image(s3, "s3.png"), collection["embedder"], [_direction(0, 0.05, 9)] * 2)
    ranked = similar_samples(labs["alice"], collection["s1"])
    # S3 is all axis-0 patches like most of S1; S2 is mostly elsewhere.
    assert [sample.code for sample, _ in ranked] == ["S3", "S2"]
    assert 0 <= ranked[0][1] < ranked[1][1]
    assert "S1" not in [sample.code for sample, _ in similar_samples(labs["bob"], labs["sample_b"])]


def test_an_image_without_embeddings_cannot_be_searched(labs):
    with pytest.raises(NothingToSearch, match="no analysis with patch embeddings"):
        image_query(_image(labs["sample_a"], "bare.png"))


def test_deleted_images_drop_out_and_reindex_rebuilds(labs, collection):
    query = image_query(collection["query"])
    embedder = query.embedder
    collection["twin"].delete()
    result = search_similar(labs["alice"], query, k=5)
    assert collection["twin"].pk not in {group.key for group in result.images}
    assert rebuild_index(embedder) == 4
    call_command("reindex", "--lab", "lab-a")
    assert SearchIndex.objects.get(embedder=embedder).vector_count == 4
