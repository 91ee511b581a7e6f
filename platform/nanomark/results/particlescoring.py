"""Detected particles of an analysis scored against hand labels (analysis.particlescore).

Both are in frame pixels. Only the labels inside the field the analysis
read count: particles drawn in a data bar are none the detector could find.
Used by the image page (next to each annotation) and ``manage.py
evaluate_particles``.
"""

from collections.abc import Iterable

from analysis.databar import FieldBox
from analysis.particlelabels import LabelledParticles, read_particle_csv
from analysis.particlescore import ParticleScore, score_particles
from nanomark.imaging.models import ParticleAnnotation
from nanomark.results.models import AnalysisRun, ParticleStatistics


def detected_particles(run: AnalysisRun) -> LabelledParticles | None:
    """The run's detected centres and diameters (px), or None if it stored no particles."""
    stats = ParticleStatistics.objects.filter(run=run).first()
    if stats is None or not stats.positions or not run.pixel_size_nm:
        return None
    with stats.positions.open("rb") as handle:
        return read_particle_csv(
            handle.read(), pixel_size_nm=run.pixel_size_nm, name=stats.positions.name
        )


def score_run(
    run: AnalysisRun, annotations: Iterable[ParticleAnnotation]
) -> list[tuple[ParticleAnnotation, ParticleScore | None]]:
    """Each annotation with the precision, recall, F1 and errors of ``run``'s particles.

    The run's particles are read once; the score is None when the run stored
    none (no pixel size, or not finished).
    """
    detected = detected_particles(run)
    field = FieldBox.from_json(run.field_box) if run.field_box else None
    scored = []
    for annotation in annotations:
        if detected is None:
            scored.append((annotation, None))
            continue
        truth = annotation.load_particles()
        if field is not None:
            truth = truth.within(field.x_px, field.y_px, field.right_px, field.bottom_px)
        score = score_particles(detected.xy, detected.diameters_px, truth.xy, truth.diameters_px)
        scored.append((annotation, score))
    return scored
