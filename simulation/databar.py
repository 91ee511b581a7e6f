"""Hitachi-style SEM data bars drawn under a field, with the truth of what they say.

Hitachi SU8000 images are 1280 x 960 px: the 1280 x 890 field and, below
it, a 70 px black bar with the instrument, voltage, working distance,
magnification and detector in white, and a ten-division ruler with its
label; some exports add caption lines below. The magnification scale
(:mod:`analysis.magnification`) refers to a 127 mm display, so the pixel size
of a 1280 px wide image at x100k is 127 mm / 100,000 / 1280 ≈ 0.99 nm.

:func:`draw_databar` draws the plain SU8000 bar; :func:`draw_random_databar`
draws one of many looks (:class:`DataBarStyle`: Hershey and DejaVu fonts,
text sizes, bar heights, nm and µm spellings, grey rather than black
backgrounds, dimmer text, caption lines, noise, JPEG re-compression) and
returns the frame with its :class:`DataBarTruth`, to test readers of bars.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from analysis.databar import FieldBox
from analysis.magnification import (
    HITACHI_DISPLAY_WIDTH_NM,
    format_magnification,
    magnification_for_pixel_size,
    pixel_size_for_magnification,
)

__all__ = [
    "DATABAR_HEIGHT_PX",
    "DISPLAY_WIDTH_NM",
    "FONTS",
    "DataBarStyle",
    "DataBarTruth",
    "draw_databar",
    "draw_random_databar",
    "format_length",
    "magnification_for_pixel_size",
    "pixel_size_for_magnification",
    "random_info_text",
    "random_style",
    "render_databar",
    "scale_bar_length_nm",
]

#: Display width that Hitachi magnifications refer to, nm (127 mm); kept for old callers.
DISPLAY_WIDTH_NM = HITACHI_DISPLAY_WIDTH_NM
#: Height of the data bar under a 1280 px wide field, px.
DATABAR_HEIGHT_PX = 70

_NICE_STEPS = (1.0, 2.0, 5.0)
#: Ruler lengths a bar may show, nm (100 nm to 5 µm).
RULER_LENGTHS_NM = (100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0, 3000.0, 5000.0)

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_HERSHEY = {
    "hershey_simplex": cv2.FONT_HERSHEY_SIMPLEX,
    "hershey_duplex": cv2.FONT_HERSHEY_DUPLEX,
    "hershey_complex": cv2.FONT_HERSHEY_COMPLEX,
    "hershey_triplex": cv2.FONT_HERSHEY_TRIPLEX,
    "hershey_plain": cv2.FONT_HERSHEY_PLAIN,
}
_TRUETYPE = {
    "dejavu_sans": "DejaVuSans.ttf",
    "dejavu_sans_bold": "DejaVuSans-Bold.ttf",
    "dejavu_sans_mono": "DejaVuSansMono.ttf",
    "dejavu_serif": "DejaVuSerif.ttf",
    "dejavu_sans_condensed": "DejaVuSansCondensed.ttf",
}
#: Fonts this machine can draw: the Hershey fonts always, DejaVu where installed.
FONTS = tuple(_HERSHEY) + tuple(n for n, f in _TRUETYPE.items() if (_DEJAVU / f).exists())

_INSTRUMENTS = ("SU8000", "SU8230", "SU8220", "Regulus8230", "S-4800", "SU5000")
_SIGNALS = ("SE(U)", "SE(L)", "SE(UL)", "LA0(U)", "SE(M)", "BSE")
_CAPTIONS = (
    "Pd/C sample S1 area A50",
    "Pd2dba3 on carbon, 80 C, 5 min",
    "NanoMark lab, carbon black batch 7",
    "operator: AB   date 2021-03-15",
    "activated carbon, wash acetone",
)


def scale_bar_length_nm(pixel_size_nm: float, width_px: int = 1280) -> float:
    """Longest 1-2-5 x 10^k length in nm that spans at most a third of the field."""
    limit = pixel_size_nm * width_px / 3.0
    exponent = int(np.floor(np.log10(limit)))
    candidates = [m * 10.0**e for e in (exponent - 1, exponent) for m in _NICE_STEPS]
    return max(c for c in candidates if c <= limit)


def format_length(length_nm: float, spelling: str = "hitachi") -> str:
    """A ruler label for ``length_nm``.

    Args:
        length_nm: ruler length, nm.
        spelling: ``"hitachi"`` (``500nm``, ``1.00um``), ``"short"``
            (``500nm``, ``1um``), ``"one_decimal"`` (``2.0um``), or with the
            micro sign: ``"micro"`` (``2.00µm``), ``"micro_short"`` (``2µm``),
            ``"greek_mu"`` (``1.00μm``), ``"spaced"`` (``500 nm``, ``1.00 um``).
    """
    if length_nm < 1000.0:
        return f"{length_nm:.0f} nm" if spelling == "spaced" else f"{length_nm:.0f}nm"
    um = length_nm / 1000.0
    return {
        "hitachi": f"{um:.2f}um",
        "short": f"{um:.0f}um" if um == round(um) else f"{um:.1f}um",
        "one_decimal": f"{um:.1f}um",
        "micro": f"{um:.2f}µm",
        "micro_short": f"{um:.0f}µm" if um == round(um) else f"{um:.1f}µm",
        "greek_mu": f"{um:.2f}μm",
        "spaced": f"{um:.2f} um",
    }[spelling]


@dataclass(frozen=True)
class DataBarStyle:
    """Look of one data bar; levels are fractions of full scale.

    Attributes:
        font: one of :data:`FONTS`.
        text_height_px: height of a digit, px.
        height_px: bar height without captions, px.
        background: bar background level (Hitachi: 0).
        text_level: level of text and ruler (Hitachi: 1).
        line_px: thickness of the ruler line and its ticks, px.
        tick_px: tick length, px.
        ticks_up: ticks rise from the ruler line (else they hang from it).
        ruler_line: draw the line joining the ticks (else the ruler is 11 ticks alone).
        label_above: label above the ruler (else below it).
        right_margin_px: gap from the ruler's right end to the frame edge, px.
        spelling: label spelling, see :func:`format_length`.
        captions: text lines drawn below the bar.
        noise: std of Gaussian noise over the bar.
        jpeg_quality: JPEG re-compression of the whole frame (uint8 only); ``None``: none.
    """

    font: str = "hershey_simplex"
    text_height_px: int = 16
    height_px: int = DATABAR_HEIGHT_PX
    background: float = 0.0
    text_level: float = 1.0
    line_px: int = 1
    tick_px: int = 7
    ticks_up: bool = True
    ruler_line: bool = True
    label_above: bool = True
    right_margin_px: int = 25
    spelling: str = "hitachi"
    captions: tuple[str, ...] = field(default_factory=tuple)
    noise: float = 0.0
    jpeg_quality: int | None = None


@dataclass(frozen=True)
class DataBarTruth:
    """What a drawn bar shows, in frame pixels.

    Attributes:
        field: the field in the frame.
        band: the bar and its captions.
        pixel_size_nm: the field's pixel size, nm/px.
        magnification: the magnification the bar shows (times).
        label: the ruler label as drawn, e.g. ``1.00um``.
        label_nm: the ruler length, nm.
        ruler_px: distance between the centres of the end ticks, px.
        text: the info line as drawn.
    """

    field: FieldBox
    band: FieldBox
    pixel_size_nm: float
    magnification: float
    label: str
    label_nm: float
    ruler_px: float
    text: str


def draw_databar(
    image: np.ndarray,
    pixel_size_nm: float,
    magnification: float,
    *,
    accelerating_voltage_kv: float = 10.0,
    working_distance_mm: float = 8.1,
    signal: str = "SE(U)",
    instrument: str = "SU8000",
    height_px: int = DATABAR_HEIGHT_PX,
) -> np.ndarray:
    """Append a plain Hitachi SU8000 data bar under ``image``.

    Args:
        image: (H, W) uint8 or uint16 grayscale field.
        pixel_size_nm: nm per pixel of the field (sets the scale bar).
        magnification: shown as ``x100k``.
        accelerating_voltage_kv: shown as ``10.0kV``.
        working_distance_mm: shown as ``8.1mm``.
        signal: detector name, e.g. ``SE(U)``.
        instrument: instrument name, e.g. ``SU8000``.
        height_px: bar height, px.

    Returns:
        (H + height_px, W) array of the dtype of ``image``; the field is unchanged.
    """
    width = image.shape[-1]
    text = (
        f"{instrument} {accelerating_voltage_kv:.1f}kV {working_distance_mm:.1f}mm "
        f"{format_magnification(magnification)} {signal}"
    )
    style = DataBarStyle(
        text_height_px=max(8, round(height_px * 0.24)),
        height_px=height_px,
        line_px=max(1, height_px // 40),
        tick_px=max(3, height_px // 10),
        right_margin_px=int(0.02 * width),
    )
    length_nm = scale_bar_length_nm(pixel_size_nm, width)
    return render_databar(image, pixel_size_nm, magnification, style, text, length_nm)[0]


def render_databar(
    image: np.ndarray,
    pixel_size_nm: float,
    magnification: float,
    style: DataBarStyle,
    text: str,
    length_nm: float,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, DataBarTruth]:
    """Append a data bar of ``style`` under ``image``.

    Args:
        image: (H, W) uint8 or uint16 grayscale field.
        pixel_size_nm: nm per pixel of the field.
        magnification: magnification the bar claims (only used for the truth).
        style: look of the bar.
        text: the info line, e.g. ``SU8000 10.0kV 8.1mm x100k SE(U)``.
        length_nm: ruler length, nm.
        rng: random generator for the noise; needed when ``style.noise > 0``.

    Returns:
        (frame, truth): the (H + bar + captions, W) frame of the dtype of
        ``image`` (the field unchanged unless JPEG re-compression is on) and
        what the bar shows.
    """
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError("image must be (H, W) uint8 or uint16")
    field_h, width = image.shape
    full_scale = float(np.iinfo(image.dtype).max)
    caption_step = round(style.text_height_px * 1.8)
    bar_h = style.height_px + caption_step * len(style.captions)
    ink = np.zeros((bar_h, width), np.float32)

    ruler_px = round(length_nm / pixel_size_nm)
    right = width - style.right_margin_px
    left = right - ruler_px
    label = format_length(length_nm, style.spelling)
    if style.font in _HERSHEY:
        label = label.replace("µ", "u").replace("μ", "u")  # Hershey fonts are ASCII only
    ruler_y = _draw_ruler_and_label(ink, left, right, label, style)
    text_top = max(3, ruler_y - style.text_height_px - style.tick_px // 2)
    _draw_text(ink, text, int(0.015 * width), text_top, style.font, style.text_height_px)
    for k, caption in enumerate(style.captions):
        top = style.height_px + k * caption_step + (caption_step - style.text_height_px) // 2
        _draw_text(ink, caption, int(0.015 * width), top, style.font, style.text_height_px)

    levels = style.background + (style.text_level - style.background) * ink
    if style.noise > 0:
        if rng is None:
            raise ValueError("rng is needed for noise")
        levels += rng.normal(0.0, style.noise, levels.shape).astype(np.float32)
    bar = np.round(np.clip(levels, 0.0, 1.0) * full_scale).astype(image.dtype)
    frame = np.vstack([image, bar])
    if style.jpeg_quality is not None and image.dtype == np.uint8:
        _, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, style.jpeg_quality])
        frame = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    truth = DataBarTruth(
        field=FieldBox(0, 0, width, field_h),
        band=FieldBox(0, field_h, width, bar_h),
        pixel_size_nm=float(pixel_size_nm),
        magnification=float(magnification),
        label=label,
        label_nm=float(length_nm),
        ruler_px=float(ruler_px),
        text=text,
    )
    return frame, truth


def random_style(
    rng: np.random.Generator, width_px: int, *, allow_jpeg: bool = True
) -> DataBarStyle:
    """A data bar look drawn at random, sized for a ``width_px`` wide frame."""
    scale = width_px / 1280.0
    height = round(rng.uniform(50, 110) * scale)
    text_height = max(9, round(height * rng.uniform(0.2, 0.32)))
    n_captions = int(rng.choice([0, 0, 1, 2]))
    font = str(rng.choice(FONTS))
    spellings = ["hitachi", "short", "one_decimal", "spaced"]
    if font in _TRUETYPE:
        spellings += ["micro", "micro_short", "greek_mu"]
    line_px = max(1, round(rng.uniform(1, 3) * scale))
    ruler_line = bool(rng.random() < 0.8)
    tick_px = max(3, round(height * rng.uniform(0.08, 0.18)))
    if not ruler_line and rng.random() < 0.5:
        tick_px = max(2, line_px)  # a ruler of dots
    return DataBarStyle(
        font=font,
        text_height_px=text_height,
        height_px=height,
        background=float(rng.choice([0.0, rng.uniform(0.0, 0.12)])),
        text_level=float(rng.choice([1.0, rng.uniform(0.6, 1.0)])),
        line_px=line_px,
        tick_px=tick_px,
        ticks_up=bool(rng.random() < 0.7),
        ruler_line=ruler_line,
        label_above=bool(rng.random() < 0.8),
        right_margin_px=round(rng.uniform(0.015, 0.05) * width_px),
        spelling=str(rng.choice(spellings)),
        captions=tuple(rng.choice(_CAPTIONS, n_captions, replace=False)),
        noise=float(rng.choice([0.0, rng.uniform(0.0, 0.015)])),
        jpeg_quality=int(rng.integers(55, 96)) if allow_jpeg and rng.random() < 0.5 else None,
    )


def random_info_text(magnification: float, rng: np.random.Generator) -> str:
    """An info line such as ``SU8000 10.0kV 9.5mm x100k SE(U)``."""
    parts = [
        str(rng.choice(_INSTRUMENTS)),
        f"{rng.choice([1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0]):.1f}kV",
        f"{rng.uniform(2.0, 15.0):.1f}mm",
        format_magnification(magnification),
        str(rng.choice(_SIGNALS)),
    ]
    if rng.random() < 0.3:
        parts.append(
            f"{rng.integers(1, 13):02d}/{rng.integers(1, 29):02d}/20{rng.integers(15, 25)}"
        )
    return " ".join(parts)


def draw_random_databar(
    image: np.ndarray,
    pixel_size_nm: float,
    rng: np.random.Generator,
    *,
    allow_jpeg: bool = True,
) -> tuple[np.ndarray, DataBarTruth]:
    """Append a random-looking Hitachi data bar under ``image``.

    The magnification shown is the one of ``pixel_size_nm`` at the image width
    (Hitachi's rule), to three significant digits; the ruler is a 100 nm-5 µm
    length spanning 10-40 % of the width.

    Args:
        image: (H, W) uint8 or uint16 field.
        pixel_size_nm: nm per pixel of the field.
        rng: random generator of the look, the texts and the noise.
        allow_jpeg: whether the frame may be JPEG re-compressed (uint8 only).

    Returns:
        (frame, truth) as :func:`render_databar` returns them.
    """
    width = image.shape[1]
    magnification = magnification_for_pixel_size(pixel_size_nm, width)
    style = random_style(rng, width, allow_jpeg=allow_jpeg)
    fitting = [
        length
        for length in RULER_LENGTHS_NM
        if 0.1 * width <= length / pixel_size_nm <= 0.4 * width
    ] or [scale_bar_length_nm(pixel_size_nm, width)]
    length_nm = float(rng.choice(fitting))
    text = random_info_text(magnification, rng)
    # Shrink the text until the info line ends left of the ruler's label.
    ruler_left = width - style.right_margin_px - length_nm / pixel_size_nm
    label_width = _text_width(format_length(length_nm, style.spelling), style)
    free = min(ruler_left, width - style.right_margin_px - label_width) - 0.04 * width
    while _text_width(text, style) > free and style.text_height_px > 9:
        style = replace(style, text_height_px=style.text_height_px - 1)
    return render_databar(image, pixel_size_nm, magnification, style, text, length_nm, rng)


def _draw_ruler_and_label(
    ink: np.ndarray, left: int, right: int, label: str, style: DataBarStyle
) -> int:
    """Draw the ten-division ruler and its label into ``ink``; return the ruler line row."""
    t, tick, h = style.line_px, style.tick_px, style.text_height_px
    gap = max(2, h // 3)
    if style.label_above:
        label_top = max(3, (style.height_px - h - gap - tick - t) // 2)
        line_y = label_top + h + gap + (tick if style.ticks_up else 0)
    else:
        line_y = max(3 + (tick if style.ticks_up else 0), (style.height_px - h - gap - tick) // 2)
        label_top = line_y + t + gap + (0 if style.ticks_up else tick)
    offset = t // 2
    if style.ruler_line:
        ink[line_y : line_y + t, left - offset : right - offset + t] = 1.0
    for x in np.linspace(left, right, 11).round().astype(int):
        top, bottom = (line_y - tick, line_y) if style.ticks_up else (line_y + t, line_y + t + tick)
        ink[top:bottom, x - offset : x - offset + t] = 1.0
    label_w = _text_width(label, style)
    label_x = round((left + right) / 2 - label_w / 2)
    label_x = min(label_x, ink.shape[1] - label_w - 2)
    _draw_text(ink, label, label_x, label_top, style.font, h)
    return line_y


def _text_width(text: str, style: DataBarStyle) -> int:
    """Width of ``text`` in ``style``'s font and size, px."""
    if style.font in _HERSHEY:
        scale, thick = _hershey_scale(style.font, style.text_height_px)
        return cv2.getTextSize(text, _HERSHEY[style.font], scale, thick)[0][0]
    font, _ = _truetype(style.font, style.text_height_px)
    left, _, right, _ = font.getbbox(text)
    return int(right - left)


def _hershey_scale(font: str, text_height_px: int) -> tuple[float, int]:
    """(font scale, stroke thickness) that draw digits ``text_height_px`` tall."""
    unit_height = cv2.getTextSize("0123456789", _HERSHEY[font], 1.0, 1)[0][1]
    return text_height_px / unit_height, max(1, round(text_height_px / 14))


def _truetype(font: str, text_height_px: int) -> tuple[ImageFont.FreeTypeFont, int]:
    """(font, digit top offset in px) that draw digits ``text_height_px`` tall."""
    path = str(_DEJAVU / _TRUETYPE[font])
    reference = ImageFont.truetype(path, 100).getbbox("0123456789")
    size = max(4, round(100 * text_height_px / (reference[3] - reference[1])))
    sized = ImageFont.truetype(path, size)
    return sized, sized.getbbox("0123456789")[1]


def _draw_text(ink: np.ndarray, text: str, x: int, top: int, font: str, height_px: int) -> None:
    """Draw anti-aliased ``text`` into ``ink`` (float32, 0-1) with digit tops at row ``top``."""
    if font in _HERSHEY:
        mask = np.zeros(ink.shape, np.uint8)
        scale, thick = _hershey_scale(font, height_px)
        cv2.putText(
            mask, text, (x, top + height_px), _HERSHEY[font], scale, 255, thick, cv2.LINE_AA
        )
    else:
        sized, offset = _truetype(font, height_px)
        canvas = Image.new("L", (ink.shape[1], ink.shape[0]), 0)
        ImageDraw.Draw(canvas).text((x, top - offset), text, fill=255, font=sized)
        mask = np.asarray(canvas)
    np.maximum(ink, mask.astype(np.float32) / 255.0, out=ink)
