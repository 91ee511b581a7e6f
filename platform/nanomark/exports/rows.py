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
query is restricted to the requesting user's labs. The columns and the
fields they are read from are :mod:`nanomark.exports.columns`.

On PostgreSQL the same querysets are compiled into one query per table
(:mod:`nanomark.exports.pgrows`) and its rows streamed with COPY into Arrow
(:mod:`nanomark.exports.copystream`): the same rows, at about the database's
own speed. SQLite, which has no COPY, keeps the merge join.
"""

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from django.db import connection
from django.db.models import F, FilteredRelation, OuterRef, Q, QuerySet, Subquery

from analysis.defects import DEFECT_CLASSES
from nanomark.exports.columns import (
    AGGREGATE_COLUMNS,
    ANALYSIS_COLUMNS,
    ANALYSIS_FIELDS,
    DEFECT_COLUMNS,
    IMAGE_COLUMNS,
    IMAGE_FIELDS,
    IMAGE_KEY,
    NO_SYNTHESIS,
    SAMPLE_COLUMNS,
    SAMPLE_FIELDS,
    SCORE_INDEX,
    SYNTHESIS_COLUMNS,
    SYNTHESIS_FIELDS,
    Column,
    Table,
)
from nanomark.exports.copystream import batch_rows, copy_batches
from nanomark.exports.pgrows import image_query, sample_query
from nanomark.imaging.counts import with_image_counts
from nanomark.imaging.models import ParticleAnnotation, SEMImage
from nanomark.results.current import current_analysis_runs
from nanomark.results.models import AnalysisRun
from nanomark.samples.models import (
    PropertyMeasurement,
    Sample,
    Synthesis,
    SynthesisParameter,
)

#: Rows fetched from the database per round trip of each streamed query.
CHUNK_SIZE = 2000


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


def _narrowed(queryset: QuerySet, **lookup: QuerySet | None) -> QuerySet:
    """``queryset`` filtered by the one ``lookup``, unless its value is None (then all of it).

    An export of all of a user's rows needs no narrowing beyond the lab restriction,
    and the database is spared a semi-join per query.
    """
    ((name, ids),) = lookup.items()
    return queryset if ids is None else queryset.filter(**{name: ids})


def _stream(queryset: QuerySet, fields: Sequence[str], order: Sequence[Any]) -> Iterator[tuple]:
    return queryset.values_list(*fields).order_by(*order).iterator(chunk_size=CHUNK_SIZE)


def _named_columns(queryset: QuerySet, prefix: str) -> dict[tuple[str, str], Column]:
    """``prefix:<name> [<unit>]`` float columns, one per distinct (name, unit), sorted."""
    pairs = queryset.values_list("name", "unit").distinct().order_by("name", "unit")
    return {
        (name, unit): Column(f"{prefix}:{name} [{unit}]" if unit else f"{prefix}:{name}", "float")
        for name, unit in pairs
    }


class SampleConditions:
    """Synthesis, parameter and property columns of samples, streamed in sample-id order."""

    def __init__(self, user, samples: QuerySet | None = None) -> None:
        """``samples`` (a query of sample ids) selects them, all of ``user``'s without it.

        Reads the named columns (2 queries).
        """
        self.syntheses = _narrowed(Synthesis.objects.restrict(user), sample__in=samples)
        self.parameters = _narrowed(
            SynthesisParameter.objects.restrict(user), synthesis__sample__in=samples
        )
        self.properties = _narrowed(PropertyMeasurement.objects.restrict(user), sample__in=samples)
        #: The ``param:`` and ``prop:`` columns by (name, unit), in column order.
        self.parameter_columns = _named_columns(self.parameters, "param")
        self.property_columns = _named_columns(self.properties, "prop")
        self.columns = (
            *SYNTHESIS_COLUMNS,
            *self.parameter_columns.values(),
            *self.property_columns.values(),
        )

    def open(self) -> Callable[[int], tuple]:
        """Start the streams; the result maps increasing sample ids to their column values."""
        syntheses = _OrderedGroups(
            _stream(
                self.syntheses,
                SYNTHESIS_FIELDS,
                ["sample_id", F("performed_on").asc(nulls_first=True), "pk"],
            ),
            itemgetter(0),
        )
        parameters = _OrderedGroups(
            _stream(
                self.parameters,
                ("synthesis__sample_id", "synthesis_id", "name", "unit", "value"),
                ["synthesis__sample_id"],
            ),
            itemgetter(0),
        )
        properties = _OrderedGroups(
            _stream(
                self.properties,
                ("sample_id", "name", "unit", "value"),
                ["sample_id", F("measured_on").asc(nulls_first=True), "pk"],
            ),
            itemgetter(0),
        )
        parameter_index = {key: i for i, key in enumerate(self.parameter_columns)}
        property_index = {key: i for i, key in enumerate(self.property_columns)}

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
                synthesis = NO_SYNTHESIS
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


def analysis_runs(user, **images: QuerySet | None) -> QuerySet:
    """The current analysis runs of some images, with the joins :data:`ANALYSIS_FIELDS` read.

    ``images`` is one lookup from AnalysisRun to a query of ids that selects the
    images (``image__in=...`` or ``image__sample__in=...``; None: all of ``user``'s). The defect
    statistics are joined once per class, so one query reads them all.
    """
    runs = _narrowed(AnalysisRun.objects.restrict(user), **images).annotate(**_defect_joins())
    return current_analysis_runs(runs)


def _analyses(user, **images: QuerySet | None) -> Iterator[tuple]:
    """:data:`ANALYSIS_FIELDS` of :func:`analysis_runs`, in (sample id, image id) order."""
    return _stream(analysis_runs(user, **images), ANALYSIS_FIELDS, ["image__sample_id", "image_id"])


def labelled(images: QuerySet) -> QuerySet:
    """``images`` annotated with ``labelled_particles``: their latest particle labels' count."""
    latest_labels = ParticleAnnotation.objects.filter(image=OuterRef("pk")).order_by(
        "-created_at", "-pk"
    )
    return images.annotate(labelled_particles=Subquery(latest_labels.values("count")[:1]))


def _copies(copy: bool | None) -> bool:
    """Whether a table streams with COPY: ``copy``, or by default on PostgreSQL (only there)."""
    on_postgresql = connection.vendor == "postgresql"
    if copy and not on_postgresql:
        raise ValueError(f"COPY streams need PostgreSQL, not {connection.vendor}")
    return on_postgresql if copy is None else copy


def _copied(name: str, columns: tuple[Column, ...], query: tuple[str, list]) -> Table:
    batches = copy_batches(*query, columns)
    return Table(name, columns, batch_rows(batches), batches)


def image_table(user, images: QuerySet | None = None, *, copy: bool | None = None) -> Table:
    """One row per image of ``images`` in ``user``'s labs: image, current analysis, conditions.

    ``images`` is a query of SEMImage (e.g. :class:`~nanomark.exports.filters.ImageExportFilter`'s
    ``qs``), all images without it. Columns: :data:`IMAGE_COLUMNS`,
    :data:`ANALYSIS_COLUMNS`, :data:`DEFECT_COLUMNS`, :data:`SYNTHESIS_COLUMNS`,
    then the ``param:`` and ``prop:`` columns of those images' samples. Images
    without a succeeded analysis have empty analysis columns. Reads the column
    set now (2 queries); the rows stream when iterated, with 5 more queries, or
    with one COPY (``copy``, by default on PostgreSQL: :mod:`nanomark.exports.pgrows`).
    """
    chosen = (SEMImage.objects.all() if images is None else images).restrict(user)
    # Without a filter the lab restriction selects the rows: nothing to narrow by (None).
    ids = None if images is None else chosen.values("pk")
    conditions = SampleConditions(user, None if ids is None else chosen.values("sample_id"))
    columns = (*IMAGE_COLUMNS, *ANALYSIS_COLUMNS, *DEFECT_COLUMNS, *conditions.columns)
    if _copies(copy):
        analyses = analysis_runs(user, image__in=ids)
        query = image_query(labelled(chosen), analyses, conditions, columns)
        return _copied("images", columns, query)
    no_analysis = (None,) * (len(ANALYSIS_COLUMNS) + len(DEFECT_COLUMNS))

    def rows() -> Iterator[tuple]:
        images = _stream(labelled(chosen), IMAGE_FIELDS, ["sample_id", "pk"])
        analyses = _OrderedGroups(_analyses(user, image__in=ids), itemgetter(0, 1))
        sample_conditions = conditions.open()
        sample_id, sample_values = None, ()
        for image in images:
            if image[1] != sample_id:
                sample_id, sample_values = image[1], sample_conditions(image[1])
            analysis = analyses.take(IMAGE_KEY(image))
            yield image + (analysis[0][2:] if analysis else no_analysis) + sample_values

    return Table("images", columns, rows())


def _accumulated(values: Iterable) -> tuple[float, float, float]:
    """(count, sum, sum of squared deviations) of the values that are not None, in order.

    PostgreSQL's accumulation of float8 ``avg`` and ``stddev_samp`` (Youngs-Cramer,
    ``float8_accum``), so that both paths give the same doubles.
    """
    count = total = squares = 0.0
    for value in values:
        if value is not None:
            count += 1.0
            total += value
            if count > 1.0:
                deviation = value * count - total
                squares += deviation * deviation / (count * (count - 1.0))
    return count, total, squares


def aggregate(analyses: list[tuple]) -> tuple:
    """:data:`AGGREGATE_COLUMNS` of one sample's current analyses (rows of :func:`_analyses`).

    Means and the score's sample standard deviation (n - 1) skip missing values and
    accumulate in image order as :func:`_accumulated` does.
    """
    first = 2 + SCORE_INDEX
    if len(analyses) == 1:  # the common case: a mean of one value is 0.0 + that value
        values = analyses[0][first:]
        score = values[0]
        means = [None if value is None else 0.0 + value for value in values]
        return (1, means[0], None, score, score, *means[1:])
    if not analyses:
        return (0,) + (None,) * (len(AGGREGATE_COLUMNS) - 1)
    series = list(zip(*(analysis[first:] for analysis in analyses), strict=True))
    sums = [_accumulated(values) for values in series]
    means = [total / count if count else None for count, total, _ in sums]
    count, _, squares = sums[0]
    spread = math.sqrt(squares / (count - 1.0)) if count > 1.0 else None
    scores = [score for score in series[0] if score is not None]
    extremes = (min(scores), max(scores)) if scores else (None, None)
    return (len(analyses), means[0], spread, *extremes, *means[1:])


def sample_table(user, samples: QuerySet | None = None, *, copy: bool | None = None) -> Table:
    """One row per sample of ``samples`` in ``user``'s labs: sample, image aggregates, conditions.

    ``samples`` is a query of Sample (e.g. :class:`~nanomark.exports.filters.SampleExportFilter`'s
    ``qs``), all samples without it. Columns: :data:`SAMPLE_COLUMNS`,
    :data:`AGGREGATE_COLUMNS` (over the current analyses of all the sample's
    images), :data:`SYNTHESIS_COLUMNS`, then ``param:`` and ``prop:`` columns.
    Reads the column set now (2 queries); the rows stream when iterated, with 5
    more queries, or with one COPY (``copy``, by default on PostgreSQL).
    """
    chosen = (Sample.objects.all() if samples is None else samples).restrict(user)
    ids = None if samples is None else chosen.values("pk")
    conditions = SampleConditions(user, ids)
    columns = (*SAMPLE_COLUMNS, *AGGREGATE_COLUMNS, *conditions.columns)
    if _copies(copy):
        analyses = analysis_runs(user, image__sample__in=ids)
        query = sample_query(with_image_counts(chosen), analyses, conditions, columns)
        return _copied("samples", columns, query)

    def rows() -> Iterator[tuple]:
        samples = (
            with_image_counts(chosen)
            .values_list(*SAMPLE_FIELDS, "image_count")
            .order_by("pk")
            .iterator(chunk_size=CHUNK_SIZE)
        )
        analyses = _OrderedGroups(_analyses(user, image__sample__in=ids), itemgetter(0))
        sample_conditions = conditions.open()
        for sample in samples:
            yield sample + aggregate(analyses.take(sample[1])) + sample_conditions(sample[1])

    return Table("samples", columns, rows())


#: Export tables by name, as the URLs name them.
TABLES: dict[str, Callable[..., Table]] = {"images": image_table, "samples": sample_table}
