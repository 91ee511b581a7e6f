import numpy as np
import pytest

from analysis.defects import DEFECT_CLASSES, channel
from simulation.dataset import synthesize_image
from simulation.montecarlo import ParticleState
from simulation.visibility import visible_layers

SHAPE = (60, 200)
GRAIN = channel("grain_boundary")
BEND = channel("topological_defect")
BORDER = channel("sheet_border")
POINT = channel("point_defect")


def _layers() -> np.ndarray:
    """Horizontal lines across the field: a grain boundary, a bend axis, a sheet border."""
    layers = np.zeros((len(DEFECT_CLASSES), *SHAPE), bool)
    layers[GRAIN, 20, :] = True
    layers[BEND, 30, :] = True
    layers[BORDER, 40, :] = True
    layers[POINT, 50, 10:14] = True
    return layers


def test_grain_boundary_is_kept_within_reach_of_defect_particles():
    # 1 nm/px, 10 nm reach: a bound particle at x = 50 reveals x = 40..60.
    positions = np.array([[50.0, 20.0], [150.0, 20.0]])
    state = np.array([ParticleState.DEFECT, ParticleState.PRISTINE])
    out = visible_layers(_layers(), positions, state, pixel_size_nm=1.0, reach_nm=10.0)
    assert np.flatnonzero(out[GRAIN, 20]).tolist() == list(range(40, 61))
    assert out[GRAIN].sum() == 21  # the pristine particle at x = 150 reveals nothing
    # The bend axis 10 px below the particle: only its pixel straight below is in reach.
    assert np.flatnonzero(out[BEND, 30]).tolist() == [50]
    # Sheet borders and point defects are visible without particles.
    assert np.array_equal(out[[BORDER, POINT]], _layers()[[BORDER, POINT]])


def test_reach_is_in_nanometres():
    positions, state = np.array([[100.0, 20.0]]), np.array([ParticleState.DEFECT])
    fine = visible_layers(_layers(), positions, state, pixel_size_nm=0.5, reach_nm=10.0)
    coarse = visible_layers(_layers(), positions, state, pixel_size_nm=2.0, reach_nm=10.0)
    assert (fine[GRAIN].sum(), coarse[GRAIN].sum()) == (41, 11)


def test_undecorated_and_off_field_particles_reveal_nothing():
    positions = np.array([[-30.0, 20.0], [500.0, 20.0]])
    state = np.full(2, ParticleState.DEFECT)
    out = visible_layers(_layers(), positions, state, pixel_size_nm=1.0)
    assert not out[[GRAIN, BEND]].any()
    assert not visible_layers(_layers(), np.empty((0, 2)), np.empty(0), 1.0)[[GRAIN, BEND]].any()


@pytest.mark.parametrize(
    ("positions", "state", "pixel_size_nm", "message"),
    [
        (np.zeros((2, 2)), np.zeros(3), 1.0, "one state per particle"),
        (np.zeros((1, 2)), np.zeros(1), 0.0, "must be positive"),
    ],
)
def test_bad_input_is_refused(positions, state, pixel_size_nm, message):
    with pytest.raises(ValueError, match=message):
        visible_layers(_layers(), positions, state, pixel_size_nm)


def test_synthetic_labels_hide_undecorated_lines():
    synthetic = synthesize_image(1, ordered=True, magnification=50_000, shape=(300, 400))
    layers, labels = synthetic.defect_map.layers, synthetic.labels
    for line in (GRAIN, BEND):
        assert 0 < labels[line].sum() < layers[line].sum()
    assert not (labels & ~layers).any()
    assert np.array_equal(labels[[BORDER, POINT]], layers[[BORDER, POINT]])
