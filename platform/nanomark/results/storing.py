"""Storing an analysis: overlay files, result rows and the run's success, exactly once.

Files go under ``analysis/lab<lab>/run<run>/`` first; the rows and the run's
status change then commit in one transaction, which succeeds only while the
run is still marked running. A second delivery of a finished run therefore
stores nothing, and a delivery that dies half-way leaves no rows (its files
are swept by the next attempt, see :func:`discard_partial_files`).
"""

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction

from analysis.particlelabels import write_particle_csv
from analysis.preview import encode_png
from nanomark.imaging.storage import delete_files, save_file
from nanomark.results.compute import ImageAnalysis
from nanomark.results.models import (
    AnalysisRun,
    DefectStatistic,
    OrderScore,
    ParticleStatistics,
    PatchEmbedding,
)


class RunNoLongerRunning(Exception):
    """The run was finished or given up by another delivery while this one worked."""


def run_folder(run: AnalysisRun) -> str:
    """Storage folder of ``run``'s files."""
    return f"analysis/lab{run.lab_id}/run{run.pk}"


def discard_partial_files(run: AnalysisRun) -> None:
    """Delete files an earlier, interrupted delivery of ``run`` left behind."""
    folder = run_folder(run)
    try:
        # Not exists(folder): an object store has no folders, only keys under a prefix.
        _, files = default_storage.listdir(folder)
    except FileNotFoundError:  # a filesystem folder appears with its first file
        return
    delete_files(f"{folder}/{name}" for name in files)


def unit_png(values: np.ndarray) -> bytes:
    """(H, W) float values in [0, 1] as an 8-bit greyscale PNG (0 → 0, 1 → 255)."""
    return encode_png(np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8))


def store_analysis(run: AnalysisRun, analysis: ImageAnalysis, holder: str) -> None:
    """Save ``analysis`` as ``run``'s results and mark the run succeeded, atomically.

    Args:
        holder: the lease holder that claimed the run (``AnalysisRun.claim``).

    Raises:
        RunNoLongerRunning: the lease was lost (another delivery took the run over, or it
            was given up); nothing was kept.
    """
    folder = run_folder(run)
    written: list[str] = []
    try:
        saliency = (
            save_file(f"{folder}/saliency.png", unit_png(analysis.saliency), written)
            if analysis.saliency is not None
            else ""
        )
        maps = {
            item.defect_class: save_file(
                f"{folder}/{item.defect_class}.png", unit_png(item.probability), written
            )
            for item in analysis.defects
        }
        positions = (
            save_file(
                f"{folder}/particles.csv",
                write_particle_csv(
                    analysis.particles_xy, analysis.particle_diameters_nm, "diameter_nm"
                ),
                written,
            )
            if analysis.particles_xy is not None
            else ""
        )
        with transaction.atomic():
            _save_rows(run, analysis, saliency, maps, positions)
            if not AnalysisRun.finish(
                run.pk,
                holder,
                timings_s=analysis.timings_s,
                pixel_size_nm=analysis.pixel_size_nm,
                field_box=analysis.field.to_json() if analysis.field else {},
            ):
                raise RunNoLongerRunning(f"analysis run {run.pk} is no longer held by {holder}")
    except BaseException:
        delete_files(written)
        raise


def _save_rows(run, analysis: ImageAnalysis, saliency: str, maps: dict, positions: str) -> None:
    if analysis.order_score is not None:
        OrderScore.objects.create(run=run, score=analysis.order_score, saliency=saliency)
    DefectStatistic.objects.bulk_create(
        DefectStatistic(
            run=run,
            defect_class=item.defect_class,
            area_fraction=item.area_fraction,
            skeleton_length_nm=item.skeleton_length_nm,
            segment_count=item.segment_count,
            branch_point_count=item.branch_point_count,
            cluster_count=item.cluster_count,
            density_per_um2=item.density_per_um2,
            probability_map=maps[item.defect_class],
        )
        for item in analysis.defects
    )
    summary = analysis.particle_summary
    if summary is not None:
        ParticleStatistics.objects.create(
            run=run,
            count=summary.count,
            density_per_um2=summary.density_per_um2,
            mean_diameter_nm=summary.mean_diameter_nm,
            diameter_histogram=summary.diameter_histogram,
            mean_nearest_neighbour_nm=summary.mean_nearest_neighbour_nm,
            clark_evans_r=summary.clark_evans_r,
            ripley_l=summary.ripley_l,
            positions=positions,
        )
    embeddings = analysis.embeddings
    if embeddings is not None:
        PatchEmbedding.objects.bulk_create(
            PatchEmbedding(
                run=run,
                x_px=int(x),
                y_px=int(y),
                size_px=embeddings.patch_size_px,
                vector=vector.astype("<f4").tobytes(),
            )
            for (x, y), vector in zip(embeddings.positions_xy, embeddings.vectors, strict=True)
        )
