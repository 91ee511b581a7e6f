"""Pixel size from every vendor dialect, in the order calibrate_metadata ranks them.

Each fixture writes the tags as the instruments do (with tifffile's
``extratags``) or the sidecar text as the instrument saves it; no binary files
are committed.
"""

import io
import json
import math
import re

import cv2
import numpy as np
import pytest
import tifffile

from analysis.calibration import (
    MAX_PIXEL_SIZE_NM,
    MIN_PIXEL_SIZE_NM,
    EmbeddedMetadata,
    calibrate_metadata,
    pixel_size_problem,
    read_sidecar,
)
from analysis.semfile import SEMFileError, decode_sidecar, read_sem
from analysis.textcodec import decode_text, looks_binary, looks_utf16le
from analysis.vendors.fei import read_fei
from analysis.vendors.zeiss import read_zeiss

GREY8 = np.random.default_rng(3).integers(0, 256, (24, 32), dtype=np.uint8)
BYTE, ASCII = 1, 2


def tiff_with(*tags: tuple[int, int, bytes], pixels: np.ndarray = GREY8, **options) -> bytes:
    """A TIFF whose extra tags are ``(code, dtype, value)`` with the value as raw bytes."""
    extratags = [(code, dtype, len(value), value, True) for code, dtype, value in tags]
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, extratags=extratags, metadata=None, **options)
    return buffer.getvalue()


def crlf(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


def utf16le(text: str) -> bytes:
    """As Windows writes the XP* tags: UTF-16LE, no BOM, a NUL terminator."""
    return text.encode("utf-16-le") + b"\x00\x00"


SU8200_COMMENT = crlf(
    "SerialNumber=HD-2300-0042",
    "DataNumber=0017",
    "PixelSize=0.6614583",
    "Condition=Vacc=20.0kV   Mag=x150k   WD=8.3mm",
    "SignalName=SE(U)",
    "EmissionCurrent=10600nA",
)
FEI_INI = crlf(
    "[User]",
    "Date=03/15/2024",
    "[System]",
    "Type=SEM",
    "Dnumber=D8439",
    "SystemType=Helios G4 UX",
    "[EBeam]",
    "HV=20000",
    "WD=0.0041",
    "HFW=2.56e-06",
    "[Image]",
    "MagCanvasRealWidth=0.128",
    "[Scan]",
    "PixelWidth=1.2e-09",
    "PixelHeight=1.2e-09",
    "[Detectors]",
    "Name=ETD",
    "Mode=SE",
)


def zeiss_block(pixel_line: str | None = "Image Pixel Size = 2.5 nm") -> bytes:
    """CZ_SEM as SmartSEM writes it and read_cz_sem reads it: unnamed numbers, then
    an upper-case key line followed by ``Label = value unit``, cp1252 (µ is 0xB5)."""
    pixel = ["AP_IMAGE_PIXEL_SIZE", pixel_line] if pixel_line else []
    lines = [
        "0",
        "2048",
        *pixel,
        "AP_MAG",
        "Mag = 10.00 K X",
        "AP_ACTUALKV",
        "EHT = 5.00 kV",
        "AP_WD",
        "WD = 4.2 mm",
        "DP_DETECTOR_CHANNEL",
        "Signal A = InLens",
        "DP_SEM",
        "SEM = ULTRA plus",
        "DP_SCANROT",
        "Scan Rotation = Off",
    ]
    return crlf(*lines).encode("cp1252") + b"\x00"


TESCAN_HDR = crlf(
    "[MAIN]",
    "AccFrames=4",
    "Date=2024-03-15",
    "Device=MIRA3 TESCAN",
    "Magnification=25000",
    "PixelSizeX=1.2e-08",
    "PixelSizeY=1.2e-08",
    "UserName=chemist",
    "[SEM]",
    "Detector=SE",
    "HV=15000",
    "WD=0.0051",
)
JEOL_TXT = (
    "$CM_FORMAT JEOL/SEM\n$CM_VERSION 1.0\n$CM_INSTRUMENT JSM-7800F\n$CM_SIGNAL SEI\n"
    "$CM_MAG 50000\n$CM_ACCEL_VOLT 15.00\n$CM_FULL_SIZE 1280 960\n$$SM_WD 8.0\n"
    "$$SM_MICRON_BAR 180\n$$SM_MICRON_MARKER 200nm\n"
)


def assert_json(meta: object) -> None:
    json.dumps(meta.raw, allow_nan=False)


# --- one fixture per dialect -----------------------------------------------------------


def test_it_reads_hitachi_su8200_text_from_the_utf16_xpcomment_tag() -> None:
    data = tiff_with(
        (40092, BYTE, utf16le(SU8200_COMMENT)),
        (40093, BYTE, utf16le("SU8200")),
    )
    meta = read_sem(data).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_source) == (0.6614583, "metadata")
    assert meta.pixel_size_reader == "hitachi"
    assert meta.magnification == 150000
    assert meta.accelerating_voltage_kv == pytest.approx(20.0)
    assert meta.working_distance_mm == pytest.approx(8.3)
    assert (meta.detector, meta.instrument) == ("SE(U)", "SU8200")
    assert meta.raw["hitachi"]["SerialNumber"] == "HD-2300-0042"
    assert meta.raw["tiff_tags"]["XPAuthor"] == "SU8200"
    assert meta.raw["tiff_tags"]["XPComment"].startswith("SerialNumber=")
    assert meta.calibration_notes == ()
    assert_json(meta)


def test_an_instruct_name_beats_xpauthor() -> None:
    comment = SU8200_COMMENT + "InstructName=Regulus8230\r\n"
    data = tiff_with((40092, BYTE, utf16le(comment)), (40093, BYTE, utf16le("SU8200")))
    assert read_sem(data).metadata.instrument == "Regulus8230"


@pytest.mark.parametrize(("code", "dtype"), [(34682, ASCII), (34680, ASCII), (34682, BYTE)])
def test_it_reads_fei_ini_from_either_fei_tag(code: int, dtype: int) -> None:
    meta = read_sem(tiff_with((code, dtype, FEI_INI.encode("ascii") + b"\x00"))).metadata
    assert meta.pixel_size_nm == pytest.approx(1.2)
    assert (meta.pixel_size_source, meta.pixel_size_reader) == ("metadata", "fei")
    assert meta.accelerating_voltage_kv == pytest.approx(20.0)
    assert meta.working_distance_mm == pytest.approx(4.1)
    assert meta.magnification == pytest.approx(50000)
    assert (meta.detector, meta.instrument) == ("ETD (SE)", "Helios G4 UX")
    assert meta.raw["fei"]["Scan"]["PixelWidth"] == pytest.approx(1.2e-9)
    assert_json(meta)


@pytest.mark.parametrize(
    ("line", "expected_nm"),
    [
        ("Image Pixel Size = 2.5 nm", 2.5),
        ("Image Pixel Size = 250 pm", 0.25),
        ("Image Pixel Size = 0.0025 µm", 2.5),
        ("Image Pixel Size = 0.0025 um", 2.5),
        ("Image Pixel Size = 2,5 nm", 2.5),  # German-locale SmartSEM
    ],
)
def test_it_reads_the_zeiss_cz_sem_tag(line: str, expected_nm: float) -> None:
    meta = read_sem(tiff_with((34118, BYTE, zeiss_block(line)))).metadata
    assert meta.pixel_size_nm == pytest.approx(expected_nm)
    assert (meta.pixel_size_source, meta.pixel_size_reader) == ("metadata", "zeiss")
    assert meta.magnification == 10000
    assert meta.accelerating_voltage_kv == pytest.approx(5.0)
    assert meta.working_distance_mm == pytest.approx(4.2)
    assert (meta.detector, meta.instrument) == ("InLens", "ULTRA plus")
    assert meta.raw["zeiss"]["dp_scanrot"] == ["Scan Rotation", False]
    assert_json(meta)


def test_the_zeiss_reader_takes_the_dict_tifffile_returns() -> None:
    entries = {
        "": (0, 2048),
        "ap_pixel_size": ("Pixel Size", 3.1, "nm"),
        "ap_mag": ("Mag", 500, "X"),
        "ap_wd": ("WD", 8100.0, "µm"),
    }
    reading = read_zeiss(entries)
    assert (reading.pixel_size_nm, reading.magnification) == (3.1, 500)
    assert reading.working_distance_mm == pytest.approx(8.1)


def test_it_reads_the_tescan_tag_with_crlf_and_trailing_nuls() -> None:
    data = tiff_with((50431, BYTE, TESCAN_HDR.encode("ascii") + b"\x00" * 7))
    meta = read_sem(data).metadata
    assert meta.pixel_size_nm == pytest.approx(12.0)
    assert (meta.pixel_size_source, meta.pixel_size_reader) == ("metadata", "tescan")
    assert meta.magnification == 25000
    assert meta.accelerating_voltage_kv == pytest.approx(15.0)
    assert meta.working_distance_mm == pytest.approx(5.1)
    assert (meta.detector, meta.instrument) == ("SE", "MIRA3 TESCAN")
    assert meta.raw["tescan"]["MAIN"]["PixelSizeY"] == "1.2e-08"
    assert_json(meta)


def test_it_reads_the_older_tescan_tag_made_of_binary_blocks() -> None:
    def block(kind: int, body: bytes) -> bytes:
        return (len(body) + 2).to_bytes(4, "little") + kind.to_bytes(2, "little") + body

    main = b"AccFrames=4\r\nDevice=VEGA3\r\nPixelSizeX=4.5e-09\r\n"
    sem = b"HV=10000\r\nWD=0.01\r\n"
    blob = block(2, main) + block(3, sem) + block(1, bytes(range(256))) + block(0, b"")
    meta = read_sem(tiff_with((50431, BYTE, blob))).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_reader) == (pytest.approx(4.5), "tescan")
    assert (meta.instrument, meta.accelerating_voltage_kv) == ("VEGA3", pytest.approx(10.0))
    assert_json(meta)


def test_it_reads_a_tescan_hdr_sidecar() -> None:
    meta = read_sem(tiff_with(), sidecar_text=decode_sidecar(TESCAN_HDR.encode())).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_source) == (pytest.approx(12.0), "sidecar")
    assert meta.pixel_size_reader == "tescan"
    assert (meta.raw["sidecar_dialect"], meta.raw["sidecar"]["SEM"]["HV"]) == ("tescan", "15000")
    assert "tescan" not in meta.raw


def test_it_reads_a_jeol_txt_sidecar_from_its_scale_bar() -> None:
    meta = read_sem(tiff_with(), sidecar_text=decode_sidecar(JEOL_TXT.encode())).metadata
    assert meta.pixel_size_nm == pytest.approx(200 / 180)
    assert (meta.pixel_size_source, meta.pixel_size_reader) == ("sidecar", "jeol")
    assert meta.magnification == 50000
    assert meta.accelerating_voltage_kv == pytest.approx(15.0)
    assert meta.working_distance_mm == pytest.approx(8.0)
    assert (meta.detector, meta.instrument) == ("SEI", "JSM-7800F")
    assert meta.raw["sidecar"]["$CM_FULL_SIZE"] == "1280 960"
    assert meta.raw["sidecar_dialect"] == "jeol"
    assert_json(meta)


@pytest.mark.parametrize(("marker", "expected_nm"), [("1um", 5.0), ("1 µm", 5.0), ("2mm", 1e4)])
def test_jeol_scale_bar_labels_carry_their_unit(marker: str, expected_nm: float) -> None:
    reading = read_sidecar(f"$$SM_MICRON_BAR 200\n$$SM_MICRON_MARKER {marker}\n")
    assert reading.pixel_size_nm == pytest.approx(expected_nm)


def test_resolution_tags_calibrate_when_nothing_else_does() -> None:
    data = tiff_with(resolution=(1e6, 1e6), resolutionunit="CENTIMETER")
    meta = read_sem(data).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_reader) == (pytest.approx(10.0), "resolution")
    assert meta.pixel_size_source == "metadata"


# --- missing and malformed values -------------------------------------------------------


def fei_without(key: str) -> bytes:
    return crlf(*(line for line in FEI_INI.splitlines() if not line.startswith(key))).encode()


def fei_with(key: str, value: str) -> bytes:
    lines = (
        f"{key}={value}" if line.startswith(f"{key}=") else line for line in FEI_INI.splitlines()
    )
    return crlf(*lines).encode()


TESCAN_NO_SIZE = TESCAN_HDR.replace("PixelSizeX=1.2e-08\r\n", "")
TESCAN_NA = TESCAN_HDR.replace("PixelSizeX=1.2e-08", "PixelSizeX=n/a")
BAD_TAGS = {
    "fei no width": ((34682, ASCII, fei_without("PixelWidth")), r"no \[Scan\] PixelWidth"),
    "fei text": ((34682, ASCII, fei_with("PixelWidth", "abc")), "'abc' is not a number"),
    "fei empty": ((34682, ASCII, fei_with("PixelWidth", "")), "'' is not a number"),
    "fei bool": ((34682, ASCII, fei_with("PixelWidth", "true")), "True is not a number"),
    "zeiss text": ((34118, BYTE, zeiss_block("Image Pixel Size = abc")), "Size 'abc' is not a"),
    "zeiss no unit": ((34118, BYTE, zeiss_block("Image Pixel Size = 2.5")), "2.5 has no unit"),
    "zeiss unit": ((34118, BYTE, zeiss_block("Image Pixel Size = 2 furlong")), "'furlong' is not"),
    "zeiss missing": ((34118, BYTE, zeiss_block(None)), "no Image Pixel Size"),
    "tescan missing": ((50431, BYTE, TESCAN_NO_SIZE.encode()), "no PixelSizeX"),
    "tescan text": ((50431, BYTE, TESCAN_NA.encode()), "PixelSizeX 'n/a' is not a number"),
    "hitachi text": ((40092, BYTE, utf16le("PixelSize=abc\r\n")), "PixelSize 'abc' is not a"),
}
BAD_SIDECARS = {
    "jeol no bar": ("$CM_FORMAT JEOL/SEM\n$CM_MAG 5000\n", "JEOL metadata has no scale bar"),
    "jeol bad bar": (JEOL_TXT.replace("BAR 180", "BAR wide"), "'wide' is not a number of pixels"),
    "jeol zero bar": (JEOL_TXT.replace("BAR 180", "BAR 0"), "'0' is not a number of pixels"),
    "jeol marker": (JEOL_TXT.replace("200nm", "big"), "'big' is not a length"),
    "hitachi": ("[SemImageFile]\r\nPixelSize=\r\n", "PixelSize '' is not a number"),
}


def assert_uncalibrated_because(meta: object, reason: str) -> None:
    assert (meta.pixel_size_nm, meta.pixel_size_source, meta.pixel_size_reader) == (None,) * 3
    assert meta.calibration_notes[0].startswith("No usable pixel size: the ")
    assert any(re.search(reason, note) for note in meta.calibration_notes[1:])
    assert_json(meta)


@pytest.mark.parametrize(("tag", "reason"), BAD_TAGS.values(), ids=BAD_TAGS)
def test_a_missing_or_malformed_vendor_tag_gives_no_pixel_size_and_a_reason(
    tag: tuple[int, int, bytes], reason: str
) -> None:
    assert_uncalibrated_because(read_sem(tiff_with(tag)).metadata, reason)


@pytest.mark.parametrize(("sidecar", "reason"), BAD_SIDECARS.values(), ids=BAD_SIDECARS)
def test_a_sidecar_without_a_usable_pixel_size_gives_a_reason(sidecar: str, reason: str) -> None:
    assert_uncalibrated_because(read_sem(tiff_with(), sidecar_text=sidecar).metadata, reason)


def test_print_resolution_gives_no_pixel_size_and_says_why() -> None:
    meta = read_sem(tiff_with(resolution=(72, 72), resolutionunit="INCH")).metadata
    assert_uncalibrated_because(meta, "72 pixels per inch, a print or screen setting")


def test_a_file_with_no_calibration_at_all_says_so_in_one_sentence() -> None:
    meta = read_sem(tiff_with()).metadata
    assert meta.pixel_size_nm is None
    assert meta.calibration_notes == (
        "No pixel size in the file's metadata (no Hitachi, FEI, Zeiss or Tescan calibration "
        "tags, no resolution tags) and no sidecar.",
    )


@pytest.mark.parametrize("value", [b"\x00\x01\x02garbage", "not a dict", {}, None, 3])
def test_the_readers_explain_values_tifffile_could_not_parse(value: object) -> None:
    for read in (read_fei, read_zeiss):
        reading = read(value)
        assert reading.pixel_size_nm is None
        assert "could not be read" in reading.problem


def test_unknown_sidecar_text_is_refused_naming_the_three_dialects() -> None:
    with pytest.raises(SEMFileError, match="not Hitachi, JEOL or Tescan SEM metadata"):
        read_sem(tiff_with(), sidecar_text="Sample G-17, imaged on Monday")


# --- valid range --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "not a number"),
        (math.inf, "infinite"),
        (-math.inf, "infinite"),
        (0.0, "must be positive"),
        (-1.0, "must be positive"),
        (0.001, "below 0.01 nm"),
        (5000.0, "above 1000 nm"),
    ],
)
def test_pixel_size_problem_explains_impossible_values(value: float, message: str) -> None:
    assert message in pixel_size_problem(value)


@pytest.mark.parametrize("value", [MIN_PIXEL_SIZE_NM, 0.99, 250.0, MAX_PIXEL_SIZE_NM])
def test_pixel_size_problem_accepts_the_valid_range(value: float) -> None:
    assert pixel_size_problem(value) is None


def test_an_out_of_range_vendor_value_is_not_used_and_the_next_source_wins() -> None:
    data = tiff_with((34682, ASCII, fei_with("PixelWidth", "1e-3")))  # 1 mm: a unit slip
    meta = read_sem(data, sidecar_text=JEOL_TXT).metadata
    assert (meta.pixel_size_reader, meta.pixel_size_source) == ("jeol", "sidecar")
    assert meta.calibration_notes == (
        "The FEI metadata gives a pixel size that is not used. The pixel size 1e+06 nm is "
        "above 1000 nm (1 µm), too coarse to show nanoparticles; check the unit.",
    )
    tiny = tiff_with((50431, BYTE, TESCAN_HDR.replace("1.2e-08", "1e-15").encode()))
    meta = read_sem(tiny).metadata
    assert meta.pixel_size_nm is None
    assert "below 0.01 nm" in meta.calibration_notes[1]


# --- precedence -----------------------------------------------------------------------------


def test_embedded_vendors_rank_hitachi_fei_zeiss_tescan() -> None:
    hitachi = (40092, BYTE, utf16le("PixelSize=0.5\r\n"))
    fei = (34682, ASCII, FEI_INI.encode())
    zeiss = (34118, BYTE, zeiss_block())
    tescan = (50431, BYTE, TESCAN_HDR.encode())
    order = [(hitachi, "hitachi"), (fei, "fei"), (zeiss, "zeiss"), (tescan, "tescan")]
    for index, (_, reader) in enumerate(order):
        tags = [tag for tag, _ in order[index:]]
        meta = read_sem(tiff_with(*tags), sidecar_text=JEOL_TXT).metadata
        assert (meta.pixel_size_reader, meta.pixel_size_source) == (reader, "metadata")
        assert meta.calibration_notes == ()


def test_a_broken_vendor_tag_falls_back_to_the_next_and_keeps_its_reason() -> None:
    data = tiff_with(
        (34682, ASCII, fei_without("PixelWidth")),
        (34118, BYTE, zeiss_block()),
        resolution=(1e6, 1e6),
        resolutionunit="CENTIMETER",
    )
    meta = read_sem(data).metadata
    assert (meta.pixel_size_nm, meta.pixel_size_reader) == (2.5, "zeiss")
    assert meta.calibration_notes == ("The FEI metadata has no [Scan] PixelWidth.",)
    assert meta.accelerating_voltage_kv == pytest.approx(20.0)  # FEI is read first for facts


def test_the_sidecar_beats_resolution_tags_and_fills_missing_facts() -> None:
    data = tiff_with(resolution=(1e6, 1e6), resolutionunit="CENTIMETER")
    meta = read_sem(data, sidecar_text=JEOL_TXT).metadata
    assert (meta.pixel_size_reader, meta.pixel_size_source) == ("jeol", "sidecar")


def test_calibrate_metadata_runs_on_plain_inputs() -> None:
    calibration = calibrate_metadata(
        EmbeddedMetadata(tescan_text=TESCAN_HDR, density=(72.0, "inch")),
        read_sidecar("PixelSize=3.0\r\n"),
    )
    assert (calibration.pixel_size_nm, calibration.reader) == (pytest.approx(12.0), "tescan")
    assert calibration.raw["sidecar"] == {"PixelSize": "3.0"}
    assert "print or screen setting" in calibration.notes[0]


# --- 12-bit data in 16-bit samples --------------------------------------------------------------


def ramp(peak: int) -> np.ndarray:
    return np.linspace(0, peak, 24 * 32).round().astype(np.uint16).reshape(24, 32)


@pytest.mark.parametrize(
    ("peak", "bits"), [(4095, 12), (1000, 12), (8191, 13), (16383, 14), (20000, 15)]
)
def test_16_bit_files_with_fewer_significant_bits_are_widened(peak: int, bits: int) -> None:
    image = read_sem(tiff_with(pixels=ramp(peak)))
    assert (image.significant_bits, image.bit_depth) == (bits, 16)
    np.testing.assert_array_equal(image.pixels, ramp(peak) << (16 - bits))
    if peak == 4095:
        assert image.pixels.max() == 65520


@pytest.mark.parametrize("peak", [65535, 32768, 200, 0])
def test_true_16_bit_and_near_black_images_are_unchanged(peak: int) -> None:
    image = read_sem(tiff_with(pixels=ramp(peak)))
    assert image.significant_bits == 16
    np.testing.assert_array_equal(image.pixels, ramp(peak))


def test_8_bit_files_report_8_significant_bits_and_16_bit_png_is_widened_too() -> None:
    assert read_sem(tiff_with()).significant_bits == 8
    png = cv2.imencode(".png", ramp(4095))[1].tobytes()
    image = read_sem(png)
    assert (image.format, image.significant_bits, int(image.pixels.max())) == ("png", 12, 65520)


# --- UTF-16LE text without a byte-order mark ------------------------------------------------------


def test_bomless_utf16le_text_is_text_and_8_bit_text_is_not_mistaken_for_it() -> None:
    data = utf16le("PixelSize=0.5\r\nSampleName=黒鉛")
    assert looks_utf16le(data)
    assert not looks_binary(data)
    assert decode_text(data) == "PixelSize=0.5\r\nSampleName=黒鉛"
    for text in (b"abc\x00", b"PixelSize=1.0\r\n", b"Zeiss-like text\x00\x00"):
        assert not looks_utf16le(text)
    assert not looks_utf16le(np.arange(40, dtype=np.uint16).tobytes())  # control characters
    assert "PixelSize=0.5" in decode_sidecar(data[:-2])
