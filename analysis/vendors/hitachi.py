"""Hitachi ``key=value`` text (sidecar, ImageDescription, XPComment) as a :class:`VendorReading`."""

from analysis.hitachi import hitachi_pixel_size_nm, parse_hitachi_text
from analysis.vendors.reading import VendorReading


def read_hitachi(text: str) -> VendorReading:
    """Read Hitachi metadata text (see :func:`analysis.hitachi.parse_hitachi_text`).

    Args:
        text: Hitachi ``[SemImageFile]`` or SU8200/Regulus XPComment text.

    Returns:
        Pixel size from ``PixelSize`` (nm/px), or a problem naming the
        missing or unreadable value; ``raw`` holds every key-value pair.
    """
    meta = parse_hitachi_text(text)
    value = meta.raw.get("PixelSize")
    pixel_size_nm = hitachi_pixel_size_nm(value)
    problem = None
    if value is None:
        problem = "The Hitachi metadata has no PixelSize line."
    elif pixel_size_nm is None:
        problem = f"The Hitachi PixelSize {value!r} is not a number of nanometres."
    return VendorReading(
        reader="hitachi",
        pixel_size_nm=pixel_size_nm,
        problem=problem,
        raw=dict(meta.raw),
        **meta.facts(),
    )
