"""Parsers for what the xtb program (6.x) writes.

Each function takes the text of one output and returns plain values in xtb's
units: energies in Eh, gradient norms in Eh/bohr, gaps in eV, charges in e,
dipoles in e·bohr, positions in Å. The results xtb gives in its JSON file
(``xtbout.json``, written with ``--json``: energy, HOMO-LUMO gap, partial
charges, dipole) are read from there (:func:`parse_json_output`); the standard
output is read only for what that file lacks (:func:`parse_output`: version,
errors, SCC and optimisation convergence, gradient norm, MD temperature).
Multi-frame XYZ files (``xtbscan.log``, ``xtb.trj``, ``xtbopt.xyz``) are read
with ASE (:func:`parse_xyz_frames`). Nothing here runs a program, so the
parsers can be tested on captured output.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field

import numpy as np
from ase.io import read

_VERSION = re.compile(r"\*\s*xtb version\s+(\S+)")
_GRADIENT = re.compile(r"\|\s*GRADIENT NORM\s+(-?\d+\.\d+)\s*Eh")
# The stack of "-N- where: message" lines below "[ERROR] Program stopped".
_ERROR_LINE = re.compile(r"^\s*-\d+-\s*(.+?)\s*$", re.MULTILINE)
_ERROR_BLOCK = re.compile(r"\[ERROR\][^\n]*\n((?:\s*-\d+-[^\n]*\n?)+)")
_SCC_FAILURE = re.compile(r"Self consistent charge iterator did not converge|SCC did not converge")
_OPT_CONVERGED = re.compile(r"\*\*\* GEOMETRY OPTIMIZATION CONVERGED")
_OPT_FAILED = re.compile(r"\*\*\* FAILED TO CONVERGE GEOMETRY OPTIMIZATION")
_COMMENT_ENERGY = re.compile(r"energy:\s*(-?\d+\.\d+(?:[eE][-+]?\d+)?)")
_MD_AVERAGE_T = re.compile(
    r"average properties.*?\n\s*T\s*:\s*(-?\d+\.?\d*(?:[eE][-+]?\d+)?)", re.S
)


@dataclass(frozen=True)
class XtbOutput:
    """What one xtb standard output says beyond its JSON file.

    Attributes:
        program_version: Version string such as ``"6.5.1"``; empty if absent.
        gradient_norm_eh_bohr: Gradient norm of the last summary block, Eh/bohr.
        errors: Messages of the fatal error stack, innermost (the cause) first.
        scc_failed: True if the SCC iterations did not converge.
        optimization_converged: True / False after a geometry optimisation,
            None if the output holds none.
        normal_termination: True if xtb reported a normal termination.
    """

    program_version: str = ""
    gradient_norm_eh_bohr: float | None = None
    errors: list[str] = field(default_factory=list)
    scc_failed: bool = False
    optimization_converged: bool | None = None
    normal_termination: bool = False


def _last_float(pattern: re.Pattern[str], text: str) -> float | None:
    matches = pattern.findall(text)
    return float(matches[-1]) if matches else None


def parse_version(text: str) -> str:
    """Return the program version (``"6.5.1"``) from an xtb banner, or ``""``."""
    match = _VERSION.search(text)
    return match.group(1) if match else ""


def parse_errors(text: str) -> list[str]:
    """Return the fatal error messages, innermost (the actual cause) first.

    xtb prints its error stack outermost first, numbered ``-3-``, ``-2-``,
    ``-1-``; the ``-1-`` line names the cause.
    """
    block = _ERROR_BLOCK.search(text)
    if block is None:
        return []
    return list(reversed(_ERROR_LINE.findall(block.group(1))))


def parse_output(text: str) -> XtbOutput:
    """Parse an xtb standard output (with or without standard error appended).

    Args:
        text: The program's output.

    Returns:
        The parsed values; absent quantities are None.
    """
    if _OPT_FAILED.search(text):
        converged: bool | None = False
    elif _OPT_CONVERGED.search(text):
        converged = True
    else:
        converged = None
    return XtbOutput(
        program_version=parse_version(text),
        gradient_norm_eh_bohr=_last_float(_GRADIENT, text),
        errors=parse_errors(text),
        scc_failed=bool(_SCC_FAILURE.search(text)),
        optimization_converged=converged,
        normal_termination="normal termination of xtb" in text,
    )


@dataclass(frozen=True)
class XtbJsonOutput:
    """What ``xtbout.json`` says: the results at the final geometry.

    Attributes:
        energy_eh: Total energy, Eh (xtb writes 8 decimals).
        homo_lumo_gap_ev: HOMO-LUMO gap, eV; None if absent.
        charges: Partial charges (e), one per atom in input order.
        dipole_au: Molecular dipole (x, y, z) in e·bohr; None if absent.
    """

    energy_eh: float
    homo_lumo_gap_ev: float | None
    charges: list[float]
    dipole_au: tuple[float, float, float] | None


def parse_json_output(text: str) -> XtbJsonOutput:
    """Parse the ``xtbout.json`` file that xtb writes when run with ``--json``.

    Raises:
        ValueError: If the text is not JSON or has no total energy.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"xtbout.json is not JSON: {error}") from None
    if not isinstance(data, dict) or "total energy" not in data:
        raise ValueError("xtbout.json has no total energy")
    gap = data.get("HOMO-LUMO gap/eV")
    dipole_au = None
    if "dipole" in data:
        x, y, z = (float(component) for component in data["dipole"])
        dipole_au = (x, y, z)
    return XtbJsonOutput(
        energy_eh=float(data["total energy"]),
        homo_lumo_gap_ev=None if gap is None else float(gap),
        charges=[float(charge) for charge in data.get("partial charges", [])],
        dipole_au=dipole_au,
    )


@dataclass(frozen=True, eq=False)
class XyzFrames:
    """Frames of a multi-structure XYZ file written by xtb.

    Attributes:
        symbols: Element symbols, shape (n_atoms,).
        positions_a: Positions in Å, shape (n_frames, n_atoms, 3).
        energies_eh: Energy from each frame's comment line in Eh, shape (n_frames,);
            NaN where the comment has none.
    """

    symbols: tuple[str, ...]
    positions_a: np.ndarray
    energies_eh: np.ndarray

    def __len__(self) -> int:
        return len(self.positions_a)


def parse_xyz_frames(text: str) -> XyzFrames:
    """Parse a multi-frame XYZ text (``xtbscan.log``, ``xtb.trj``, ``xtbopt.log``).

    The structures are read by ASE (plain XYZ: xtb's comment lines are not
    extended-XYZ key=value pairs); the energies come from those comment lines.

    Args:
        text: Concatenated XYZ frames whose comment lines read ``energy: E ...``.

    Returns:
        The frames; an empty text gives zero frames.

    Raises:
        ValueError: If a frame is truncated or its atoms change.
    """
    text = text.strip("\n")
    if not text.strip():
        return XyzFrames((), np.zeros((0, 0, 3)), np.zeros(0))
    try:
        frames = read(io.StringIO(text + "\n"), format="xyz", index=":")
    except (IndexError, ValueError) as error:
        raise ValueError(f"truncated or malformed XYZ frames: {error}") from None
    symbols = tuple(frames[0].get_chemical_symbols())
    for number, frame in enumerate(frames[1:], start=2):
        if tuple(frame.get_chemical_symbols()) != symbols:
            raise ValueError(f"atoms change between XYZ frames at frame {number}")
    lines = text.splitlines()
    comments = [lines[k * (len(symbols) + 2) + 1] for k in range(len(frames))]
    energies = [_COMMENT_ENERGY.search(comment) for comment in comments]
    return XyzFrames(
        symbols,
        np.array([frame.positions for frame in frames], dtype=float),
        np.array([float(e.group(1)) if e else np.nan for e in energies], dtype=float),
    )


def parse_md_average_temperature_k(text: str) -> float | None:
    """Return the average temperature (K) of an xtb MD run from its standard output."""
    return _last_float(_MD_AVERAGE_T, text)
