"""django-q2 tasks of the computations app: thin glue around ``simulation/``.

Each task takes a primary key, claims the run (counting the attempt), calls
the library, stores the results and finishes the run.
"""

import logging

from analysis.preview import encode_png
from nanomark.computations.adsorptionstudy import complete_adsorption_energies, start_references
from nanomark.computations.models import MonteCarloRun
from nanomark.computations.xtbrecords import execute_calculation
from nanomark.imaging.storage import delete_files, save_file
from nanomark.workers.leases import leased
from simulation.deposition import run_deposition
from simulation.montecarlo import DepositionParams

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
        outcome = run_deposition(
            layers,
            run.pixel_size_nm,
            run.particle_diameter_nm,
            DepositionParams.from_dict(run.parameters),
            seed=run.seed,
        )
        stem = f"monte-carlo/lab{run.lab_id}/run{run.pk}"
        positions_name = save_file(f"{stem}.positions.csv", outcome.positions_csv, written)
        rendered_name = save_file(f"{stem}.rendered.png", encode_png(outcome.rendered), written)
        finished = MonteCarloRun.finish(
            run_pk,
            holder,
            kinetics=outcome.kinetics,
            rate_per_step=outcome.rate_per_step,
            rate_r_squared=outcome.rate_r_squared,
            clark_evans_r=outcome.clark_evans_r,
            final_positions=positions_name,
            rendered_image=rendered_name,
        )
    except BaseException:
        delete_files(written)
        raise
    if not finished:  # another delivery holds the run now; its files are its own
        delete_files(written)


def run_xtb_calculation(calc_pk: int) -> None:
    """Run xtb calculation ``calc_pk``, then complete any adsorption energy waiting for it."""
    execute_calculation(calc_pk)
    complete_adsorption_energies(calc_pk)


def run_adsorption_complex(complex_pk: int) -> None:
    """Run an adsorption complex, then queue its cluster and surface at its temperature."""
    execute_calculation(complex_pk)
    start_references(complex_pk)
