"""Parsers of xtb's files on captured text: the JSON results and multi-frame XYZ."""

import json

import numpy as np
import pytest

from simulation.xtbparse import parse_json_output, parse_xyz_frames

# xtbout.json of a GFN2-xTB single point on water (xtb 6.5.1), shortened.
WATER_JSON = """{
   "total energy":          -5.07022229,
   "HOMO-LUMO gap/eV":          14.17740949,
   "electronic energy":          -5.10180842,
   "dipole": [    -0.00000000,     0.00000000,    -0.89954472],
   "partial charges": [
       -0.56105341,
        0.28052671,
        0.28052671],
   "number of unpaired electrons": 0,
   "method": "GFN2-xTB",
   "xtb version": "6.5.1 (unknown)"
}"""


def test_json_results_are_read():
    results = parse_json_output(WATER_JSON)
    assert results.energy_eh == -5.07022229
    assert results.homo_lumo_gap_ev == 14.17740949
    assert results.charges == [-0.56105341, 0.28052671, 0.28052671]
    assert results.dipole_au == (0.0, 0.0, -0.89954472)


def test_json_without_gap_or_dipole_gives_none():
    results = parse_json_output(json.dumps({"total energy": -1.0}))
    assert (results.homo_lumo_gap_ev, results.dipole_au, results.charges) == (None, None, [])


@pytest.mark.parametrize(("text", "message"), [("{", "not JSON"), ("{}", "no total energy")])
def test_unreadable_json_is_rejected(text, message):
    with pytest.raises(ValueError, match=message):
        parse_json_output(text)


def test_xyz_frames_keep_their_comment_energies():
    text = (
        "2\n energy: -1.5 gnorm: 0.1 xtb: 6.5.1 (unknown)\npd 0 0 0\nH 0 0 1.5\n"
        "2\n no energy here\nPD 0 0 0.1\nh 0 0 1.6\n\n"
    )
    frames = parse_xyz_frames(text)
    assert len(frames) == 2
    assert frames.symbols == ("Pd", "H")
    assert frames.positions_a.shape == (2, 2, 3)
    assert frames.positions_a[1, 1].tolist() == [0.0, 0.0, 1.6]
    assert frames.energies_eh[0] == -1.5
    assert np.isnan(frames.energies_eh[1])


def test_empty_xyz_text_has_no_frames():
    frames = parse_xyz_frames("")
    assert len(frames) == 0
    assert frames.positions_a.shape == (0, 0, 3)


def test_xyz_frames_whose_atoms_change_are_rejected():
    text = "1\n energy: -1.0\nH 0 0 0\n1\n energy: -1.0\nC 0 0 0\n"
    with pytest.raises(ValueError, match="atoms change"):
        parse_xyz_frames(text)
