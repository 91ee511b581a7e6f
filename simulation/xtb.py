"""Run the xtb program (GFN2-xTB) on ASE structures and collect its results.

Each call runs xtb as a subprocess in a private temporary directory, which is
removed afterwards, under one wall-clock budget; on timeout the whole process
group is killed. Tasks: single point, geometry optimisation, relaxed scan of one
interatomic distance, and NVT molecular dynamics (Berendsen thermostat).

Metal clusters on graphene, above all on flakes with open edges, often fail
the SCC at the default 300 K electronic temperature; the run is then repeated
at each of ``retry_temperatures_k`` in turn and every attempt is recorded.

Example:
    >>> from simulation.structures import pd13_icosahedron
    >>> result = run_xtb(pd13_icosahedron(), "sp")  # doctest: +SKIP
    >>> round(result.energy_eh, 3)  # doctest: +SKIP
    -59.823
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from ase import Atoms

from simulation.structures import atoms_to_xyz
from simulation.xtbparse import (
    XtbOutput,
    XyzFrames,
    parse_charges,
    parse_md_average_temperature_k,
    parse_output,
    parse_version,
    parse_xyz_frames,
)

METHOD: Final = "GFN2-xTB"

CONVERGED: Final = "converged"
"""Outcome of an attempt that gave a result."""

# OpenMP threads keep their private data on the stack; the 4 MiB default
# overflows on a few hundred atoms. Reserved, not committed, memory.
_DEFAULT_OMP_STACKSIZE: Final = "1G"


class XtbTask:
    """Calculation kinds (constants)."""

    SINGLE_POINT = "sp"
    OPTIMIZATION = "opt"
    SCAN = "scan"
    MD = "md"
    CHOICES = (SINGLE_POINT, OPTIMIZATION, SCAN, MD)


class XtbFailure:
    """Why a run failed, as stored with a failed calculation (constants)."""

    PROGRAM_MISSING = "program_missing"
    TIMEOUT = "timeout"
    SCC_NOT_CONVERGED = "scc_not_converged"
    PROGRAM_ERROR = "program_error"
    PARSE_ERROR = "parse_error"


class XtbError(RuntimeError):
    """The xtb program could not give a result.

    Attributes:
        reason: One of the :class:`XtbFailure` constants.
        log: Standard output and error of every attempt made (may be empty).
        attempts: One dict per attempt, as in :attr:`XtbResult.attempts`.
    """

    def __init__(
        self, message: str, *, reason: str, log: str = "", attempts: list[dict] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.log = log
        self.attempts = attempts or []


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
        task: One of :class:`XtbTask`.
        method: Always ``"GFN2-xTB"``.
        program_version: xtb version, e.g. ``"6.5.1"``.
        input_xyz: The input geometry as XYZ text (Å).
        charge: Total charge (e).
        uhf: Number of unpaired electrons.
        solvent: ALPB solvent name, or None for gas phase.
        energy_eh: Total energy in Eh: of the final geometry after ``opt`` and
            ``scan``, of the starting geometry for ``md``.
        gradient_norm_eh_bohr: Gradient norm in Eh/bohr, same geometry.
        homo_lumo_gap_ev: HOMO-LUMO gap in eV, same geometry.
        optimized: Final geometry of ``opt`` / ``scan``; None otherwise.
        optimization_converged: Whether ``opt`` met its criteria; None otherwise.
        charges: Partial charges (e), one per atom.
        log: Standard output and error of every attempt, in order.
        wall_time_s: Wall time of all attempts in s.
        electronic_temperature_k: The electronic temperature that converged, K.
        attempts: One dict per attempt: ``temperature_k`` (float), ``outcome``
            (``"converged"`` or ``"scc_not_converged"``), ``message`` (str).
        scan_profile: ``(distance_a, energy_eh)`` per scan point (``scan`` only).
        md_trajectory: The trajectory (``md`` only).
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
class _Attempt:
    """One finished xtb process: its output and the files it left."""

    output: XtbOutput
    log: str
    returncode: int
    files: dict[str, str]
    wall_time_s: float


def _find_binary(xtb_binary: str) -> str:
    path = shutil.which(xtb_binary)
    if path is None:
        raise XtbError(
            f"xtb program {xtb_binary!r} not found on PATH; install it "
            "(Debian/Ubuntu: apt-get install xtb) or pass xtb_binary",
            reason=XtbFailure.PROGRAM_MISSING,
        )
    return path


def _default_threads() -> int:
    configured = os.environ.get("OMP_NUM_THREADS", "").split(",")[0]
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0))


def _environment(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    # BLAS threads on top of OpenMP threads would oversubscribe the cores.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env["OMP_MAX_ACTIVE_LEVELS"] = "1"
    env.setdefault("OMP_STACKSIZE", _DEFAULT_OMP_STACKSIZE)
    return env


# prctl() is Linux-only; elsewhere an orphaned xtb runs to its end.
_LIBC = (
    ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None
)


def _die_with_parent() -> None:
    """Ask Linux to kill xtb if the calling process dies first (PR_SET_PDEATHSIG).

    xtb runs in its own session so that a timeout can kill its whole process
    group; the same isolation would leave it running after a killed worker.
    """
    _LIBC.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _kill_group(process: subprocess.Popen) -> None:
    # The group may already be gone when xtb exited just as the clock ran out.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _run_process(
    command: list[str], *, workdir: Path, env: dict[str, str], timeout_s: float
) -> tuple[int, str, float]:
    """Run ``command`` in its own session; return (exit code, stdout + stderr, wall s).

    Raises:
        XtbError: On timeout, after killing the process group.
    """
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=_die_with_parent if _LIBC is not None else None,
    )
    try:
        stdout, stderr = process.communicate(timeout=max(timeout_s, 0.001))
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        raise XtbError(
            f"xtb timed out after {timeout_s:.1f} s and was killed",
            reason=XtbFailure.TIMEOUT,
            log=stdout + stderr,
        ) from None
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    return process.returncode, stdout + stderr, time.monotonic() - start


def _run_attempt(
    binary: str,
    atoms: Atoms,
    arguments: list[str],
    xcontrol: str,
    *,
    env: dict[str, str],
    timeout_s: float,
) -> _Attempt:
    with tempfile.TemporaryDirectory(prefix="nanomark-xtb-") as tmp:
        workdir = Path(tmp)
        (workdir / "input.xyz").write_text(atoms_to_xyz(atoms))
        command = [binary, "input.xyz", *arguments]
        if xcontrol:
            (workdir / "xcontrol.inp").write_text(xcontrol)
            command += ["--input", "xcontrol.inp"]
        returncode, log, wall = _run_process(command, workdir=workdir, env=env, timeout_s=timeout_s)
        files = {
            name: (workdir / name).read_text(errors="replace")
            for name in ("charges", "xtbopt.xyz", "xtbscan.log", "xtb.trj")
            if (workdir / name).is_file()
        }
    return _Attempt(parse_output(log), log, returncode, files, wall)


def _task_arguments(task: str, opt_level: str, max_opt_cycles: int | None) -> list[str]:
    if task == XtbTask.SINGLE_POINT:
        return []
    if task == XtbTask.MD:
        return ["--md"]
    arguments = ["--opt", opt_level]
    if max_opt_cycles is not None:
        arguments += ["--cycles", str(max_opt_cycles)]
    return arguments


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


def _attempt_log(number: int, temperature_k: float, command: list[str], log: str) -> str:
    header = f"===== NanoMark attempt {number}: electronic temperature {temperature_k:g} K"
    return f"{header}; xtb {' '.join(command)} =====\n{log}"


def _temperature_sequence(first_k: float, retries_k: tuple[float, ...]) -> list[float]:
    sequence = [float(first_k)]
    for temperature in retries_k:
        # Only raised temperatures can help an SCC that failed.
        if temperature > sequence[-1]:
            sequence.append(float(temperature))
    return sequence


def run_xtb(
    atoms: Atoms,
    task: str = XtbTask.SINGLE_POINT,
    *,
    charge: int = 0,
    uhf: int = 0,
    electronic_temperature_k: float = 300.0,
    solvent: str | None = None,
    timeout_s: float = 600,
    scan: ScanSpec | None = None,
    md: MDSpec | None = None,
    retry_temperatures_k: tuple[float, ...] = (1000.0,),
    xtb_binary: str = "xtb",
    threads: int | None = None,
    opt_level: str = "normal",
    max_opt_cycles: int | None = None,
    max_scc_iterations: int | None = None,
) -> XtbResult:
    """Run one GFN2-xTB calculation on ``atoms``.

    Args:
        atoms: The structure (Å); cell and periodicity are ignored.
        task: ``"sp"``, ``"opt"``, ``"scan"`` or ``"md"`` (:class:`XtbTask`).
        charge: Total charge (e).
        uhf: Number of unpaired electrons (0: singlet).
        electronic_temperature_k: Fermi smearing temperature in K for the first try.
        solvent: ALPB implicit solvent (e.g. ``"toluene"``); None for gas phase.
        timeout_s: Wall-clock budget in s for all attempts together.
        scan: The scanned distance; required for ``"scan"``.
        md: The dynamics settings; required for ``"md"``.
        retry_temperatures_k: Electronic temperatures (K) tried in turn after an
            SCC failure; values not above the previous try are skipped.
        xtb_binary: Program name or path.
        threads: OpenMP threads; default ``OMP_NUM_THREADS`` or all usable cores.
        opt_level: xtb optimisation level (``"crude"`` … ``"extreme"``).
        max_opt_cycles: Cap on optimisation cycles; None for xtb's default.
        max_scc_iterations: Cap on SCC iterations; None for xtb's default (250).

    Returns:
        The result of the first attempt that converged.

    Raises:
        ValueError: On an unknown task or a missing scan / MD specification.
        XtbError: If the program is missing, times out, fails, never converges
            the SCC, or prints nothing parsable; ``reason`` says which.
    """
    if task not in XtbTask.CHOICES:
        raise ValueError(f"unknown task {task!r}; choose one of {XtbTask.CHOICES}")
    if task == XtbTask.SCAN and scan is None:
        raise ValueError("task 'scan' needs a ScanSpec")
    if task == XtbTask.MD and md is None:
        raise ValueError("task 'md' needs an MDSpec")
    binary = _find_binary(xtb_binary)
    env = _environment(threads if threads is not None else _default_threads())
    xcontrol = scan.xcontrol() if task == XtbTask.SCAN and scan else ""
    xcontrol += md.xcontrol() if task == XtbTask.MD and md else ""
    base = ["--gfn", "2", "--chrg", str(charge), "--uhf", str(uhf)]
    base += _task_arguments(task, opt_level, max_opt_cycles)
    if solvent:
        base += ["--alpb", solvent]
    if max_scc_iterations is not None:
        base += ["--iterations", str(max_scc_iterations)]

    deadline = time.monotonic() + timeout_s
    attempts: list[dict] = []
    logs: list[str] = []
    wall_time = 0.0
    for number, temperature in enumerate(
        _temperature_sequence(electronic_temperature_k, retry_temperatures_k), start=1
    ):
        arguments = [*base, "--etemp", f"{temperature:g}"]
        try:
            attempt = _run_attempt(
                binary, atoms, arguments, xcontrol, env=env, timeout_s=deadline - time.monotonic()
            )
        except XtbError as error:
            logs.append(_attempt_log(number, temperature, arguments, error.log))
            attempts.append(
                {"temperature_k": temperature, "outcome": error.reason, "message": str(error)}
            )
            raise XtbError(
                str(error), reason=error.reason, log="\n".join(logs), attempts=attempts
            ) from None
        wall_time += attempt.wall_time_s
        logs.append(_attempt_log(number, temperature, arguments, attempt.log))
        outcome, message = _outcome(attempt)
        attempts.append({"temperature_k": temperature, "outcome": outcome, "message": message})
        if outcome == CONVERGED:
            return _result(
                task,
                atoms,
                attempt,
                scan,
                md,
                charge=charge,
                uhf=uhf,
                solvent=solvent,
                log="\n".join(logs),
                wall_time_s=wall_time,
                temperature_k=temperature,
                attempts=attempts,
            )
        if outcome != XtbFailure.SCC_NOT_CONVERGED:
            raise XtbError(
                f"xtb failed: {message}", reason=outcome, log="\n".join(logs), attempts=attempts
            )

    tried = ", ".join(f"{a['temperature_k']:g} K" for a in attempts)
    raise XtbError(
        f"SCC did not converge at electronic temperatures {tried}",
        reason=XtbFailure.SCC_NOT_CONVERGED,
        log="\n".join(logs),
        attempts=attempts,
    )


def _outcome(attempt: _Attempt) -> tuple[str, str]:
    """Return (outcome, message) of a finished attempt: converged or an XtbFailure."""
    output = attempt.output
    if output.scc_failed:
        return XtbFailure.SCC_NOT_CONVERGED, "; ".join(output.errors) or "SCC did not converge"
    if attempt.returncode != 0 or output.errors:
        exit_status = f"xtb exited with status {attempt.returncode}"
        return XtbFailure.PROGRAM_ERROR, "; ".join(output.errors) or exit_status
    if output.energy_eh is None:
        return XtbFailure.PARSE_ERROR, "no TOTAL ENERGY line in the output"
    return CONVERGED, ""


def _result(
    task: str,
    atoms: Atoms,
    attempt: _Attempt,
    scan: ScanSpec | None,
    md: MDSpec | None,
    *,
    charge: int,
    uhf: int,
    solvent: str | None,
    log: str,
    wall_time_s: float,
    temperature_k: float,
    attempts: list[dict],
) -> XtbResult:
    """Assemble the result of a converged attempt from its output and files."""
    output, files = attempt.output, attempt.files
    optimized = None
    if task in (XtbTask.OPTIMIZATION, XtbTask.SCAN) and "xtbopt.xyz" in files:
        final = parse_xyz_frames(files["xtbopt.xyz"])
        optimized = Atoms(list(final.symbols), positions=final.positions_a[-1])
    scan_profile = []
    if task == XtbTask.SCAN and scan is not None:
        scan_profile = _scan_profile(parse_xyz_frames(files.get("xtbscan.log", "")), scan)
    trajectory = None
    if task == XtbTask.MD and md is not None:
        trajectory = _md_trajectory(parse_xyz_frames(files.get("xtb.trj", "")), md, attempt.log)
    return XtbResult(
        task=task,
        program_version=output.program_version,
        input_xyz=atoms_to_xyz(atoms),
        charge=charge,
        uhf=uhf,
        solvent=solvent,
        energy_eh=float(output.energy_eh),  # type: ignore[arg-type]
        gradient_norm_eh_bohr=output.gradient_norm_eh_bohr,
        homo_lumo_gap_ev=output.homo_lumo_gap_ev,
        optimized=optimized,
        optimization_converged=output.optimization_converged if optimized is not None else None,
        charges=parse_charges(files.get("charges", "")),
        log=log,
        wall_time_s=wall_time_s,
        electronic_temperature_k=temperature_k,
        attempts=attempts,
        scan_profile=scan_profile,
        md_trajectory=trajectory,
    )


def xtb_version(binary: str = "xtb") -> str:
    """Return the version of the xtb program, e.g. ``"6.5.1"``.

    Raises:
        XtbError: If the program is missing or prints no version.
    """
    path = _find_binary(binary)
    with tempfile.TemporaryDirectory(prefix="nanomark-xtb-") as tmp:
        _, log, _ = _run_process(
            [path, "--version"], workdir=Path(tmp), env=_environment(1), timeout_s=30
        )
    version = parse_version(log)
    if not version:
        raise XtbError(
            f"{path} --version printed no version", reason=XtbFailure.PARSE_ERROR, log=log
        )
    return version


def xtb_available(binary: str = "xtb") -> bool:
    """Return True if the xtb program runs and reports a version."""
    try:
        xtb_version(binary)
    except (XtbError, OSError):
        return False
    return True
