"""The instrument's data bar of an SEM frame, and the field box it leaves.

Hitachi exports put a band under the field (1280 x 960 frames over a
1280 x 890 field on the SU8000, 898 field rows on the Regulus): a uniform
dark background with sparse bright text (instrument, kV, mm, magnification,
detector), a ten-division ruler with its label, sometimes caption lines.
:func:`find_data_bar` finds that band at the bottom (or at the top) of a frame
and returns the :class:`FieldBox` of the field; analysis then works on
``field.crop(pixels)`` only. It returns ``None`` for a frame without a bar,
so that a field is never cut short.
"""

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

#: Bands shorter than this are not data bars, px.
MIN_BAND_PX = 14
#: A band may cover at most this fraction of the frame height.
MAX_BAND_FRACTION = 0.4
#: The bar background may be at most this level (8-bit scale); Hitachi's is 0.
MAX_BACKGROUND = 64.0
#: The bar background is flat: 90 % of its pixels within this many levels of it.
MAX_NOISE = 8.0
#: Text and ruler are at least this much brighter than the background (8-bit scale).
MIN_TEXT_CONTRAST = 60.0
#: A row belongs to the band when at least this fraction of it is background...
MIN_BACKGROUND_FRACTION = 0.2
#: ...and at most this fraction is neither background nor within
#: :data:`INK_REACH_PX` of text (where JPEG ringing and anti-aliasing are).
MAX_UNEXPLAINED_FRACTION = 0.03
INK_REACH_PX = 8
#: Rows of a band that may fail the test in a row (JPEG damage), px.
MAX_GAP_PX = 2
#: A band's text holds a chain of at least this many glyphs on one baseline.
MIN_GLYPHS = 5


@dataclass(frozen=True)
class FieldBox:
    """A rectangle of a frame, in frame pixels (x to the right, y down).

    Attributes:
        x_px: left column, px (>= 0).
        y_px: top row, px (>= 0).
        width_px: width, px (> 0).
        height_px: height, px (> 0).

    Example:
        >>> box = FieldBox(0, 0, 1280, 890)
        >>> box.crop(np.zeros((960, 1280))).shape
        (890, 1280)
    """

    x_px: int
    y_px: int
    width_px: int
    height_px: int

    def __post_init__(self) -> None:
        for name in ("x_px", "y_px", "width_px", "height_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"{name} must be an integer, not {value!r}")
            object.__setattr__(self, name, int(value))
        if self.x_px < 0 or self.y_px < 0:
            raise ValueError("x_px and y_px must be >= 0")
        if self.width_px <= 0 or self.height_px <= 0:
            raise ValueError("width_px and height_px must be > 0")

    @classmethod
    def whole(cls, shape: tuple[int, ...]) -> "FieldBox":
        """The box of a whole (H, W) or (C, H, W) frame."""
        return cls(0, 0, int(shape[-1]), int(shape[-2]))

    @property
    def bottom_px(self) -> int:
        """One past the last row, px."""
        return self.y_px + self.height_px

    @property
    def right_px(self) -> int:
        """One past the last column, px."""
        return self.x_px + self.width_px

    def crop(self, array: np.ndarray) -> np.ndarray:
        """The box of an (H, W) or (C, H, W) ``array`` (a view, not a copy).

        Raises:
            ValueError: if the box does not fit in the array.
        """
        if array.ndim not in (2, 3):
            raise ValueError(f"array must be (H, W) or (C, H, W), not {array.shape}")
        height, width = array.shape[-2:]
        if self.bottom_px > height or self.right_px > width:
            raise ValueError(f"{self} does not fit in an array of shape {array.shape}")
        return array[..., self.y_px : self.bottom_px, self.x_px : self.right_px]

    def contains(self, x_px: float, y_px: float) -> bool:
        """Whether the point (x, y), in frame pixels, lies in the box."""
        return self.x_px <= x_px < self.right_px and self.y_px <= y_px < self.bottom_px

    def to_json(self) -> dict[str, int]:
        """``{"x_px": ..., "y_px": ..., "width_px": ..., "height_px": ...}``."""
        return {
            "x_px": self.x_px,
            "y_px": self.y_px,
            "width_px": self.width_px,
            "height_px": self.height_px,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FieldBox":
        """Inverse of :meth:`to_json`; raises ``ValueError`` on missing or bad values."""
        try:
            return cls(*(data[k] for k in ("x_px", "y_px", "width_px", "height_px")))
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a field box: {data!r}") from error


@dataclass(frozen=True)
class DataBar:
    """A data bar found in a frame.

    Attributes:
        field: the image field, frame px.
        band: the info band (bar and caption lines), frame px.
        position: ``"bottom"`` or ``"top"``.
        background: the band's background level, fraction of full scale.
        text_level: the brightest text level, fraction of full scale.
        ink_fraction: fraction of band pixels that are text or ruler.
        n_glyphs: glyph-sized bright components in the band.
    """

    field: FieldBox
    band: FieldBox
    position: str
    background: float
    text_level: float
    ink_fraction: float
    n_glyphs: int

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form (boxes as :meth:`FieldBox.to_json`)."""
        return {
            "field": self.field.to_json(),
            "band": self.band.to_json(),
            "position": self.position,
            "background": self.background,
            "text_level": self.text_level,
            "ink_fraction": self.ink_fraction,
            "n_glyphs": self.n_glyphs,
        }


def find_data_bar(pixels: np.ndarray) -> DataBar | None:
    """Find the instrument's info band at the bottom (else the top) of a frame.

    The rule, on an 8-bit scale, from the frame edge inwards:

    1. The background ``b`` is the median of the 4 outermost rows; it must be
       at most :data:`MAX_BACKGROUND`, and the spread of those rows' pixels
       near ``b`` (90th percentile of ``|v - b|``) at most :data:`MAX_NOISE`:
       a bar background is flat, a field is not. The tolerance is 2.5 x that
       spread + 2, at least 6 levels.
    2. A row belongs to the band when at least :data:`MIN_BACKGROUND_FRACTION`
       of it is within the tolerance of ``b`` and at most
       :data:`MAX_UNEXPLAINED_FRACTION` is neither that nor within
       :data:`INK_REACH_PX` of text (``v >= b +`` :data:`MIN_TEXT_CONTRAST`),
       where anti-aliasing and JPEG ringing put grey pixels. A field row,
       however dark, has grey levels everywhere.
    3. The band is the run of such rows from the edge, bridging failures of
       up to :data:`MAX_GAP_PX` rows; it is extended over rows of the 8-row
       JPEG block at its inner edge whose median is near ``b`` (within the
       tolerance, and at most half as far from ``b`` as from the field's
       level) and whose spread is nearer the bar's than the field's (JPEG
       smears the field into those bar rows; the field rows keep their
       texture).
    4. The band is accepted when it is :data:`MIN_BAND_PX` tall to
       :data:`MAX_BAND_FRACTION` of the frame (a run through the whole strip
       is a dark field, or a bar under a nearly black field, and gives
       ``None``), and holds text: a chain of at least
       :data:`MIN_GLYPHS` glyphs on one baseline, or a ruler (a long thin
       comb of a line and ticks). Black areas with bright specks are not bars.

    Args:
        pixels: (H, W) uint8 or uint16 frame.

    Returns:
        :class:`DataBar`, or ``None`` when the frame has no bar (the field is
        then the whole frame).

    Example:
        >>> find_data_bar(np.full((960, 1280), 80, np.uint8)) is None
        True
    """
    if pixels.ndim != 2:
        raise ValueError(f"pixels must be (H, W), not {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels must be uint8 or uint16, not {pixels.dtype}")
    height, width = pixels.shape
    if height < 3 * MIN_BAND_PX or width < 64:
        return None
    scale = np.float32(255.0 / float(np.iinfo(pixels.dtype).max))
    depth = int(MAX_BAND_FRACTION * height)
    for position in ("bottom", "top"):
        if position == "bottom":
            strip, rows = pixels[height - depth :], np.arange(height - depth, height)
        else:
            strip, rows = pixels[:depth][::-1], np.arange(depth)[::-1]
        found = _band_from_edge(strip.astype(np.float32) * scale, rows)
        if found is None:
            continue
        band_h, background = found
        if position == "bottom":
            band = FieldBox(0, height - band_h, width, band_h)
            field = FieldBox(0, 0, width, height - band_h)
        else:
            band = FieldBox(0, 0, width, band_h)
            field = FieldBox(0, band_h, width, height - band_h)
        text = _text_evidence(band.crop(pixels).astype(np.float32) * scale, background)
        if text is None:
            continue
        text_level, ink_fraction, glyphs = text
        return DataBar(
            field=field,
            band=band,
            position=position,
            background=background / 255.0,
            text_level=text_level / 255.0,
            ink_fraction=ink_fraction,
            n_glyphs=glyphs,
        )
    return None


def _band_from_edge(strip: np.ndarray, rows: np.ndarray) -> tuple[int, float] | None:
    """(band height px, background level) of a band ending at the last row of ``strip``.

    Args:
        strip: (D, W) float32 rows on an 8-bit scale, the frame edge last.
        rows: (D,) frame row of each strip row.
    """
    depth = strip.shape[0]
    outer = strip[-4:]
    background = float(np.median(outer))
    if background > MAX_BACKGROUND:
        return None
    # The 90th percentile, not the MAD: noise on a black bar is clipped at 0,
    # which leaves half of the pixels exactly at the background.
    spread = np.abs(outer - np.float32(background))
    spread = spread[spread < 20.0]
    noise = float(np.percentile(spread, 90)) if spread.size else 0.0
    if noise > MAX_NOISE:
        return None
    tolerance = max(6.0, 2.5 * noise + 2.0)
    deviation = strip - np.float32(background)
    is_background = np.abs(deviation) <= tolerance
    ink = (deviation >= MIN_TEXT_CONTRAST).astype(np.uint8)
    # JPEG rings within its 8 x 8 blocks and text edges are anti-aliased, so
    # grey pixels near text are expected in a bar; grey pixels elsewhere are not.
    near_ink = cv2.dilate(ink, np.ones((2 * INK_REACH_PX + 1,) * 2, np.uint8)).astype(bool)
    unexplained = (~is_background & ~near_ink).mean(axis=1)
    is_bar = (is_background.mean(axis=1) >= MIN_BACKGROUND_FRACTION) & (
        unexplained <= MAX_UNEXPLAINED_FRACTION
    )
    run = _run_from_edge(is_bar)
    if run >= depth:
        return None  # the whole strip looks like bar: a dark field, not a bar
    band_h = _extend_into_jpeg_block(strip, rows, run, background, tolerance)
    if band_h < MIN_BAND_PX:
        return None
    return band_h, background


def _run_from_edge(is_bar: np.ndarray) -> int:
    """Rows from the end of ``is_bar`` up to the first gap longer than :data:`MAX_GAP_PX`."""
    run, gap = 0, 0
    for value in is_bar[::-1]:
        if value:
            run, gap = run + gap + 1, 0
        else:
            gap += 1
            if gap > MAX_GAP_PX:
                break
    return run


def _extend_into_jpeg_block(
    strip: np.ndarray, rows: np.ndarray, run: int, background: float, tolerance: float
) -> int:
    """Band height: ``run`` plus the JPEG-damaged bar rows just beyond it.

    JPEG smears the field's texture into the first bar rows of the 8-row
    block that straddles the edge, so they may fail the row test. They still
    have their median at the background (within the tolerance, and at most
    half as far from it as from the field's level) and a spread (median absolute
    deviation) nearer to the bar's than to the field's, which field rows,
    even ones the bar darkened, do not. Only rows of that one block count.

    Args:
        strip: (D, W) float32 rows, 8-bit scale, the band at the end.
        rows: (D,) frame row of each strip row (JPEG blocks start at multiples of 8).
        run: rows at the end of ``strip`` that passed the row test.
        background: band background level, 8-bit scale.
        tolerance: background tolerance, levels.
    """
    depth = strip.shape[0]
    first = depth - 1 - run
    block = [i for i in range(first, max(-1, first - 8), -1) if rows[i] // 8 == rows[first] // 8]
    if block[-1] < 4:
        return run
    beyond = block[-1] - 1
    medians = np.median(strip[beyond - 2 : first + 4], axis=1, keepdims=True)
    spreads = np.median(np.abs(strip[beyond - 2 : first + 4] - medians), axis=1)
    # spreads[k] belongs to strip row beyond - 2 + k.
    field_spread = float(np.median(spreads[:3]))
    bar_spread = float(np.median(spreads[-3:]))
    limit = 0.5 * (field_spread + bar_spread)
    field_level = float(np.median(medians[:3]))
    height = run
    for index in block:
        k = index - (beyond - 2)
        offset = abs(float(medians[k, 0]) - background)
        to_field = abs(float(medians[k, 0]) - field_level)
        if offset > tolerance or offset > 0.5 * to_field or spreads[k] > limit:
            break
        height += 1
    return height


def _text_evidence(band: np.ndarray, background: float) -> tuple[float, float, int] | None:
    """(text level, ink fraction, glyphs in the longest chain) of a band, or ``None``
    when it holds neither a glyph chain nor a ruler.

    Args:
        band: (h, W) float32 band, 8-bit scale, in frame orientation.
        background: its background level, 8-bit scale.
    """
    text_level = float(np.percentile(band, 99.9))
    if text_level - background < MIN_TEXT_CONTRAST:
        return None
    ink = (band - np.float32(background) >= 0.5 * (text_level - background)).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    stats = stats[1:]
    chain = _longest_glyph_chain(stats, band.shape[0])
    if chain < MIN_GLYPHS and not _has_ruler(stats, band.shape):
        return None
    return text_level, float(ink.mean()), chain


def _longest_glyph_chain(stats: np.ndarray, band_h: int) -> int:
    """Length of the longest left-to-right chain of glyphs on one baseline.

    Glyphs are components 5 px to 0.8 band tall and at most 3 heights wide;
    consecutive glyphs of a chain have bottoms within max(1, 0.15 height) px,
    heights within a factor 1.7 and a gap under 1.2 heights. Specks scattered
    at random rarely line up like that; words do.
    """
    x, top, w, h = (stats[:, k] for k in range(4))
    glyph = (h >= 5) & (h <= 0.8 * band_h) & (w <= 3 * h)
    order = np.flatnonzero(glyph)[np.argsort(x[glyph], kind="stable")]
    bottom = top + h
    best = {}
    longest = 0
    for i in order:
        length = 1
        for j, chained in best.items():
            gap = x[i] - (x[j] + w[j])
            size = max(h[i], h[j])
            if (
                -2 <= gap <= 1.2 * size
                and abs(bottom[i] - bottom[j]) <= max(1.0, 0.15 * size)
                and max(h[i], h[j]) <= 1.7 * min(h[i], h[j])
            ):
                length = max(length, chained + 1)
        best[i] = length
        longest = max(longest, length)
        # Glyphs far to the left can no longer chain with what follows.
        best = {j: n for j, n in best.items() if x[i] - (x[j] + w[j]) <= 3 * band_h}
    return longest


def _has_ruler(stats: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether a component is a ruler: a comb at least 5 % of the width long and thin."""
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, 4]
    comb = (w >= 0.05 * shape[1]) & (h >= 3) & (h <= 0.6 * shape[0]) & (area < 0.6 * w * h)
    return bool(comb.any())
