"""Decoding instrument text whose encoding nobody declared.

SEM software writes metadata text in whatever code page the acquisition PC
uses: UTF-8 on new firmware, cp932 (Shift-JIS) on Japanese-locale Hitachi PCs,
cp1252/latin-1 elsewhere (``µm``), and UTF-16LE without a byte-order mark in
the Windows ``XP*`` TIFF tags (Hitachi SU8200/Regulus). The same rules serve
sidecar files, TIFF tags and PNG/JPEG comments, so one file holds them.
"""

import codecs

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control bytes that never occur in text; tab, CR, LF, FF and the DOS end-of-file
# mark (0x1a) do, and NULs are tolerated as padding at the end only.
_BINARY_BYTES = frozenset(range(0x09)) | frozenset(range(0x0E, 0x20)) - {0x1A}
_TEXT_CONTROLS = frozenset("\t\n\r\x0c\x1a")
# Share of UTF-16 code units that must be ASCII (high byte NUL) before BOM-less
# bytes count as UTF-16LE: instrument text always has ASCII keys, while 8-bit
# text has no NUL high bytes at all.
_MIN_ASCII_UNITS = 0.3


def looks_binary(data: bytes) -> bool:
    """True if ``data`` holds control bytes that a text file never contains.

    Trailing NUL padding (fixed-size tag fields) does not count; a byte-order
    mark, or text that reads as UTF-16LE (:func:`looks_utf16le`), makes the
    data text (UTF-16 is full of NULs).
    """
    if any(data.startswith(bom) for bom, _ in _BOMS) or looks_utf16le(data):
        return False
    return any(byte in _BINARY_BYTES for byte in data.rstrip(b"\x00"))


def looks_utf16le(data: bytes) -> bool:
    """True if BOM-less ``data`` is UTF-16LE text, as Windows writes the XP* TIFF tags.

    It must decode as UTF-16LE without control characters other than tab,
    CR, LF, FF and 0x1a, and at least two and 30% of its code units must be
    ASCII (NUL high byte). Trailing NUL code units (terminators, padding) are ignored.
    """
    text = _utf16le_text(data)
    if not text or any(ord(char) < 0x20 and char not in _TEXT_CONTROLS for char in text):
        return False
    # 8-bit text read as UTF-16LE has at most one ASCII unit: its NUL-padded last byte.
    ascii_units = sum(ord(char) < 0x80 for char in text)
    return ascii_units >= 2 and ascii_units >= _MIN_ASCII_UNITS * len(text)


def decode_utf16le(data: bytes) -> str:
    """Decode UTF-16LE bytes (no BOM), dropping trailing NULs; bad units become U+FFFD."""
    return data[: len(data) // 2 * 2].decode("utf-16-le", errors="replace").rstrip("\x00")


def decode_text(data: bytes) -> str:
    """Decode instrument text: BOM, then UTF-16LE, then UTF-8, then cp932, then latin-1.

    Args:
        data: raw bytes; trailing NUL padding is removed.

    Returns:
        The text. latin-1 never fails, so this always returns something.

    Example:
        >>> decode_text("WorkingDistance=8100 µm".encode("latin-1"))
        'WorkingDistance=8100 µm'
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace").rstrip("\x00")
    if looks_utf16le(data):
        return decode_utf16le(data)
    data = data.rstrip(b"\x00")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError:
        text = ""
    # Latin-1 bytes such as "µ" (0xB5) also decode as cp932, but to half-width
    # katakana; real Japanese text has full-width characters. Prefer cp932 only then.
    if any(ord(char) > 0x7F and not 0xFF61 <= ord(char) <= 0xFF9F for char in text):
        return text
    return data.decode("latin-1")


def _utf16le_text(data: bytes) -> str | None:
    """``data`` as strict UTF-16LE minus trailing NULs, or ``None`` if it is not UTF-16LE."""
    if len(data) < 4:
        return None
    try:
        return data[: len(data) // 2 * 2].decode("utf-16-le").rstrip("\x00")
    except UnicodeDecodeError:
        return None
