"""xtb calculations as records: the real program, stored results, the adsorption workflow, pages."""

import io
import shutil

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from nanomark.computations.models import AdsorptionEnergy, XtbCalculation
from nanomark.computations.tasks import run_xtb_calculation
from nanomark.runs import RunStatus
from simulation.adsorption import AdsorptionSite, build_site_complex
from simulation.structures import (
    atoms_from_xyz,
    atoms_to_xyz,
    pd13_icosahedron,
    rectangular_flake,
)

pytestmark = pytest.mark.django_db

#: A log as xtb writes one, with a character outside ASCII (the download is UTF-8).
LOG = "      -----------------------------------------------------------\n"
LOG += "     |                   =====================                   |\n"
LOG += "     |                           x T B                           |\n"
LOG += " :: total energy            -25.123456789012 Eh    ::\n"
LOG += " * finished run on 2026/01/02 at 10:00:00.000 — normal termination\n"


def needs_xtb(test):
    """Mark a test that runs the xtb program: ``xtb``, skipped where it is not installed."""
    skip = pytest.mark.skipif(
        shutil.which("xtb") is None, reason="the xtb program is not installed"
    )
    return pytest.mark.xtb(skip(test))


def calculation(lab, atoms, task="sp", **fields):
    return XtbCalculation.objects.create(
        lab=lab, name="test", task=task, input_xyz=atoms_to_xyz(atoms), **fields
    )


def finished_optimisation(lab) -> XtbCalculation:
    """An optimisation of Pd13 stored as the task stores one (geometry, log), without xtb."""
    atoms = pd13_icosahedron()
    relaxed = atoms.copy()
    relaxed.positions *= 0.98
    calc = calculation(
        lab,
        atoms,
        task="opt",
        status=RunStatus.SUCCEEDED,
        optimized_xyz=atoms_to_xyz(relaxed, comment="energy: -25.1234"),
    )
    calc.log.save(f"xtb/lab{lab.pk}/calculation{calc.pk}.log", ContentFile(LOG.encode()))
    return calc


@needs_xtb
def test_adsorption_study_orders_zigzag_below_basal(labs):
    out = io.StringIO()
    call_command(
        "adsorption_study",
        "--lab=lab-a",
        "--zigzag-rings=4",
        "--ring-rows=3",
        "--sites=basal,zigzag_edge",
        "--now",
        stdout=out,
    )
    energies = {e.site: e for e in AdsorptionEnergy.objects.filter(lab=labs["a"])}
    assert set(energies) == {AdsorptionSite.BASAL, AdsorptionSite.ZIGZAG_EDGE}
    basal = energies[AdsorptionSite.BASAL].energy_kcal_mol
    assert energies[AdsorptionSite.ZIGZAG_EDGE].energy_kcal_mol < basal < -40
    for energy in energies.values():
        parts = (energy.complex_calculation, energy.cluster_calculation, energy.surface_calculation)
        assert {p.electronic_temperature_k for p in parts} == {energy.electronic_temperature_k}
        assert all(p.status == RunStatus.SUCCEEDED and p.program_version for p in parts)
    assert "E_ads = " in out.getvalue()
    # Both sites share the references computed at the same electronic temperature.
    assert XtbCalculation.objects.filter(name__endswith=": cluster").count() <= 2


@needs_xtb
def test_a_failing_calculation_is_final_with_its_error_and_log(labs):
    calc = calculation(labs["a"], pd13_icosahedron(), solvent="no-such-solvent")
    run_xtb_calculation(calc.pk)
    calc.refresh_from_db()
    assert calc.status == RunStatus.FAILED
    assert calc.error.startswith("program_error")
    assert calc.log.read()
    run_xtb_calculation(calc.pk)  # a second delivery does nothing
    calc.refresh_from_db()
    assert calc.attempts == 1


@needs_xtb
def test_md_stores_the_distance_to_the_nearest_edge(labs, client):
    flake = rectangular_flake(4, 3, hydrogen_terminated=False)
    atoms = build_site_complex(flake, pd13_icosahedron(), AdsorptionSite.BASAL)
    calc = calculation(
        labs["a"],
        atoms,
        task="md",
        electronic_temperature_k=1000.0,
        parameters={"md": {"length_ps": 0.01, "dump_interval_fs": 5.0}},
    )
    run_xtb_calculation(calc.pk)
    calc.refresh_from_db()
    assert calc.status == RunStatus.SUCCEEDED, calc.error
    md = calc.output["md"]
    assert len(md["times_fs"]) == len(md["edge_distance_a"]) >= 2
    assert all(d > 0 for d in md["edge_distance_a"])

    client.force_login(labs["alice"])
    page = client.get(reverse("xtb-detail", args=[calc.pk])).content.decode()
    assert "cluster to nearest edge" in page
    response = client.get(reverse("xtb-input", args=[calc.pk]))
    assert response.content.decode().startswith(f"{len(atoms)}\n")
    client.force_login(labs["bob"])
    assert client.get(reverse("xtb-detail", args=[calc.pk])).status_code == 404
    assert client.get(reverse("xtb-input", args=[calc.pk])).status_code == 404


def test_the_overview_lists_only_the_users_labs(labs, client):
    calculation(labs["b"], pd13_icosahedron())
    client.force_login(labs["alice"])
    page = client.get(reverse("xtb-list")).content.decode()
    assert "No calculations." in page


def test_the_study_refuses_bad_sites_and_labs(labs):
    with pytest.raises(CommandError, match="unknown sites"):
        call_command("adsorption_study", "--lab=lab-a", "--sites=moon")
    with pytest.raises(CommandError, match="no lab"):
        call_command("adsorption_study", "--lab=nope")
    with pytest.raises(CommandError, match="too small"):
        call_command("adsorption_study", "--lab=lab-a", "--zigzag-rings=3", "--ring-rows=3")
    assert not XtbCalculation.objects.exists()


@needs_xtb
def test_an_optimisation_then_a_single_point_derived_from_it(labs, tmp_path):
    water = tmp_path / "water.xyz"
    water.write_text("3\nwater\nO 0 0 0\nH 0.0 0.80 0.60\nH 0.0 -0.80 0.60\n")
    call_command(
        "xtb_calculation",
        "--lab=lab-a",
        f"--xyz={water}",
        "--task=opt",
        "--now",
        stdout=io.StringIO(),
    )
    opt = XtbCalculation.objects.get(task="opt")
    assert opt.status == RunStatus.SUCCEEDED
    assert opt.optimized_xyz.startswith("3\n")
    assert opt.gradient_norm_eh_bohr < 1e-2
    call_command(
        "xtb_calculation", "--lab=lab-a", f"--from={opt.pk}", "--now", stdout=io.StringIO()
    )
    single_point = XtbCalculation.objects.get(task="sp")
    assert list(single_point.derived_from.all()) == [opt]
    assert single_point.energy_eh == pytest.approx(opt.energy_eh, abs=1e-5)
    with pytest.raises(CommandError, match="--scan needs two different atoms"):
        call_command(
            "xtb_calculation",
            "--lab=lab-a",
            f"--xyz={water}",
            "--task=scan",
            "--scan=0,0,1.0,2.0,5",
        )
    with pytest.raises(CommandError, match=f"no xtb calculation {opt.pk} in lab lab-b"):
        call_command("xtb_calculation", "--lab=lab-b", f"--from={opt.pk}")


@needs_xtb
def test_a_relaxed_scan_stores_and_plots_its_profile(labs, client, tmp_path):
    water = tmp_path / "water.xyz"
    water.write_text("3\nwater\nO 0 0 0\nH 0.0 0.76 0.59\nH 0.0 -0.76 0.59\n")
    call_command(
        "xtb_calculation",
        "--lab=lab-a",
        f"--xyz={water}",
        "--task=scan",
        "--scan=0,1,0.9,1.2,4",
        "--now",
        stdout=io.StringIO(),
    )
    calc = XtbCalculation.objects.get(task="scan")
    distances = [point[0] for point in calc.output["scan_profile"]]
    # Distances as reached under xtb's harmonic restraint, so near the targets, not on them.
    assert len(distances) == 4
    assert distances == sorted(distances)
    assert 0.85 < distances[0] < 0.95 < 1.15 < distances[-1] < 1.25
    client.force_login(labs["alice"])
    page = client.get(reverse("xtb-detail", args=[calc.pk])).content.decode()
    assert "Scan profile" in page
    assert "relative energy" in page


def test_the_optimised_geometry_downloads_as_xyz(labs, client):
    calc = finished_optimisation(labs["a"])
    client.force_login(labs["charlie"])  # viewers may read
    response = client.get(reverse("xtb-optimized", args=[calc.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "chemical/x-xyz"
    assert response["Content-Disposition"] == f'attachment; filename="xtb-{calc.pk}-optimized.xyz"'
    text = response.content.decode()
    assert text == calc.optimized_xyz
    count, comment, *atom_lines = text.splitlines()
    assert (int(count), len(atom_lines), comment) == (13, 13, "energy: -25.1234")
    downloaded = atoms_from_xyz(text)
    assert downloaded.get_chemical_symbols() == ["Pd"] * 13
    np.testing.assert_allclose(downloaded.positions, atoms_from_xyz(calc.optimized_xyz).positions)
    # The input geometry is another download, of the unrelaxed atoms.
    given = client.get(reverse("xtb-input", args=[calc.pk]))
    assert given["Content-Disposition"] == f'attachment; filename="xtb-{calc.pk}-input.xyz"'
    assert given.content.decode() == calc.input_xyz != text


def test_the_log_downloads_as_utf8_text(labs, client):
    calc = finished_optimisation(labs["a"])
    client.force_login(labs["alice"])
    response = client.get(reverse("xtb-log", args=[calc.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b"".join(response.streaming_content) == LOG.encode()


def test_a_calculation_without_a_result_has_no_result_downloads(labs, client):
    calc = calculation(labs["a"], pd13_icosahedron(), task="opt")  # queued: no geometry, no log
    client.force_login(labs["alice"])
    assert client.get(reverse("xtb-optimized", args=[calc.pk])).status_code == 404
    assert client.get(reverse("xtb-log", args=[calc.pk])).status_code == 404
    assert client.get(reverse("xtb-input", args=[calc.pk])).status_code == 200


def test_it_hides_other_labs_downloads(labs, client):
    calc = finished_optimisation(labs["a"])
    client.force_login(labs["bob"])
    for name in ("xtb-input", "xtb-optimized", "xtb-log"):
        assert client.get(reverse(name, args=[calc.pk])).status_code == 404, name
