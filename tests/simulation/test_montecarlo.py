import json
from dataclasses import replace

import numpy as np
import pytest

from analysis.spatial import clark_evans
from simulation.defectmaps import generate_defect_map
from simulation.montecarlo import (
    DepositionParams,
    ParticleState,
    boltzmann_probability,
    simulate_deposition,
)
from simulation.surface import SurfaceType, surface_from_layers

FIELD = (890, 1280)


def _striped_surface(shape=(200, 300), period=20):
    surface = np.zeros(shape, np.uint8)
    surface[::period, :] = SurfaceType.GRAIN_BOUNDARY
    return surface


def test_paper_defaults_follow_the_methods():
    ordered = DepositionParams.paper_defaults(ordered=True)
    smooth = DepositionParams.paper_defaults(ordered=False)
    assert (ordered.n_particles, smooth.n_particles) == (1500, 1000)
    p_adsorb = ordered.approach_probability * np.asarray(ordered.adsorption_probability)
    np.testing.assert_allclose(p_adsorb, 0.1)
    assert ordered.leaching_probability == (0.0,) * 5
    assert ordered.movement_probability == (1.0, 0.0, 0.0, 0.0, 0.0)
    assert ordered.max_shift_px == 1


def test_ten_kcal_per_mol_is_six_orders_of_magnitude_at_350_k():
    ratio = boltzmann_probability(10.0, 350.0) / boltzmann_probability(0.0, 350.0)
    assert 1e-7 < ratio < 1e-5
    assert boltzmann_probability(-50.0, 350.0) == pytest.approx(1.0)
    assert boltzmann_probability(1e6, 350.0) == 0.0


def test_paper_energies_give_the_paper_regime():
    params = DepositionParams.from_energies(
        {
            "pristine": -91.9,
            "sheet_border": -248.9,
            "grain_boundary": -191.0,
            "topological_defect": -150.0,
            "point_defect": -150.0,
        },
        solution_energy_kcal_mol=-80.0,
        temperature_k=353.15,
    )
    assert max(params.leaching_probability) < 1e-6
    assert max(params.movement_probability[1:]) < 1e-30
    assert params.movement_probability[0] == pytest.approx(0.5)
    assert min(params.adsorption_probability) == pytest.approx(1.0)


def test_params_round_trip_through_json():
    params = DepositionParams(
        n_particles=10, n_steps=3, leaching_probability=[0.1, 0, 0, 0, 0.2], max_shift_px=2
    )
    data = json.loads(json.dumps(params.to_dict()))
    assert data["leaching_probability"]["point_defect"] == 0.2
    assert DepositionParams.from_dict(data) == params


@pytest.mark.parametrize(
    "kwargs",
    [
        {"adsorption_probability": (1.0, 1.0)},
        {"movement_probability": (1.5, 0, 0, 0, 0)},
        {"approach_probability": -0.1},
        {"n_particles": -1},
        {"leaching_probability": {"pristine": 0.1}},
    ],
)
def test_rejects_invalid_params(kwargs):
    with pytest.raises(ValueError):  # noqa: PT011 - several messages
        DepositionParams(**kwargs)


def test_rejects_surfaces_with_unknown_types():
    with pytest.raises(ValueError, match="SurfaceType"):
        simulate_deposition(np.full((5, 5), 7, np.uint8), DepositionParams(n_steps=1), 0)


def test_same_seed_same_run_and_other_seed_other_run():
    surface = _striped_surface()
    params = DepositionParams(n_particles=300, n_steps=200)
    first, again = simulate_deposition(surface, params, 3), simulate_deposition(surface, params, 3)
    other = simulate_deposition(surface, params, 4)
    np.testing.assert_array_equal(first.counts, again.counts)
    np.testing.assert_array_equal(first.positions, again.positions)
    assert not np.array_equal(first.positions, other.positions)


def test_particle_count_is_conserved_with_every_move_switched_on():
    params = DepositionParams(
        n_particles=500,
        n_steps=300,
        adsorption_probability=(0.5, 1.0, 1.0, 1.0, 1.0),
        leaching_probability=(0.05, 0.01, 0.01, 0.01, 0.01),
        movement_probability=(0.8, 0.2, 0.2, 0.2, 0.2),
    )
    result = simulate_deposition(_striped_surface(), params, 0)
    assert result.counts.shape == (301, 3)
    np.testing.assert_array_equal(result.counts[0], [500, 0, 0])
    np.testing.assert_array_equal(result.counts.sum(axis=1), 500)
    np.testing.assert_array_equal(result.counts[-1], np.bincount(result.state, minlength=3))


def test_particles_on_defects_never_move_when_movement_there_is_off():
    params = DepositionParams(n_particles=400, n_steps=300)
    result = simulate_deposition(_striped_surface(), params, 1, snapshot_every=1)
    positions = np.stack([s.positions for s in result.snapshots])  # (T, N, 2)
    states = np.stack([s.state for s in result.snapshots])
    on_defect = states == ParticleState.DEFECT
    assert on_defect[-1].sum() > 100
    first = np.argmax(on_defect, axis=0)
    for particle in np.flatnonzero(on_defect[-1]):
        later = positions[first[particle] :, particle]
        assert np.all(on_defect[first[particle] :, particle])
        np.testing.assert_array_equal(later, later[:1].repeat(len(later), axis=0))


def test_no_particle_returns_to_solution_when_leaching_is_off():
    result = simulate_deposition(
        _striped_surface(), DepositionParams(n_particles=400, n_steps=200), 2, snapshot_every=1
    )
    n_solution = result.counts[:, ParticleState.SOLUTION]
    assert np.all(np.diff(n_solution) <= 0)
    states = np.stack([s.state for s in result.snapshots])
    was_adsorbed = np.maximum.accumulate(states != ParticleState.SOLUTION, axis=0)
    assert not np.any(was_adsorbed & (states == ParticleState.SOLUTION))


def test_leaching_reaches_the_two_state_equilibrium():
    # P(solution -> surface) = 0.1, P(surface -> solution) = 0.05: 1/3 stays in solution.
    params = DepositionParams(
        n_particles=3000, n_steps=400, leaching_probability=(0.05, 0.05, 0.05, 0.05, 0.05)
    )
    result = simulate_deposition(_striped_surface(), params, 0)
    fraction = result.counts[200:, ParticleState.SOLUTION].mean() / 3000
    assert fraction == pytest.approx(1 / 3, abs=0.02)


def test_adsorption_sites_are_weighted_by_adsorption_probability():
    surface = np.zeros((100, 100), np.uint8)
    surface[:10, :] = SurfaceType.POINT_DEFECT  # 10 % of the field
    params = DepositionParams(
        n_particles=4000,
        n_steps=300,
        approach_probability=1.0,
        adsorption_probability=(0.01, 1.0, 1.0, 1.0, 1.0),
        movement_probability=(0.0,) * 5,
    )
    result = simulate_deposition(surface, params, 0)
    adsorbed = result.state != ParticleState.SOLUTION
    share = np.mean(result.state[adsorbed] == ParticleState.DEFECT)
    assert share == pytest.approx(0.1 / (0.1 + 0.9 * 0.01), abs=0.02)


def test_surface_walk_has_the_variance_of_uniform_unit_shifts():
    surface = np.zeros((1000, 1000), np.uint8)
    params = DepositionParams(n_particles=3000, n_steps=101, approach_probability=1.0)
    result = simulate_deposition(surface, params, 0, snapshot_every=1)
    start, end = result.snapshots[1].positions, result.snapshots[-1].positions
    assert [s.step for s in result.snapshots] == list(range(102))
    inside = np.all((start > 60) & (start < 940), axis=1)
    steps = result.snapshots[-1].step - result.snapshots[1].step
    variance_per_step = np.var(end[inside] - start[inside], axis=0) / steps
    np.testing.assert_allclose(variance_per_step, 2 / 3, rtol=0.08)
    slower = simulate_deposition(
        surface, replace(params, movement_probability=(0.5, 0, 0, 0, 0)), 0, snapshot_every=1
    )
    start, end = slower.snapshots[1].positions, slower.snapshots[-1].positions
    inside = np.all((start > 60) & (start < 940), axis=1)
    np.testing.assert_allclose(np.var(end[inside] - start[inside], axis=0) / steps, 1 / 3, rtol=0.1)


def test_snapshots_are_taken_every_n_steps_and_at_the_end():
    params = DepositionParams(n_particles=20, n_steps=250)
    result = simulate_deposition(np.zeros((30, 30), np.uint8), params, 0, snapshot_every=100)
    assert [s.step for s in result.snapshots] == [0, 100, 200, 250]
    np.testing.assert_array_equal(result.snapshots[-1].positions, result.positions)
    assert simulate_deposition(np.zeros((30, 30), np.uint8), params, 0).snapshots == []


def test_particles_never_leave_the_field():
    params = DepositionParams(n_particles=500, n_steps=400, approach_probability=1.0)
    result = simulate_deposition(np.zeros((12, 9), np.uint8), params, 0)
    assert result.positions.min() >= 0
    assert result.positions[:, 0].max() == 8
    assert result.positions[:, 1].max() == 11


def test_particles_in_solution_have_no_position():
    params = DepositionParams(n_particles=200, n_steps=2, approach_probability=0.1)
    result = simulate_deposition(np.zeros((50, 50), np.uint8), params, 0)
    in_solution = result.state == ParticleState.SOLUTION
    assert in_solution.any()
    assert np.isnan(result.positions[in_solution]).all()
    assert np.isfinite(result.positions[~in_solution]).all()


def test_smooth_surface_leaves_particles_randomly_placed():
    params = DepositionParams.paper_defaults(ordered=False)
    result = simulate_deposition(np.zeros(FIELD, np.uint8), params, 0)
    assert np.all(result.state == ParticleState.PRISTINE)
    ratio = clark_evans(result.positions, FIELD[1], FIELD[0])
    assert 0.9 <= ratio <= 1.1


def test_defect_surface_orders_particles():
    # A procedural map dense in defects, run long enough to converge (the
    # paper: hundreds to thousands of steps).
    defect_map = generate_defect_map(
        FIELD,
        1.0,
        np.random.default_rng(0),
        n_sheets=2,
        n_grains=150,
        n_bends=1,
        n_point_clusters=6,
    )
    surface = surface_from_layers(defect_map.layers, pixel_size_nm=1.0)
    params = DepositionParams.paper_defaults(ordered=True, n_steps=5000)
    result = simulate_deposition(surface, params, 0)
    on_surface = result.state != ParticleState.SOLUTION
    assert result.counts[-1, ParticleState.DEFECT] > 0.8 * params.n_particles
    assert clark_evans(result.positions[on_surface], FIELD[1], FIELD[0]) < 0.7
