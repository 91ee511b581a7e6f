"""Tidy rows for property-correlation analysis: one row per image, one row per sample.

A row joins what the platform knows about an image or a sample: lab, sample
and material, the sample's latest synthesis step with its extra parameters
(``param:<name> [<unit>]`` columns), its property measurements
(``prop:<name> [<unit>]`` columns, the latest value per name and unit), and
the numbers of the image's *current analysis* (its latest requested
succeeded run, :mod:`nanomark.results.current`), with its order score,
per-class defect statistics, particle statistics and the model versions it used. A sample row
aggregates the current analyses of the sample's images.

Rows are streamed in constant memory with a constant number of queries: the
column set is read first (one DISTINCT query each for parameter and property
names), then five queries (images or samples; current analyses with their
defect statistics joined per class; syntheses; synthesis parameters;
properties), all ordered by the same key (sample id, then image id), are read
with ``.iterator(chunk_size)`` and merged in that key order (a merge join in
Python). Either table takes 7 queries whatever the number of rows. Every
query is restricted to the requesting user's labs.
"""

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, F, FilteredRelation, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from analysis.defects import DEFECT_CLASSES
from nanomark.idfilters import MAX_ID, parse_id
from nanomark.imaging.models import SEMImage
from nanomark.nulchars import MESSAGE, NUL
from nanomark.results.current import current_analysis_runs
from nanomark.results.models import AnalysisRun
from nanomark.samples.models import (
    SYNTHESIS_CONDITIONS,
    PropertyMeasurement,
    Sample,
    Synthesis,
    SynthesisParameter,
)

#: Rows fetched from the database per round trip of each streamed query.
CHUNK_SIZE = 2000

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
    """

    name: str
    columns: tuple[Column, ...]
    rows: Iterator[tuple] = field(repr=False)


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
)
_IMAGE_FIELDS = (
    "lab__slug",
    "sample_id",
    "sample__code",
    "sample__material__name",
    "sample__material__kind",
    "pk",
    "original_filename",
    "pixel_size_nm",
    "acquired_at",
)
_IMAGE_KEY = itemgetter(1, 5)

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
_SAMPLE_FIELDS = (
    "lab__slug",
    "pk",
    "code",
    "material__name",
    "material__kind",
    "parent_id",
    "created_at",
)

#: The current analysis of an image: run, model versions, order score, particles, defects.
ANALYSIS_COLUMNS = _columns(
    ("analysis_run_id", "int"),
    ("classifier", "str"),
    ("classifier_id", "int"),
    ("segmenter", "str"),
    ("segmenter_id", "int"),
    ("embedder", "str"),
    ("embedder_id", "int"),
    ("order_score", "float"),
    ("particle_count", "int"),
    ("particle_density_per_um2", "float"),
    ("particle_mean_diameter_nm", "float"),
    ("particle_mean_nearest_neighbour_nm", "float"),
    ("particle_clark_evans_r", "float"),
)
_RUN_FIELDS = (
    "image__sample_id",
    "image_id",
    "pk",
    "classifier__name",
    "classifier_id",
    "segmenter__name",
    "segmenter_id",
    "embedder__name",
    "embedder_id",
    "order_score__score",
    "particles__count",
    "particles__density_per_um2",
    "particles__mean_diameter_nm",
    "particles__mean_nearest_neighbour_nm",
    "particles__clark_evans_r",
)
_DEFECT_STATS = (
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
    for stat, kind in _DEFECT_STATS
)
# Read through the per-class joins of _defect_joins().
_DEFECT_FIELDS = tuple(
    f"stats_{defect_class}__{stat}" for defect_class in DEFECT_CLASSES for stat, _ in _DEFECT_STATS
)

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
_SYNTHESIS_FIELDS = ("sample_id", "pk", "kind", *SYNTHESIS_CONDITIONS)
_NO_SYNTHESIS = (0,) + (None,) * (len(SYNTHESIS_COLUMNS) - 1)

# Where the order score sits in ANALYSIS_COLUMNS: a sample row averages it and all after it.
_SCORE_INDEX = 7
#: Aggregates of a sample's current analyses (std is the sample standard deviation, n - 1).
AGGREGATE_COLUMNS = _columns(
    ("analysed_image_count", "int"),
    ("order_score_mean", "float"),
    ("order_score_std", "float"),
    ("order_score_min", "float"),
    ("order_score_max", "float"),
) + tuple(
    Column(f"{column.name}_mean", "float")
    for column in (*ANALYSIS_COLUMNS[_SCORE_INDEX + 1 :], *DEFECT_COLUMNS)
)


@dataclass(frozen=True)
class ExportFilter:
    """Optional filters of an export, on top of the user's labs.

    ``lab`` is a lab slug, ``material`` a material name, ``sample_ids`` sample
    primary keys. The inclusive date range ``date_from`` .. ``date_to`` (in the
    site's time zone) selects images by ``acquired_at`` (images of unknown
    acquisition time are left out once a range is given) and samples by
    ``created_at``.
    """

    lab: str | None = None
    material: str | None = None
    sample_ids: tuple[int, ...] = ()
    date_from: date | None = None
    date_to: date | None = None

    #: Query parameters read by :meth:`from_query`.
    PARAMETERS = ("lab", "material", "sample", "date_from", "date_to")

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")

    @classmethod
    def from_query(cls, query: QueryDict) -> "ExportFilter":
        """Read filters from query parameters (a QueryDict, e.g. ``request.GET``).

        ``sample`` may repeat or list ids separated by commas; dates are
        YYYY-MM-DD. Raises ValueError naming the parameter for an unknown
        parameter, a repeated single-valued one, or a malformed value.
        """
        unknown = sorted(set(query) - set(cls.PARAMETERS))
        if unknown:
            raise ValueError(
                f"unknown filter {', '.join(unknown)}; expected {', '.join(cls.PARAMETERS)}"
            )

        def single(name: str) -> str | None:
            values = [value for value in query.getlist(name) if value]
            if len(values) > 1:
                raise ValueError(f"filter {name} given {len(values)} times; give it once")
            if values and NUL in values[0]:
                raise ValueError(f"filter {name}: {MESSAGE}")
            return values[0] if values else None

        def day(name: str) -> date | None:
            text = single(name)
            try:
                return date.fromisoformat(text) if text else None
            except ValueError:
                raise ValueError(f"{name}={text!r} is not a date (YYYY-MM-DD)") from None

        ids = [part.strip() for value in query.getlist("sample") for part in value.split(",")]
        ids = [part for part in ids if part]
        sample_ids = set()
        for part in ids:
            try:
                sample_ids.add(parse_id(part))
            except ValidationError:
                raise ValueError(
                    f"sample={part!r} is not a sample id (a whole number 1 to {MAX_ID})"
                ) from None
        return cls(
            lab=single("lab"),
            material=single("material"),
            sample_ids=tuple(sorted(sample_ids)),
            date_from=day("date_from"),
            date_to=day("date_to"),
        )

    def for_sample_conditions(self, to_sample: str = "") -> dict[str, Any]:
        """Lookups on lab, material and sample ids (no dates), from a model at ``to_sample``."""
        lookups: dict[str, Any] = {}
        if self.lab:
            lookups[f"{to_sample}lab__slug"] = self.lab
        if self.material:
            lookups[f"{to_sample}material__name"] = self.material
        if self.sample_ids:
            lookups[f"{to_sample}pk__in"] = self.sample_ids
        return lookups

    def _date_lookups(self, field_path: str) -> dict[str, Any]:
        # Bounds as datetimes (not __date) so the comparison can use an index.
        lookups: dict[str, Any] = {}
        if self.date_from:
            lookups[f"{field_path}__gte"] = _day_start(self.date_from)
        if self.date_to:
            lookups[f"{field_path}__lt"] = _day_start(self.date_to + timedelta(days=1))
        return lookups

    def for_samples(self, to_sample: str = "") -> dict[str, Any]:
        """Lookups that select the samples of a sample export, from a model at ``to_sample``."""
        return self.for_sample_conditions(to_sample) | self._date_lookups(f"{to_sample}created_at")

    def for_images(self, to_image: str = "") -> dict[str, Any]:
        """Lookups that select the images of an image export, from a model at ``to_image``."""
        return self.for_sample_conditions(f"{to_image}sample__") | self._date_lookups(
            f"{to_image}acquired_at"
        )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class _OrderedGroups:
    """Hands out, key by key, the rows of an iterator ordered by that key (one merge-join side).

    Keys must be asked for in increasing order; rows with keys never asked for are skipped.
    """

    def __init__(self, rows: Iterable[tuple], key: Callable[[tuple], Any]) -> None:
        self._rows = iter(rows)
        self._key = key
        self._row = next(self._rows, None)

    def take(self, key: Any) -> list[tuple]:
        """The rows whose key equals ``key``, in stream order (empty if none)."""
        rows, row, key_of, source = [], self._row, self._key, self._rows
        while row is not None and key_of(row) < key:
            row = next(source, None)
        while row is not None and key_of(row) == key:
            rows.append(row)
            row = next(source, None)
        self._row = row
        return rows


def _stream(queryset: QuerySet, fields: Sequence[str], order: Sequence[Any]) -> Iterator[tuple]:
    return queryset.values_list(*fields).order_by(*order).iterator(chunk_size=CHUNK_SIZE)


def _named_columns(queryset: QuerySet, prefix: str) -> dict[tuple[str, str], Column]:
    """``prefix:<name> [<unit>]`` float columns, one per distinct (name, unit), sorted."""
    pairs = queryset.values_list("name", "unit").distinct().order_by("name", "unit")
    return {
        (name, unit): Column(f"{prefix}:{name} [{unit}]" if unit else f"{prefix}:{name}", "float")
        for name, unit in pairs
    }


class _SampleConditions:
    """Synthesis, parameter and property columns of samples, streamed in sample-id order."""

    def __init__(self, user, lookups: Callable[[str], dict[str, Any]]) -> None:
        """``lookups(path to sample)`` selects the samples; reads the named columns (2 queries)."""
        self._syntheses = Synthesis.objects.restrict(user).filter(**lookups("sample__"))
        self._parameters = SynthesisParameter.objects.restrict(user).filter(
            **lookups("synthesis__sample__")
        )
        self._properties = PropertyMeasurement.objects.restrict(user).filter(**lookups("sample__"))
        self._parameter_columns = _named_columns(self._parameters, "param")
        self._property_columns = _named_columns(self._properties, "prop")
        self.columns = (
            *SYNTHESIS_COLUMNS,
            *self._parameter_columns.values(),
            *self._property_columns.values(),
        )

    def open(self) -> Callable[[int], tuple]:
        """Start the streams; the result maps increasing sample ids to their column values."""
        syntheses = _OrderedGroups(
            _stream(
                self._syntheses,
                _SYNTHESIS_FIELDS,
                ["sample_id", F("performed_on").asc(nulls_first=True), "pk"],
            ),
            itemgetter(0),
        )
        parameters = _OrderedGroups(
            _stream(
                self._parameters,
                ("synthesis__sample_id", "synthesis_id", "name", "unit", "value"),
                ["synthesis__sample_id"],
            ),
            itemgetter(0),
        )
        properties = _OrderedGroups(
            _stream(
                self._properties,
                ("sample_id", "name", "unit", "value"),
                ["sample_id", F("measured_on").asc(nulls_first=True), "pk"],
            ),
            itemgetter(0),
        )
        parameter_index = {key: i for i, key in enumerate(self._parameter_columns)}
        property_index = {key: i for i, key in enumerate(self._property_columns)}

        def conditions(sample_id: int) -> tuple:
            steps = syntheses.take(sample_id)
            named = [None] * (len(parameter_index) + len(property_index))
            if steps:
                latest = steps[-1]
                synthesis = (len(steps), *latest[2:])
                for _, synthesis_id, name, unit, value in parameters.take(sample_id):
                    if synthesis_id == latest[1]:
                        named[parameter_index[name, unit]] = value
            else:
                synthesis = _NO_SYNTHESIS
            offset = len(parameter_index)
            # Ordered oldest first, so the latest measurement of each name wins.
            for _, name, unit, value in properties.take(sample_id):
                named[offset + property_index[name, unit]] = value
            return synthesis + tuple(named)

        return conditions


def _defect_joins() -> dict[str, FilteredRelation]:
    """One join per defect class (new objects per query: Django binds them to the query).

    A run has at most one statistic per class, so the joins keep one row per run.
    """
    return {
        f"stats_{defect_class}": FilteredRelation(
            "defect_stats", condition=Q(defect_stats__defect_class=defect_class)
        )
        for defect_class in DEFECT_CLASSES
    }


def _analyses(user, lookups: dict[str, Any]) -> Iterator[tuple]:
    """(sample id, image id, *ANALYSIS_COLUMNS, *DEFECT_COLUMNS) of current analyses, in order.

    ``lookups`` select the images (from AnalysisRun). One query: the defect
    statistics are joined once per class.
    """
    runs = AnalysisRun.objects.restrict(user).filter(**lookups).annotate(**_defect_joins())
    return _stream(
        current_analysis_runs(runs),
        (*_RUN_FIELDS, *_DEFECT_FIELDS),
        ["image__sample_id", "image_id"],
    )


def image_table(user, filters: ExportFilter | None = None) -> Table:
    """One row per image of ``user``'s labs: image, current analysis, sample conditions.

    Columns: :data:`IMAGE_COLUMNS`, :data:`ANALYSIS_COLUMNS`, :data:`DEFECT_COLUMNS`,
    :data:`SYNTHESIS_COLUMNS`, then ``param:`` and ``prop:`` columns. Images
    without a succeeded analysis have empty analysis columns. Reads the column
    set now (2 queries); the rows stream with 5 more queries when iterated.
    """
    filters = filters or ExportFilter()
    conditions = _SampleConditions(user, filters.for_sample_conditions)
    columns = (*IMAGE_COLUMNS, *ANALYSIS_COLUMNS, *DEFECT_COLUMNS, *conditions.columns)
    no_analysis = (None,) * (len(ANALYSIS_COLUMNS) + len(DEFECT_COLUMNS))

    def rows() -> Iterator[tuple]:
        images = _stream(
            SEMImage.objects.restrict(user).filter(**filters.for_images()),
            _IMAGE_FIELDS,
            ["sample_id", "pk"],
        )
        analyses = _OrderedGroups(_analyses(user, filters.for_images("image__")), itemgetter(0, 1))
        sample_conditions = conditions.open()
        sample_id, sample_values = None, ()
        for image in images:
            if image[1] != sample_id:
                sample_id, sample_values = image[1], sample_conditions(image[1])
            analysis = analyses.take(_IMAGE_KEY(image))
            yield image + (analysis[0][2:] if analysis else no_analysis) + sample_values

    return Table("images", columns, rows())


def _aggregate(analyses: list[tuple]) -> tuple:
    """:data:`AGGREGATE_COLUMNS` of one sample's current analyses (rows of :func:`_analyses`)."""
    first = 2 + _SCORE_INDEX
    if len(analyses) == 1:  # the common case; the mean of one value is that value
        values = analyses[0][first:]
        score = values[0]
        return (1, score, None, score, score, *values[1:])
    if not analyses:
        return (0,) + (None,) * (len(AGGREGATE_COLUMNS) - 1)
    series = list(zip(*(analysis[first:] for analysis in analyses), strict=True))
    means = []
    for values in series:
        present = [value for value in values if value is not None]
        means.append(math.fsum(present) / len(present) if present else None)
    scores = [score for score in series[0] if score is not None]
    spread = None
    if len(scores) > 1:
        spread = math.sqrt(math.fsum((s - means[0]) ** 2 for s in scores) / (len(scores) - 1))
    extremes = (min(scores), max(scores)) if scores else (None, None)
    return (len(analyses), means[0], spread, *extremes, *means[1:])


def sample_table(user, filters: ExportFilter | None = None) -> Table:
    """One row per sample of ``user``'s labs: sample, image aggregates, conditions.

    Columns: :data:`SAMPLE_COLUMNS`, :data:`AGGREGATE_COLUMNS` (over the current
    analyses of all the sample's images), :data:`SYNTHESIS_COLUMNS`, then
    ``param:`` and ``prop:`` columns. Reads the column set now (2 queries); the
    rows stream with 5 more queries when iterated.
    """
    filters = filters or ExportFilter()
    conditions = _SampleConditions(user, filters.for_samples)
    columns = (*SAMPLE_COLUMNS, *AGGREGATE_COLUMNS, *conditions.columns)

    def rows() -> Iterator[tuple]:
        samples = (
            Sample.objects.restrict(user)
            .filter(**filters.for_samples())
            .values_list(*_SAMPLE_FIELDS)
            .annotate(image_count=Count("images"))
            .order_by("pk")
            .iterator(chunk_size=CHUNK_SIZE)
        )
        analyses = _OrderedGroups(
            _analyses(user, filters.for_samples("image__sample__")), itemgetter(0)
        )
        sample_conditions = conditions.open()
        for sample in samples:
            yield sample + _aggregate(analyses.take(sample[1])) + sample_conditions(sample[1])

    return Table("samples", columns, rows())


#: Export tables by name, as the URLs name them.
TABLES: dict[str, Callable[..., Table]] = {"images": image_table, "samples": sample_table}
