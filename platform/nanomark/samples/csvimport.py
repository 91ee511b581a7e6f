"""The CSV file that imports samples, their Pd-decoration conditions and measured properties.

The file has one sample a line. Columns (header names, in any order):

* ``code`` (required): the sample's lab code, new to the lab;
* ``material`` (required): a material of the lab by name, or a new one;
* ``material_kind``: a :class:`MaterialKind` value or label; required to create a material;
* ``description``;
* synthesis (one Pd-decoration step, made when any of these is filled): ``precursor``,
  ``precursor_mass_mg``, ``support_mass_mg``, ``solvent``, ``solvent_volume_ml``,
  ``temperature_c``, ``duration_min``, ``performed_on`` (YYYY-MM-DD);
* properties, one column each: ``prop:<name> [<unit>]``, e.g. ``prop:BET surface area [m2/g]``
  (the unit is optional; an empty cell records nothing).

The file is UTF-8 (a BOM is fine), at most :data:`MAX_CSV_BYTES`, delimited by ``,`` or
``;`` (with ``;`` a decimal comma is accepted). Empty lines are skipped.

It is read into rows by :mod:`nanomark.samples.csvrows` (its header by
:mod:`nanomark.samples.csvheader`) and saved into a lab by
:mod:`nanomark.samples.csvsaving`; :mod:`nanomark.samples.csvtemplate` writes an
example file.
"""

#: Largest file accepted, in bytes.
MAX_CSV_BYTES = 2 * 1024 * 1024
#: Most sample rows in one file (the preview lists them all).
MAX_ROWS = 5000

SAMPLE_COLUMNS = ("code", "material", "material_kind", "description")
REQUIRED_COLUMNS = ("code", "material")
NUMBER_COLUMNS = (
    "precursor_mass_mg",
    "support_mass_mg",
    "solvent_volume_ml",
    "temperature_c",
    "duration_min",
)
PROPERTY_PREFIX = "prop:"


class CSVImportError(ValueError):
    """The file as a whole cannot be imported; the message says why, for the user."""


def check_size(size_bytes: int) -> None:
    """Raise CSVImportError if a file of ``size_bytes`` is over :data:`MAX_CSV_BYTES`."""
    if size_bytes > MAX_CSV_BYTES:
        raise CSVImportError(
            f"The file has {size_bytes:,} bytes; the limit is {MAX_CSV_BYTES:,} bytes "
            f"({MAX_CSV_BYTES / 2**20:g} MiB)."
        )
