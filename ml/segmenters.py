"""Defect segmenters: segmentation-models-pytorch FPN and U-Net (Boiko et al. 2021).

One grey input channel, four output channels in
:data:`analysis.defects.DEFECT_CLASSES` order (sheet border, grain boundary,
topological defect, point defect), each an independent logit: defect layers
overlap, so the classes are not mutually exclusive. Encoders start untrained
(``encoder_weights=None``); nothing is downloaded.

Example:
    >>> model = DefectSegmenter("fpn", "resnet34")
    >>> model(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 4, 64, 64])
"""

import segmentation_models_pytorch as smp
import torch
from torch import nn

from analysis.defects import DEFECT_CLASSES
from ml.spec import DEFECT_SEGMENTER, ModelSpec

#: Decoder architectures, as named in the registry.
ARCHITECTURES: dict[str, type[nn.Module]] = {"fpn": smp.FPN, "unet": smp.Unet}
#: Encoders from the paper's families (ResNet, SE-ResNet, VGG) that smp 0.6 provides;
#: ResNet18 is the CPU recipe's (:mod:`ml.devicerecipes`).
ENCODERS = ("resnet34", "se_resnet50", "vgg13", "vgg16", "resnet18")
DEFAULT_ENCODER = "resnet34"
#: Scale images are resampled to before segmentation, nm per pixel. Line labels
#: are half a particle diameter wide (1.5 nm for 3 nm particles): at 0.6 nm/px
#: that is a 3 px line, while from 0.75 nm/px on it rounds to 1 px.
DEFAULT_TARGET_NM_PER_PX = 0.6
#: Input sides must be multiples of this (five stride-2 stages).
INPUT_MULTIPLE = 32


class DefectSegmenter(nn.Module):
    """One-channel image → four defect-class logit maps.

    Args:
        architecture: ``"fpn"`` or ``"unet"``.
        encoder: one of :data:`ENCODERS`.
        target_nm_per_px: image scale the model is trained and applied at, nm/px.
        particle_diameter_nm: particle diameter that set the width of the line
            labels it was trained on (half a diameter, the paper's rule).

    Attributes:
        net: the smp model.
        spec: :class:`ml.spec.ModelSpec` that rebuilds this model.
    """

    def __init__(
        self,
        architecture: str = "fpn",
        encoder: str = DEFAULT_ENCODER,
        *,
        target_nm_per_px: float = DEFAULT_TARGET_NM_PER_PX,
        particle_diameter_nm: float = 3.0,
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown segmenter architecture {architecture!r}; expected one of "
                f"{', '.join(ARCHITECTURES)}"
            )
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; expected one of {', '.join(ENCODERS)}")
        self.net = ARCHITECTURES[architecture](
            encoder_name=encoder,
            encoder_weights=None,
            in_channels=1,
            classes=len(DEFECT_CLASSES),
        )
        self.target_nm_per_px = float(target_nm_per_px)
        self.particle_diameter_nm = float(particle_diameter_nm)
        self.spec = ModelSpec(
            DEFECT_SEGMENTER,
            architecture,
            encoder,
            {
                "target_nm_per_px": self.target_nm_per_px,
                "particle_diameter_nm": self.particle_diameter_nm,
            },
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Defect logits.

        Args:
            x: (N, 1, H, W) float images normalised as :func:`ml.data.to_tensor`
                does; H and W multiples of :data:`INPUT_MULTIPLE`.

        Returns:
            (N, 4, H, W) logits; ``torch.sigmoid`` gives per-class probabilities.
        """
        return self.net(x)
