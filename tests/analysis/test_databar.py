"""Data-bar detection: the field box is exact on rendered bars and nothing fires without one."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from analysis.databar import DataBar, FieldBox, find_data_bar
from simulation.databar import (
    FONTS,
    DataBarStyle,
    draw_databar,
    draw_random_databar,
    render_databar,
)
from simulation.render import RenderStyle, render_sem

WIDTH = 1280
FIELD_SHAPE = (890, WIDTH)


def _field(seed=0, shape=FIELD_SHAPE, style=None, n=600):
    rng = np.random.default_rng(seed)
    positions = rng.random((n, 2)) * [shape[1], shape[0]]
    return render_sem(positions, 1.0, rng, shape=shape, style=style)


@pytest.fixture(scope="module")
def field():
    return _field()


def _jpeg(frame, quality):
    return cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], 0)


# --- FieldBox ---------------------------------------------------------------------------


def test_field_box_crops_2d_and_channel_first_arrays():
    box = FieldBox(10, 20, 30, 40)
    assert box.crop(np.zeros((100, 200))).shape == (40, 30)
    assert box.crop(np.zeros((3, 100, 200))).shape == (3, 40, 30)
    with pytest.raises(ValueError, match="does not fit"):
        box.crop(np.zeros((50, 200)))


def test_field_box_contains_its_pixels_only():
    box = FieldBox(10, 20, 30, 40)
    assert box.contains(10, 20)
    assert box.contains(39.5, 59.5)
    assert not box.contains(40, 30)
    assert not box.contains(15, 60)


def test_field_box_round_trips_through_json():
    box = FieldBox(0, 0, 1280, 890)
    assert FieldBox.from_json(box.to_json()) == box
    assert FieldBox.whole((3, 960, 1280)) == FieldBox(0, 0, 1280, 960)
    with pytest.raises(ValueError, match="not a field box"):
        FieldBox.from_json({"x_px": 0})


@pytest.mark.parametrize(
    ("args", "error"),
    [((0, 0, 0, 10), ValueError), ((-1, 0, 5, 5), ValueError), ((0, 0, 5.5, 5), TypeError)],
)
def test_field_box_rejects_bad_values(args, error):
    with pytest.raises(error):
        FieldBox(*args)


# --- bars are found to the row ----------------------------------------------------------


def test_it_finds_the_plain_su8000_bar(field):
    frame = draw_databar(field, 0.992, 100_000)
    bar = find_data_bar(frame)
    assert isinstance(bar, DataBar)
    assert bar.field == FieldBox(0, 0, WIDTH, 890)
    assert bar.band == FieldBox(0, 890, WIDTH, 70)
    assert bar.position == "bottom"
    assert bar.background == 0.0
    assert bar.to_json()["field"] == {"x_px": 0, "y_px": 0, "width_px": WIDTH, "height_px": 890}


@pytest.mark.parametrize("font", FONTS)
def test_it_finds_bars_in_every_font(field, font):
    style = DataBarStyle(font=font, text_height_px=14, height_px=60, spelling="micro")
    frame, truth = render_databar(field, 3.3, 30_000, style, "SU8000 5.0kV 8.0mm x30.0k", 1000.0)
    assert find_data_bar(frame).field == truth.field


@pytest.mark.parametrize("seed", range(12))
def test_it_finds_random_bars_to_the_row(seed):
    rng = np.random.default_rng(seed)
    shape = (445, 640) if seed % 2 else FIELD_SHAPE
    frame, truth = draw_random_databar(_field(seed, shape), 1.5, rng)
    bar = find_data_bar(frame)
    assert bar is not None
    assert (bar.field, bar.band) == (truth.field, truth.band)


@pytest.mark.parametrize("quality", [50, 70, 90])
def test_jpeg_recompression_does_not_move_the_edge(quality):
    # 893 rows: the edge falls inside an 8-row JPEG block.
    frame = draw_databar(_field(6, (893, WIDTH)), 0.992, 100_000, height_px=67)
    assert find_data_bar(_jpeg(frame, quality)).field == FieldBox(0, 0, WIDTH, 893)


def test_grey_background_dim_text_captions_and_noise(field):
    style = DataBarStyle(
        font=FONTS[-1],
        height_px=90,
        text_height_px=20,
        background=0.1,
        text_level=0.65,
        captions=("Pd/C sample S1 area A50", "operator AB"),
        noise=0.01,
    )
    frame, truth = render_databar(
        field,
        1.0,
        99_200,
        style,
        "SU8230 10.0kV 8.1mm x99.2k SE(U)",
        200.0,
        np.random.default_rng(0),
    )
    bar = find_data_bar(frame)
    assert bar.band == truth.band
    assert bar.band.height_px > 90  # the caption lines belong to the band


def test_it_reads_uint16_frames(field):
    frame = draw_databar(field.astype(np.uint16) * 257, 0.992, 100_000)
    assert frame.dtype == np.uint16
    assert find_data_bar(frame).field == FieldBox(0, 0, WIDTH, 890)


def test_it_finds_a_bar_at_the_top(field):
    frame = draw_databar(field, 0.992, 100_000)
    moved = np.vstack([frame[890:], frame[:890]])
    bar = find_data_bar(moved)
    assert bar.position == "top"
    assert bar.field == FieldBox(0, 70, WIDTH, 890)
    assert bar.field.crop(moved).shape == FIELD_SHAPE


# --- nothing fires without a bar ----------------------------------------------------------


def _dark_style(**changes):
    style = RenderStyle(background=0.05, offset=-0.04, texture=0.01, particle_brightness=0.8)
    return replace(style, **changes)


def _no_bar_frames():
    plain = _field(1)
    dark = _field(2, style=_dark_style())
    dark_bottom = _field(3).astype(np.float32)
    dark_bottom[700:] *= 0.15
    hole = _field(4, style=_dark_style()).copy()
    hole[760:] = 0
    rng = np.random.default_rng(4)
    for _ in range(150):
        centre = (int(rng.integers(0, WIDTH)), int(rng.integers(760, 890)))
        cv2.circle(hole, centre, int(rng.integers(1, 5)), 255, -1, cv2.LINE_AA)
    streaky = _field(5).astype(np.float32)
    for y in (820, 850, 871):
        streaky[y : y + 3] += 120
    return {
        "render_sem": plain,
        "dark smooth": dark,
        "dark bottom": np.clip(dark_bottom, 0, 255).astype(np.uint8),
        "black hole with specks": hole,
        "streaks": np.clip(streaky, 0, 255).astype(np.uint8),
        "all black": np.zeros((960, WIDTH), np.uint8),
        "tiny": np.zeros((20, 30), np.uint8),
    }


@pytest.mark.parametrize(("name", "frame"), list(_no_bar_frames().items()))
def test_frames_without_a_bar_give_none(name, frame):
    assert find_data_bar(frame) is None
    assert find_data_bar(_jpeg(frame, 75)) is None


def test_it_rejects_colour_and_float_frames():
    with pytest.raises(ValueError, match="H, W"):
        find_data_bar(np.zeros((3, 100, 100), np.uint8))
    with pytest.raises(ValueError, match="uint8 or uint16"):
        find_data_bar(np.zeros((100, 100), np.float32))
