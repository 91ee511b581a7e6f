"""What xtb is asked to do: command-line arguments and xcontrol input of each task."""

import pytest

from simulation.xtbspec import MDSpec, ScanSpec, XtbSpec, XtbTask


def test_a_single_point_asks_for_json_results():
    assert XtbSpec().arguments(300.0) == [
        *("--gfn", "2", "--chrg", "0", "--uhf", "0"),
        *("--json", "--etemp", "300"),
    ]
    assert XtbSpec().xcontrol() == ""


def test_an_optimisation_in_solvent_with_caps():
    spec = XtbSpec(
        XtbTask.OPTIMIZATION,
        charge=-1,
        uhf=1,
        solvent="toluene",
        opt_level="tight",
        max_opt_cycles=5,
        max_scc_iterations=40,
    )
    assert spec.arguments(1000.0) == [
        *("--gfn", "2", "--chrg", "-1", "--uhf", "1", "--opt", "tight", "--cycles", "5"),
        *("--alpb", "toluene", "--iterations", "40", "--json", "--etemp", "1000"),
    ]


def test_scan_and_md_write_their_xcontrol_blocks():
    scan = ScanSpec(atom_a=0, atom_b=3, start_a=2.7, end_a=2.9, steps=3)
    spec = XtbSpec(XtbTask.SCAN, scan=scan)
    assert "--opt" in spec.arguments(300.0)
    assert spec.xcontrol() == scan.xcontrol()
    assert "distance: 1, 4, 2.700000" in spec.xcontrol()
    md = XtbSpec(XtbTask.MD, md=MDSpec(length_ps=0.5))
    assert "--md" in md.arguments(300.0)
    assert "  time=0.5\n" in md.xcontrol()


@pytest.mark.parametrize(
    ("task", "message"),
    [("freq", "unknown task"), (XtbTask.SCAN, "ScanSpec"), (XtbTask.MD, "MDSpec")],
)
def test_incomplete_specs_are_rejected(task, message):
    with pytest.raises(ValueError, match=message):
        XtbSpec(task)
