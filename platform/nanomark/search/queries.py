"""Similar-material queries: by image region, by image, by sample; sample-to-sample distances.

A query is a set of unit vectors from one embedder, taken from images'
current analyses (:mod:`nanomark.results.current`): the stored patch
embeddings overlapping a region (weighted by overlap), all patches of an
image, or all patches of a sample's images. The index returns the nearest
patches by cosine similarity; the hits are restricted in the database (the
source of truth) to current analyses in the user's labs and to the chosen samples,
so vectors of deleted images and superseded runs drop out, and ranked as
patches, images and samples.
"""

from dataclasses import dataclass

import numpy as np
from django.db.models import QuerySet

from analysis.regionquery import region_vector
from analysis.vectorindex import aggregate_hits, rank_samples
from nanomark.imaging.models import SEMImage
from nanomark.registry.models import ModelVersion
from nanomark.results.current import current_analysis_runs
from nanomark.results.models import AnalysisRun, PatchEmbedding
from nanomark.samples.models import Sample
from nanomark.search.index import decode_vectors, load_index, stored_vectors

#: Index hits fetched per result wanted, to leave room for filtering and duplicates.
OVERSAMPLE = 10


class NothingToSearch(ValueError):
    """The image, region or sample has no embeddings to search with (a clear message)."""


@dataclass(frozen=True)
class Query:
    """What to search with: one embedder's unit vectors, and what the hits must leave out.

    Attributes:
        embedder: the version that made ``vectors`` (its index is searched).
        vectors: (n, d) float32 unit vectors; a hit's similarity is its best over them.
        exclude_image_ids: images whose patches are not hits (the query's own).
        exclude_embedding_ids: patches that are not hits (those under a queried region).
    """

    embedder: ModelVersion
    vectors: np.ndarray
    exclude_image_ids: tuple[int, ...] = ()
    exclude_embedding_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class PatchHit:
    """One similar patch: where it is and its cosine similarity to the query (−1..1)."""

    embedding_id: int
    image_id: int
    sample_id: int
    x_px: int
    y_px: int
    size_px: int
    similarity: float


@dataclass(frozen=True)
class RankedGroup:
    """An image or sample ranked by its best patch's similarity."""

    key: int
    similarity: float
    best_patch: PatchHit


@dataclass(frozen=True)
class SearchResult:
    """Ranked patches, and the same hits aggregated to images and samples."""

    embedder: ModelVersion
    patches: list[PatchHit]
    images: list[RankedGroup]
    samples: list[RankedGroup]


def current_runs(embedder: ModelVersion, images: QuerySet | None = None) -> dict[int, int]:
    """image id → its current analysis run (:mod:`nanomark.results.current`), where that run
    used ``embedder`` (optionally only among ``images``)."""
    runs = (
        AnalysisRun.objects.all()
        if images is None
        else AnalysisRun.objects.filter(image__in=images)
    )
    current = current_analysis_runs(runs).values("pk")
    return dict(
        AnalysisRun.objects.filter(pk__in=current, embedder=embedder).values_list("image_id", "pk")
    )


def _latest_embedding_run(images: QuerySet) -> AnalysisRun | None:
    """The latest requested of the current analyses of ``images`` that computed embeddings."""
    current = current_analysis_runs(AnalysisRun.objects.filter(image__in=images)).values("pk")
    return (
        AnalysisRun.objects.filter(pk__in=current, embedder__isnull=False)
        .select_related("embedder")
        .order_by("-pk")
        .first()
    )


def embedder_of(image: SEMImage) -> ModelVersion:
    """The embedder of the image's current analysis."""
    run = _latest_embedding_run(SEMImage.objects.filter(pk=image.pk))
    if run is None:
        raise NothingToSearch(
            f"{image} has no analysis with patch embeddings yet (is an embedder active?)"
        )
    return run.embedder


def _embeddings(embedder: ModelVersion, images: QuerySet) -> QuerySet:
    return PatchEmbedding.objects.filter(run_id__in=current_runs(embedder, images).values())


def region_query(image: SEMImage, x_px: int, y_px: int, width_px: int, height_px: int) -> Query:
    """The query of a rectangle of ``image`` (original pixels): one (1, d) vector.

    The mean of the patch vectors overlapping the rectangle, weighted by the
    overlapping area, re-normalised to unit length
    (:func:`analysis.regionquery.region_vector`). Those patches are left
    out of the hits; the rest of the image stays searchable (the same
    structure elsewhere on it is a hit).
    """
    if width_px <= 0 or height_px <= 0 or x_px < 0 or y_px < 0:
        raise NothingToSearch("the region needs a non-negative corner and a positive size")
    embedder = embedder_of(image)
    rows = list(
        _embeddings(embedder, SEMImage.objects.filter(pk=image.pk)).values_list(
            "pk", "x_px", "y_px", "size_px", "vector"
        )
    )
    try:
        vector, under = region_vector(
            np.array([row[1] for row in rows]),
            np.array([row[2] for row in rows]),
            np.array([row[3] for row in rows]),
            decode_vectors([bytes(row[4]) for row in rows]),
            (x_px, y_px, width_px, height_px),
        )
    except ValueError as reason:
        raise NothingToSearch(str(reason)) from None
    return Query(
        embedder,
        vector.astype(np.float32)[None, :],
        exclude_embedding_ids=tuple(row[0] for row, kept in zip(rows, under, strict=True) if kept),
    )


def image_query(image: SEMImage) -> Query:
    """All patch vectors of ``image``'s current embeddings; the image itself is left out."""
    embedder = embedder_of(image)
    vectors = _vectors(_embeddings(embedder, SEMImage.objects.filter(pk=image.pk)))
    return Query(embedder, vectors, exclude_image_ids=(image.pk,))


def sample_query(sample: Sample) -> Query:
    """All patch vectors of the sample's images (its latest embedder); its images left out."""
    images = SEMImage.objects.filter(sample=sample)
    run = _latest_embedding_run(images)
    if run is None:
        raise NothingToSearch(f"no image of sample {sample.code} has patch embeddings yet")
    return Query(
        run.embedder,
        _vectors(_embeddings(run.embedder, images)),
        exclude_image_ids=tuple(images.values_list("pk", flat=True)),
    )


def _vectors(embeddings: QuerySet) -> np.ndarray:
    _, vectors = stored_vectors(embeddings)
    if not len(vectors):
        raise NothingToSearch("no patch embeddings to search with")
    return vectors


def search_similar(
    user, query: Query, *, k: int = 20, samples: QuerySet | None = None
) -> SearchResult:
    """The ``k`` patches most like ``query`` in the user's labs, ranked, and their groups.

    Args:
        user: the asking user; only patches of their labs are returned.
        query: from :func:`region_query`, :func:`image_query` or :func:`sample_query`.
        k: patches wanted (images and samples are ranked from those hits).
        samples: the samples whose patches may be hits (e.g. a
            :class:`~nanomark.samples.filters.SampleFilter`'s ``qs``); any without it.
    """
    embedder = query.embedder
    index = load_index(embedder)
    empty = SearchResult(embedder, [], [], [])
    if index is None or len(index) == 0:
        return empty
    scores, ids = index.search(query.vectors, min(len(index), k * OVERSAMPLE))
    best: dict[int, float] = {}
    for score, hit in zip(scores.ravel(), ids.ravel(), strict=True):
        if hit >= 0 and score > best.get(int(hit), -np.inf):
            best[int(hit)] = float(score)
    # Only patches of current analyses: older runs' vectors stay in the index until `reindex`.
    current = current_analysis_runs(AnalysisRun.objects.restrict(user)).values("pk")
    allowed = PatchEmbedding.objects.filter(pk__in=list(best), run__in=current)
    allowed = allowed.exclude(run__image_id__in=query.exclude_image_ids).exclude(
        pk__in=query.exclude_embedding_ids
    )
    if samples is not None:
        allowed = allowed.filter(run__image__sample__in=samples.values("pk"))
    rows = allowed.values_list(
        "pk", "run__image_id", "run__image__sample_id", "x_px", "y_px", "size_px"
    )
    hits = sorted((PatchHit(*row, best[row[0]]) for row in rows), key=lambda hit: -hit.similarity)
    patches = hits[:k]
    by_id = {hit.embedding_id: hit for hit in patches}
    ids_ranked = np.array([hit.embedding_id for hit in patches], dtype=np.int64)
    similarities = np.array([hit.similarity for hit in patches], dtype=np.float32)

    def grouped(key) -> list[RankedGroup]:
        groups = aggregate_hits(ids_ranked, similarities, {h.embedding_id: key(h) for h in patches})
        return [RankedGroup(group, score, by_id[patch]) for group, score, patch in groups]

    return SearchResult(
        embedder,
        patches,
        grouped(lambda hit: hit.image_id),
        grouped(lambda hit: hit.sample_id),
    )


def similar_samples(
    user, sample: Sample, *, limit: int = 10, samples: QuerySet | None = None
) -> list[tuple[Sample, float]]:
    """Samples in the user's labs ranked by the distance of their embedding distributions.

    Only samples embedded by the same embedder as ``sample`` can be compared;
    ``samples`` (a query of Sample) narrows the candidates.
    """
    query = sample_query(sample)
    embedder = query.embedder
    others = Sample.objects.restrict(user).exclude(pk=sample.pk)
    if samples is not None:
        others = others.filter(pk__in=samples.values("pk"))
    runs = current_runs(embedder, SEMImage.objects.filter(sample__in=others))
    vectors: dict[int, list[bytes]] = {}
    for sample_id, blob in PatchEmbedding.objects.filter(run_id__in=runs.values()).values_list(
        "run__image__sample_id", "vector"
    ):
        vectors.setdefault(sample_id, []).append(bytes(blob))
    ranked = rank_samples(
        query.vectors, {pk: decode_vectors(blobs) for pk, blobs in vectors.items()}
    )
    found = Sample.objects.in_bulk([pk for pk, _ in ranked[:limit]])
    return [(found[pk], distance) for pk, distance in ranked[:limit]]
