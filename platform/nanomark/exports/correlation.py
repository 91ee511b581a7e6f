"""Property-versus-feature correlation over a lab's samples (Pearson r, pairwise complete).

The per-sample values are the sample export table's
(:func:`nanomark.exports.rows.sample_table`): its ``prop:`` columns (each
property's latest measurement) are the *properties*, and its means over the
current analyses of the sample's images (order score, particle statistics,
per-class defect statistics) are the *features*. A coefficient uses the
samples that have both values; fewer than
:data:`analysis.correlation.MIN_PAIRS` give NaN. The coefficients themselves
are :func:`analysis.correlation.pearson` and
:func:`analysis.correlation.correlation_matrix`.
"""

import math
from dataclasses import dataclass

import numpy as np

from nanomark.accounts.models import Lab
from nanomark.exports.columns import AGGREGATE_COLUMNS
from nanomark.exports.rows import sample_table
from nanomark.samples.models import Sample

#: Prefix of the sample table's property columns.
PROPERTY_PREFIX = "prop:"
#: Feature columns of the sample table: per-sample means of the current analyses.
FEATURE_COLUMNS = tuple(
    column.name for column in AGGREGATE_COLUMNS if column.name.endswith("_mean")
)


# Name parts of feature columns written as a reader expects them.
_READABLE = (("clark_evans_r", "Clark–Evans R"), ("_per_um2", " [µm⁻²]"), ("_nm", " [nm]"))


def label(column: str) -> str:
    """A readable name of a sample-table column: "BET area [m2/g]", "order score (mean)"."""
    if column.startswith(PROPERTY_PREFIX):
        return column.removeprefix(PROPERTY_PREFIX)
    name = column.removesuffix("_mean")
    for part, readable in _READABLE:
        name = name.replace(part, readable)
    return name.replace("_", " ") + " (mean)"


@dataclass(frozen=True)
class SampleValues:
    """The properties and features of a lab's samples, one row per sample.

    Attributes:
        sample_ids: (S,) primary keys, ascending.
        sample_codes: (S,) codes.
        properties: property column names (``prop:<name> [<unit>]``).
        features: feature column names with at least one value, in :data:`FEATURE_COLUMNS` order.
        values: (S, len(properties) + len(features)) float64, properties first, NaN missing.
    """

    sample_ids: list[int]
    sample_codes: list[str]
    properties: list[str]
    features: list[str]
    values: np.ndarray

    @property
    def columns(self) -> list[str]:
        """Column names of ``values``: the properties, then the features."""
        return [*self.properties, *self.features]

    def property_values(self, name: str) -> np.ndarray:
        """(S,) float64 values of property column ``name`` (NaN missing).

        Raises:
            ValueError: not a property of these samples (the message lists them).
        """
        return self._values(name, self.properties, "property")

    def feature_values(self, name: str) -> np.ndarray:
        """(S,) float64 values of feature column ``name`` (NaN missing).

        Raises:
            ValueError: not a feature with values (the message lists them).
        """
        return self._values(name, self.features, "feature")

    def _values(self, name: str, names: list[str], kind: str) -> np.ndarray:
        if name not in names:
            known = ", ".join(label(known) for known in names) or "none"
            raise ValueError(f"unknown {kind} {name!r}; these samples have: {known}")
        return self.values[:, self.columns.index(name)]


def sample_values(user, lab: Lab) -> SampleValues:
    """Properties and features of ``lab``'s samples, as ``user`` may see them.

    Reads the sample export table of the lab (a constant number of queries).
    """
    table = sample_table(user, Sample.objects.filter(lab=lab))
    names = [column.name for column in table.columns]
    properties = [name for name in names if name.startswith(PROPERTY_PREFIX)]
    wanted = [names.index(name) for name in (*properties, *FEATURE_COLUMNS)]
    id_index, code_index = names.index("sample_id"), names.index("sample_code")
    ids, codes, rows = [], [], []
    for row in table.rows:
        ids.append(row[id_index])
        codes.append(row[code_index])
        rows.append([math.nan if row[i] is None else float(row[i]) for i in wanted])
    values = np.array(rows, dtype=np.float64).reshape(len(rows), len(wanted))
    present = np.isfinite(values).any(axis=0)
    present[: len(properties)] = True
    features = [name for k, name in enumerate(FEATURE_COLUMNS) if present[len(properties) + k]]
    return SampleValues(ids, codes, properties, features, values[:, present])
