"""Running one stored XtbCalculation with :func:`simulation.xtb.run_xtb` and saving what it gave.

Failures of the program itself (no SCC convergence after the retries, a
timeout, an input xtb refuses) are final: running the same input again would
fail again. Anything else (the database, the disk) is saved and the run queued
again, up to its attempt bound (:func:`nanomark.workers.leases.leased`).
"""

import logging

from django.conf import settings

from nanomark.computations.models import XtbCalculation
from nanomark.imaging.storage import save_file
from nanomark.workers.leases import leased
from simulation.adsorption import cluster_edge_distance_a
from simulation.structures import atoms_from_xyz
from simulation.xtb import run_xtb
from simulation.xtbprocess import XtbError
from simulation.xtbresults import XtbResult
from simulation.xtbspec import MDSpec, ScanSpec, XtbTask

logger = logging.getLogger(__name__)

#: Electronic temperatures tried after an SCC failure, K (Pd13 on graphene needs them).
DEFAULT_RETRY_TEMPERATURES_K = (1000.0, 2000.0)


def execute_calculation(calc_pk: int) -> bool:
    """Claim and run calculation ``calc_pk``; True if this call finished it successfully."""
    with leased(XtbCalculation, calc_pk) as holder:
        if holder is None:
            return False
        calc = XtbCalculation.objects.get(pk=calc_pk)
        try:
            result = run_xtb(atoms_from_xyz(calc.input_xyz), calc.task, **_options(calc))
        except XtbError as exc:
            log = _save_log(calc, exc.log) if exc.log else ""
            XtbCalculation.objects.filter(pk=calc_pk).update(log=log, retries=exc.attempts)
            XtbCalculation.record_failure(calc_pk, holder, f"{exc.reason}: {exc}", max_attempts=0)
            return False
        return XtbCalculation.finish(calc_pk, holder, **_result_fields(calc, result))
    return False


def _options(calc: XtbCalculation) -> dict:
    parameters = calc.parameters
    return {
        "charge": calc.charge,
        "uhf": calc.unpaired_electrons,
        "electronic_temperature_k": calc.electronic_temperature_k,
        "solvent": calc.solvent or None,
        "timeout_s": settings.NANOMARK_XTB_TIMEOUT_S,
        "retry_temperatures_k": tuple(
            parameters.get("retry_temperatures_k", DEFAULT_RETRY_TEMPERATURES_K)
        ),
        "scan": ScanSpec(**parameters["scan"]) if calc.task == XtbTask.SCAN else None,
        "md": MDSpec(**parameters.get("md", {})) if calc.task == XtbTask.MD else None,
    }


def _result_fields(calc: XtbCalculation, result: XtbResult) -> dict:
    output: dict = {"charges": result.charges}
    if result.optimization_converged is not None:
        output["optimization_converged"] = result.optimization_converged
    if result.scan_profile:
        output["scan_profile"] = [[d, e] for d, e in result.scan_profile]
    if result.md_trajectory is not None:
        output["md"] = _md_summary(result)
    return {
        "program_version": result.program_version,
        "method": result.method,
        "energy_eh": result.energy_eh,
        "gradient_norm_eh_bohr": result.gradient_norm_eh_bohr,
        "homo_lumo_gap_ev": result.homo_lumo_gap_ev,
        "optimized_xyz": result.optimized_xyz or "",
        "electronic_temperature_k": result.electronic_temperature_k,
        "retries": result.attempts,
        "wall_time_s": result.wall_time_s,
        "output": output,
        "log": _save_log(calc, result.log),
    }


def _md_summary(result: XtbResult) -> dict:
    trajectory = result.md_trajectory
    summary = {
        "times_fs": trajectory.times_fs.tolist(),
        "energies_eh": trajectory.energies_eh.tolist(),
        "average_temperature_k": trajectory.average_temperature_k,
    }
    try:
        summary["edge_distance_a"] = cluster_edge_distance_a(trajectory).tolist()
    except ValueError as exc:  # not a cluster on a flake: the rest still holds
        summary["edge_distance_note"] = str(exc)
    return summary


def _save_log(calc: XtbCalculation, log: str) -> str:
    return save_file(f"xtb/lab{calc.lab_id}/calculation{calc.pk}.log", log.encode(), [])
