"""Run the xtb program (GFN2-xTB) on ASE structures: the entry points.

:func:`run_xtb` runs one calculation (:mod:`simulation.xtbspec`: single point,
geometry optimisation, relaxed scan of one interatomic distance, NVT molecular
dynamics) as a supervised subprocess (:mod:`simulation.xtbprocess`: a private
temporary directory, removed afterwards, and one wall-clock budget; on timeout
the whole process group is killed) and returns its results
(:mod:`simulation.xtbresults`).

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

import tempfile
import time
from pathlib import Path

from ase import Atoms

from simulation.structures import atoms_to_xyz
from simulation.xtbparse import parse_version
from simulation.xtbprocess import (
    XtbError,
    XtbFailure,
    default_threads,
    environment,
    find_binary,
    run_in_private_dir,
    run_process,
)
from simulation.xtbresults import CONVERGED, OUTPUT_FILES, XtbResult, read_attempt, xtb_result
from simulation.xtbspec import MDSpec, ScanSpec, XtbSpec, XtbTask


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
            the SCC, or writes no readable results; ``reason`` says which.
    """
    spec = XtbSpec(
        task=task,
        charge=charge,
        uhf=uhf,
        solvent=solvent,
        scan=scan,
        md=md,
        opt_level=opt_level,
        max_opt_cycles=max_opt_cycles,
        max_scc_iterations=max_scc_iterations,
    )
    binary = find_binary(xtb_binary)
    env = environment(threads if threads is not None else default_threads())
    inputs = {"input.xyz": atoms_to_xyz(atoms)}
    options = []
    if spec.xcontrol():
        inputs["xcontrol.inp"] = spec.xcontrol()
        options = ["--input", "xcontrol.inp"]

    deadline = time.monotonic() + timeout_s
    attempts: list[dict] = []
    logs: list[str] = []
    wall_time = 0.0
    for number, temperature in enumerate(
        _temperature_sequence(electronic_temperature_k, retry_temperatures_k), start=1
    ):
        arguments = spec.arguments(temperature)
        try:
            attempt = run_in_private_dir(
                [binary, "input.xyz", *arguments, *options],
                inputs,
                OUTPUT_FILES,
                env=env,
                timeout_s=deadline - time.monotonic(),
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
        reading = read_attempt(attempt)
        attempts.append(
            {"temperature_k": temperature, "outcome": reading.outcome, "message": reading.message}
        )
        if reading.outcome == CONVERGED:
            return xtb_result(
                spec,
                atoms,
                attempt,
                reading,
                log="\n".join(logs),
                wall_time_s=wall_time,
                temperature_k=temperature,
                attempts=attempts,
            )
        if reading.outcome != XtbFailure.SCC_NOT_CONVERGED:
            raise XtbError(
                f"xtb failed: {reading.message}",
                reason=reading.outcome,
                log="\n".join(logs),
                attempts=attempts,
            )

    tried = ", ".join(f"{a['temperature_k']:g} K" for a in attempts)
    raise XtbError(
        f"SCC did not converge at electronic temperatures {tried}",
        reason=XtbFailure.SCC_NOT_CONVERGED,
        log="\n".join(logs),
        attempts=attempts,
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


def xtb_version(binary: str = "xtb") -> str:
    """Return the version of the xtb program, e.g. ``"6.5.1"``.

    Raises:
        XtbError: If the program is missing or prints no version.
    """
    path = find_binary(binary)
    with tempfile.TemporaryDirectory(prefix="nanomark-xtb-") as tmp:
        _, log, _ = run_process(
            [path, "--version"], workdir=Path(tmp), env=environment(1), timeout_s=30
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
