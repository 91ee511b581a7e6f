"""The embedding map (the paper's Fig. 8): patch embeddings on their first two principal axes.

:func:`principal_components` is the maths (numpy only, no database).
:func:`embedding_map` reads the current embeddings of one embedder version in
one lab (each image's latest succeeded run with that embedder), draws a random
subset with a fixed seed when there are more than :data:`MAX_POINTS`, and
labels each point with its sample, image and order class (the image's latest
order label).
"""

from dataclasses import dataclass

import numpy as np

from nanomark.accounts.models import Lab
from nanomark.imaging.models import OrderLabel, SEMImage
from nanomark.registry.models import ModelVersion
from nanomark.results.models import PatchEmbedding
from nanomark.search.index import decode_vectors
from nanomark.search.queries import current_runs

#: Most points projected and drawn; a larger lab is shown as a random subset.
MAX_POINTS = 20_000
#: Seed of that subset, so the same data always gives the same map.
SUBSET_SEED = 0
#: Order class of an image nobody has labelled.
UNLABELLED = "unlabelled"
# Primary keys per IN (...) query: below SQLite's historical limit of 999 variables.
_ID_CHUNK = 900


@dataclass(frozen=True)
class Projection:
    """Points on their principal axes.

    Attributes:
        coordinates: (N, k) float64 coordinates along the first k principal axes, in the
            vectors' own units, centred on their mean.
        explained_variance_ratio: (k,) float64 share of the total variance along each
            axis, 0..1, in decreasing order (all 0 when every vector is the same).
    """

    coordinates: np.ndarray
    explained_variance_ratio: np.ndarray


def principal_components(vectors: np.ndarray, n_components: int = 2) -> Projection:
    """Project vectors on their first ``n_components`` principal axes (PCA).

    Each axis is oriented so that its largest-magnitude loading is positive, so
    the same data always gives the same picture (an eigenvector's sign is arbitrary).

    Args:
        vectors: (N, d) float, N >= ``n_components``, d >= ``n_components``.
        n_components: axes kept, >= 1.

    Returns:
        :class:`Projection` with (N, n_components) coordinates.

    Example:
        >>> points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
        >>> principal_components(points, 1).coordinates.ravel().round(2).tolist()
        [-1.41, 0.0, 1.41]
    """
    data = np.asarray(vectors, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"expected an (N, d) array of vectors, got shape {data.shape}")
    if n_components < 1:
        raise ValueError(f"n_components must be at least 1, got {n_components}")
    if min(data.shape) < n_components:
        raise ValueError(
            f"{n_components} principal components need at least {n_components} vectors "
            f"of at least {n_components} dimensions, got shape {data.shape}"
        )
    if not np.all(np.isfinite(data)):
        raise ValueError("vectors contain NaN or infinite values")
    centred = data - data.mean(axis=0)
    # Eigenvectors of the (d, d) scatter matrix: for N >> d several times faster than an SVD.
    variance, vectors_by_column = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(variance)[::-1][:n_components]
    axes = vectors_by_column[:, order].T
    signs = np.sign(axes[np.arange(n_components), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    variance = np.clip(variance, 0.0, None)
    total = variance.sum()
    ratio = variance[order] / total if total > 0 else np.zeros(n_components)
    return Projection(centred @ axes.T, ratio)


@dataclass(frozen=True)
class EmbeddingMap:
    """The projected patches of one embedder in one lab, with what each point shows.

    Attributes:
        embedder: the embedder version whose vectors were projected.
        projection: (N, 2) coordinates and the variance each axis explains.
        sample_codes: (N,) the code of each patch's sample.
        image_names: (N,) the file name of each patch's image.
        order_classes: (N,) "ordered", "disordered" or :data:`UNLABELLED`.
        total: current embeddings of the lab before the cap (N <= total).
    """

    embedder: ModelVersion
    projection: Projection
    sample_codes: list[str]
    image_names: list[str]
    order_classes: list[str]
    total: int


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + _ID_CHUNK] for start in range(0, len(ids), _ID_CHUNK)]


def embedding_map(
    lab: Lab, embedder: ModelVersion, *, max_points: int = MAX_POINTS, seed: int = SUBSET_SEED
) -> EmbeddingMap:
    """PCA of ``lab``'s current patch embeddings by ``embedder``, at most ``max_points`` of them.

    Raises:
        ValueError: fewer than 2 current embeddings (nothing to project).
    """
    runs = sorted(current_runs(embedder, SEMImage.objects.filter(lab=lab)).values())
    ids = sorted(
        pk
        for chunk in _chunks(runs)
        for pk in PatchEmbedding.objects.filter(run_id__in=chunk).values_list("pk", flat=True)
    )
    if len(ids) < 2:
        raise ValueError(
            f"{embedder.name} has {len(ids)} current patch embedding(s) in {lab.name}; "
            "a map needs at least 2"
        )
    chosen = ids
    if len(ids) > max_points:
        picked = np.random.default_rng(seed).choice(len(ids), size=max_points, replace=False)
        chosen = [ids[i] for i in np.sort(picked)]
    rows = []
    for chunk in _chunks(chosen):
        rows.extend(
            PatchEmbedding.objects.filter(pk__in=chunk)
            .order_by("pk")
            .values_list(
                "vector",
                "run__image_id",
                "run__image__sample__code",
                "run__image__original_filename",
            )
        )
    latest_label: dict[int, str] = {}
    labels = (
        OrderLabel.objects.current()
        .filter(image__lab=lab)
        .order_by("image_id", "-created_at", "-pk")
    )
    for image_id, label in labels.values_list("image_id", "label"):
        latest_label.setdefault(image_id, label)
    return EmbeddingMap(
        embedder=embedder,
        projection=principal_components(decode_vectors([bytes(row[0]) for row in rows])),
        sample_codes=[row[2] for row in rows],
        image_names=[row[3] for row in rows],
        order_classes=[latest_label.get(row[1], UNLABELLED) for row in rows],
        total=len(ids),
    )
