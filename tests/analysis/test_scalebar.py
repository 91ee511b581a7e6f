"""Scale-bar reading: calibrated only when the ruler, its label and the magnification agree."""

import numpy as np
import pytest

from analysis.databar import find_data_bar
from analysis.magnification import (
    HITACHI_DISPLAY_WIDTH_NM,
    format_magnification,
    magnification_for_pixel_size,
    parse_magnification,
    pixel_size_for_magnification,
)
from analysis.ocr import tesseract_available
from analysis.scalebar import ScaleBarReading, read_scale_bar
from simulation.databar import DataBarStyle, draw_databar, draw_random_databar, render_databar
from simulation.render import render_sem

needs_tesseract = pytest.mark.skipif(
    not tesseract_available(), reason="tesseract is not installed (apt-get install tesseract-ocr)"
)
WIDTH = 1280


@pytest.fixture(scope="module")
def field():
    rng = np.random.default_rng(0)
    return render_sem(rng.random((500, 2)) * [WIDTH, 890], 1.0, rng, shape=(890, WIDTH))


def _read(frame):
    bar = find_data_bar(frame)
    assert bar is not None
    return read_scale_bar(frame, bar)


# --- magnification text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("x100k", 100_000.0),
        ("x1.50k", 1_500.0),
        ("×150k", 150_000.0),
        ("x500", 500.0),
        ("100kx", 100_000.0),
        ("X100K", 100_000.0),
        ("x1O0k", 100_000.0),
        ("x50,0k", 50_000.0),
    ],
)
def test_it_parses_magnification_words(word, expected):
    assert parse_magnification(word) == expected


@pytest.mark.parametrize("word", ["100k", "10.0kV", "SE(U)", "x", "xk", "x0", "x90000000k"])
def test_other_words_are_not_magnifications(word):
    assert parse_magnification(word) is None


def test_hitachi_rule_and_spelling():
    assert HITACHI_DISPLAY_WIDTH_NM == 127e6
    assert pixel_size_for_magnification(100_000, 1280) == pytest.approx(0.9922, abs=1e-4)
    assert magnification_for_pixel_size(pixel_size_for_magnification(73_900, 2560), 2560) == (
        pytest.approx(73_900)
    )
    assert [format_magnification(m) for m in (800, 1500, 50_000, 100_000)] == [
        "x800",
        "x1.50k",
        "x50.0k",
        "x100k",
    ]


# --- without tesseract --------------------------------------------------------------------


def test_without_tesseract_it_is_uncalibrated_with_a_reason(field, monkeypatch):
    frame = draw_databar(field, 0.992, 100_000)
    bar = find_data_bar(frame)
    monkeypatch.setenv("PATH", "")
    assert not tesseract_available()
    reading = read_scale_bar(frame, bar)
    assert reading.pixel_size_nm is None
    assert reading.confidence == 0.0
    assert reading.reason.startswith("tesseract is not installed")


# --- with tesseract -----------------------------------------------------------------------


@needs_tesseract
def test_it_reads_the_plain_su8000_bar(field):
    reading = _read(draw_databar(field, pixel_size_for_magnification(100_000), 100_000))
    assert reading.reason == ""
    assert reading.pixel_size_nm == pytest.approx(pixel_size_for_magnification(100_000))
    assert reading.confidence > 0.9
    assert (reading.label, reading.label_nm, reading.magnification) == ("200nm", 200.0, 1e5)
    assert reading.ruler_px == pytest.approx(202.0, abs=0.5)
    assert "x100k" in reading.text
    assert reading.to_json()["pixel_size_nm"] == reading.pixel_size_nm


@needs_tesseract
@pytest.mark.parametrize("seed", [3, 8])
def test_it_reads_random_bars(field, seed):
    rng = np.random.default_rng(seed)
    frame, truth = draw_random_databar(field, float(rng.uniform(0.6, 3.0)), rng)
    reading = _read(frame)
    assert reading.pixel_size_nm == pytest.approx(truth.pixel_size_nm, rel=0.01), reading


@needs_tesseract
def test_micro_sign_labels_are_read(field):
    style = DataBarStyle(font="dejavu_sans", text_height_px=18, height_px=70, spelling="micro")
    pixel = pixel_size_for_magnification(30_000)
    frame, truth = render_databar(field, pixel, 30_000, style, "SU8000 5.0kV 8.0mm x30.0k", 1000.0)
    reading = _read(frame)
    assert truth.label == "1.00µm"
    assert reading.pixel_size_nm == pytest.approx(pixel, rel=1e-3)
    assert reading.label_nm == 1000.0


@needs_tesseract
def test_disagreeing_ruler_and_magnification_leave_it_uncalibrated(field):
    style = DataBarStyle(font="dejavu_sans", text_height_px=18, height_px=70)
    # The ruler is drawn for x100k, the text says x150k.
    pixel = pixel_size_for_magnification(100_000)
    frame, _ = render_databar(field, pixel, 150_000, style, "SU8000 10.0kV 8.1mm x150k SE(U)", 500)
    reading = _read(frame)
    assert reading.pixel_size_nm is None
    assert reading.reason == (
        "Ruler (504 px, 500 nm → 0.992 nm/px) and magnification x150k (0.661 nm/px) "
        "disagree by 50 %."
    )
    assert reading.magnification == 150_000


@needs_tesseract
def test_an_unreadable_bar_is_uncalibrated_with_a_reason(field):
    style = DataBarStyle(font="dejavu_sans", text_height_px=18, height_px=70)
    frame, truth = render_databar(field, 0.992, 100_000, style, "SU8000 10.0kV 8.1mm SE(U)", 200)
    # Scribble over the label: the ruler stays, its length has no unit.
    band = frame[truth.band.y_px :]
    rng = np.random.default_rng(0)
    ys, xs = np.nonzero(band[:30, 1000:] > 128)
    rows, columns = slice(ys.min(), ys.max() + 1), slice(1000 + xs.min(), 1000 + xs.max() + 1)
    band[rows, columns] = np.where(rng.random(band[rows, columns].shape) < 0.4, 255, 0)
    reading = _read(frame)
    assert isinstance(reading, ScaleBarReading)
    assert reading.pixel_size_nm is None
    assert reading.confidence == 0.0
    assert reading.reason.endswith("no magnification was read.")


@needs_tesseract
def test_a_ruler_of_ticks_without_a_line_is_measured(field):
    style = DataBarStyle(font="dejavu_sans", text_height_px=18, height_px=70, ruler_line=False)
    pixel = pixel_size_for_magnification(100_000)
    frame, truth = render_databar(field, pixel, 100_000, style, "SU8000 10.0kV 9.5mm x100k", 500)
    reading = _read(frame)
    assert reading.ruler_px == pytest.approx(truth.ruler_px, abs=0.5)
    assert reading.pixel_size_nm == pytest.approx(pixel, rel=1e-3)


@needs_tesseract
def test_a_magnification_alone_calibrates_only_a_hitachi_bar(field):
    style = DataBarStyle(font="dejavu_sans", text_height_px=18, height_px=70)
    pixel = pixel_size_for_magnification(100_000)
    frame, truth = render_databar(field, pixel, 100_000, style, "JSM-7800F 10.0kV x100k", 500)
    # Scribble over the label, so that only the magnification is left.
    band = frame[truth.band.y_px :]
    rng = np.random.default_rng(1)
    ys, xs = np.nonzero(band[:30, 1000:] > 128)
    rows, columns = slice(ys.min(), ys.max() + 1), slice(1000 + xs.min(), 1000 + xs.max() + 1)
    band[rows, columns] = np.where(rng.random(band[rows, columns].shape) < 0.4, 255, 0)
    reading = _read(frame)
    assert reading.pixel_size_nm is None
    assert "names no Hitachi instrument" in reading.reason
