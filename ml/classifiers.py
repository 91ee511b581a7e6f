"""Order classifiers (Boiko et al. 2021, Table 1): ResNet34, VGG-13 and AlexNet, and ResNet18.

Each network takes one grey channel and ends in a fully connected head with
dropout that gives one logit; ``sigmoid(logit)`` is the degree of order
S ∈ (0, 1) (1 = ordered). The convolutional trunks are torchvision's, built
with ``weights=None``: NanoMark trains its own weights and never downloads any.
With the default heads the parameter counts are the paper's (ResNet34 21 M,
VGG-13 129 M, AlexNet 57 M). ResNet18 (11 M, half ResNet34's operations) is
the CPU recipe's network (:mod:`ml.devicerecipes`).

Example:
    >>> model = OrderClassifier("resnet34")
    >>> model(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2])
"""

from collections.abc import Sequence

import torch
import torchvision
from torch import nn

from ml.spec import ORDER_CLASSIFIER, ModelSpec

#: Classifier networks, as named in the registry.
ARCHITECTURES = ("resnet34", "vgg13", "alexnet", "resnet18")
#: Scale images are resampled to before classification, nm per pixel.
DEFAULT_TARGET_NM_PER_PX = 2.0
# torchvision's classifier heads: two 4096-wide hidden layers for VGG and AlexNet,
# a single linear layer on the pooled features for ResNet.
_DEFAULT_HIDDEN = {"resnet34": (), "resnet18": (), "vgg13": (4096, 4096), "alexnet": (4096, 4096)}


def build_trunk(architecture: str) -> tuple[nn.Module, int, int]:
    """Convolutional trunk of a classifier, with a one-channel first layer.

    Args:
        architecture: one of :data:`ARCHITECTURES`.

    Returns:
        ``(features, channels, pooled_side)``: the module mapping (N, 1, H, W) to
        (N, channels, h, w), its channel count, and the side of the adaptive
        pooling grid the original network puts before its head (1 for ResNet).
    """
    if architecture in ("resnet18", "resnet34"):
        net = getattr(torchvision.models, architecture)(weights=None)
        conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        features = nn.Sequential(
            conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4
        )
        return features, 512, 1
    if architecture == "vgg13":
        features = torchvision.models.vgg13(weights=None).features
        features[0] = nn.Conv2d(1, 64, kernel_size=3, padding=1)
        return features, 512, 7
    if architecture == "alexnet":
        features = torchvision.models.alexnet(weights=None).features
        features[0] = nn.Conv2d(1, 64, kernel_size=11, stride=4, padding=2)
        return features, 256, 6
    raise ValueError(
        f"unknown classifier architecture {architecture!r}; expected one of "
        f"{', '.join(ARCHITECTURES)}"
    )


def _head(in_features: int, hidden: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for size in hidden:
        layers += [nn.Dropout(dropout), nn.Linear(width, size), nn.ReLU(inplace=True)]
        width = size
    layers += [nn.Dropout(dropout), nn.Linear(width, 1)]
    return nn.Sequential(*layers)


class OrderClassifier(nn.Module):
    """One-channel image → order logit.

    Args:
        architecture: one of :data:`ARCHITECTURES`.
        dropout: dropout probability before every fully connected layer.
        hidden_features: widths of the hidden fully connected layers; ``None``
            takes the original network's (see module docstring).
        target_nm_per_px: image scale the model is trained and applied at, nm/px.

    Attributes:
        features: convolutional trunk, (N, 1, H, W) → (N, C, h, w); the
            embedder (:class:`ml.embedder.PatchEmbedder`) reuses it.
        spec: :class:`ml.spec.ModelSpec` that rebuilds this model.
    """

    def __init__(
        self,
        architecture: str = "resnet34",
        *,
        dropout: float = 0.5,
        hidden_features: Sequence[int] | None = None,
        target_nm_per_px: float = DEFAULT_TARGET_NM_PER_PX,
    ) -> None:
        super().__init__()
        self.features, channels, side = build_trunk(architecture)
        hidden = tuple(
            _DEFAULT_HIDDEN[architecture] if hidden_features is None else hidden_features
        )
        self.pool = nn.AdaptiveAvgPool2d(side)
        self.head = _head(channels * side * side, hidden, dropout)
        self.architecture = architecture
        self.channels = channels
        self.target_nm_per_px = float(target_nm_per_px)
        self.spec = ModelSpec(
            ORDER_CLASSIFIER,
            architecture,
            None,
            {
                "dropout": dropout,
                "hidden_features": list(hidden),
                "target_nm_per_px": self.target_nm_per_px,
            },
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Order logits.

        Args:
            x: (N, 1, H, W) float images, normalised as :func:`ml.data.to_tensor` does;
                H, W ≥ 32 (≥ 64 for AlexNet).

        Returns:
            (N,) logits; ``torch.sigmoid`` of them is the order score in (0, 1).
        """
        return self.head(self.pool(self.features(x))).squeeze(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) order scores in (0, 1) for (N, 1, H, W) images."""
        return torch.sigmoid(self.forward(x))
