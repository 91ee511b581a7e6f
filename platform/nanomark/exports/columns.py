"""The export tables' columns: their names and value types, and the fields they are read from.

A table is its columns, known before any row streams, and a one-pass
iterator of rows (:class:`Table`); writers (:mod:`nanomark.exports.writers`)
map the value types to their formats' types. The ``*_FIELDS`` tuples are the
ORM paths each column group is read from, in column order, by
:mod:`nanomark.exports.rows` (and, compiled to SQL, by :mod:`nanomark.exports.pgrows`).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING

from analysis.defects import DEFECT_CLASSES
from nanomark.samples.models import SYNTHESIS_CONDITIONS, Synthesis

if TYPE_CHECKING:
    import pyarrow as pa

#: Value types of export columns; writers map them to their own types.
COLUMN_TYPES = ("int", "float", "str", "datetime", "date")


@dataclass(frozen=True)
class Column:
    """One export column: its name and value type (one of :data:`COLUMN_TYPES`)."""

    name: str
    type: str

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(
                f"unknown column type {self.type!r}; expected one of {', '.join(COLUMN_TYPES)}"
            )


@dataclass
class Table:
    """A tidy table: its columns, known before streaming, and a one-pass iterator of rows.

    Each row is a tuple of values in ``columns`` order; None is a missing value.
    ``batches``, where the rows come from Arrow (:mod:`nanomark.exports.copystream`),
    are the same rows as record batches of :func:`~nanomark.exports.writers.arrow_schema`;
    both iterators read one stream, so a writer reads one of them.
    """

    name: str
    columns: tuple[Column, ...]
    rows: Iterator[tuple] = field(repr=False)
    batches: "Iterator[pa.RecordBatch] | None" = field(default=None, repr=False)


def _columns(*pairs: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(name, kind) for name, kind in pairs)


IMAGE_COLUMNS = _columns(
    ("lab", "str"),
    ("sample_id", "int"),
    ("sample_code", "str"),
    ("material", "str"),
    ("material_kind", "str"),
    ("image_id", "int"),
    ("filename", "str"),
    ("pixel_size_nm", "float"),
    ("acquired_at", "datetime"),
    ("labelled_particles", "int"),
)
IMAGE_FIELDS = (
    "lab__slug",
    "sample_id",
    "sample__code",
    "sample__material__name",
    "sample__material__kind",
    "pk",
    "original_filename",
    "pixel_size_nm",
    "acquired_at",
    # Annotated by nanomark.exports.rows: the latest particle labels' count.
    "labelled_particles",
)
IMAGE_KEY = itemgetter(1, 5)

SAMPLE_COLUMNS = _columns(
    ("lab", "str"),
    ("sample_id", "int"),
    ("sample_code", "str"),
    ("material", "str"),
    ("material_kind", "str"),
    ("parent_sample_id", "int"),
    ("created_at", "datetime"),
    ("image_count", "int"),
)
SAMPLE_FIELDS = (
    "lab__slug",
    "pk",
    "code",
    "material__name",
    "material__kind",
    "parent_id",
    "created_at",
)

#: The current analysis of an image: run, model versions, order score, particles, defects.
#: An empty ``particle_segmenter`` means the LoG detector found the particles.
ANALYSIS_COLUMNS = _columns(
    ("analysis_run_id", "int"),
    ("classifier", "str"),
    ("classifier_id", "int"),
    ("segmenter", "str"),
    ("segmenter_id", "int"),
    ("embedder", "str"),
    ("embedder_id", "int"),
    ("particle_segmenter", "str"),
    ("particle_segmenter_id", "int"),
    ("order_score", "float"),
    ("particle_count", "int"),
    ("particle_density_per_um2", "float"),
    ("particle_mean_diameter_nm", "float"),
    ("particle_mean_nearest_neighbour_nm", "float"),
    ("particle_clark_evans_r", "float"),
)
RUN_FIELDS = (
    "image__sample_id",
    "image_id",
    "pk",
    "classifier__name",
    "classifier_id",
    "segmenter__name",
    "segmenter_id",
    "embedder__name",
    "embedder_id",
    "particle_segmenter__name",
    "particle_segmenter_id",
    "order_score__score",
    "particles__count",
    "particles__density_per_um2",
    "particles__mean_diameter_nm",
    "particles__mean_nearest_neighbour_nm",
    "particles__clark_evans_r",
)
#: The statistics of one defect class, as (model field, column type), in column order.
DEFECT_STATS = (
    ("area_fraction", "float"),
    ("skeleton_length_nm", "float"),
    ("segment_count", "int"),
    ("branch_point_count", "int"),
    ("cluster_count", "int"),
    ("density_per_um2", "float"),
)
#: Per-class defect statistics of the current analysis, e.g. ``grain_boundary_area_fraction``.
DEFECT_COLUMNS = tuple(
    Column(f"{defect_class}_{stat}", kind)
    for defect_class in DEFECT_CLASSES
    for stat, kind in DEFECT_STATS
)
# Read through the per-class joins of _defect_joins().
DEFECT_FIELDS = tuple(
    f"stats_{defect_class}__{stat}" for defect_class in DEFECT_CLASSES for stat, _ in DEFECT_STATS
)
#: A current analysis as read: (sample id, image id, *ANALYSIS_COLUMNS, *DEFECT_COLUMNS).
ANALYSIS_FIELDS = (*RUN_FIELDS, *DEFECT_FIELDS)

#: The sample's latest synthesis step; ``synthesis_count`` counts all of its steps.
# Column types of the model fields the exports read.
_FIELD_TYPES = {"CharField": "str", "FloatField": "float", "DateField": "date"}
SYNTHESIS_COLUMNS = _columns(
    ("synthesis_count", "int"),
    ("synthesis_kind", "str"),
    *(
        (f"synthesis_{name}", _FIELD_TYPES[Synthesis._meta.get_field(name).get_internal_type()])
        for name in SYNTHESIS_CONDITIONS
    ),
)
SYNTHESIS_FIELDS = ("sample_id", "pk", "kind", *SYNTHESIS_CONDITIONS)
NO_SYNTHESIS = (0,) + (None,) * (len(SYNTHESIS_COLUMNS) - 1)

# Where the order score sits in ANALYSIS_COLUMNS: a sample row averages it and all after it.
SCORE_INDEX = 9
#: Aggregates of a sample's current analyses (std is the sample standard deviation, n - 1).
AGGREGATE_COLUMNS = _columns(
    ("analysed_image_count", "int"),
    ("order_score_mean", "float"),
    ("order_score_std", "float"),
    ("order_score_min", "float"),
    ("order_score_max", "float"),
) + tuple(
    Column(f"{column.name}_mean", "float")
    for column in (*ANALYSIS_COLUMNS[SCORE_INDEX + 1 :], *DEFECT_COLUMNS)
)
