"""Tests for the xtb runner and parser; they run the real xtb program on small systems."""

import json
import re
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pytest
from ase.build import molecule

from simulation import xtb, xtbprocess
from simulation.structures import hexagonal_flake, pd13_icosahedron
from simulation.xtb import run_xtb, xtb_available, xtb_version
from simulation.xtbparse import parse_json_output, parse_output, parse_xyz_frames
from simulation.xtbprocess import XtbError, XtbFailure
from simulation.xtbspec import MDSpec, ScanSpec, XtbTask

needs_xtb = pytest.mark.skipif(shutil.which("xtb") is None, reason="xtb program not on PATH")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Point tempfile at an empty folder so that leftovers can be seen."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_missing_program_raises_a_clear_error():
    with pytest.raises(XtbError, match="not found on PATH") as caught:
        run_xtb(molecule("H2"), xtb_binary="xtb-that-does-not-exist")

    assert caught.value.reason == XtbFailure.PROGRAM_MISSING
    assert not xtb_available("xtb-that-does-not-exist")


def test_bad_task_arguments_are_rejected_before_running():
    with pytest.raises(ValueError, match="unknown task"):
        run_xtb(molecule("H2"), "freq")
    with pytest.raises(ValueError, match="ScanSpec"):
        run_xtb(molecule("H2"), XtbTask.SCAN)
    with pytest.raises(ValueError, match="MDSpec"):
        run_xtb(molecule("H2"), XtbTask.MD)


@pytest.mark.xtb
@needs_xtb
def test_parser_reads_captured_output_of_a_real_run(tmp_path):
    (tmp_path / "benzene.xyz").write_text("12\n\n" + _benzene_rows())
    ok = subprocess.run(
        ["xtb", "benzene.xyz", "--gfn", "2", "--json"], cwd=tmp_path, capture_output=True, text=True
    )
    results = parse_json_output((tmp_path / "xtbout.json").read_text())
    failed = subprocess.run(
        ["xtb", "benzene.xyz", "--gfn", "2", "--alpb", "notasolvent"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    parsed = parse_output(ok.stdout + ok.stderr)
    assert parsed.program_version.startswith("6.")
    assert results.energy_eh == pytest.approx(-15.88, abs=0.02)
    assert 0.0 < parsed.gradient_norm_eh_bohr < 0.1
    assert results.homo_lumo_gap_ev == pytest.approx(4.8, abs=0.5)
    assert parsed.normal_termination
    assert not parsed.errors
    assert not parsed.scc_failed
    assert len(results.charges) == 12
    assert sum(results.charges) == pytest.approx(0.0, abs=1e-4)
    assert np.linalg.norm(results.dipole_au) == pytest.approx(0.0, abs=1e-3)  # benzene: none
    error = parse_output(failed.stdout + failed.stderr)
    assert failed.returncode != 0
    assert "notasolvent" in error.errors[0]


@pytest.mark.xtb
@needs_xtb
def test_version_is_reported():
    assert xtb_version().split(".")[0] == "6"
    assert xtb_available()


@pytest.mark.xtb
@needs_xtb
def test_pd13_single_point_and_no_temporary_files_left(private_tmp):
    result = run_xtb(pd13_icosahedron(), threads=1)

    assert result.energy_eh == pytest.approx(-59.82, abs=0.05)
    assert result.gradient_norm_eh_bohr > 0.0
    assert result.homo_lumo_gap_ev is not None
    assert len(result.charges) == 13
    assert sum(result.charges) == pytest.approx(0.0, abs=1e-4)
    assert result.charges[0] > 0 > result.charges[1]  # the centre gives electrons to the shell
    assert result.program_version.startswith("6.")
    assert result.electronic_temperature_k == 300.0
    assert result.attempts == [{"temperature_k": 300.0, "outcome": "converged", "message": ""}]
    assert result.retries == 0
    assert result.optimized is None
    assert result.optimized_xyz is None
    assert "TOTAL ENERGY" in result.log
    assert result.input_xyz.startswith("13\n")
    assert list(private_tmp.iterdir()) == []


@pytest.mark.xtb
@needs_xtb
def test_energy_gap_charges_and_dipole_are_those_of_xtbout_json(monkeypatch):
    written = []

    def keeping_the_files(*args, **kwargs):
        attempt = xtbprocess.run_in_private_dir(*args, **kwargs)
        written.append(attempt.files)
        return attempt

    monkeypatch.setattr(xtb, "run_in_private_dir", keeping_the_files)
    result = run_xtb(molecule("H2O"), threads=1)

    assert len(written) == 1
    results = json.loads(written[0]["xtbout.json"])
    assert result.energy_eh == results["total energy"]
    assert result.homo_lumo_gap_ev == results["HOMO-LUMO gap/eV"]
    assert result.charges == results["partial charges"]
    assert result.dipole_debye == pytest.approx(np.array(results["dipole"]) * 2.541746, rel=1e-6)
    assert np.linalg.norm(result.dipole_debye) == pytest.approx(2.3, abs=0.2)  # water: ~2.3 D
    # The standard output agrees, to the 8 decimals of the JSON file.
    total = re.findall(r"TOTAL ENERGY\s+(-?\d+\.\d+)", result.log)[-1]
    assert result.energy_eh == pytest.approx(float(total), abs=1e-8)


@pytest.mark.xtb
@needs_xtb
def test_scc_failure_is_retried_at_a_higher_electronic_temperature():
    # 10 K smearing leaves the degenerate Pd13 shell oscillating; 300 K converges.
    result = run_xtb(
        pd13_icosahedron(), electronic_temperature_k=10.0, retry_temperatures_k=(300.0,), threads=1
    )

    assert [a["temperature_k"] for a in result.attempts] == [10.0, 300.0]
    assert [a["outcome"] for a in result.attempts] == [XtbFailure.SCC_NOT_CONVERGED, "converged"]
    assert "Self consistent charge" in result.attempts[0]["message"]
    assert result.electronic_temperature_k == 300.0
    assert result.retries == 1
    assert result.log.count("NanoMark attempt") == 2
    assert result.energy_eh == pytest.approx(-59.82, abs=0.05)


@pytest.mark.xtb
@needs_xtb
def test_scc_failure_without_retries_left_raises_with_the_attempts():
    with pytest.raises(XtbError, match="did not converge") as caught:
        run_xtb(pd13_icosahedron(), max_scc_iterations=3, retry_temperatures_k=(), threads=1)

    assert caught.value.reason == XtbFailure.SCC_NOT_CONVERGED
    assert [a["outcome"] for a in caught.value.attempts] == [XtbFailure.SCC_NOT_CONVERGED]
    assert "[ERROR]" in caught.value.log


@pytest.mark.xtb
@needs_xtb
def test_program_error_is_reported_with_its_cause():
    with pytest.raises(XtbError, match="notasolvent") as caught:
        run_xtb(molecule("C6H6"), solvent="notasolvent", threads=1)

    assert caught.value.reason == XtbFailure.PROGRAM_ERROR


@pytest.mark.xtb
@needs_xtb
def test_timeout_kills_the_run_and_cleans_up(private_tmp):
    long_md = MDSpec(length_ps=1000.0)
    start = time.monotonic()

    with pytest.raises(XtbError, match="timed out") as caught:
        run_xtb(hexagonal_flake(2), XtbTask.MD, md=long_md, timeout_s=0.5, threads=1)

    assert time.monotonic() - start < 5.0
    assert caught.value.reason == XtbFailure.TIMEOUT
    assert list(private_tmp.iterdir()) == []


@pytest.mark.xtb
@needs_xtb
def test_coronene_single_point_has_an_aromatic_gap():
    result = run_xtb(hexagonal_flake(2), threads=1)

    assert result.homo_lumo_gap_ev == pytest.approx(3.0, abs=1.0)
    assert len(result.charges) == 36


@pytest.mark.xtb
@needs_xtb
def test_optimisation_returns_a_relaxed_geometry():
    benzene = molecule("C6H6")
    benzene.positions *= 1.05

    result = run_xtb(benzene, XtbTask.OPTIMIZATION, threads=1)

    assert result.optimization_converged is True
    assert result.gradient_norm_eh_bohr < 1e-3
    cc = result.optimized.get_distance(0, 1)
    assert cc == pytest.approx(1.385, abs=0.02)
    assert result.optimized_xyz.startswith("12\n")


@pytest.mark.xtb
@needs_xtb
def test_relaxed_scan_profile_follows_the_requested_distance():
    scan = ScanSpec(atom_a=0, atom_b=3, start_a=2.70, end_a=2.90, steps=3)

    result = run_xtb(molecule("C6H6"), XtbTask.SCAN, scan=scan, threads=1)

    distances = [d for d, _ in result.scan_profile]
    energies = [e for _, e in result.scan_profile]
    assert len(result.scan_profile) == 3
    assert distances == pytest.approx([2.70, 2.80, 2.90], abs=0.06)
    # The para C...C distance of benzene is 2.77 A; 2.9 A strains the ring.
    assert energies[2] > energies[1]


@pytest.mark.xtb
@needs_xtb
def test_md_returns_a_trajectory():
    md = MDSpec(temperature_k=350.0, time_step_fs=1.0, length_ps=0.02, dump_interval_fs=5.0)

    result = run_xtb(molecule("C6H6"), XtbTask.MD, md=md, threads=1)

    trajectory = result.md_trajectory
    assert trajectory.positions_a.shape == (4, 12, 3)
    assert np.allclose(trajectory.times_fs, [0.0, 5.0, 10.0, 15.0])
    assert np.all(np.isfinite(trajectory.energies_eh))
    assert trajectory.average_temperature_k > 0
    assert trajectory.frame(-1).get_chemical_formula() == "C6H6"


def test_xyz_frame_parser_rejects_truncated_frames():
    text = "2\n energy: -1.5 gnorm: 0.1\nH 0 0 0\nH 0 0 0.74\n2\n energy: -1.6\nH 0 0 0\n"

    with pytest.raises(ValueError, match="truncated"):
        parse_xyz_frames(text)
    frames = parse_xyz_frames(text.rsplit("2\n", 1)[0])
    assert len(frames) == 1
    assert frames.energies_eh[0] == -1.5


def _benzene_rows():
    benzene = molecule("C6H6")
    return "".join(
        f"{s} {x:.6f} {y:.6f} {z:.6f}\n"
        for s, (x, y, z) in zip(benzene.get_chemical_symbols(), benzene.positions, strict=True)
    )
