"""The example sample CSV offered for download: every column and one filled-in row."""

import csv
import io

from nanomark.samples.choices import MaterialKind
from nanomark.samples.csvimport import SAMPLE_COLUMNS
from nanomark.samples.models import SYNTHESIS_CONDITIONS


def template_csv() -> str:
    """A CSV with every column and one example row, to fill in."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        [*SAMPLE_COLUMNS, *SYNTHESIS_CONDITIONS, "prop:BET surface area [m2/g]", "prop:ID/IG"]
    )
    writer.writerow(
        [
            "532-S1",
            "Graphite",
            MaterialKind.GRAPHITE.value,
            "Pd on graphite flakes",
            "Pd2dba3·CHCl3",
            "2.0",
            "10.0",
            "CHCl3",
            "5.0",
            "80",
            "3",
            "2024-05-02",
            "12.5",
            "0.21",
        ]
    )
    return buffer.getvalue()
