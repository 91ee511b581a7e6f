"""calibrate_frame: the field and pixel size of whole instrument frames, as labs upload them.

Fixtures follow the facts of real Hitachi exports: an SU8200/Regulus TIFF
with its key=value text in XPComment (UTF-16LE) over a 1280 x 960 frame with
898 field rows; SU8000 frames of 1280 x 960 with a 1280 x 890 field, no
metadata, the pixel size only in the data bar.
"""

import io

import numpy as np
import pytest
import tifffile

from analysis.frame import calibrate_frame
from analysis.magnification import pixel_size_for_magnification
from analysis.ocr import tesseract_available
from analysis.semfile import read_sem
from simulation.databar import DataBarStyle, render_databar, scale_bar_length_nm
from simulation.render import render_sem

needs_tesseract = pytest.mark.skipif(
    not tesseract_available(), reason="tesseract is not installed (apt-get install tesseract-ocr)"
)

REGULUS_TEXT = (
    "SerialNumber=HD-2300\r\nDataNumber=0042\r\nPixelSize=0.6614583\r\n"
    "Condition=Vacc=20.0kV   Mag=x150k   WD=8.3mm\r\nSignalName=SE(U)\r\nEmissionCurrent=10800\r\n"
)


def _frame(magnification: float, field_rows: int, font: str, info: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    pixel = pixel_size_for_magnification(magnification, 1280)
    field = render_sem(
        rng.random((900, 2)) * [1280, field_rows], pixel, rng, shape=(field_rows, 1280)
    )
    style = DataBarStyle(font=font, text_height_px=16, height_px=960 - field_rows)
    frame, _ = render_databar(field, pixel, magnification, style, info, scale_bar_length_nm(pixel))
    return frame, pixel


def _tiff(frame: np.ndarray, extratags=()) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, frame, extratags=list(extratags))
    return buffer.getvalue()


def _xp(code: int, text: str) -> tuple:
    data = text.encode("utf-16-le")
    return (code, 1, len(data), data, True)


def test_a_regulus_file_is_calibrated_from_xpcomment_and_its_bar_cut_off():
    frame, _ = _frame(150_000, 898, "dejavu_sans", "Regulus8230 20.0kV 8.3mm x150k SE(U)")
    data = _tiff(frame, [_xp(40092, REGULUS_TEXT), _xp(40093, "SU8200")])
    result = calibrate_frame(read_sem(data))
    assert (result.pixel_size_nm, result.pixel_size_source) == (0.6614583, "metadata")
    assert result.details["reader"] == "hitachi"
    assert result.magnification == 150_000
    assert result.field.to_json() == {"x_px": 0, "y_px": 0, "width_px": 1280, "height_px": 898}
    assert result.data_bar is not None
    assert result.data_bar.y_px == 898


@needs_tesseract
@pytest.mark.parametrize(
    ("magnification", "font"),
    [(100_000, "hershey_simplex"), (110_000, "dejavu_sans"), (50_000, "dejavu_sans_mono")],
)
def test_an_su8000_frame_without_metadata_is_calibrated_from_its_bar(magnification, font):
    info = f"SU8000 10.0kV 9.5mm x{magnification / 1000:.0f}k SE(U)"
    frame, pixel = _frame(magnification, 890, font, info)
    result = calibrate_frame(read_sem(_tiff(frame)))
    assert result.field.height_px == 890
    assert result.pixel_size_source == "scale_bar", result.reason
    assert result.pixel_size_nm == pytest.approx(pixel, rel=0.01)
    assert result.magnification == magnification
    reading = result.details["scale_bar"]
    assert reading["confidence"] > 0.8
    assert reading["ruler_px"] > 0


def test_a_frame_without_bar_or_metadata_says_why():
    rng = np.random.default_rng(1)
    field = render_sem(rng.random((300, 2)) * [640, 480], 1.0, rng, shape=(480, 640))
    result = calibrate_frame(read_sem(_tiff(field)))
    assert result.pixel_size_nm is None
    assert result.data_bar is None
    assert result.field.to_json() == {"x_px": 0, "y_px": 0, "width_px": 640, "height_px": 480}
    assert "No data bar" in result.reason


def test_without_tesseract_a_bar_leaves_the_frame_uncalibrated(monkeypatch):
    monkeypatch.setenv("PATH", "")
    frame, _ = _frame(100_000, 890, "dejavu_sans", "SU8000 10.0kV 9.5mm x100k SE(U)")
    result = calibrate_frame(read_sem(_tiff(frame)))
    assert result.pixel_size_nm is None
    assert result.field.height_px == 890
    assert "tesseract is not installed" in result.reason
