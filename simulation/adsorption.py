"""Adsorption of a metal cluster on a graphene flake: site placement and E_ads.

The paper (Boiko et al., Chem. Sci. 2021) compares a Pd13 cluster on the basal
plane, at an armchair edge and at a zigzag edge of a graphene sheet with
unsaturated edges:

    E_ads = E_complex - E_cluster - E_surface

in kcal/mol; more negative binds more strongly (basal -91.9, armchair -191.0,
zigzag -248.9 kcal/mol on C262 with GFN2-xTB).

Placement is rigid: the cluster is turned so that one of its outer triangular
facets faces the surface, then moved towards the site along an approach
direction until its closest atom is ``contact_a`` from the nearest flake atom.
Basal and defect sites are approached from above (+z); edge sites from outside
the edge, in the flake plane tilted up by ``elevation_deg``.

Example:
    >>> from simulation.structures import pd13_icosahedron, rectangular_flake
    >>> flake = rectangular_flake(6, 7, hydrogen_terminated=False)
    >>> complex_ = build_site_complex(flake, pd13_icosahedron(), AdsorptionSite.ZIGZAG_EDGE)
    >>> len(complex_) == len(flake) + 13
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from ase import Atoms

from simulation.structures import classify_edge_carbons, dangling_bond_direction
from simulation.xtb import run_xtb
from simulation.xtbresults import MDTrajectory, XtbResult

HARTREE_TO_KCAL_MOL: Final = 627.509474
"""1 Eh in kcal/mol."""

BASAL_CONTACT_A: Final = 2.3
"""Default shortest cluster-flake distance on the basal plane or a vacancy, Å."""

EDGE_CONTACT_A: Final = 2.0
"""Default shortest cluster-flake distance at an edge (a Pd-C sigma bond), Å."""

# Carbons of one edge kind within this radius count as one straight edge segment.
_EDGE_SEGMENT_RADIUS_A: Final = 5.0


class AdsorptionSite:
    """Where the cluster sits on the flake (constants)."""

    BASAL = "basal"
    ARMCHAIR_EDGE = "armchair_edge"
    ZIGZAG_EDGE = "zigzag_edge"
    DEFECT = "defect"
    CHOICES = (BASAL, ARMCHAIR_EDGE, ZIGZAG_EDGE, DEFECT)


_EDGE_KIND: Final = {
    AdsorptionSite.ARMCHAIR_EDGE: "armchair",
    AdsorptionSite.ZIGZAG_EDGE: "zigzag",
    AdsorptionSite.DEFECT: "defect",
}


def adsorption_energy_kcal_mol(
    e_complex_eh: float, e_cluster_eh: float, e_surface_eh: float
) -> float:
    """Return E_ads = E_complex - E_cluster - E_surface converted to kcal/mol.

    Args:
        e_complex_eh: Energy of cluster on surface, Eh.
        e_cluster_eh: Energy of the isolated cluster, Eh.
        e_surface_eh: Energy of the isolated flake, Eh.

    Returns:
        The adsorption energy in kcal/mol; negative means bound.

    Example:
        >>> round(adsorption_energy_kcal_mol(-2.1, -1.0, -1.0), 3)
        -62.751
    """
    return (e_complex_eh - e_cluster_eh - e_surface_eh) * HARTREE_TO_KCAL_MOL


def _rotation_onto(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Return the 3 x 3 rotation matrix turning unit vector ``source`` onto ``target``."""
    v = np.cross(source, target)
    c = float(np.dot(source, target))
    if np.linalg.norm(v) < 1e-9:
        if c > 0:
            return np.eye(3)
        # Antiparallel: half a turn about any axis normal to source.
        axis = np.cross(source, [1.0, 0.0, 0.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(source, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def outer_facet(cluster: Atoms) -> tuple[int, int, int]:
    """Indices of the cluster's outermost triangular facet.

    A facet is three mutually nearest-neighbour atoms; the outermost one has
    its centroid farthest from the centre of mass (for an icosahedron any of
    the 20 equal facets, chosen deterministically).

    Args:
        cluster: A compact cluster of at least 3 atoms.

    Returns:
        Three atom indices.

    Raises:
        ValueError: If no three atoms are mutual nearest neighbours.
    """
    positions = cluster.positions - cluster.get_center_of_mass()
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    nearest = np.min(distances + np.eye(len(cluster)) * 1e9)
    bonded = distances < 1.15 * nearest
    best: tuple[int, int, int] | None = None
    best_radius = -1.0
    for i, j, k in itertools.combinations(range(len(cluster)), 3):
        if bonded[i, j] and bonded[j, k] and bonded[i, k]:
            radius = float(np.linalg.norm(positions[[i, j, k]].mean(axis=0)))
            if radius > best_radius + 1e-6:
                best, best_radius = (i, j, k), radius
    if best is None:
        raise ValueError("cluster has no triangular facet")
    return best


def _axis_rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation matrix (3 x 3) by ``angle_rad`` about unit vector ``axis`` (Rodrigues)."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1.0 - np.cos(angle_rad)) * k @ k


def orient_facet(
    cluster: Atoms, facing: np.ndarray, along: np.ndarray, up: np.ndarray
) -> tuple[Atoms, tuple[int, int, int]]:
    """Turn the cluster so that its outer facet faces ``facing``.

    One edge of that facet is laid along ``along`` and the facet's third atom
    points to the ``up`` side, so that at a graphene edge two Pd atoms meet
    two edge carbons side by side.

    Args:
        cluster: The cluster (Å).
        facing: Unit vector the facet normal is turned onto.
        along: Unit vector normal to ``facing`` for the facet edge.
        up: Unit vector picking which side the third facet atom lies on.

    Returns:
        The turned copy, centred on its centre of mass, and the facet's atom
        indices: the two of the laid edge, then the third.
    """
    turned = cluster.copy()
    turned.positions -= turned.get_center_of_mass()
    i, j, k = outer_facet(turned)
    normal = turned.positions[[i, j, k]].mean(axis=0)
    turned.positions = turned.positions @ _rotation_onto(normal / np.linalg.norm(normal), facing).T
    edge = turned.positions[j] - turned.positions[i]
    edge -= np.dot(edge, facing) * facing
    angle = np.arctan2(np.dot(np.cross(edge, along), facing), np.dot(edge, along))
    turned.positions = turned.positions @ _axis_rotation(facing, angle).T
    if np.dot(turned.positions[k] - turned.positions[[i, j]].mean(axis=0), up) < 0:
        # Half a turn about the facing axis keeps the edge on its line and flips the apex.
        turned.positions = turned.positions @ _axis_rotation(facing, np.pi).T
    return turned, (i, j, k)


def _place_along(
    flake: Atoms,
    turned: Atoms,
    contact_point: np.ndarray,
    anchor: np.ndarray,
    approach: np.ndarray,
    contact_a: float,
) -> Atoms:
    """Put ``contact_point`` on the ray anchor + t * approach at shortest distance ``contact_a``."""

    def gap(t: float) -> float:
        moved = turned.positions - contact_point + anchor + t * approach
        return float(np.min(np.linalg.norm(moved[:, None] - flake.positions[None], axis=-1)))

    # Bisection on the offset; the gap grows as the cluster backs away along the ray.
    low, high = 0.0, 50.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        if gap(middle) < contact_a:
            low = middle
        else:
            high = middle
    placed = turned.copy()
    placed.positions += anchor + high * approach - contact_point
    return placed


def _edge_anchor(flake: Atoms, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Locate the middle of the longest straight edge of ``kind``.

    Returns:
        The midpoint of the two central edge carbons (a zigzag pair 2.46 Å
        apart or an armchair dimer 1.42 Å apart), the unit outward in-plane
        direction and the unit tangent along the edge.
    """
    atoms = classify_edge_carbons(flake).get(kind, [])
    if len(atoms) < 2:
        raise ValueError(f"the flake has no {kind} edge")
    positions = flake.positions[atoms]
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    # The atom with the most same-kind neighbours lies mid-way along the longest edge.
    centre = int(np.argmax((distances < _EDGE_SEGMENT_RADIUS_A).sum(axis=1)))
    partner = int(np.argmin(distances[centre] + np.eye(len(atoms))[centre] * 1e9))
    pair = [atoms[centre], atoms[partner]]
    anchor = flake.positions[pair].mean(axis=0)
    outward = sum(dangling_bond_direction(flake, a) for a in pair)
    length = np.linalg.norm(outward)
    if length < 0.5:
        # The two central carbons point opposite ways: the edge is a corner, not a side.
        raise ValueError(f"the flake is too small to hold a cluster at its {kind} edge")
    outward = outward / length
    tangent = np.cross([0.0, 0.0, 1.0], outward)
    return anchor, outward, tangent / np.linalg.norm(tangent)


def build_site_complex(
    flake: Atoms,
    cluster: Atoms,
    site: str,
    *,
    contact_a: float | None = None,
    elevation_deg: float = 0.0,
) -> Atoms:
    """Place ``cluster`` at ``site`` on ``flake`` and return the complex.

    Args:
        flake: A planar flake at z = 0 from :mod:`simulation.structures`.
        cluster: The cluster (any orientation; it is re-oriented).
        site: One of :class:`AdsorptionSite`. ``defect`` needs a vacancy
            (:func:`simulation.structures.with_vacancy`); edge sites need
            edge carbons of that kind.
        contact_a: Shortest cluster-flake distance in Å; default
            :data:`BASAL_CONTACT_A` above the plane and :data:`EDGE_CONTACT_A`
            at edges.
        elevation_deg: Edge sites only: tilt of the approach out of the flake
            plane in degrees (0: in plane, facing the dangling bonds).

    Returns:
        Flake atoms first, then the cluster atoms, in Å.

    Raises:
        ValueError: On an unknown site or one the flake does not have.
    """
    if site not in AdsorptionSite.CHOICES:
        raise ValueError(f"unknown site {site!r}; choose one of {AdsorptionSite.CHOICES}")
    up = np.array([0.0, 0.0, 1.0])
    if site == AdsorptionSite.BASAL:
        carbons = flake.positions[np.array(flake.get_chemical_symbols()) == "C"]
        centre = carbons.mean(axis=0)
        anchor = carbons[np.argmin(np.linalg.norm(carbons - centre, axis=1))]
        # Any in-plane orientation will do on the basal plane.
        approach, along, apex_side = up, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
        default_contact = BASAL_CONTACT_A
    elif site == AdsorptionSite.DEFECT:
        holes = classify_edge_carbons(flake).get("defect", [])
        if not holes:
            raise ValueError("the flake has no vacancy; build one with with_vacancy()")
        anchor = flake.positions[holes].mean(axis=0)
        # Lay the Pd facet over the triangle of dangling carbons around the hole.
        apex_side = flake.positions[holes[0]] - anchor
        apex_side /= np.linalg.norm(apex_side)
        approach, along = up, np.cross(apex_side, up)
        default_contact = BASAL_CONTACT_A
    else:
        anchor, outward, along = _edge_anchor(flake, _EDGE_KIND[site])
        tilt = np.deg2rad(elevation_deg)
        approach, apex_side = np.cos(tilt) * outward + np.sin(tilt) * up, up
        default_contact = EDGE_CONTACT_A
    turned, facet = orient_facet(cluster, -approach, along, apex_side)
    # On a plane the whole facet rests on the site; at an edge its lower pair of
    # atoms meets the pair of edge carbons.
    touching = list(facet if site in (AdsorptionSite.BASAL, AdsorptionSite.DEFECT) else facet[:2])
    contact_point = turned.positions[touching].mean(axis=0)
    placed = _place_along(
        flake,
        turned,
        contact_point,
        anchor,
        approach,
        default_contact if contact_a is None else contact_a,
    )
    return flake + placed


@dataclass(frozen=True, eq=False)
class AdsorptionResult:
    """Adsorption energy at one site with the three calculations behind it.

    Attributes:
        site: One of :class:`AdsorptionSite`.
        energy_kcal_mol: E_ads in kcal/mol.
        electronic_temperature_k: The one electronic temperature (K) of all three runs.
        complex: Calculation of cluster on flake.
        cluster: Calculation of the isolated cluster.
        surface: Calculation of the isolated flake.
    """

    site: str
    energy_kcal_mol: float
    electronic_temperature_k: float
    complex: XtbResult
    cluster: XtbResult
    surface: XtbResult


def run_site_adsorption(
    flake: Atoms,
    cluster: Atoms,
    site: str,
    *,
    contact_a: float | None = None,
    elevation_deg: float = 0.0,
    references: Mapping[float, tuple[XtbResult, XtbResult]] | None = None,
    **xtb_options: Any,
) -> AdsorptionResult:
    """Place the cluster at ``site``, run the three single points, return E_ads.

    The complex runs first, with the SCC retries of :func:`run_xtb`; the
    isolated cluster and flake then run at the electronic temperature that
    converged it, without retries. Fermi smearing changes the energy of a metal
    cluster by tens of kcal/mol (Pd13: 300 K to 1000 K lowers it by 23), so
    mixing temperatures would make E_ads meaningless.

    Args:
        flake: The surface (Å).
        cluster: The cluster (Å).
        site: One of :class:`AdsorptionSite`.
        contact_a: Shortest cluster-flake distance (Å); see :func:`build_site_complex`.
        elevation_deg: Tilt of an edge approach out of the plane, degrees.
        references: Earlier ``(cluster, surface)`` results of the same cluster
            and flake by electronic temperature (K), reused when it matches.
        **xtb_options: Passed to :func:`run_xtb` (``threads``, ``timeout_s``,
            ``electronic_temperature_k``, ...); ``task`` is always ``"sp"``.

    Returns:
        The adsorption energy and its three calculations.

    Raises:
        XtbError: If a calculation fails.
    """
    complex_ = build_site_complex(
        flake, cluster, site, contact_a=contact_a, elevation_deg=elevation_deg
    )
    complex_result = run_xtb(complex_, "sp", **xtb_options)
    temperature = complex_result.electronic_temperature_k
    if references is not None and temperature in references:
        cluster_result, surface_result = references[temperature]
    else:
        fixed = {**xtb_options, "electronic_temperature_k": temperature, "retry_temperatures_k": ()}
        cluster_result = run_xtb(cluster, "sp", **fixed)
        surface_result = run_xtb(flake, "sp", **fixed)
    return AdsorptionResult(
        site=site,
        energy_kcal_mol=adsorption_energy_kcal_mol(
            complex_result.energy_eh, cluster_result.energy_eh, surface_result.energy_eh
        ),
        electronic_temperature_k=temperature,
        complex=complex_result,
        cluster=cluster_result,
        surface=surface_result,
    )


def cluster_edge_distance_a(trajectory: MDTrajectory, cluster_symbol: str = "Pd") -> np.ndarray:
    """Distance from the cluster's centroid to the nearest flake edge carbon, per MD frame.

    The paper's MD (Fig. 6) follows a Pd13 cluster migrating over the basal
    plane until it reaches an edge; this is that curve.

    Args:
        trajectory: an MD trajectory of a cluster on a flake.
        cluster_symbol: element of the cluster atoms; all other atoms are the flake.

    Returns:
        (n_frames,) float64 distances in Å (3-D, centroid to edge carbon).

    Raises:
        ValueError: no cluster atoms, or a flake without two-coordinated edge carbons.
    """
    symbols = np.asarray(trajectory.symbols)
    in_cluster = symbols == cluster_symbol
    if not in_cluster.any():
        raise ValueError(f"no {cluster_symbol} atoms in the trajectory")
    flake_indices = np.flatnonzero(~in_cluster)
    first_flake = trajectory.frame(0)[flake_indices.tolist()]
    edges = [
        i
        for kind in ("zigzag", "armchair")
        for i in classify_edge_carbons(first_flake).get(kind, [])
    ]
    if not edges:
        raise ValueError("the flake has no edge carbons")
    edge_atoms = flake_indices[edges]
    centroids = trajectory.positions_a[:, in_cluster].mean(axis=1)
    edge_positions = trajectory.positions_a[:, edge_atoms]
    return np.linalg.norm(edge_positions - centroids[:, None, :], axis=2).min(axis=1)
