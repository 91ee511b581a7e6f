"""Hitachi [SemImageFile] text: units converted to nm, kV and mm; raw pairs kept."""

from datetime import datetime

import pytest

from analysis.hitachi import format_hitachi_text, looks_like_hitachi, parse_hitachi_text


def test_it_converts_hitachi_units():
    meta = parse_hitachi_text(
        "[SemImageFile]\r\nPixelSize=0.9921875\r\nAcceleratingVoltage=10000 Volt\r\n"
        "WorkingDistance=8100 um\r\nMagnification=50000\r\nSignalName=SE(U)\r\n"
        "InstructName=SU8000\r\nDate=03/15/2019\r\nTime=14:22:10\r\n"
    )
    assert meta.pixel_size_nm == pytest.approx(0.9921875)
    assert meta.accelerating_voltage_kv == pytest.approx(10.0)
    assert meta.working_distance_mm == pytest.approx(8.1)
    assert meta.magnification == 50000
    assert (meta.detector, meta.instrument) == ("SE(U)", "SU8000")
    assert meta.acquired_at == datetime(2019, 3, 15, 14, 22, 10)


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ("AcceleratingVoltage=15 kV", "accelerating_voltage_kv", 15.0),
        ("WorkingDistance=8.1 mm", "working_distance_mm", 8.1),
        ("WorkingDistance=8100 μm", "working_distance_mm", 8.1),
        ("PixelSize=0", "pixel_size_nm", None),
        ("PixelSize=-1", "pixel_size_nm", None),
        ("PixelSize=abc", "pixel_size_nm", None),
        ("AcceleratingVoltage=10 furlongs", "accelerating_voltage_kv", None),
    ],
)
def test_it_reads_unit_spellings_and_ignores_nonsense(line, field, expected):
    value = getattr(parse_hitachi_text(line), field)
    assert value == (pytest.approx(expected) if expected is not None else None)


def test_it_keeps_every_raw_pair_and_round_trips():
    text = format_hitachi_text({"PixelSize": 1.5, "Vendor Key": "a=b"})
    meta = parse_hitachi_text(text)
    assert meta.raw == {"PixelSize": "1.5", "Vendor Key": "a=b"}
    assert looks_like_hitachi(text)
    assert not looks_like_hitachi("just some text")


def test_an_unreadable_date_is_none():
    assert parse_hitachi_text("Date=yesterday").acquired_at is None


@pytest.mark.parametrize(
    ("condition", "magnification", "kv", "wd_mm"),
    [
        ("Vacc=20.0kV   Mag=x150k   WD=8.3mm", 150000, 20.0, 8.3),
        ("Vacc=1.5kV Mag=x1.50k WD=4.0mm", 1500, 1.5, 4.0),
        ("Vacc=500V Mag=x500 WD=8300um", 500, 0.5, 8.3),
        ("Vacc=? Mag=huge", None, None, None),
    ],
)
def test_it_reads_the_su8200_condition_line(condition, magnification, kv, wd_mm):
    meta = parse_hitachi_text(f"PixelSize=0.66\r\nCondition={condition}\r\n")
    assert meta.magnification == magnification
    assert meta.accelerating_voltage_kv == (pytest.approx(kv) if kv else None)
    assert meta.working_distance_mm == (pytest.approx(wd_mm) if wd_mm else None)


def test_separate_keys_beat_the_condition_line():
    meta = parse_hitachi_text(
        "Magnification=50000\r\nAcceleratingVoltage=15000 Volt\r\nWorkingDistance=8100 um\r\n"
        "Condition=Vacc=20.0kV Mag=x150k WD=8.3mm\r\n"
    )
    assert (meta.magnification, meta.accelerating_voltage_kv) == (50000, pytest.approx(15.0))
    assert meta.working_distance_mm == pytest.approx(8.1)


def test_xpcomment_text_without_a_section_header_is_hitachi():
    assert looks_like_hitachi("SerialNumber=1\r\nPixelSize=0.6614583\r\n")
