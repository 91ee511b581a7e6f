"""Creating Monte Carlo runs and queueing them; the work itself is in tasks.py."""

from django.db import transaction

from nanomark.computations.models import MonteCarloRun
from nanomark.imaging.models import DefectMask
from simulation.montecarlo import DepositionParams

#: Particle diameter used to widen hand-drawn defect lines, nm (paper: 1-5 nm particles).
DEFAULT_PARTICLE_DIAMETER_NM = 3.0


class SimulationRejected(ValueError):
    """The run cannot be made from what was given; the message says why."""


def create_monte_carlo_run(
    *,
    defect_mask: DefectMask,
    params: DepositionParams,
    seed: int = 0,
    particle_diameter_nm: float = DEFAULT_PARTICLE_DIAMETER_NM,
    created_by=None,
    enqueue: bool = True,
) -> MonteCarloRun:
    """Record a Monte Carlo deposition on ``defect_mask`` and queue it after commit.

    Args:
        defect_mask: the defect map; its image gives the grid and the pixel size.
        params: deposition parameters.
        seed: random seed; the same seed reproduces the run.
        particle_diameter_nm: defect lines are widened to half of this, as in the paper.
        created_by: the user asking.
        enqueue: False to leave the run queued for a caller that runs it itself.

    Raises:
        SimulationRejected: the image has no pixel size, so lines cannot be widened.
    """
    image = defect_mask.image
    if image.pixel_size_nm is None:
        raise SimulationRejected(
            f"{image}: the pixel size is unknown; set it before simulating on this mask."
        )
    with transaction.atomic():
        run = MonteCarloRun.objects.create(
            lab_id=image.lab_id,
            sample_id=image.sample_id,
            source_image=image,
            defect_mask=defect_mask,
            parameters=params.to_dict(),
            particle_diameter_nm=particle_diameter_nm,
            seed=seed,
            pixel_size_nm=image.pixel_size_nm,
            created_by=created_by,
        )
        if enqueue:
            transaction.on_commit(lambda: MonteCarloRun.enqueue(run.pk))
    return run
