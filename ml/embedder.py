"""Patch embedder: the order classifier's encoder E: image → R^m (Boiko et al. 2021, Fig. 8).

The trunk of an :class:`ml.classifiers.OrderClassifier` is global-average
pooled and, if a dimension m is asked for, projected linearly; vectors are
L2-normalised so that a dot product is a cosine similarity. Distances between
patch embeddings compare materials. The projection is fitted, not trained by
gradient: :meth:`PatchEmbedder.fit_projection` sets it to the m principal
directions of the trunk's embeddings of a lab's patches (uncentred, so the
m-d inner products are the best rank-m approximation of the full ones), a
smaller vector for a faster search at the recall ``bench/bench_search.py`` reports.

Example:
    >>> embedder = PatchEmbedder.from_classifier(OrderClassifier("resnet34"))
    >>> vectors = embedder(torch.zeros(3, 1, 64, 64))
    >>> vectors.shape, bool(torch.allclose(vectors.norm(dim=1), torch.ones(3)))
    (torch.Size([3, 512]), True)
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ml.classifiers import DEFAULT_TARGET_NM_PER_PX, OrderClassifier, build_trunk
from ml.spec import PATCH_EMBEDDER, ModelSpec

#: Side of the patches an embedder embeds, nm: 224 px at the paper's 2 nm/px, 112 px
#: at the CPU recipe's 4 nm/px (:attr:`PatchEmbedder.patch_px`).
PATCH_SIDE_NM = 448.0


class PatchEmbedder(nn.Module):
    """One-channel patches → L2-normalised m-dimensional vectors.

    Args:
        architecture: classifier architecture whose trunk is the encoder.
        dim: output dimension m; ``None`` keeps the trunk's channel count
            (512 for ResNet34 and VGG-13, 256 for AlexNet) with no projection.
        target_nm_per_px: image scale the encoder was trained at, nm/px.

    Attributes:
        features: the classifier's convolutional trunk.
        projection: linear map to m dimensions, or identity.
        dim: m.
        patch_px: side of its patches at its scale, px (:data:`PATCH_SIDE_NM`).
        stride_px: step of the patch grid analyses embed, px: half a patch, so that
            a region searched for is covered by patches centred near it.
        spec: :class:`ml.spec.ModelSpec` that rebuilds this model.
    """

    def __init__(
        self,
        architecture: str = "resnet34",
        *,
        dim: int | None = None,
        target_nm_per_px: float = DEFAULT_TARGET_NM_PER_PX,
    ) -> None:
        super().__init__()
        self.features, channels, _ = build_trunk(architecture)
        self.dim = channels if dim is None else int(dim)
        self.projection: nn.Module = (
            nn.Identity() if self.dim == channels else nn.Linear(channels, self.dim, bias=False)
        )
        self.target_nm_per_px = float(target_nm_per_px)
        self.patch_px = round(PATCH_SIDE_NM / self.target_nm_per_px)
        self.stride_px = self.patch_px // 2
        self.spec = ModelSpec(
            PATCH_EMBEDDER,
            architecture,
            None,
            {"dim": dim, "target_nm_per_px": self.target_nm_per_px},
        )

    @classmethod
    def from_classifier(
        cls, classifier: OrderClassifier, dim: int | None = None
    ) -> "PatchEmbedder":
        """An embedder whose encoder is a copy of ``classifier``'s trunk (weights included)."""
        embedder = cls(
            classifier.architecture, dim=dim, target_nm_per_px=classifier.target_nm_per_px
        )
        embedder.features.load_state_dict(classifier.features.state_dict())
        return embedder.to(next(classifier.parameters()).device)

    def fit_projection(self, vectors: np.ndarray) -> None:
        """Set the projection to the principal directions of the trunk's embeddings.

        Args:
            vectors: (N, C) L2-normalised embeddings of patches by this encoder with
                no projection (``dim=None``), N >= m; C the trunk's channel count.
        """
        if isinstance(self.projection, nn.Identity):
            raise ValueError("this embedder has no projection (dim is the trunk's channel count)")
        weight = principal_directions(vectors, self.dim)
        with torch.no_grad():
            self.projection.weight.copy_(torch.from_numpy(weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed patches.

        Args:
            x: (N, 1, H, W) float patches normalised as :func:`ml.data.to_tensor` does.

        Returns:
            (N, m) float vectors of unit L2 norm.
        """
        pooled = self.features(x).mean(dim=(2, 3))
        return F.normalize(self.projection(pooled).float(), dim=1)


def principal_directions(vectors: np.ndarray, dim: int) -> np.ndarray:
    """(m, C) float32 orthonormal rows: the top-m right singular vectors of (N, C) ``vectors``.

    Uncentred principal directions: projecting unit vectors on them keeps the
    most of their inner products any rank-m linear map keeps (Eckart-Young).
    Signs are fixed (largest coordinate of each row positive) so that a refit
    on the same vectors gives the same map.
    """
    array = np.asarray(vectors, dtype=np.float64)
    if array.ndim != 2 or not 1 <= dim <= min(array.shape):
        raise ValueError(f"need (N, C) vectors with N, C >= m = {dim}, got shape {array.shape}")
    _, _, rows = np.linalg.svd(array, full_matrices=False)
    rows = rows[:dim]
    signs = np.sign(rows[np.arange(dim), np.abs(rows).argmax(axis=1)])
    return (rows * signs[:, None]).astype(np.float32)
