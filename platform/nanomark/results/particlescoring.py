"""Detected particles of an analysis scored against hand labels (analysis.particlescore).

Both are in frame pixels. Only the labels inside the field the analysis
read count: particles drawn in a data bar are none the detector could find.
Used by the image page (next to each annotation) and ``manage.py
evaluate_particles``.
"""

import numpy as np

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


def score_run(run: AnalysisRun, annotation: ParticleAnnotation) -> ParticleScore | None:
    """Precision, recall, F1 and errors of ``run``'s particles against ``annotation``.

    None when the run stored no particles (no pixel size, or not finished).
    """
    detected = detected_particles(run)
    if detected is None:
        return None
    truth = annotation.load_particles()
    if run.field_box:
        field = FieldBox.from_json(run.field_box)
        inside = np.array([field.contains(x, y) for x, y in truth.xy], dtype=bool)
        truth = LabelledParticles(truth.xy[inside], truth.diameters_px[inside])
    return score_particles(detected.xy, detected.diameters_px, truth.xy, truth.diameters_px)
