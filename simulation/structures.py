"""Atomistic structures for the xtb calculations: Pd clusters and graphene flakes.

Builders return plain :class:`ase.Atoms` in Å, without a cell or periodicity,
ready for a molecular GFN2-xTB run. Flakes lie in the xy plane at z = 0 and are
built from whole hexagonal rings, so they never carry one-coordinated carbons;
their edges are either unsaturated (dangling bonds, as in the paper's C262
sheet) or terminated by hydrogen.

Edge carbons are classified by the standard "solo / duo" motif: a two-coordinated
carbon whose carbon neighbours are both three-coordinated sits on a zigzag edge,
one bonded to another two-coordinated carbon forms an armchair dimer. Carbons
around a vacancy are also two-coordinated but their dangling bonds point into
the hole, which is what tells them apart from edges.

Example:
    >>> flake = rectangular_flake(6, 6, hydrogen_terminated=False)
    >>> sorted(classify_edge_carbons(flake))
    ['armchair', 'zigzag']
"""

from __future__ import annotations

import io
import itertools
from typing import Final

import numpy as np
from ase import Atoms
from ase.cluster import Icosahedron
from ase.io import read, write

GRAPHENE_LATTICE_A: Final = 2.46
"""Graphene lattice constant in Å."""

CC_BOND_A: Final = GRAPHENE_LATTICE_A / np.sqrt(3.0)
"""Aromatic C-C bond length in Å (1.42)."""

CH_BOND_A: Final = 1.09
"""C-H bond length of terminated edges in Å."""

PD_PD_DISTANCE_A: Final = 2.75
"""Nearest-neighbour Pd-Pd distance in Å (bulk Pd: 2.75)."""

# Two carbons closer than this are bonded; between 1.42 and the 2.46 second-neighbour distance.
_CC_BOND_CUTOFF_A: Final = 1.8


class FlakeEdge:
    """Edge terminations of the hexagonal flakes (constants)."""

    ZIGZAG = "zigzag"
    ARMCHAIR = "armchair"
    CHOICES = (ZIGZAG, ARMCHAIR)


def pd13_icosahedron(pd_pd_distance_a: float = PD_PD_DISTANCE_A) -> Atoms:
    """Build a Pd13 icosahedron (one central atom, 12 vertices) centred at the origin.

    Args:
        pd_pd_distance_a: Centre-to-vertex distance in Å, which is also the
            shortest Pd-Pd distance; the vertex-vertex edges are 5 % longer, as in
            every Mackay icosahedron.

    Returns:
        13 Pd atoms in Å, centre of mass at (0, 0, 0), atom 0 the central one.
    """
    # ASE sizes the icosahedron from the fcc lattice constant: a / sqrt(2) is the
    # centre-to-vertex distance.
    cluster = Icosahedron("Pd", noshells=2, latticeconstant=pd_pd_distance_a * np.sqrt(2.0))
    cluster.set_cell(np.zeros((3, 3)))
    cluster.pbc = False
    cluster.positions -= cluster.positions[0]
    return cluster


def _pointy_ring_vertices(centre: np.ndarray) -> np.ndarray:
    """Return the 6 carbon positions (Å) of a pointy-top hexagonal ring; shape (6, 3)."""
    angles = np.deg2rad(30.0 + 60.0 * np.arange(6))
    ring = np.zeros((6, 3))
    ring[:, 0] = centre[0] + CC_BOND_A * np.cos(angles)
    ring[:, 1] = centre[1] + CC_BOND_A * np.sin(angles)
    return ring


def _lattice_ring_centre(i: int, j: int) -> np.ndarray:
    """Ring centre (Å) of lattice point i a1 + j a2, with a1 along x (a zigzag direction)."""
    a = GRAPHENE_LATTICE_A
    return np.array([a * (i + 0.5 * j), a * np.sqrt(3.0) / 2.0 * j, 0.0])


def flake_from_rings(ring_centres: np.ndarray, *, hydrogen_terminated: bool = True) -> Atoms:
    """Build a flake as the union of the hexagonal rings centred at ``ring_centres``.

    Args:
        ring_centres: Ring centres in Å on the graphene ring lattice, shape (n, 2)
            or (n, 3); z is ignored.
        hydrogen_terminated: Add one H to each two-coordinated carbon; otherwise
            the edges keep their dangling bonds.

    Returns:
        The flake in the xy plane, carbons first then hydrogens, centred on its
        carbon centroid.
    """
    centres = np.asarray(ring_centres, dtype=float)
    vertices = np.concatenate([_pointy_ring_vertices(c) for c in centres])
    # Neighbouring rings share vertices; rounding to 0.01 Å merges the copies.
    _, unique = np.unique(np.round(vertices[:, :2], 2), axis=0, return_index=True)
    carbons = vertices[np.sort(unique)]
    carbons[:, :2] -= carbons[:, :2].mean(axis=0)
    flake = Atoms(["C"] * len(carbons), positions=carbons)
    return add_edge_hydrogens(flake) if hydrogen_terminated else flake


def hexagonal_flake(
    rings_per_side: int, edge: str = FlakeEdge.ZIGZAG, *, hydrogen_terminated: bool = True
) -> Atoms:
    """Build a hexagonal graphene flake with zigzag or armchair sides.

    Zigzag sides give the coronene series C(6 n²)H(6 n): benzene, coronene
    C24H12, circumcoronene C54H18, C96H24, C150H30. Armchair sides give benzene,
    hexabenzocoronene C42H18, C114H30, C222H42.

    Args:
        rings_per_side: n ≥ 1, the number of rings along one side.
        edge: ``"zigzag"`` or ``"armchair"``.
        hydrogen_terminated: Terminate the edge carbons with H.

    Returns:
        The flake in the xy plane at z = 0, centred at the origin, in Å.

    Raises:
        ValueError: On an unknown edge or a size below 1.
    """
    if rings_per_side < 1:
        raise ValueError(f"rings_per_side must be >= 1, got {rings_per_side}")
    n = rings_per_side - 1
    span = range(-3 * n - 1, 3 * n + 2)
    if edge == FlakeEdge.ZIGZAG:
        # Hexagonal distance on the ring lattice: rings within n steps of the centre.
        centres = [
            _lattice_ring_centre(i, j)
            for i, j in itertools.product(span, span)
            if max(abs(i), abs(j), abs(i + j)) <= n
        ]
    elif edge == FlakeEdge.ARMCHAIR:
        # Rings inside a hexagon whose faces are normal to the nearest-ring
        # directions; its faces then cut the lattice along armchair lines.
        normals = np.array([[np.cos(t), np.sin(t), 0.0] for t in np.deg2rad(60.0 * np.arange(6))])
        limit = 1.5 * GRAPHENE_LATTICE_A * n + 1e-6
        centres = [
            c
            for i, j in itertools.product(span, span)
            if np.max(normals @ (c := _lattice_ring_centre(i, j))) <= limit
        ]
    else:
        raise ValueError(f"unknown edge {edge!r}; choose one of {FlakeEdge.CHOICES}")
    return flake_from_rings(np.array(centres), hydrogen_terminated=hydrogen_terminated)


def rectangular_flake(
    rings_along_zigzag: int, ring_rows: int, *, hydrogen_terminated: bool = True
) -> Atoms:
    """Build a rectangular flake: zigzag edges along x, armchair edges along y.

    Rows of rings run along x; odd rows are shifted by half a lattice constant
    and hold one ring less, which makes the left and right sides armchair.

    Args:
        rings_along_zigzag: Rings in the even rows (≥ 2), setting the zigzag edge
            length (≈ 2.46 Å per ring).
        ring_rows: Number of ring rows (≥ 1), setting the armchair edge length
            (≈ 2.13 Å per row).
        hydrogen_terminated: Terminate the edge carbons with H.

    Returns:
        The flake in the xy plane at z = 0, centred at the origin, in Å.

    Raises:
        ValueError: On sizes too small to have both edge kinds.
    """
    if rings_along_zigzag < 2 or ring_rows < 1:
        raise ValueError("need at least 2 rings along zigzag and 1 ring row")
    centres = [
        _lattice_ring_centre(i - j // 2, j)
        for j in range(ring_rows)
        for i in range(rings_along_zigzag - (j % 2))
    ]
    return flake_from_rings(np.array(centres), hydrogen_terminated=hydrogen_terminated)


def with_vacancy(flake: Atoms) -> Atoms:
    """Return a copy of ``flake`` with a single vacancy: the carbon nearest its centre removed.

    Args:
        flake: A flake from one of the builders (planar, centred).

    Returns:
        The defective flake; its three carbons around the hole keep dangling bonds.
    """
    carbons = np.flatnonzero(np.array(flake.get_chemical_symbols()) == "C")
    centre = flake.positions[carbons].mean(axis=0)
    nearest = carbons[np.argmin(np.linalg.norm(flake.positions[carbons] - centre, axis=1))]
    defective = flake.copy()
    del defective[int(nearest)]
    return defective


def _carbon_neighbours(flake: Atoms) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return carbon indices and, for each, the indices (into ``flake``) of bonded carbons."""
    carbons = np.flatnonzero(np.array(flake.get_chemical_symbols()) == "C")
    positions = flake.positions[carbons]
    distances = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    bonded = (distances < _CC_BOND_CUTOFF_A) & (distances > 0.1)
    return carbons, [carbons[np.flatnonzero(row)] for row in bonded]


def dangling_bond_direction(flake: Atoms, index: int) -> np.ndarray:
    """Unit vector of the in-plane dangling bond of a two-coordinated carbon.

    Args:
        flake: The flake.
        index: Index of a carbon with two carbon neighbours.

    Returns:
        The direction opposite to the sum of its two C-C bond vectors, shape (3,).
    """
    carbons, neighbours = _carbon_neighbours(flake)
    bonded = neighbours[int(np.flatnonzero(carbons == index)[0])]
    outward = -(flake.positions[bonded] - flake.positions[index]).sum(axis=0)
    return outward / np.linalg.norm(outward)


def classify_edge_carbons(flake: Atoms) -> dict[str, list[int]]:
    """Group the two-coordinated carbons by edge kind.

    Args:
        flake: A planar flake, hydrogen-terminated or not.

    Returns:
        ``{"zigzag": [...], "armchair": [...], "defect": [...]}`` with atom
        indices; a kind without atoms is left out.
    """
    carbons, neighbours = _carbon_neighbours(flake)
    coordination = {int(c): len(n) for c, n in zip(carbons, neighbours, strict=True)}
    carbon_positions = flake.positions[carbons]
    groups: dict[str, list[int]] = {}
    for c, bonded in zip(carbons, neighbours, strict=True):
        if len(bonded) != 2:
            continue
        outward = -(flake.positions[bonded] - flake.positions[c]).sum(axis=0)
        beyond = flake.positions[c] + CC_BOND_A * outward / np.linalg.norm(outward)
        # A vacancy site has its three former neighbours 1.42 Å away; past an edge
        # there is at most the carbon itself.
        if np.count_nonzero(np.linalg.norm(carbon_positions - beyond, axis=1) < 1.6) >= 2:
            kind = "defect"
        elif any(coordination[int(b)] == 2 for b in bonded):
            kind = "armchair"
        else:
            kind = "zigzag"
        groups.setdefault(kind, []).append(int(c))
    return groups


def add_edge_hydrogens(flake: Atoms) -> Atoms:
    """Terminate every two-coordinated edge carbon with one H along its dangling bond.

    Carbons around a vacancy are left unsaturated: an H there would clash with
    the other two.

    Args:
        flake: A carbon-only planar flake.

    Returns:
        A new flake: the carbons, then the hydrogens, in Å.
    """
    groups = classify_edge_carbons(flake)
    hydrogens = [
        flake.positions[c] + CH_BOND_A * dangling_bond_direction(flake, c)
        for c in sorted(groups.get("zigzag", []) + groups.get("armchair", []))
    ]
    terminated = flake.copy()
    if hydrogens:
        terminated += Atoms(["H"] * len(hydrogens), positions=np.array(hydrogens))
    return terminated


def shortest_distance_a(first: Atoms, second: Atoms) -> float:
    """Shortest interatomic distance in Å between two fragments."""
    diff = first.positions[:, None, :] - second.positions[None, :, :]
    return float(np.min(np.linalg.norm(diff, axis=-1)))


def atoms_to_xyz(atoms: Atoms, comment: str = "") -> str:
    """Serialise atoms as XYZ text (Å), the format stored with calculations."""
    stream = io.StringIO()
    write(stream, atoms, format="xyz", comment=comment)
    return stream.getvalue()


def atoms_from_xyz(text: str) -> Atoms:
    """Parse XYZ text (Å) into atoms; the last frame if there are several.

    Raises:
        ValueError: If the text holds no structure.
    """
    if not text.strip():
        raise ValueError("empty XYZ text")
    atoms = read(io.StringIO(text), format="xyz", index=-1)
    atoms.info.clear()
    return atoms
