"""The numbers of one image's analysis, computed in memory (no database, no files).

:func:`analyse_pixels` runs whichever models it is given — order classifier
(score and saliency from one forward/backward pass), defect segmenter,
patch embedder, particle segmenter — and the statistics of ``analysis/``
(defect skeletons, particles: found by the particle segmenter when there is
one, by the LoG detector otherwise), timing each stage. The worker task stores the result;
``bench/bench_analysis.py`` times it against the bare forward passes.

Only the image's field is analysed (the instrument's data bar is never read
as specimen); maps and positions come back in frame pixels, with nothing
outside the field. Without a pixel size the models see the image at its own
scale and every physical quantity (lengths, densities, particle sizes) is
left out (None).
"""

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from torch import nn

from analysis.databar import FieldBox
from analysis.defects import DEFECT_CLASSES, LINE_CLASSES
from analysis.linestats import line_statistics, point_statistics
from analysis.particles import ParticleSummary, detect_particles, particle_statistics
from ml.inference import PatchEmbeddings, order_with_saliency, patch_embeddings, predict_defects
from ml.particles import segmented_particles

#: Probability above which a segmented pixel belongs to a defect class.
DEFECT_THRESHOLD = 0.5

#: Largest segmenter tile side at the model's scale, px: a 1280 x 890 image at
#: 1 nm/px (2133 x 1483 px at 0.6 nm/px) goes in one pass; an FPN + SE-ResNet50
#: pass at that size needs a few GB (bf16 on a GPU, float32 on the CPU).
SEGMENTER_TILE_PX = 2304


@dataclass(frozen=True)
class DefectClassResult:
    """Statistics of one defect class; the probability map is kept for an overlay.

    ``probability`` is (H, W) float32 in [0, 1]. Line classes fill the skeleton
    fields, the point class the cluster fields; the others stay None.
    """

    defect_class: str
    probability: np.ndarray
    area_fraction: float
    skeleton_length_nm: float | None = None
    segment_count: int | None = None
    branch_point_count: int | None = None
    cluster_count: int | None = None
    density_per_um2: float | None = None


@dataclass
class ImageAnalysis:
    """Everything one analysis computed; absent models leave their parts None/empty.

    Attributes:
        order_score: classifier's S in (0, 1).
        saliency: (H, W) float32 in [0, 1], |dS/dx| normalised (0 outside the field).
        defects: one entry per class in ``DEFECT_CLASSES`` order (empty without a segmenter).
        particles_xy: (N, 2) float64 particle centres in frame px (None without a pixel size).
        particle_diameters_nm: (N,) float64.
        particle_summary: count, density, sizes, nearest neighbours, Clark–Evans R, Ripley's L.
        embeddings: grid patch embeddings, positions in frame px (None without an embedder).
        timings_s: seconds per stage.
        pixel_size_nm: the pixel size the analysis used (None: unknown).
        field: the field analysed, in frame px.
    """

    order_score: float | None = None
    saliency: np.ndarray | None = None
    defects: list[DefectClassResult] = dataclasses.field(default_factory=list)
    particles_xy: np.ndarray | None = None
    particle_diameters_nm: np.ndarray | None = None
    particle_summary: ParticleSummary | None = None
    embeddings: PatchEmbeddings | None = None
    timings_s: dict[str, float] = dataclasses.field(default_factory=dict)
    pixel_size_nm: float | None = None
    field: FieldBox | None = None

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to ``timings_s[stage]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.timings_s[stage] = round(self.timings_s.get(stage, 0.0) + elapsed, 4)


def analyse_pixels(
    pixels: np.ndarray,
    pixel_size_nm: float | None,
    *,
    field: FieldBox | None = None,
    classifier: nn.Module | None = None,
    segmenter: nn.Module | None = None,
    embedder: nn.Module | None = None,
    particle_segmenter: nn.Module | None = None,
) -> ImageAnalysis:
    """Analyse the field of one frame with the models given and the model-free statistics.

    Args:
        pixels: (H, W) uint8/uint16 SEM frame as stored.
        pixel_size_nm: nm per pixel, or None if unknown.
        field: the specimen area of the frame (None: the whole frame).
        classifier: an order classifier, or None to skip the order score.
        segmenter: a defect segmenter, or None to skip defect statistics.
        embedder: a patch embedder, or None to skip embeddings.
        particle_segmenter: a particle segmenter, or None for the LoG detector.

    Returns:
        The analysis in frame coordinates: (H, W) maps zero outside the field,
        positions offset by the field's corner.
    """
    field = field or FieldBox(0, 0, pixels.shape[1], pixels.shape[0])
    result = _analyse_field(
        field.crop(pixels),
        pixel_size_nm,
        classifier=classifier,
        segmenter=segmenter,
        embedder=embedder,
        particle_segmenter=particle_segmenter,
    )
    return _in_frame(result, field, pixels.shape)


def _in_frame(result: ImageAnalysis, field: FieldBox, frame_shape: tuple[int, int]):
    """``result`` of the field moved into the frame: maps padded with 0, positions offset."""

    def placed(values: np.ndarray) -> np.ndarray:
        frame = np.zeros(frame_shape, values.dtype)
        field.crop(frame)[...] = values
        return frame

    result.field = field
    offset = np.array([field.x_px, field.y_px])
    if result.saliency is not None:
        result.saliency = placed(result.saliency)
    result.defects = [
        dataclasses.replace(item, probability=placed(item.probability)) for item in result.defects
    ]
    if result.particles_xy is not None:
        result.particles_xy = result.particles_xy + offset
    if result.embeddings is not None:
        result.embeddings = dataclasses.replace(
            result.embeddings, positions_xy=result.embeddings.positions_xy + offset
        )
    return result


def _analyse_field(
    pixels: np.ndarray,
    pixel_size_nm: float | None,
    *,
    classifier: nn.Module | None,
    segmenter: nn.Module | None,
    embedder: nn.Module | None,
    particle_segmenter: nn.Module | None,
) -> ImageAnalysis:
    result = ImageAnalysis(pixel_size_nm=pixel_size_nm)
    if classifier is not None:
        with result.timed("classifier"):
            result.order_score, result.saliency = order_with_saliency(
                classifier, pixels, pixel_size_nm
            )
    if segmenter is not None:
        with result.timed("segmenter"):
            probabilities = predict_defects(
                segmenter, pixels, pixel_size_nm, tile_size=SEGMENTER_TILE_PX
            )
        with result.timed("defect_statistics"):
            result.defects = [
                _defect_class(name, probabilities[index], pixel_size_nm)
                for index, name in enumerate(DEFECT_CLASSES)
            ]
    if pixel_size_nm is not None:
        with result.timed("particles"):
            found = (
                detect_particles(pixels, pixel_size_nm)
                if particle_segmenter is None
                else segmented_particles(particle_segmenter, pixels, pixel_size_nm)
            )
            height, width = pixels.shape
            result.particles_xy = found.positions_xy
            result.particle_diameters_nm = found.diameters_nm
            result.particle_summary = particle_statistics(found, width, height, pixel_size_nm)
    if embedder is not None:
        with result.timed("embedder"):
            result.embeddings = patch_embeddings(embedder, pixels, pixel_size_nm)
    return result


def _defect_class(name: str, probability: np.ndarray, pixel_size_nm: float | None):
    mask = probability > DEFECT_THRESHOLD
    area_fraction = float(mask.mean())
    if pixel_size_nm is None:
        return DefectClassResult(name, probability, area_fraction)
    if name in LINE_CLASSES:
        lines = line_statistics(mask, pixel_size_nm)
        return DefectClassResult(
            name,
            probability,
            area_fraction,
            skeleton_length_nm=lines.skeleton_length_nm,
            segment_count=lines.segment_count,
            branch_point_count=lines.branch_point_count,
        )
    points = point_statistics(mask, pixel_size_nm)
    return DefectClassResult(
        name,
        probability,
        area_fraction,
        cluster_count=points.cluster_count,
        density_per_um2=points.density_per_um2,
    )
