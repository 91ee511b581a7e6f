"""Parsers for the text that the xtb program (6.x) writes.

Each function takes the text of one output (standard output, the ``charges``
file, an ``xtbscan.log`` or ``xtb.trj`` trajectory) and returns plain values in
xtb's units: energies in Eh, gradient norms in Eh/bohr, gaps in eV, positions
in Å. Nothing here runs a program, so the parsers can be tested on captured
output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

_VERSION = re.compile(r"\*\s*xtb version\s+(\S+)")
_ENERGY = re.compile(r"\|\s*TOTAL ENERGY\s+(-?\d+\.\d+)\s*Eh")
_GRADIENT = re.compile(r"\|\s*GRADIENT NORM\s+(-?\d+\.\d+)\s*Eh")
_GAP = re.compile(r"\|\s*HOMO-LUMO GAP\s+(-?\d+\.\d+)\s*eV")
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
    """What one xtb standard output says.

    Attributes:
        program_version: Version string such as ``"6.5.1"``; empty if absent.
        energy_eh: Total energy of the last summary block, Eh.
        gradient_norm_eh_bohr: Its gradient norm, Eh/bohr.
        homo_lumo_gap_ev: Its HOMO-LUMO gap, eV.
        errors: Messages of the fatal error stack, innermost (the cause) first.
        scc_failed: True if the SCC iterations did not converge.
        optimization_converged: True / False after a geometry optimisation,
            None if the output holds none.
        normal_termination: True if xtb reported a normal termination.
    """

    program_version: str = ""
    energy_eh: float | None = None
    gradient_norm_eh_bohr: float | None = None
    homo_lumo_gap_ev: float | None = None
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
        energy_eh=_last_float(_ENERGY, text),
        gradient_norm_eh_bohr=_last_float(_GRADIENT, text),
        homo_lumo_gap_ev=_last_float(_GAP, text),
        errors=parse_errors(text),
        scc_failed=bool(_SCC_FAILURE.search(text)),
        optimization_converged=converged,
        normal_termination="normal termination of xtb" in text,
    )


def parse_charges(text: str) -> list[float]:
    """Parse the ``charges`` file: one partial charge (e) per atom, in input order."""
    return [float(line.split()[0]) for line in text.splitlines() if line.strip()]


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

    Args:
        text: Concatenated XYZ frames whose comment lines read ``energy: E ...``.

    Returns:
        The frames; an empty text gives zero frames.

    Raises:
        ValueError: If a frame is truncated or its atom count changes.
    """
    lines = text.splitlines()
    symbols: tuple[str, ...] = ()
    frames: list[np.ndarray] = []
    energies: list[float] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        n_atoms = int(lines[i].split()[0])
        block = lines[i + 2 : i + 2 + n_atoms]
        if len(block) != n_atoms:
            raise ValueError(f"truncated XYZ frame at line {i + 1}")
        fields = [row.split() for row in block]
        frame_symbols = tuple(f[0].capitalize() for f in fields)
        if symbols and frame_symbols != symbols:
            raise ValueError(f"atoms change between XYZ frames at line {i + 1}")
        symbols = frame_symbols
        frames.append(np.array([[float(x) for x in f[1:4]] for f in fields]))
        energy = _COMMENT_ENERGY.search(lines[i + 1])
        energies.append(float(energy.group(1)) if energy else float("nan"))
        i += 2 + n_atoms
    positions = np.array(frames) if frames else np.zeros((0, 0, 3))
    return XyzFrames(symbols, positions, np.array(energies, dtype=float))


def parse_md_average_temperature_k(text: str) -> float | None:
    """Return the average temperature (K) of an xtb MD run from its standard output."""
    return _last_float(_MD_AVERAGE_T, text)
