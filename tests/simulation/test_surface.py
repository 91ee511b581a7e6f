import numpy as np
import pytest

from analysis.defects import DEFECT_CLASSES, channel
from simulation.surface import SurfaceType, line_width_px, surface_from_layers


def _layers(shape=(60, 80)):
    return np.zeros((4, *shape), bool)


def _line_width(surface, column):
    return int(np.count_nonzero(surface[:, column]))


def test_surface_types_are_defect_channels_plus_one():
    for index, name in enumerate(DEFECT_CLASSES):
        assert SurfaceType[name.upper()] == index + 1
        assert SurfaceType(index + 1).key == name
    assert SurfaceType.PRISTINE == 0


def test_empty_mask_gives_pristine_surface():
    surface = surface_from_layers(_layers(), pixel_size_nm=1.0)
    assert surface.shape == (60, 80)
    assert surface.dtype == np.uint8
    assert not surface.any()


def test_line_width_is_half_a_particle_diameter():
    assert line_width_px(pixel_size_nm=0.5, particle_diameter_nm=3.0) == pytest.approx(3.0)
    for pixel_size_nm, expected_width in ((1.0, 1), (0.5, 3), (0.25, 7)):
        layers = _layers()
        layers[channel("grain_boundary"), 30, :] = True
        surface = surface_from_layers(layers, pixel_size_nm, particle_diameter_nm=3.5)
        assert _line_width(surface, 40) == expected_width
        assert set(np.unique(surface)) == {0, SurfaceType.GRAIN_BOUNDARY}


def test_thick_hand_drawn_line_is_redrawn_at_physical_width():
    layers = _layers()
    layers[channel("sheet_border"), 25:34, :] = True  # a 9 px brush stroke
    surface = surface_from_layers(layers, pixel_size_nm=1.0)
    assert _line_width(surface, 40) == 1


def test_thin_diagonal_line_cannot_be_hopped_diagonally():
    layers = _layers((40, 40))
    index = np.arange(40)
    layers[channel("grain_boundary"), index, index] = True
    line = surface_from_layers(layers, pixel_size_nm=1.0) > 0
    a, b, c, d = line[:-1, :-1], line[:-1, 1:], line[1:, :-1], line[1:, 1:]
    assert not np.any(a & d & ~b & ~c)
    assert not np.any(b & c & ~a & ~d)


def test_strongest_binding_type_wins_where_layers_overlap():
    layers = _layers()
    layers[channel("grain_boundary"), 30, :] = True
    layers[channel("sheet_border"), 30, :] = True
    layers[channel("topological_defect"), :, 40] = True
    surface = surface_from_layers(layers, pixel_size_nm=1.0)
    assert surface[30, 10] == SurfaceType.SHEET_BORDER
    assert surface[30, 40] == SurfaceType.SHEET_BORDER
    assert surface[10, 40] == SurfaceType.TOPOLOGICAL_DEFECT


def test_point_defects_keep_their_drawn_area():
    layers = _layers()
    layers[channel("point_defect"), 10:13, 20:23] = True
    surface = surface_from_layers(layers, pixel_size_nm=0.2)
    assert np.count_nonzero(surface == SurfaceType.POINT_DEFECT) == 9


def test_rejects_wrong_layer_count():
    with pytest.raises(ValueError, match="4, H, W"):
        surface_from_layers(np.zeros((3, 5, 5), bool), pixel_size_nm=1.0)
    with pytest.raises(ValueError, match="positive"):
        surface_from_layers(_layers(), pixel_size_nm=0.0)
