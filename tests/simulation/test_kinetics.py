import numpy as np
import pytest

from simulation.defectmaps import generate_defect_map
from simulation.kinetics import fit_first_order
from simulation.montecarlo import DepositionParams, ParticleState, simulate_deposition
from simulation.surface import surface_from_layers


def test_recovers_an_exact_exponential():
    fit = fit_first_order(1500 * np.exp(-0.05 * np.arange(300)))
    assert fit.rate_per_step == pytest.approx(0.05, rel=1e-4)
    assert fit.n0 == pytest.approx(1500, rel=1e-4)
    assert fit.n_inf == pytest.approx(0.0, abs=1e-3)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.half_life_steps == pytest.approx(np.log(2) / 0.05, rel=1e-4)


def test_recovers_the_plateau_of_a_reversible_reaction():
    t = np.arange(400)
    fit = fit_first_order(300 + 700 * np.exp(-0.02 * t))
    assert fit.rate_per_step == pytest.approx(0.02, rel=1e-3)
    assert fit.n_inf == pytest.approx(300, rel=1e-3)


def test_a_curve_that_is_not_first_order_fits_badly():
    step_down = np.where(np.arange(200) < 60, 1000.0, 0.0)
    assert fit_first_order(step_down).r_squared < 0.95


def test_paper_settings_follow_first_order_kinetics():
    defect_map = generate_defect_map((890, 1280), 1.0, np.random.default_rng(1))
    surface = surface_from_layers(defect_map.layers, pixel_size_nm=1.0)
    result = simulate_deposition(surface, DepositionParams.paper_defaults(ordered=True), 1)
    fit = fit_first_order(result.counts[:, ParticleState.SOLUTION])
    assert fit.r_squared >= 0.99
    # Adsorption p = 0.1 per step: n(t) = n0 * 0.9^t.
    assert fit.rate_per_step == pytest.approx(-np.log(0.9), rel=0.1)


def test_constant_curve_has_no_rate():
    fit = fit_first_order(np.full(50, 7.0))
    assert fit.rate_per_step == 0.0
    assert np.isnan(fit.r_squared)
    assert fit.half_life_steps == np.inf


def test_rejects_too_short_curves():
    with pytest.raises(ValueError, match="at least 3"):
        fit_first_order(np.array([3.0, 2.0]))
