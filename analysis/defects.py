"""The four defect classes that Pd nanoparticles reveal (Boiko et al. 2021).

Every layer stack in NanoMark (hand-drawn masks, segmentation outputs,
simulated ground truth) orders its channels as :data:`DEFECT_CLASSES`.
"""

from typing import Final

SHEET_BORDER: Final = "sheet_border"
GRAIN_BOUNDARY: Final = "grain_boundary"
TOPOLOGICAL_DEFECT: Final = "topological_defect"
POINT_DEFECT: Final = "point_defect"

#: Channel order of every (4, H, W) defect-layer array.
DEFECT_CLASSES: Final[tuple[str, ...]] = (
    SHEET_BORDER,
    GRAIN_BOUNDARY,
    TOPOLOGICAL_DEFECT,
    POINT_DEFECT,
)

#: Classes drawn as thin lines: measured by skeleton length, dilated for training.
LINE_CLASSES: Final[tuple[str, ...]] = (SHEET_BORDER, GRAIN_BOUNDARY, TOPOLOGICAL_DEFECT)

#: Human-readable labels, in channel order.
DEFECT_LABELS: Final[dict[str, str]] = {
    SHEET_BORDER: "Sheet borders",
    GRAIN_BOUNDARY: "Grain boundaries",
    TOPOLOGICAL_DEFECT: "Topological defects",
    POINT_DEFECT: "Point defects",
}


def channel(name: str) -> int:
    """Return the channel index of defect class ``name``.

    Raises:
        ValueError: ``name`` is not one of :data:`DEFECT_CLASSES` (the message lists them).
    """
    try:
        return DEFECT_CLASSES.index(name)
    except ValueError:
        raise ValueError(
            f"unknown defect class {name!r}; expected one of {', '.join(DEFECT_CLASSES)}"
        ) from None
