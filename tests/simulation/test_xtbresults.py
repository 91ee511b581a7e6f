"""Judging a finished xtb process from its standard output and its JSON results."""

from simulation.xtbprocess import Attempt, XtbFailure
from simulation.xtbresults import CONVERGED, read_attempt

NORMAL_LOG = (
    "   * xtb version 6.5.1 (unknown)\n"
    "   | GRADIENT NORM  0.018 Eh/α |\n"
    "normal termination of xtb\n"
)
JSON = '{"total energy": -5.07, "HOMO-LUMO gap/eV": 14.2, "partial charges": [-0.5, 0.25, 0.25]}'


def _attempt(files: dict[str, str], log: str = NORMAL_LOG, returncode: int = 0) -> Attempt:
    return Attempt(log=log, returncode=returncode, files=files, wall_time_s=0.1)


def test_a_run_with_json_results_converged():
    reading = read_attempt(_attempt({"xtbout.json": JSON}))
    assert (reading.outcome, reading.message) == (CONVERGED, "")
    assert reading.results.energy_eh == -5.07
    assert reading.output.gradient_norm_eh_bohr == 0.018


def test_a_run_without_readable_json_is_a_parse_error():
    missing = read_attempt(_attempt({}))
    assert (missing.outcome, missing.message) == (
        XtbFailure.PARSE_ERROR,
        "xtb wrote no xtbout.json",
    )
    broken = read_attempt(_attempt({"xtbout.json": "{"}))
    assert broken.outcome == XtbFailure.PARSE_ERROR
    assert "not JSON" in broken.message
    assert broken.results is None


def test_a_failed_exit_is_a_program_error_even_with_json():
    reading = read_attempt(_attempt({"xtbout.json": JSON}, returncode=1))
    assert (reading.outcome, reading.message) == (
        XtbFailure.PROGRAM_ERROR,
        "xtb exited with status 1",
    )
