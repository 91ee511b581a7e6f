"""One reader per SEM vendor's calibration dialect, each returning a :class:`VendorReading`.

:mod:`analysis.calibration` decides which reader's pixel size wins; the
readers only translate what a vendor wrote into NanoMark's units (nm, kV, mm)
and say, in a sentence, why they could not give a pixel size.
"""

from analysis.vendors.reading import VendorReading

__all__ = ["VendorReading"]
