"""Hitachi's magnification scale, and magnification text as a data bar prints it.

Hitachi SU-series SEMs (SU8000, SU8200, S-4800, Regulus) state magnification
for a 127 mm wide display (a 4 x 5 inch print), whatever the image width in
pixels, so the pixel size of a ``width_px`` wide image at magnification ``M``
is 127 mm / (M x width_px): 0.992 nm/px for 1280 px at x100k. The data bar's
ruler and its magnification text are thus two independent readings of one
number.

:func:`parse_magnification` reads the magnification words that data bars and
OCR give: ``x100k``, ``x1.50k``, ``×150k``, ``x500``, ``100kx``, ``X100K``.
"""

import re

#: Display width that Hitachi magnifications refer to, nm (127 mm).
HITACHI_DISPLAY_WIDTH_NM = 127e6

# OCR reads "0" as "O"/"o"/"D", "1" as "l"/"I"/"|", "5" as "S" and "×" as "x"/"X"/"*";
# only inside a word that otherwise looks like a magnification are they digits.
_DIGIT_CONFUSIONS = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1"})
_PREFIX = r"[x×X*]"
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_SUFFIX = r"([kKM]?)"
_PREFIXED = re.compile(rf"^{_PREFIX}\s?{_NUMBER}\s?{_SUFFIX}$")
_POSTFIXED = re.compile(rf"^{_NUMBER}\s?{_SUFFIX}\s?{_PREFIX}$")
_FACTORS = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6}
#: Magnifications outside this range are misreadings, not SEM settings.
MAGNIFICATION_RANGE = (5.0, 3e6)


def pixel_size_for_magnification(magnification: float, width_px: int = 1280) -> float:
    """Pixel size in nm/px of a ``width_px`` wide Hitachi image at ``magnification``.

    Example:
        >>> round(pixel_size_for_magnification(100_000, 1280), 4)
        0.9922
    """
    if magnification <= 0 or width_px <= 0:
        raise ValueError("magnification and width_px must be positive")
    return HITACHI_DISPLAY_WIDTH_NM / (magnification * width_px)


def magnification_for_pixel_size(pixel_size_nm: float, width_px: int = 1280) -> float:
    """Inverse of :func:`pixel_size_for_magnification`: magnification (times)."""
    if pixel_size_nm <= 0 or width_px <= 0:
        raise ValueError("pixel_size_nm and width_px must be positive")
    return HITACHI_DISPLAY_WIDTH_NM / (pixel_size_nm * width_px)


def parse_magnification(word: str) -> float | None:
    """Magnification (times) of one word such as ``x100k``; ``None`` if it is not one.

    Accepts a prefix or postfix ``x``/``×`` (``X`` and ``*`` as OCR reads
    them), a ``k``/``K`` (thousand) or ``M`` suffix, a decimal point or
    comma, and OCR's letter-for-digit confusions inside the number
    (``x1O0k``). A word without the ``x`` is not a magnification (``100k``
    could be anything), nor is one outside :data:`MAGNIFICATION_RANGE`.

    Example:
        >>> parse_magnification("x1.50k"), parse_magnification("100kx")
        (1500.0, 100000.0)
    """
    text = word.strip()
    if len(text) < 2 or not any(c.isdigit() for c in text):
        return None
    # Translate confusions only after the leading "x"/"X", which is not a digit.
    head, body = text[0], text[1:]
    if re.match(_PREFIX, head):
        text = head + _translate_digits(body)
    else:
        text = _translate_digits(text[:-1]) + text[-1]
    match = _PREFIXED.match(text) or _POSTFIXED.match(text)
    if match is None:
        return None
    value = float(match.group(1).replace(",", ".")) * _FACTORS[match.group(2)]
    low, high = MAGNIFICATION_RANGE
    return value if low <= value <= high else None


def format_magnification(magnification: float) -> str:
    """Hitachi's spelling with three significant digits: ``x100k``, ``x1.50k``, ``x800``."""
    if magnification < 1000:
        return f"x{magnification:.0f}"
    thousands = magnification / 1000.0
    decimals = 2 if thousands < 10 else 1 if thousands < 100 else 0
    return f"x{thousands:.{decimals}f}k"


def _translate_digits(text: str) -> str:
    """``text`` with OCR letter confusions turned into digits, keeping a k/K/M suffix."""
    suffix = text[-1] if text and text[-1] in "kKM" else ""
    core = text[: len(text) - len(suffix)]
    core = core.translate(_DIGIT_CONFUSIONS)
    # "S" for "5" only between digits: a trailing "S" is more likely noise than a digit.
    core = re.sub(r"(?<=\d)S|S(?=\d)", "5", core)
    return core + suffix
