"""TIFF XResolution/ResolutionUnit, PNG pHYs and JPEG JFIF density as a calibration.

Most software writes 72 or 300 pixels per inch: a print setting that says
nothing about the specimen. A density is a calibration only when it implies
less than 1 µm per pixel.
"""

import math

from analysis.vendors.reading import VendorReading

#: Density units in nm.
UNIT_NM = {"m": 1e9, "cm": 1e7, "inch": 25.4e6}
_PRINT_SCALE_NM = 1000.0


def read_resolution(pixels_per_unit: float, unit: str) -> VendorReading:
    """Pixel size implied by a declared density.

    Args:
        pixels_per_unit: the density along x.
        unit: ``"m"``, ``"cm"`` or ``"inch"``.

    Returns:
        nm per pixel when it is below 1000 nm, else a problem saying the
        density is a print setting (or not a density at all).
    """
    unit_nm = UNIT_NM.get(unit)
    if unit_nm is None or not math.isfinite(pixels_per_unit) or pixels_per_unit <= 0:
        return VendorReading(
            reader="resolution",
            problem=(
                f"The resolution tags ({pixels_per_unit:g} pixels per {unit}) are not a density."
            ),
        )
    size_nm = unit_nm / pixels_per_unit
    if size_nm >= _PRINT_SCALE_NM:
        return VendorReading(
            reader="resolution",
            problem=(
                f"The resolution tags say {pixels_per_unit:g} pixels per {unit}, a print or "
                "screen setting, not a microscope calibration."
            ),
        )
    return VendorReading(reader="resolution", pixel_size_nm=size_nm)
