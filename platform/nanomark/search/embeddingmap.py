"""The embedding map (the paper's Fig. 8): patch embeddings on their first two principal axes.

The projection is :func:`analysis.projection.principal_components`.
:func:`embedding_map` reads the current embeddings of one embedder version in
one lab (each image's latest succeeded run with that embedder), draws a random
subset with a fixed seed when there are more than :data:`MAX_POINTS`, and
labels each point with its sample, image and order class (the image's latest
order label).
"""

from dataclasses import dataclass

import numpy as np

from analysis.projection import Projection, principal_components
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
