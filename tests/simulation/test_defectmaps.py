import numpy as np
import pytest

from analysis.defects import channel
from simulation.defectmaps import (
    defect_map_from_layers,
    generate_defect_layers,
    generate_defect_map,
    smooth_defect_map,
)

SHAPE = (300, 400)


def test_map_has_four_boolean_layers_and_render_fields():
    defect_map = generate_defect_map(SHAPE, 1.0, np.random.default_rng(0))
    assert defect_map.layers.shape == (4, *SHAPE)
    assert defect_map.layers.dtype == bool
    assert defect_map.sheet_index.shape == SHAPE
    assert defect_map.bend_height.shape == SHAPE
    assert defect_map.bend_height.max() <= 0.0
    assert defect_map.shape == SHAPE
    assert defect_map.layers.any()


def test_same_generator_state_gives_the_same_map():
    first = generate_defect_layers(SHAPE, 1.0, np.random.default_rng(5))
    again = generate_defect_layers(SHAPE, 1.0, np.random.default_rng(5))
    other = generate_defect_layers(SHAPE, 1.0, np.random.default_rng(6))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_each_count_controls_its_own_layer():
    rng = np.random.default_rng(1)
    only_grains = generate_defect_map(
        SHAPE, 1.0, rng, n_sheets=0, n_grains=30, n_bends=0, n_point_clusters=0
    )
    assert only_grains.layers[channel("grain_boundary")].any()
    for name in ("sheet_border", "topological_defect", "point_defect"):
        assert not only_grains.layers[channel(name)].any()
    everything = generate_defect_map(
        SHAPE, 1.0, rng, n_sheets=2, n_grains=0, n_bends=1, n_point_clusters=3
    )
    assert not everything.layers[channel("grain_boundary")].any()
    for name in ("sheet_border", "topological_defect", "point_defect"):
        assert everything.layers[channel(name)].any()
    assert everything.bend_height.min() < -0.4


def test_sheet_borders_are_the_steps_between_sheets():
    defect_map = generate_defect_map(
        SHAPE,
        1.0,
        np.random.default_rng(2),
        n_sheets=3,
        n_grains=0,
        n_bends=0,
        n_point_clusters=0,
    )
    index = defect_map.sheet_index
    steps = np.zeros(SHAPE, bool)
    steps[:, 1:] |= index[:, 1:] != index[:, :-1]
    steps[:, :-1] |= index[:, 1:] != index[:, :-1]
    steps[1:, :] |= index[1:, :] != index[:-1, :]
    steps[:-1, :] |= index[1:, :] != index[:-1, :]
    border = defect_map.layers[channel("sheet_border")]
    assert border.any()
    assert np.all(steps[border])


def test_smooth_map_has_no_defects():
    smooth = smooth_defect_map(SHAPE, 2.0)
    assert not smooth.layers.any()
    assert not smooth.sheet_index.any()
    assert not smooth.bend_height.any()


def test_defect_map_from_layers_is_flat_and_keeps_the_layers():
    layers = np.zeros((4, 20, 30), bool)
    layers[0, 10, :] = True
    defect_map = defect_map_from_layers(layers, 1.5)
    assert defect_map.shape == (20, 30)
    assert (defect_map.layers == layers).all()
    assert not defect_map.sheet_index.any()
    assert not defect_map.bend_height.any()
    with pytest.raises(ValueError, match=r"layers must be \(4, H, W\)"):
        defect_map_from_layers(np.zeros((3, 20, 30), bool), 1.5)
