"""Tests for the ASE structure builders: clusters, flakes, edges, vacancies."""

import numpy as np
import pytest

from simulation.structures import (
    CC_BOND_A,
    atoms_from_xyz,
    atoms_to_xyz,
    classify_edge_carbons,
    hexagonal_flake,
    pd13_icosahedron,
    rectangular_flake,
    with_vacancy,
)


def _shortest_pair_a(atoms):
    distances = atoms.get_all_distances()
    return float(np.min(distances + np.eye(len(atoms)) * 1e9))


def test_pd13_is_a_centred_icosahedron_with_bulk_like_bonds():
    cluster = pd13_icosahedron()

    assert cluster.get_chemical_formula() == "Pd13"
    assert np.allclose(cluster.get_center_of_mass(), 0.0, atol=1e-9)
    radii = np.linalg.norm(cluster.positions, axis=1)
    assert radii[0] == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(radii[1:], 2.75, atol=1e-6)
    nearest = np.sort(cluster.get_all_distances(), axis=1)[:, 1]
    assert np.all((nearest > 2.6) & (nearest < 2.95))
    # Every vertex touches the centre and five other vertices.
    bonded = (cluster.get_all_distances() < 3.0).sum(axis=1) - 1
    assert bonded[0] == 12
    assert set(bonded[1:]) == {6}


@pytest.mark.parametrize(
    ("rings", "edge", "formula"),
    [
        (1, "zigzag", "C6H6"),
        (2, "zigzag", "C24H12"),
        (4, "zigzag", "C96H24"),
        (2, "armchair", "C42H18"),
        (3, "armchair", "C114H30"),
    ],
)
def test_hexagonal_flakes_follow_the_coronene_and_hbc_series(rings, edge, formula):
    assert hexagonal_flake(rings, edge).get_chemical_formula() == formula


def test_unsaturated_flake_has_no_hydrogen_and_planar_aromatic_bonds():
    flake = hexagonal_flake(3, hydrogen_terminated=False)

    assert flake.get_chemical_formula() == "C54"
    assert np.allclose(flake.positions[:, 2], 0.0)
    assert _shortest_pair_a(flake) == pytest.approx(CC_BOND_A, abs=1e-3)


def test_hydrogens_sit_on_edge_carbons_without_overlaps():
    flake = hexagonal_flake(4)
    symbols = np.array(flake.get_chemical_symbols())
    distances = flake.get_all_distances()

    assert _shortest_pair_a(flake) > 1.0
    h_to_c = distances[np.ix_(symbols == "H", symbols == "C")]
    assert np.allclose(h_to_c.min(axis=1), 1.09, atol=1e-6)
    h_to_h = distances[np.ix_(symbols == "H", symbols == "H")] + np.eye(24) * 1e9
    assert h_to_h.min() > 1.8


def test_rectangular_flake_has_zigzag_edges_along_x_and_armchair_along_y():
    flake = rectangular_flake(6, 7, hydrogen_terminated=False)
    edges = classify_edge_carbons(flake)

    assert set(edges) == {"zigzag", "armchair"}
    y_extent = np.ptp(flake.positions[:, 1])
    x_extent = np.ptp(flake.positions[:, 0])
    zigzag_y = np.abs(flake.positions[edges["zigzag"], 1])
    armchair_x = np.abs(flake.positions[edges["armchair"], 0])
    # Zigzag carbons (solo) lie on the top and bottom sides, armchair dimers on the left and right.
    assert np.all(zigzag_y > y_extent / 2 - 1.0)
    assert np.mean(armchair_x > x_extent / 2 - 1.5) > 0.8
    # An odd number of rows keeps the flake mirror-symmetric and closed-shell.
    assert len(flake) % 2 == 0


def test_armchair_hexagon_has_only_armchair_edges():
    edges = classify_edge_carbons(hexagonal_flake(3, "armchair", hydrogen_terminated=False))

    assert set(edges) == {"armchair"}


def test_vacancy_leaves_three_defect_carbons_and_no_hydrogen_in_the_hole():
    flake = with_vacancy(hexagonal_flake(3))
    edges = classify_edge_carbons(flake)

    assert flake.get_chemical_formula() == "C53H18"
    assert len(edges["defect"]) == 3
    hole = flake.positions[edges["defect"]].mean(axis=0)
    assert np.linalg.norm(hole[:2]) < 1.5
    assert np.min(np.linalg.norm(flake.positions - hole, axis=1)) == pytest.approx(
        CC_BOND_A, abs=0.01
    )


def test_builders_reject_impossible_sizes():
    with pytest.raises(ValueError, match="rings_per_side"):
        hexagonal_flake(0)
    with pytest.raises(ValueError, match="unknown edge"):
        hexagonal_flake(2, "chiral")
    with pytest.raises(ValueError, match="at least"):
        rectangular_flake(1, 1)


def test_xyz_round_trip_keeps_symbols_and_positions():
    flake = hexagonal_flake(2)

    back = atoms_from_xyz(atoms_to_xyz(flake, comment="coronene"))

    assert back.get_chemical_symbols() == flake.get_chemical_symbols()
    assert np.allclose(back.positions, flake.positions, atol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        atoms_from_xyz("  \n")
