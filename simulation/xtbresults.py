"""The results of an xtb run: whether an attempt converged, and what it gave.

:func:`read_attempt` judges one finished xtb process from its standard output
and its ``xtbout.json``; :func:`xtb_result` assembles the :class:`XtbResult`
of a converged one from the JSON (energy, gap, charges, dipole), the standard
output (version, gradient norm, optimisation convergence, MD temperature) and
the geometry files (final structure, scan profile, MD trajectory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
from ase import Atoms
from ase.units import Bohr, Debye

from simulation.structures import atoms_from_xyz, atoms_to_xyz
from simulation.xtbparse import (
    XtbJsonOutput,
    XtbOutput,
    XyzFrames,
    parse_json_output,
    parse_md_average_temperature_k,
    parse_output,
    parse_xyz_frames,
)
from simulation.xtbprocess import Attempt, XtbFailure
from simulation.xtbspec import METHOD, MDSpec, ScanSpec, XtbSpec, XtbTask

CONVERGED: Final = "converged"
"""Outcome of an attempt that gave a result."""

#: Files read back from xtb's directory: JSON results, then geometries.
OUTPUT_FILES: Final = ("xtbout.json", "xtbopt.xyz", "xtbscan.log", "xtb.trj")

# e·bohr → debye.
_DEBYE_PER_AU: Final = Bohr / Debye


@dataclass(frozen=True, eq=False)
class MDTrajectory:
    """Frames of an xtb MD run (``xtb.trj``).

    Attributes:
        symbols: Element symbols, shape (n_atoms,).
        times_fs: Time of each frame in fs, shape (n_frames,).
        energies_eh: Potential energy of each frame in Eh, shape (n_frames,).
        positions_a: Positions in Å, shape (n_frames, n_atoms, 3).
        average_temperature_k: Mean kinetic temperature reported by xtb, K.
    """

    symbols: tuple[str, ...]
    times_fs: np.ndarray
    energies_eh: np.ndarray
    positions_a: np.ndarray
    average_temperature_k: float | None

    def frame(self, index: int) -> Atoms:
        """Return frame ``index`` as atoms (Å)."""
        return Atoms(list(self.symbols), positions=self.positions_a[index])


@dataclass(frozen=True, eq=False)
class XtbResult:
    """Outcome of a converged xtb run.

    Attributes:
        task: One of :class:`~simulation.xtbspec.XtbTask`.
        method: Always ``"GFN2-xTB"``.
        program_version: xtb version, e.g. ``"6.5.1"``.
        input_xyz: The input geometry as XYZ text (Å).
        charge: Total charge (e).
        uhf: Number of unpaired electrons.
        solvent: ALPB solvent name, or None for gas phase.
        energy_eh: Total energy in Eh (``xtbout.json``, 8 decimals): of the final
            geometry after ``opt`` and ``scan``, of the starting geometry for ``md``.
        gradient_norm_eh_bohr: Gradient norm in Eh/bohr, same geometry.
        homo_lumo_gap_ev: HOMO-LUMO gap in eV, same geometry.
        optimized: Final geometry of ``opt`` / ``scan``; None otherwise.
        optimization_converged: Whether ``opt`` met its criteria; None otherwise.
        charges: Partial charges (e), one per atom, same geometry.
        log: Standard output and error of every attempt, in order.
        wall_time_s: Wall time of all attempts in s.
        electronic_temperature_k: The electronic temperature that converged, K.
        attempts: One dict per attempt: ``temperature_k`` (float), ``outcome``
            (``"converged"`` or ``"scc_not_converged"``), ``message`` (str).
        scan_profile: ``(distance_a, energy_eh)`` per scan point (``scan`` only).
        md_trajectory: The trajectory (``md`` only).
        dipole_debye: Molecular dipole (x, y, z) in D, same geometry; None if xtb gave none.
    """

    task: str
    program_version: str
    input_xyz: str
    charge: int
    uhf: int
    solvent: str | None
    energy_eh: float
    gradient_norm_eh_bohr: float | None
    homo_lumo_gap_ev: float | None
    optimized: Atoms | None
    optimization_converged: bool | None
    charges: list[float]
    log: str
    wall_time_s: float
    electronic_temperature_k: float
    attempts: list[dict]
    scan_profile: list[tuple[float, float]] = field(default_factory=list)
    md_trajectory: MDTrajectory | None = None
    dipole_debye: tuple[float, float, float] | None = None
    method: str = METHOD

    @property
    def retries(self) -> int:
        """Number of repeated runs after SCC failures."""
        return len(self.attempts) - 1

    @property
    def optimized_xyz(self) -> str | None:
        """Final geometry as XYZ text (Å), or None if the task has none."""
        if self.optimized is None:
            return None
        return atoms_to_xyz(self.optimized, comment=f"energy: {self.energy_eh:.12f} Eh")


@dataclass(frozen=True)
class AttemptReading:
    """What one finished xtb process says.

    Attributes:
        outcome: :data:`CONVERGED` or an :class:`~simulation.xtbprocess.XtbFailure` constant.
        message: Why it failed (empty when converged).
        output: Its parsed standard output.
        results: Its parsed ``xtbout.json``; None unless converged.
    """

    outcome: str
    message: str
    output: XtbOutput
    results: XtbJsonOutput | None


def read_attempt(attempt: Attempt) -> AttemptReading:
    """Judge a finished attempt: converged, or which :class:`XtbFailure` and why."""
    output = parse_output(attempt.log)
    if output.scc_failed:
        message = "; ".join(output.errors) or "SCC did not converge"
        return AttemptReading(XtbFailure.SCC_NOT_CONVERGED, message, output, None)
    if attempt.returncode != 0 or output.errors:
        message = "; ".join(output.errors) or f"xtb exited with status {attempt.returncode}"
        return AttemptReading(XtbFailure.PROGRAM_ERROR, message, output, None)
    if "xtbout.json" not in attempt.files:
        return AttemptReading(XtbFailure.PARSE_ERROR, "xtb wrote no xtbout.json", output, None)
    try:
        results = parse_json_output(attempt.files["xtbout.json"])
    except ValueError as error:
        return AttemptReading(XtbFailure.PARSE_ERROR, str(error), output, None)
    return AttemptReading(CONVERGED, "", output, results)


def xtb_result(
    spec: XtbSpec,
    atoms: Atoms,
    attempt: Attempt,
    reading: AttemptReading,
    *,
    log: str,
    wall_time_s: float,
    temperature_k: float,
    attempts: list[dict],
) -> XtbResult:
    """Assemble the result of a converged attempt from its outputs and files.

    Raises:
        ValueError: If ``reading`` is not of a converged attempt.
    """
    if reading.results is None:
        raise ValueError(f"attempt did not converge ({reading.outcome}): {reading.message}")
    output, results, files = reading.output, reading.results, attempt.files
    optimized = None
    if spec.task in (XtbTask.OPTIMIZATION, XtbTask.SCAN) and "xtbopt.xyz" in files:
        optimized = atoms_from_xyz(files["xtbopt.xyz"])
    scan_profile = []
    if spec.task == XtbTask.SCAN and spec.scan is not None:
        scan_profile = _scan_profile(parse_xyz_frames(files.get("xtbscan.log", "")), spec.scan)
    trajectory = None
    if spec.task == XtbTask.MD and spec.md is not None:
        frames = parse_xyz_frames(files.get("xtb.trj", ""))
        trajectory = _md_trajectory(frames, spec.md, attempt.log)
    dipole = None
    if results.dipole_au is not None:
        x, y, z = (component * _DEBYE_PER_AU for component in results.dipole_au)
        dipole = (x, y, z)
    return XtbResult(
        task=spec.task,
        program_version=output.program_version,
        input_xyz=atoms_to_xyz(atoms),
        charge=spec.charge,
        uhf=spec.uhf,
        solvent=spec.solvent,
        energy_eh=results.energy_eh,
        gradient_norm_eh_bohr=output.gradient_norm_eh_bohr,
        homo_lumo_gap_ev=results.homo_lumo_gap_ev,
        optimized=optimized,
        optimization_converged=output.optimization_converged if optimized is not None else None,
        charges=results.charges,
        log=log,
        wall_time_s=wall_time_s,
        electronic_temperature_k=temperature_k,
        attempts=attempts,
        scan_profile=scan_profile,
        md_trajectory=trajectory,
        dipole_debye=dipole,
    )


def _scan_profile(frames: XyzFrames, scan: ScanSpec) -> list[tuple[float, float]]:
    # The distance is measured on each relaxed frame: the restraint is harmonic,
    # so the achieved distance can differ slightly from the requested one.
    vectors = frames.positions_a[:, scan.atom_a] - frames.positions_a[:, scan.atom_b]
    distances = np.linalg.norm(vectors, axis=1)
    return [(float(d), float(e)) for d, e in zip(distances, frames.energies_eh, strict=True)]


def _md_trajectory(frames: XyzFrames, md: MDSpec, log: str) -> MDTrajectory:
    # xtb writes the starting structure as the first frame, then one every dump interval.
    times = np.arange(len(frames), dtype=float) * md.dump_interval_fs
    return MDTrajectory(
        symbols=frames.symbols,
        times_fs=times,
        energies_eh=frames.energies_eh,
        positions_a=frames.positions_a,
        average_temperature_k=parse_md_average_temperature_k(log),
    )
