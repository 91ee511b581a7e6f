"""django-q2 tasks of the computations app: thin glue around ``simulation/``.

Each task takes a primary key, claims the run (counting the attempt), calls
the library, stores the results and finishes the run.
"""

import logging

import numpy as np

from analysis.preview import encode_png
from analysis.spatial import clark_evans
from nanomark.computations.adsorptionstudy import complete_adsorption_energies, start_references
from nanomark.computations.models import MonteCarloRun
from nanomark.computations.xtbrecords import execute_calculation
from nanomark.imaging.storage import delete_files, save_file
from nanomark.workers.leases import leased
from simulation.defectmaps import defect_map_from_layers
from simulation.kinetics import fit_first_order
from simulation.montecarlo import DepositionParams, ParticleState, simulate_deposition
from simulation.render import render_sem
from simulation.surface import surface_from_layers

logger = logging.getLogger(__name__)


def run_monte_carlo(run_pk: int) -> None:
    """Simulate Monte Carlo run ``run_pk`` on its defect mask and store what it produced.

    A second delivery of a finished or running run does nothing; a failure saves
    its error (``leased``) and the run is queued again until the attempts run out.
    """
    with leased(MonteCarloRun, run_pk) as holder:
        if holder is not None:
            _simulate(run_pk, holder)


def _simulate(run_pk: int, holder: str) -> None:
    written: list[str] = []
    try:
        run = MonteCarloRun.objects.select_related("defect_mask__image").get(pk=run_pk)
        # The deposition surface is the image's field: the data bar holds no defects.
        layers = run.defect_mask.image.field_box.crop(run.defect_mask.load_layers())
        surface = surface_from_layers(layers, run.pixel_size_nm, run.particle_diameter_nm)
        result = simulate_deposition(
            surface, DepositionParams.from_dict(run.parameters), seed=run.seed
        )
        fit = fit_first_order(result.counts[:, 0])
        on_surface = result.state != ParticleState.SOLUTION
        height, width = surface.shape
        clark_evans_r = (
            clark_evans(result.positions[on_surface], width, height)
            if on_surface.sum() >= 2
            else None
        )
        rendered = render_sem(
            result.positions,
            run.pixel_size_nm,
            np.random.default_rng(run.seed),
            defect_map=defect_map_from_layers(layers, run.pixel_size_nm),
        )
        stem = f"monte-carlo/lab{run.lab_id}/run{run.pk}"
        positions_name = save_file(f"{stem}.positions.csv", _positions_csv(result), written)
        rendered_name = save_file(f"{stem}.rendered.png", encode_png(rendered), written)
        finished = MonteCarloRun.finish(
            run_pk,
            holder,
            kinetics={
                "counts": result.counts.tolist(),
                "columns": ["solution", "pristine", "defect"],
                "fit": {
                    "rate_per_step": fit.rate_per_step,
                    "r_squared": fit.r_squared,
                    "n0": fit.n0,
                    "n_inf": fit.n_inf,
                },
            },
            rate_per_step=fit.rate_per_step,
            rate_r_squared=fit.r_squared,
            clark_evans_r=clark_evans_r,
            final_positions=positions_name,
            rendered_image=rendered_name,
        )
    except BaseException:
        delete_files(written)
        raise
    if not finished:  # another delivery holds the run now; its files are its own
        delete_files(written)


def _positions_csv(result) -> bytes:
    """Final particles as CSV rows ``x_px,y_px,state`` (x, y empty for particles in solution)."""
    lines = ["x_px,y_px,state"]
    for (x, y), state in zip(result.positions, result.state, strict=True):
        position = "," if np.isnan(x) else f"{x:.2f},{y:.2f}"
        lines.append(f"{position},{int(state)}")
    return ("\n".join(lines) + "\n").encode("ascii")


def run_xtb_calculation(calc_pk: int) -> None:
    """Run xtb calculation ``calc_pk``, then complete any adsorption energy waiting for it."""
    execute_calculation(calc_pk)
    complete_adsorption_energies(calc_pk)


def run_adsorption_complex(complex_pk: int) -> None:
    """Run an adsorption complex, then queue its cluster and surface at its temperature."""
    execute_calculation(complex_pk)
    start_references(complex_pk)
