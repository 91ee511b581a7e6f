"""Decoding instrument text whose encoding nobody declared.

SEM software writes metadata text in whatever code page the acquisition PC
uses: UTF-8 on new firmware, cp932 (Shift-JIS) on Japanese-locale Hitachi PCs,
cp1252/latin-1 elsewhere (``µm``). The same rules serve sidecar files, TIFF
tags and PNG/JPEG comments, so one file holds them.
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


def looks_binary(data: bytes) -> bool:
    """True if ``data`` holds control bytes that a text file never contains.

    Trailing NUL padding (fixed-size tag fields) does not count; a byte-order
    mark makes the data text (UTF-16 is full of NULs).
    """
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return False
    return any(byte in _BINARY_BYTES for byte in data.rstrip(b"\x00"))


def decode_text(data: bytes) -> str:
    """Decode instrument text: BOM, then UTF-8, then cp932, then latin-1.

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
