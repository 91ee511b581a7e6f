"""What to ask the xtb program (GFN2-xTB) for: the task, its settings and its command line.

:class:`XtbSpec` is one calculation apart from the structure and the
electronic temperature (which :func:`simulation.xtb.run_xtb` raises on SCC
failures): single point, geometry optimisation, relaxed scan of one
interatomic distance (:class:`ScanSpec`) or NVT molecular dynamics
(:class:`MDSpec`). It gives the command-line arguments and the ``xcontrol``
input file; xtb is always asked for its JSON results (``--json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

METHOD: Final = "GFN2-xTB"


class XtbTask:
    """Calculation kinds (constants)."""

    SINGLE_POINT = "sp"
    OPTIMIZATION = "opt"
    SCAN = "scan"
    MD = "md"
    CHOICES = (SINGLE_POINT, OPTIMIZATION, SCAN, MD)


@dataclass(frozen=True)
class ScanSpec:
    """Relaxed scan of one interatomic distance (all other coordinates optimised).

    Attributes:
        atom_a: Index (0-based) of the first atom, e.g. a Pd.
        atom_b: Index (0-based) of the second atom, e.g. a C.
        start_a: First distance in Å.
        end_a: Last distance in Å.
        steps: Number of scan points, ≥ 2 (the paper: 9.943 → 2.544 Å in 50).
        force_constant_eh_bohr2: Harmonic restraint in Eh/bohr².
    """

    atom_a: int
    atom_b: int
    start_a: float
    end_a: float
    steps: int
    force_constant_eh_bohr2: float = 0.5

    def xcontrol(self) -> str:
        """Return the ``$constrain`` / ``$scan`` input blocks (xtb counts atoms from 1)."""
        return (
            "$constrain\n"
            f"  force constant={self.force_constant_eh_bohr2}\n"
            f"  distance: {self.atom_a + 1}, {self.atom_b + 1}, {self.start_a:.6f}\n"
            "$scan\n"
            f"  1: {self.start_a:.6f}, {self.end_a:.6f}, {self.steps}\n"
            "$end\n"
        )


@dataclass(frozen=True)
class MDSpec:
    """NVT molecular dynamics with xtb's Berendsen thermostat.

    Attributes:
        temperature_k: Thermostat temperature in K (the paper: 350).
        time_step_fs: Integration time step in fs (the paper: 1).
        length_ps: Simulated time in ps.
        dump_interval_fs: Interval between trajectory frames in fs.
        shake: xtb SHAKE mode: 0 off, 1 X-H bonds, 2 all bonds.
        hydrogen_mass_amu: Mass given to H in amu; 1 is physical, which a
            1 fs step allows.
    """

    temperature_k: float = 350.0
    time_step_fs: float = 1.0
    length_ps: float = 1.0
    dump_interval_fs: float = 50.0
    shake: int = 0
    hydrogen_mass_amu: int = 1

    def xcontrol(self) -> str:
        """Return the ``$md`` input block."""
        return (
            "$md\n"
            f"  temp={self.temperature_k}\n"
            f"  time={self.length_ps}\n"
            f"  step={self.time_step_fs}\n"
            f"  dump={self.dump_interval_fs}\n"
            f"  shake={self.shake}\n"
            f"  hmass={self.hydrogen_mass_amu}\n"
            "  nvt=true\n"
            "$end\n"
        )


@dataclass(frozen=True)
class XtbSpec:
    """One GFN2-xTB calculation, apart from the structure and the electronic temperature.

    Attributes:
        task: ``"sp"``, ``"opt"``, ``"scan"`` or ``"md"`` (:class:`XtbTask`).
        charge: Total charge (e).
        uhf: Number of unpaired electrons (0: singlet).
        solvent: ALPB implicit solvent (e.g. ``"toluene"``); None for gas phase.
        scan: The scanned distance; required for ``"scan"``, ignored otherwise.
        md: The dynamics settings; required for ``"md"``, ignored otherwise.
        opt_level: xtb optimisation level (``"crude"`` … ``"extreme"``).
        max_opt_cycles: Cap on optimisation cycles; None for xtb's default.
        max_scc_iterations: Cap on SCC iterations; None for xtb's default (250).

    Raises:
        ValueError: On an unknown task or a missing scan / MD specification.
    """

    task: str = XtbTask.SINGLE_POINT
    charge: int = 0
    uhf: int = 0
    solvent: str | None = None
    scan: ScanSpec | None = None
    md: MDSpec | None = None
    opt_level: str = "normal"
    max_opt_cycles: int | None = None
    max_scc_iterations: int | None = None

    def __post_init__(self) -> None:
        if self.task not in XtbTask.CHOICES:
            raise ValueError(f"unknown task {self.task!r}; choose one of {XtbTask.CHOICES}")
        if self.task == XtbTask.SCAN and self.scan is None:
            raise ValueError("task 'scan' needs a ScanSpec")
        if self.task == XtbTask.MD and self.md is None:
            raise ValueError("task 'md' needs an MDSpec")

    def arguments(self, electronic_temperature_k: float) -> list[str]:
        """Command-line arguments after the input file name, for one electronic temperature (K)."""
        arguments = ["--gfn", "2", "--chrg", str(self.charge), "--uhf", str(self.uhf)]
        if self.task == XtbTask.MD:
            arguments.append("--md")
        elif self.task != XtbTask.SINGLE_POINT:
            arguments += ["--opt", self.opt_level]
            if self.max_opt_cycles is not None:
                arguments += ["--cycles", str(self.max_opt_cycles)]
        if self.solvent:
            arguments += ["--alpb", self.solvent]
        if self.max_scc_iterations is not None:
            arguments += ["--iterations", str(self.max_scc_iterations)]
        return [*arguments, "--json", "--etemp", f"{electronic_temperature_k:g}"]

    def xcontrol(self) -> str:
        """The ``xcontrol`` input of a scan or MD (empty for the other tasks)."""
        if self.task == XtbTask.SCAN and self.scan is not None:
            return self.scan.xcontrol()
        if self.task == XtbTask.MD and self.md is not None:
            return self.md.xcontrol()
        return ""
