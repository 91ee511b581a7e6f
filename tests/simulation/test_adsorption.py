"""Tests for cluster placement on flakes and the adsorption energy."""

import shutil

import numpy as np
import pytest

from simulation.adsorption import (
    BASAL_CONTACT_A,
    EDGE_CONTACT_A,
    HARTREE_TO_KCAL_MOL,
    AdsorptionSite,
    adsorption_energy_kcal_mol,
    build_site_complex,
    cluster_edge_distance_a,
    run_site_adsorption,
)
from simulation.structures import (
    classify_edge_carbons,
    hexagonal_flake,
    pd13_icosahedron,
    rectangular_flake,
    shortest_distance_a,
    with_vacancy,
)
from simulation.xtbresults import MDTrajectory

needs_xtb = pytest.mark.skipif(shutil.which("xtb") is None, reason="xtb program not on PATH")


@pytest.fixture(scope="module")
def open_flake():
    """A small rectangular flake with unsaturated zigzag and armchair edges."""
    return rectangular_flake(5, 5, hydrogen_terminated=False)


def _split(complex_, n_flake):
    return complex_[:n_flake], complex_[n_flake:]


def test_adsorption_energy_is_complex_minus_parts_in_kcal_mol():
    assert HARTREE_TO_KCAL_MOL == 627.509474
    assert adsorption_energy_kcal_mol(-10.1, -4.0, -6.0) == pytest.approx(-62.7509474)
    assert adsorption_energy_kcal_mol(-10.0, -4.0, -6.0) == pytest.approx(0.0)


def test_basal_cluster_sits_facet_down_above_the_centre(open_flake):
    complex_ = build_site_complex(open_flake, pd13_icosahedron(), AdsorptionSite.BASAL)
    flake, cluster = _split(complex_, len(open_flake))

    assert len(complex_) == len(open_flake) + 13
    assert shortest_distance_a(flake, cluster) == pytest.approx(BASAL_CONTACT_A, abs=1e-3)
    heights = np.sort(cluster.positions[:, 2])
    assert 1.9 < heights[0] < BASAL_CONTACT_A + 1e-6
    # A triangular facet, not a vertex, faces the plane.
    assert np.ptp(heights[:3]) < 0.05
    assert heights[3] > heights[0] + 1.0
    assert np.linalg.norm(cluster.get_center_of_mass()[:2]) < 1.5
    # The cluster keeps its shape.
    assert np.allclose(
        np.sort(cluster.get_all_distances().ravel()),
        np.sort(pd13_icosahedron().get_all_distances().ravel()),
    )


@pytest.mark.parametrize(
    ("site", "kind"),
    [(AdsorptionSite.ZIGZAG_EDGE, "zigzag"), (AdsorptionSite.ARMCHAIR_EDGE, "armchair")],
)
def test_edge_cluster_faces_edge_carbons_of_its_kind(open_flake, site, kind):
    complex_ = build_site_complex(open_flake, pd13_icosahedron(), site)
    flake, cluster = _split(complex_, len(open_flake))

    contacts = np.linalg.norm(flake.positions[:, None] - cluster.positions[None], axis=-1)
    nearest_carbon = int(np.argmin(contacts.min(axis=1)))
    assert nearest_carbon in classify_edge_carbons(open_flake)[kind]
    assert contacts.min() == pytest.approx(EDGE_CONTACT_A, abs=1e-3)
    # Two Pd atoms lie in the flake plane facing the edge; the facet's apex tilts the cluster up.
    in_plane = cluster.positions[np.abs(cluster.positions[:, 2]) < 0.05]
    assert len(in_plane) == 2
    centre = cluster.get_center_of_mass()
    assert 0.0 < centre[2] < 1.5
    assert np.linalg.norm(centre[:2]) > np.linalg.norm(flake.positions[nearest_carbon, :2])


def test_elevated_edge_approach_lifts_the_cluster(open_flake):
    complex_ = build_site_complex(
        open_flake, pd13_icosahedron(), AdsorptionSite.ZIGZAG_EDGE, elevation_deg=45.0
    )
    _, cluster = _split(complex_, len(open_flake))

    assert cluster.get_center_of_mass()[2] > 1.5


def test_defect_site_puts_the_cluster_over_the_vacancy():
    flake = with_vacancy(hexagonal_flake(3))
    hole = flake.positions[classify_edge_carbons(flake)["defect"]].mean(axis=0)

    complex_ = build_site_complex(flake, pd13_icosahedron(), AdsorptionSite.DEFECT)
    _, cluster = _split(complex_, len(flake))

    assert np.linalg.norm(cluster.get_center_of_mass()[:2] - hole[:2]) < 0.1
    assert shortest_distance_a(flake, cluster) == pytest.approx(BASAL_CONTACT_A, abs=1e-3)
    # The facet's three Pd atoms sit over the three dangling carbons.
    lowest = cluster.positions[np.argsort(cluster.positions[:, 2])[:3]]
    for carbon in flake.positions[classify_edge_carbons(flake)["defect"]]:
        assert np.min(np.linalg.norm(lowest[:, :2] - carbon[:2], axis=1)) < 0.5


def test_sites_missing_from_the_flake_are_rejected():
    with pytest.raises(ValueError, match="vacancy"):
        build_site_complex(hexagonal_flake(2), pd13_icosahedron(), AdsorptionSite.DEFECT)
    with pytest.raises(ValueError, match="no zigzag"):
        build_site_complex(
            hexagonal_flake(2, "armchair"), pd13_icosahedron(), AdsorptionSite.ZIGZAG_EDGE
        )
    with pytest.raises(ValueError, match="unknown site"):
        build_site_complex(hexagonal_flake(2), pd13_icosahedron(), "step")


@pytest.mark.xtb
@needs_xtb
def test_pd13_binds_to_coronene_with_all_energies_at_one_temperature():
    flake = hexagonal_flake(2)

    result = run_site_adsorption(
        flake, pd13_icosahedron(), AdsorptionSite.BASAL, electronic_temperature_k=1000.0, threads=1
    )

    assert -120.0 < result.energy_kcal_mol < -20.0
    temperatures = {
        result.electronic_temperature_k,
        result.complex.electronic_temperature_k,
        result.cluster.electronic_temperature_k,
        result.surface.electronic_temperature_k,
    }
    assert temperatures == {1000.0}
    assert result.energy_kcal_mol == pytest.approx(
        adsorption_energy_kcal_mol(
            result.complex.energy_eh, result.cluster.energy_eh, result.surface.energy_eh
        )
    )


def test_cluster_edge_distance_follows_the_centroid():
    flake = rectangular_flake(4, 3, hydrogen_terminated=False)
    cluster = pd13_icosahedron()
    complex_ = build_site_complex(flake, cluster, AdsorptionSite.BASAL)
    start = complex_.positions.copy()
    shifted = start.copy()
    in_cluster = np.array(complex_.get_chemical_symbols()) == "Pd"
    shifted[in_cluster, 0] += 3.0
    trajectory = MDTrajectory(
        symbols=tuple(complex_.get_chemical_symbols()),
        times_fs=np.array([0.0, 10.0]),
        energies_eh=np.zeros(2),
        positions_a=np.stack([start, shifted]),
        average_temperature_k=None,
    )
    distances = cluster_edge_distance_a(trajectory)
    assert distances.shape == (2,)
    assert (distances > 0).all()
    assert distances[0] != pytest.approx(distances[1])
    with pytest.raises(ValueError, match="no Au atoms"):
        cluster_edge_distance_a(trajectory, cluster_symbol="Au")


def test_a_flake_too_small_for_an_edge_site_is_refused():
    flake = rectangular_flake(3, 3, hydrogen_terminated=False)
    with pytest.raises(ValueError, match="too small to hold a cluster at its zigzag edge"):
        build_site_complex(flake, pd13_icosahedron(), AdsorptionSite.ZIGZAG_EDGE)
