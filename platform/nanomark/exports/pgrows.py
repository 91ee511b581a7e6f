"""The export tables' rows as one PostgreSQL query each, for :mod:`nanomark.exports.copystream`.

The same rows as the ORM path of :mod:`nanomark.exports.rows` (the tests
compare the two byte for byte): the ORM compiles the same restricted
querysets (images or samples, current analyses with their per-class defect
joins, syntheses, synthesis parameters, properties) and the database joins
them: each sample's latest synthesis (``performed_on``, then primary key,
unknown days oldest) with its step count and its ``param:`` values, the
latest ``prop:`` value per name and unit, and for a sample row the
aggregates of its images' current analyses, accumulated in image order by
``avg`` and ``stddev_samp`` as :func:`nanomark.exports.rows.aggregate`
accumulates them in Python.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from nanomark.exports.columns import (
    AGGREGATE_COLUMNS,
    ANALYSIS_FIELDS,
    IMAGE_FIELDS,
    SAMPLE_FIELDS,
    SCORE_INDEX,
    SYNTHESIS_FIELDS,
    Column,
)
from nanomark.exports.copystream import wire_value

if TYPE_CHECKING:
    from nanomark.exports.rows import SampleConditions


class _Query:
    """SQL text and its ``%s`` parameters, appended in the order they appear."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list = []

    def add(self, sql: str, params: Sequence = ()) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def relation(self, queryset: QuerySet, fields: Sequence[str], alias: str) -> dict[str, str]:
        """Add ``queryset.values_list(*fields)`` as FROM item ``alias``; each field's column.

        The compiled SELECT puts model fields before annotations whatever ``fields``'
        order (Django reorders its rows in Python), so columns are named by position.
        """
        query = queryset.values_list(*fields).order_by().query
        selected = [*query.extra_select, *query.values_select, *query.annotation_select]
        sql, params = query.sql_with_params()
        names = ", ".join(f"c{i}" for i in range(len(selected)))
        self.add(f"({sql}) AS {alias}({names})", params)
        return {field: f"{alias}.c{selected.index(field)}" for field in fields}

    def sql(self) -> str:
        return " ".join(self.parts)


def _select(query: _Query, values: Sequence[str], columns: Sequence[Column]) -> None:
    query.add("SELECT " + ", ".join(map(wire_value, values, columns)) + " FROM")


def _pivot(keys: Sequence[tuple[str, str]], of: dict[str, str]) -> tuple[str, list]:
    """One ``max(value) FILTER (name, unit)`` column ``v<i>`` per key: (SQL, params)."""
    filtered = f"max({of['value']}) FILTER (WHERE {of['name']} = %s AND {of['unit']} = %s)"
    sql = ", ".join(f"{filtered} AS v{i}" for i in range(len(keys)))
    return sql, [value for key in keys for value in key]


def _parameters(conditions: "SampleConditions") -> _Query:
    """A SELECT of each synthesis's ``param:`` values: ``c_synthesis``, then ``v0``, ``v1``, …

    One ``v<i>`` per key of ``conditions.parameter_columns``, in its order.
    """
    inner = _Query()
    fields = ("synthesis_id", "name", "unit", "value")
    parameter = inner.relation(conditions.parameters, fields, "parameter_rows")
    keys = list(conditions.parameter_columns)
    pivoted, params = _pivot(keys, parameter)
    query = _Query()
    query.add(f"SELECT {parameter['synthesis_id']} AS c_synthesis, {pivoted} FROM", params)
    query.add(inner.sql(), inner.params)
    query.add(f"GROUP BY {parameter['synthesis_id']}")
    return query


def _join_latest_synthesis(
    query: _Query, conditions: "SampleConditions", sample_id: str
) -> list[str]:
    """Join each sample's latest synthesis, with its ``param:`` values, as ``synthesis``.

    The parameters are joined to every synthesis before the latest is chosen, so the
    outer join is on the sample alone (the planner knows that key unique there, and
    estimates the join's rows right). Returns its columns' SQL (with the step count).
    """
    inner = _Query()
    synthesis = inner.relation(conditions.syntheses, SYNTHESIS_FIELDS, "synthesis_rows")
    values = [synthesis[field] for field in SYNTHESIS_FIELDS[2:]]
    if conditions.parameter_columns:
        parameters = _parameters(conditions)
        inner.add("LEFT JOIN (")
        inner.add(parameters.sql(), parameters.params)
        inner.add(f") AS parameter ON parameter.c_synthesis = {synthesis['pk']}")
        values += [f"parameter.v{i}" for i in range(len(conditions.parameter_columns))]
    query.add(
        f"LEFT JOIN (SELECT DISTINCT ON (s.c_sample) * FROM (SELECT "
        f"{synthesis['sample_id']} AS c_sample, {synthesis['pk']} AS c_pk, "
        f"{synthesis['performed_on']} AS c_day, "
        f"count(*) OVER (PARTITION BY {synthesis['sample_id']}) AS c_steps, "
        + ", ".join(f"{value} AS v{i}" for i, value in enumerate(values))
        + " FROM"
    )
    query.add(inner.sql(), inner.params)
    query.add(
        ") AS s ORDER BY s.c_sample, s.c_day DESC NULLS LAST, s.c_pk DESC) AS synthesis"
        f" ON synthesis.c_sample = {sample_id}"
    )
    return ["COALESCE(synthesis.c_steps, 0)", *(f"synthesis.v{i}" for i in range(len(values)))]


def _join_properties(query: _Query, conditions: "SampleConditions", sample_id: str) -> list[str]:
    """Join each sample's latest ``prop:`` values as ``property``; their columns' SQL."""
    inner = _Query()
    fields = ("sample_id", "name", "unit", "value", "measured_on", "pk")
    measured = inner.relation(conditions.properties, fields, "property_rows")
    keys = list(conditions.property_columns)
    pivoted, params = _pivot(keys, {field: f"latest.c_{field}" for field in fields[1:4]})
    one_per_name = f"{measured['sample_id']}, {measured['name']}, {measured['unit']}"
    query.add(
        f"LEFT JOIN (SELECT latest.c_sample_id, {pivoted} FROM (SELECT DISTINCT ON "
        f"({one_per_name}) "
        + ", ".join(f"{measured[field]} AS c_{field}" for field in fields[:4])
        + " FROM",
        params,
    )
    query.add(inner.sql(), inner.params)
    query.add(
        f"ORDER BY {one_per_name}, {measured['measured_on']} DESC NULLS LAST, "
        f"{measured['pk']} DESC) AS latest GROUP BY latest.c_sample_id) AS property "
        f"ON property.c_sample_id = {sample_id}"
    )
    return [f"property.v{i}" for i in range(len(keys))]


def _conditions(query: _Query, conditions: "SampleConditions", sample_id: str) -> list[str]:
    """Join the conditions of the sample ``sample_id``; the SQL of their columns, in order."""
    selected = _join_latest_synthesis(query, conditions, sample_id)
    if conditions.property_columns:
        selected += _join_properties(query, conditions, sample_id)
    return selected


def _analyses(runs: QuerySet, fields: Sequence[str] = ANALYSIS_FIELDS) -> _Query:
    """A SELECT of ``runs``' ``fields`` (of :data:`ANALYSIS_FIELDS`), as columns ``a0``, ``a1``, ….

    ``runs`` are :func:`nanomark.exports.rows.analysis_runs`: the current analyses with
    one join per defect class (hash joins here, faster than pivoting the statistics).
    Django joins only what ``fields`` read.
    """
    relation = _Query()
    run = relation.relation(runs, fields, "run")
    query = _Query()
    query.add("SELECT " + ", ".join(f"{run[f]} AS a{i}" for i, f in enumerate(fields)))
    query.add("FROM " + relation.sql(), relation.params)
    return query


def _analysis_columns(alias: str, fields: Sequence[str] = ANALYSIS_FIELDS) -> dict[str, str]:
    """Each of ``fields`` → its column of :func:`_analyses` (of the same fields) under ``alias``."""
    return {field: f"{alias}.a{i}" for i, field in enumerate(fields)}


def image_query(
    images: QuerySet,
    analyses: QuerySet,
    conditions: "SampleConditions",
    columns: Sequence[Column],
) -> tuple[str, list]:
    """(SQL, params) of the image table's rows, in (sample id, image id) order.

    ``images`` are the images annotated as :data:`IMAGE_FIELDS` reads them,
    ``analyses`` their current analyses (:func:`nanomark.exports.rows.analysis_runs`),
    ``columns`` the table's columns (:data:`IMAGE_COLUMNS` first).
    """
    body = _Query()
    image = body.relation(images, IMAGE_FIELDS, "image")
    inner = _analyses(analyses)
    body.add("LEFT JOIN (")
    body.add(inner.sql(), inner.params)
    analysis = _analysis_columns("analysis")
    # Joined on the sample too: then every join of the query is on the sample first and the
    # planner merges inputs sorted as the rows leave, so they stream before the query ends
    # (on the image alone it hashes, and the final sort holds every row back).
    body.add(
        f") AS analysis ON {analysis['image__sample_id']} = {image['sample_id']}"
        f" AND {analysis['image_id']} = {image['pk']}"
    )
    selected = [
        *(image[field] for field in IMAGE_FIELDS),
        *(analysis[field] for field in ANALYSIS_FIELDS[2:]),
        *_conditions(body, conditions, image["sample_id"]),
    ]
    body.add(f"ORDER BY {image['sample_id']}, {image['pk']}")
    query = _Query()
    _select(query, selected, columns)
    query.add(body.sql(), body.params)
    return query.sql(), query.params


def _aggregates(query: _Query, analyses: QuerySet) -> None:
    """Join each sample's :data:`AGGREGATE_COLUMNS` as ``aggregate.v<i>`` (on ``c_sample``)."""
    # The sample and image (the order they accumulate in) and the values they aggregate.
    fields = (*ANALYSIS_FIELDS[:2], *ANALYSIS_FIELDS[2 + SCORE_INDEX :])
    inner = _analyses(analyses, fields)
    a = _analysis_columns("a", fields)
    score, *averaged = (a[field] for field in fields[2:])
    statistics = [
        "count(*)",
        f"avg({score})",
        f"stddev_samp({score})",
        f"min({score})",
        f"max({score})",
        *(f"avg({column}::float8)" for column in averaged),
    ]
    query.add(
        f"LEFT JOIN (SELECT {a['image__sample_id']} AS c_sample, "
        + ", ".join(f"{sql} AS v{i}" for i, sql in enumerate(statistics))
        + " FROM (SELECT * FROM ("
    )
    query.add(inner.sql(), inner.params)
    # Sorted, so that the aggregates accumulate in image order (as the Python path does).
    query.add(
        f") AS sorted ORDER BY sorted.a0, sorted.a1) AS a GROUP BY {a['image__sample_id']}) "
        "AS aggregate"
    )


def sample_query(
    samples: QuerySet,
    analyses: QuerySet,
    conditions: "SampleConditions",
    columns: Sequence[Column],
) -> tuple[str, list]:
    """(SQL, params) of the sample table's rows, in sample id order.

    ``samples`` are the samples annotated with ``image_count``, ``analyses`` the current
    analyses of their images, ``columns`` the table's columns.
    """
    body = _Query()
    sample = body.relation(samples, (*SAMPLE_FIELDS, "image_count"), "sample")
    _aggregates(body, analyses)
    body.add(f"ON aggregate.c_sample = {sample['pk']}")
    selected = [
        *(sample[field] for field in (*SAMPLE_FIELDS, "image_count")),
        "COALESCE(aggregate.v0, 0)",
        *(f"aggregate.v{i}" for i in range(1, len(AGGREGATE_COLUMNS))),
        *_conditions(body, conditions, sample["pk"]),
    ]
    body.add(f"ORDER BY {sample['pk']}")
    query = _Query()
    _select(query, selected, columns)
    query.add(body.sql(), body.params)
    return query.sql(), query.params
