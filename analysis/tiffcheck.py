"""TIFF structure check: walk every image file directory (IFD) before decoding.

A TIFF is a set of offsets, and every one of them can lie: strips that point
past the end (a truncated upload), a second page, a directory loop, data
after the last byte that any offset accounts for (a polyglot). The walk
follows the IFD chain and the sub-directories (SubIFDs, EXIF, GPS) of classic
and BigTIFF files, checks every out-of-line tag value and image strip or tile
against the file size, and rejects sample types NanoMark does not analyse
(float, signed, 32-bit, 1-bit, palette) with the reason.
"""

from dataclasses import dataclass

import numpy as np

from analysis.sniff import (
    ImageHeader,
    SEMFileError,
    check_dimensions,
    reject_embedded_payload,
    reject_trailing_data,
)

# TIFF field type -> bytes per value (TIFF 6.0 and BigTIFF types).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TYPE_SIZES |= {16: 8, 17: 8, 18: 8}
_UNSIGNED = {1: "u1", 3: "u2", 4: "u4", 13: "u4", 16: "u8", 18: "u8"}
_TEXT_TYPES = {1, 2, 7}  # BYTE, ASCII, UNDEFINED: where text (or a payload) can hide
_DATA_TAGS = ((273, 279), (324, 325), (513, 514))  # (offsets, byte counts): strips, tiles, old JPEG
_IMAGE_DATA_TAGS = {273, 279, 324, 325, 513, 514, 288, 289}
_SUB_DIRECTORY_TAGS = (330, 34665, 34853, 40965)  # SubIFDs, EXIF, GPS, Interoperability
# Tags that shape the image; the walk and the decoder must read them the same way.
_STRUCTURAL_TAGS = frozenset({254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 284})
_STRUCTURAL_TAGS |= {322, 323, 324, 325, 330, 339}
_REDUCED_IMAGE = 1  # NewSubfileType bit: a thumbnail or pyramid level, not a page
_MAX_DIRECTORIES = 1024
_MAX_ENTRIES = 4096
_SAMPLE_FORMATS = {
    2: "signed-integer",
    3: "floating-point",
    4: "undefined",
    5: "complex",
    6: "complex",
}
_PHOTOMETRIC = {0: "MinIsWhite", 1: "MinIsBlack", 2: "RGB"}
_OTHER_COLOUR_MODELS = {3: "Palette-colour", 4: "Mask", 5: "CMYK", 6: "YCbCr", 8: "CIELab"}


@dataclass(frozen=True)
class _Layout:
    """Classic TIFF or BigTIFF field sizes for one byte order."""

    order: str  # "<" little-endian, ">" big-endian
    offset: str  # numpy dtype of an offset field
    count: str  # numpy dtype of an entry count
    entry: int  # bytes per directory entry
    inline: int  # bytes of a value stored in the entry itself


def inspect_tiff(data: bytes, max_pixels: int) -> ImageHeader:
    """Validate a TIFF file's directories and data offsets; return its first page's header.

    Args:
        data: the whole file (starts with ``II*\\0``, ``MM\\0*`` or the BigTIFF forms).
        max_pixels: largest accepted width x height, checked as soon as the
            first directory is read.

    Returns:
        :class:`ImageHeader` of the first page (8 or 16 bit; 1, 3 or 4 channels).

    Raises:
        SEMFileError: truncated, corrupt, multi-page, unsupported samples or
            compression layout, over the cap, or carrying another document.
    """
    layout, first = _read_header(data)
    extents = [(0, 8 if layout.entry == 12 else 16)]
    visited: set[int] = set()
    page = _read_directory(data, layout, first, visited, extents)
    header = _page_header(page, max_pixels)
    _walk_sub_directories(data, layout, page, visited, extents)
    _check_image_data(data, page, extents)
    pages = 1
    offset = page.next
    while offset:
        directory = _read_directory(data, layout, offset, visited, extents)
        if not directory.scalar(254, 0) & _REDUCED_IMAGE:
            pages += 1
        _walk_sub_directories(data, layout, directory, visited, extents)
        _check_image_data(data, directory, extents)
        offset = directory.next
    if pages > 1:
        raise SEMFileError(f"The TIFF file has {pages} pages; upload one image per file.")
    reject_trailing_data(data, _covered_end(data, extents), "TIFF image data")
    return header


@dataclass
class _Directory:
    """One IFD: integer tag values (small ones only) and the offset of the next IFD."""

    values: dict[int, np.ndarray]
    next: int

    def scalar(self, tag: int, default: int) -> int:
        value = self.values.get(tag)
        return int(value[0]) if value is not None and value.size else default


def _read_header(data: bytes) -> tuple[_Layout, int]:
    order = "<" if data[:2] == b"II" else ">"
    if data[2:4] in (b"*\x00", b"\x00*"):
        layout = _Layout(order, order + "u4", order + "u2", 12, 4)
        size = 8
    else:
        layout = _Layout(order, order + "u8", order + "u8", 20, 8)
        size = 16
    if len(data) < size:
        raise SEMFileError("The TIFF file is truncated (shorter than its header).")
    if size == 16 and np.frombuffer(data, order + "u2", 2, 4).tolist() != [8, 0]:
        raise SEMFileError("The TIFF file is corrupt (invalid BigTIFF header).")
    first = int(np.frombuffer(data, layout.offset, 1, size - np.dtype(layout.offset).itemsize)[0])
    if not first:
        raise SEMFileError("The TIFF file is corrupt (it has no image directory).")
    return layout, first


def _read_directory(
    data: bytes, layout: _Layout, offset: int, visited: set[int], extents: list[tuple[int, int]]
) -> _Directory:
    if offset in visited:
        raise SEMFileError("The TIFF file is corrupt (its directories form a loop).")
    if len(visited) >= _MAX_DIRECTORIES:
        raise SEMFileError(f"The TIFF file has more than {_MAX_DIRECTORIES} directories.")
    visited.add(offset)
    count_size = np.dtype(layout.count).itemsize
    offset_size = np.dtype(layout.offset).itemsize
    if offset + count_size > len(data):
        raise SEMFileError("The TIFF file is truncated (a directory points past the end).")
    count = int(np.frombuffer(data, layout.count, 1, offset)[0])
    end = offset + count_size + count * layout.entry + offset_size
    if not 0 < count <= _MAX_ENTRIES:
        raise SEMFileError(f"The TIFF file is corrupt (a directory declares {count} tags).")
    if end > len(data):
        raise SEMFileError("The TIFF file is truncated (a directory runs past the end).")
    extents.append((offset, end))
    values: dict[int, np.ndarray] = {}
    for entry in range(offset + count_size, end - offset_size, layout.entry):
        tag, kind = np.frombuffer(data, layout.order + "u2", 2, entry)
        # An entry's value count has the width of an offset (4 or 8 bytes), not of the tag count.
        n = int(np.frombuffer(data, layout.offset, 1, entry + 4)[0])
        size = n * _TYPE_SIZES.get(int(kind), 0)
        value_at = entry + 4 + offset_size
        if size > layout.inline:
            value_at = int(np.frombuffer(data, layout.offset, 1, value_at)[0])
            if value_at + size > len(data):
                raise SEMFileError(
                    f"The TIFF file is truncated (tag {int(tag)} points past the end of the file)."
                )
            extents.append((value_at, value_at + size))
        if int(tag) in _STRUCTURAL_TAGS and int(kind) not in _UNSIGNED:
            raise SEMFileError(f"The TIFF file is corrupt (tag {int(tag)} has type {int(kind)}).")
        if int(kind) in _UNSIGNED:
            values[int(tag)] = np.frombuffer(data, layout.order + _UNSIGNED[int(kind)], n, value_at)
        if int(kind) in _TEXT_TYPES and int(tag) not in _IMAGE_DATA_TAGS:
            reject_embedded_payload(data[value_at : value_at + size], f"TIFF tag {int(tag)}")
    next_offset = int(np.frombuffer(data, layout.offset, 1, end - offset_size)[0])
    return _Directory(values, next_offset)


def _page_header(page: _Directory, max_pixels: int) -> ImageHeader:
    width, height = page.scalar(256, 0), page.scalar(257, 0)
    check_dimensions(width, height, max_pixels)
    samples = page.scalar(277, 1)
    bits = page.values.get(258, np.array([1]))
    sample_format = page.scalar(339, 1)
    photometric = page.scalar(262, 2 if samples >= 3 else 1)
    if sample_format in _SAMPLE_FORMATS:
        raise SEMFileError(
            f"TIFF with {bits[0]}-bit {_SAMPLE_FORMATS[sample_format]} samples is not supported; "
            "export the image as 8- or 16-bit unsigned integer TIFF."
        )
    if len(set(bits.tolist())) != 1 or int(bits[0]) not in (8, 16):
        depth = "/".join(str(int(b)) for b in bits)
        name = " (bilevel)" if depth == "1" else ""
        raise SEMFileError(
            f"TIFF with {depth}-bit samples{name} is not supported; SEM images must be 8 or 16 bit."
        )
    if photometric not in _PHOTOMETRIC:
        name = _OTHER_COLOUR_MODELS.get(photometric, f"Colour model {photometric}")
        raise SEMFileError(f"{name} TIFF is not supported; save as greyscale or RGB.")
    expected = 3 if photometric == 2 else 1
    if not expected <= samples <= expected + 1:
        raise SEMFileError(f"TIFF with {samples} samples per pixel is not supported.")
    _check_segment_table(page, width, height, samples, int(bits[0]) // 8)
    return ImageHeader("tiff", width, height, int(bits[0]), samples)


def _check_segment_table(
    page: _Directory, width: int, height: int, samples: int, sample_bytes: int
) -> None:
    """The strip or tile count must match the image size (decoders fill missing ones with zeros)."""
    planes = samples if page.scalar(284, 1) == 2 else 1
    if 324 in page.values:
        tile_width, tile_length = page.scalar(322, 0), page.scalar(323, 0)
        if not tile_width or not tile_length:
            raise SEMFileError("The TIFF file is corrupt (its tiles have no size).")
        across, down = -(-width // tile_width), -(-height // tile_length)
        expected = across * down * planes
        pixels = expected * tile_width * tile_length
        offsets, counts = page.values[324], page.values.get(325)
    elif 273 in page.values:
        rows = min(page.scalar(278, height), height)
        if not rows:
            raise SEMFileError("The TIFF file is corrupt (RowsPerStrip is 0).")
        expected = -(-height // rows) * planes
        pixels = width * height * planes
        offsets, counts = page.values[273], page.values.get(279)
    else:
        return
    if len(offsets) != expected:
        raise SEMFileError(
            f"The TIFF file is corrupt (it has {len(offsets)} image strips or tiles "
            f"where its size needs {expected})."
        )
    uncompressed = page.scalar(259, 1) == 1
    needed = pixels * (samples // planes) * sample_bytes
    if uncompressed and counts is not None and int(counts.sum(dtype=np.uint64)) < needed:
        raise SEMFileError("The TIFF file is truncated (it holds less image data than its size).")


def _walk_sub_directories(
    data: bytes,
    layout: _Layout,
    directory: _Directory,
    visited: set[int],
    extents: list[tuple[int, int]],
    depth: int = 0,
) -> None:
    """Validate SubIFD/EXIF/GPS directories so that their data counts as accounted for."""
    if depth > 4:
        raise SEMFileError("The TIFF file is corrupt (sub-directories nest too deep).")
    for tag in _SUB_DIRECTORY_TAGS:
        for offset in directory.values.get(tag, ()):
            child = _read_directory(data, layout, int(offset), visited, extents)
            _walk_sub_directories(data, layout, child, visited, extents, depth + 1)
            _check_image_data(data, child, extents)


def _check_image_data(data: bytes, directory: _Directory, extents: list[tuple[int, int]]) -> None:
    """Every strip or tile must lie inside the file; record where they are."""
    has_data = False
    for offsets_tag, counts_tag in _DATA_TAGS:
        offsets = directory.values.get(offsets_tag)
        counts = directory.values.get(counts_tag)
        if offsets is None and counts is None:
            continue
        if offsets is None or counts is None or len(offsets) != len(counts):
            raise SEMFileError("The TIFF file is corrupt (its strip or tile table is incomplete).")
        ends = offsets.astype(np.uint64) + counts.astype(np.uint64)
        if ends.size and int(ends.max()) > len(data):
            raise SEMFileError(
                "The TIFF file is truncated (its image data points past the end of the file)."
            )
        nonempty = counts > 0
        if nonempty.any():
            extents.append((int(offsets[nonempty].min()), int(ends[nonempty].max())))
        has_data = True
    if not has_data and 256 in directory.values:
        raise SEMFileError("The TIFF file is corrupt (an image directory has no image data).")


def _covered_end(data: bytes, extents: list[tuple[int, int]]) -> int:
    """Offset after the last byte any directory accounts for, allowing a little zero padding."""
    end = max(stop for _, stop in extents)
    # Some writers pad the file to an even or word-aligned length with zeros.
    if len(data) - end <= 16 and not data[end:].strip(b"\x00"):
        return len(data)
    return end
