"""One Monte Carlo deposition run on a defect mask, from its layers to what is kept of it.

:func:`run_deposition` chains the steps a stored run needs: the surface-type
map of the defect layers (:func:`simulation.surface.surface_from_layers`), the
deposition itself (:func:`simulation.montecarlo.simulate_deposition`), a
first-order fit of the particles left in solution
(:func:`simulation.kinetics.fit_first_order`), the Clark–Evans ratio of the
adsorbed particles (:func:`analysis.spatial.clark_evans`), an SEM rendering of
the final state (:func:`simulation.render.render_sem`) and the final positions
as CSV. The same layers, parameters and seed always give the same outcome.

Example:
    >>> layers = np.zeros((4, 30, 40), bool); layers[0, 15, :] = True
    >>> params = DepositionParams(n_particles=20, n_steps=10)
    >>> outcome = run_deposition(layers, 2.0, 3.0, params, seed=0)
    >>> outcome.rendered.shape, outcome.positions_csv.splitlines()[0]
    ((30, 40), b'x_px,y_px,state')
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.spatial import clark_evans
from simulation.defectmaps import defect_map_from_layers
from simulation.kinetics import fit_first_order
from simulation.montecarlo import (
    DepositionParams,
    DepositionResult,
    ParticleState,
    simulate_deposition,
)
from simulation.render import render_sem
from simulation.surface import surface_from_layers

#: Names of the columns of the kinetics counts, in order.
COUNT_COLUMNS = ("solution", "pristine", "defect")


@dataclass(frozen=True, eq=False)
class DepositionOutcome:
    """What a deposition run produced, ready to be stored.

    Attributes:
        kinetics: JSON-ready ``{"counts": (n_steps + 1) lists of 3 ints, "columns":
            :data:`COUNT_COLUMNS`, "fit": {"rate_per_step", "r_squared", "n0", "n_inf"}}``;
            counts are particles after each step (row 0 = start), the fit as in
            :class:`simulation.kinetics.FirstOrderFit` (1/step, particles).
        rate_per_step: first-order rate constant of the solution count, 1/step (>= 0).
        rate_r_squared: coefficient of determination of that fit.
        clark_evans_r: Clark–Evans R of the particles on the surface (< 1 clustered,
            1 random, > 1 regular); None with fewer than two of them.
        positions_csv: final particles as ASCII CSV rows ``x_px,y_px,state`` (x, y with
            two decimals, empty for particles in solution; state a
            :class:`simulation.montecarlo.ParticleState` value).
        rendered: (H, W) uint8 SEM rendering of the final state.
    """

    kinetics: dict[str, Any]
    rate_per_step: float
    rate_r_squared: float
    clark_evans_r: float | None
    positions_csv: bytes
    rendered: np.ndarray


def run_deposition(
    layers: np.ndarray,
    pixel_size_nm: float,
    particle_diameter_nm: float,
    params: DepositionParams,
    seed: int,
) -> DepositionOutcome:
    """Simulate deposition on the surface of ``layers`` and summarise the run.

    Args:
        layers: (4, H, W) bool defect layers in ``DEFECT_CLASSES`` order (the
            image's field, without its data bar).
        pixel_size_nm: nm per pixel of the layers.
        particle_diameter_nm: particle diameter, nm (sets the width of line defects).
        params: probabilities and sizes of the model.
        seed: seed of the deposition and of the rendering.

    Returns:
        :class:`DepositionOutcome`.
    """
    surface = surface_from_layers(layers, pixel_size_nm, particle_diameter_nm)
    result = simulate_deposition(surface, params, seed=seed)
    fit = fit_first_order(result.counts[:, 0])
    on_surface = result.state != ParticleState.SOLUTION
    height, width = surface.shape
    clark_evans_r = (
        clark_evans(result.positions[on_surface], width, height) if on_surface.sum() >= 2 else None
    )
    rendered = render_sem(
        result.positions,
        pixel_size_nm,
        np.random.default_rng(seed),
        defect_map=defect_map_from_layers(layers, pixel_size_nm),
    )
    kinetics = {
        "counts": result.counts.tolist(),
        "columns": list(COUNT_COLUMNS),
        "fit": {
            "rate_per_step": fit.rate_per_step,
            "r_squared": fit.r_squared,
            "n0": fit.n0,
            "n_inf": fit.n_inf,
        },
    }
    return DepositionOutcome(
        kinetics=kinetics,
        rate_per_step=fit.rate_per_step,
        rate_r_squared=fit.r_squared,
        clark_evans_r=clark_evans_r,
        positions_csv=_positions_csv(result),
        rendered=rendered,
    )


def _positions_csv(result: DepositionResult) -> bytes:
    """Final particles as CSV rows ``x_px,y_px,state`` (x, y empty for particles in solution)."""
    lines = ["x_px,y_px,state"]
    for (x, y), state in zip(result.positions, result.state, strict=True):
        position = "," if np.isnan(x) else f"{x:.2f},{y:.2f}"
        lines.append(f"{position},{int(state)}")
    return ("\n".join(lines) + "\n").encode("ascii")
