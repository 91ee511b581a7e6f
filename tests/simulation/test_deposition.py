"""A deposition run from defect layers: the chain of library steps, with its numbers fixed."""

import numpy as np
import pytest

from analysis.spatial import clark_evans
from simulation.defectmaps import defect_map_from_layers
from simulation.deposition import COUNT_COLUMNS, run_deposition
from simulation.kinetics import fit_first_order
from simulation.montecarlo import DepositionParams, ParticleState, simulate_deposition
from simulation.render import render_sem
from simulation.surface import surface_from_layers

PIXEL_SIZE_NM = 2.0
PARTICLE_DIAMETER_NM = 3.0
PARAMS = DepositionParams(n_particles=60, n_steps=120)
SEED = 7


@pytest.fixture
def layers() -> np.ndarray:
    layers = np.zeros((4, 40, 60), bool)
    layers[0, 20, :] = True  # a sheet border across the field
    layers[3, 8:11, 8:11] = True  # a point-defect cluster
    return layers


def test_the_outcome_is_the_same_as_before_the_move_for_a_fixed_seed(layers):
    outcome = run_deposition(layers, PIXEL_SIZE_NM, PARTICLE_DIAMETER_NM, PARAMS, SEED)
    # Numbers of the task's pipeline before it moved into the library (same seed).
    assert outcome.rate_per_step == pytest.approx(0.10720404229578508, rel=1e-9)
    assert outcome.rate_r_squared == pytest.approx(0.9961324725867167, rel=1e-9)
    assert outcome.clark_evans_r == pytest.approx(0.7515056154960106, rel=1e-9)
    assert outcome.kinetics["counts"][-1] == [0, 32, 28]
    assert outcome.kinetics["fit"]["n0"] == pytest.approx(60.60026284270437, rel=1e-9)
    assert outcome.kinetics["columns"] == list(COUNT_COLUMNS)
    again = run_deposition(layers, PIXEL_SIZE_NM, PARTICLE_DIAMETER_NM, PARAMS, SEED)
    assert again.positions_csv == outcome.positions_csv
    assert np.array_equal(again.rendered, outcome.rendered)


def test_it_chains_the_library_steps(layers):
    outcome = run_deposition(layers, PIXEL_SIZE_NM, PARTICLE_DIAMETER_NM, PARAMS, SEED)
    surface = surface_from_layers(layers, PIXEL_SIZE_NM, PARTICLE_DIAMETER_NM)
    result = simulate_deposition(surface, PARAMS, seed=SEED)
    fit = fit_first_order(result.counts[:, 0])
    on_surface = result.state != ParticleState.SOLUTION
    assert outcome.kinetics["counts"] == result.counts.tolist()
    assert outcome.kinetics["fit"] == {
        "rate_per_step": fit.rate_per_step,
        "r_squared": fit.r_squared,
        "n0": fit.n0,
        "n_inf": fit.n_inf,
    }
    assert (outcome.rate_per_step, outcome.rate_r_squared) == (fit.rate_per_step, fit.r_squared)
    assert outcome.clark_evans_r == clark_evans(result.positions[on_surface], 60, 40)
    rendered = render_sem(
        result.positions,
        PIXEL_SIZE_NM,
        np.random.default_rng(SEED),
        defect_map=defect_map_from_layers(layers, PIXEL_SIZE_NM),
    )
    assert np.array_equal(outcome.rendered, rendered)
    assert outcome.rendered.shape == (40, 60)
    assert outcome.rendered.dtype == np.uint8


def test_the_positions_csv_has_one_row_per_particle(layers):
    outcome = run_deposition(layers, PIXEL_SIZE_NM, PARTICLE_DIAMETER_NM, PARAMS, SEED)
    result = simulate_deposition(
        surface_from_layers(layers, PIXEL_SIZE_NM, PARTICLE_DIAMETER_NM), PARAMS, seed=SEED
    )
    rows = outcome.positions_csv.decode("ascii").splitlines()
    assert rows[0] == "x_px,y_px,state"
    assert len(rows) == PARAMS.n_particles + 1
    for row, (x, y), state in zip(rows[1:], result.positions, result.state, strict=True):
        x_text, y_text, state_text = row.split(",")
        assert int(state_text) == int(state)
        if state == ParticleState.SOLUTION:
            assert (x_text, y_text) == ("", "")
        else:
            assert (float(x_text), float(y_text)) == pytest.approx((x, y), abs=0.005)


def test_fewer_than_two_particles_on_the_surface_have_no_clark_evans_ratio(layers):
    # Nothing adsorbs: every particle stays in solution.
    params = DepositionParams(n_particles=5, n_steps=3, adsorption_probability=(0.0,) * 5)
    outcome = run_deposition(layers, PIXEL_SIZE_NM, PARTICLE_DIAMETER_NM, params, SEED)
    assert outcome.clark_evans_r is None
    assert outcome.kinetics["counts"][-1] == [5, 0, 0]
