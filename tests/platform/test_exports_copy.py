"""Exports streamed with COPY on PostgreSQL: the same bytes (CSV) and values (JSON, Parquet).

Each test exports the same data through both paths of :mod:`nanomark.exports.rows`
(``copy=True``: one COPY query into Arrow; ``copy=False``: the ORM's merged
queries) and compares the files. The data are chosen where the paths could part:
NULL beside empty text, text with commas, quotes, newlines, unicode and formula
starts, floats that print long, microseconds, days, three analyses of one sample
(whose mean depends on the order of summation), parameters and properties with
and without units, filters.
"""

import io
import json
from datetime import UTC, date, datetime

import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.http import QueryDict

from nanomark.exports.filters import ImageExportFilter, SampleExportFilter
from nanomark.exports.rows import image_table, sample_table
from nanomark.exports.writers import write_csv, write_json, write_parquet
from nanomark.imaging.models import ParticleAnnotation
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, DefectStatistic, OrderScore, ParticleStatistics
from nanomark.runs import RunStatus
from nanomark.samples.models import (
    Material,
    PropertyMeasurement,
    Sample,
    Synthesis,
    SynthesisParameter,
)
from tests.platform.rows import image_row

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="COPY streams need PostgreSQL (set DATABASE_URL=postgres://...)",
    ),
]

AWKWARD_TEXT = 'a, "quoted"\nline two, ünïcödé ✓'


def _analysed(image, score, classifier, **particles) -> AnalysisRun:
    run = AnalysisRun.objects.create(
        lab=image.lab,
        image=image,
        status=RunStatus.SUCCEEDED,
        classifier=classifier,
        finished_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    if score is not None:
        OrderScore.objects.create(run=run, score=score)
    if particles:
        ParticleStatistics.objects.create(run=run, **particles)
    return run


@pytest.fixture
def awkward(labs):
    """Lab A: a sample a spreadsheet would break (4 images, 3 scored), a bare one, '=SUM(A1)'."""
    lab = labs["a"]
    material = Material.objects.create(lab=lab, name=AWKWARD_TEXT, kind="")
    s1 = Sample.objects.create(lab=lab, code='S,1 "x"', material=material)
    s2 = Sample.objects.create(lab=lab, code="S2", material=material, parent=s1)
    graphite = Material.objects.get(lab=lab, name="Graphite")
    s3 = Sample.objects.create(lab=lab, code="=SUM(A1)", material=graphite)
    classifier = ModelVersion.objects.create(
        lab=lab, task=ModelTask.ORDER_CLASSIFIER, name='clf,\n"v1"', architecture="resnet"
    )
    first = Synthesis.objects.create(sample=s1, precursor="", performed_on=None)
    SynthesisParameter.objects.create(synthesis=first, name="old", value=1.0, unit="")
    latest = Synthesis.objects.create(
        sample=s1,
        precursor="-Pd\n2",
        precursor_mass_mg=1 / 3,
        temperature_c=-0.0,
        duration_min=1e-300,
        performed_on=date(1969, 12, 31),
    )
    SynthesisParameter.objects.create(synthesis=latest, name="rate, ✓", value=1e16, unit="r/m")
    SynthesisParameter.objects.create(synthesis=latest, name="old", value=2.5, unit="")
    Synthesis.objects.create(sample=s3, kind="material_preparation", solvent="\tH2O")
    for value, measured_on in [(0.1 + 0.2, date(2024, 3, 1)), (7.0, None), (8.0, None)]:
        PropertyMeasurement.objects.create(
            sample=s1, name='BET "area"', value=value, unit="m2/g", measured_on=measured_on
        )
    PropertyMeasurement.objects.create(sample=s3, name="conductivity", value=123456789.125)

    images = [
        image_row(
            s1,
            name,
            pixel_size_nm=pixel,
            acquired_at=acquired,
            original_filename=filename,
        )
        for name, pixel, acquired, filename in [
            ("i1.tif", 0.1, datetime(2024, 3, 15, 12, 0, 0, 123456, tzinfo=UTC), "+i1,\n.tif"),
            ("i2.tif", None, datetime(1970, 1, 1, tzinfo=UTC), ""),
            ("i3.tif", 2.0 / 3, None, 'ünï"3".tif'),
            ("i4.tif", 1.0, datetime(2024, 4, 1, 23, 59, 59, 1, tzinfo=UTC), "i4.tif"),
        ]
    ]
    image_row(s3, "s3.tif", pixel_size_nm=5e-324, acquired_at=datetime(2024, 6, 1, tzinfo=UTC))
    # Scores whose mean depends on the order of summation: (0.1 + 0.2) + 0.3 != 0.6.
    runs = [
        _analysed(images[0], 0.1, classifier, count=3, density_per_um2=0.1, clark_evans_r=0.7),
        _analysed(images[1], 0.2, classifier, count=4, density_per_um2=0.2),
        _analysed(images[2], 0.3, None, count=6, density_per_um2=0.3, mean_diameter_nm=1e-7),
    ]
    DefectStatistic.objects.create(
        run=runs[0], defect_class="grain_boundary", area_fraction=0.1, segment_count=3
    )
    DefectStatistic.objects.create(
        run=runs[2], defect_class="grain_boundary", area_fraction=0.7, segment_count=4
    )
    _analysed(images[3], None, classifier)  # analysed, no score
    ParticleAnnotation.objects.create(image=images[0], particles="l.csv", count=11)
    return {**labs, "s1": s1, "s2": s2, "s3": s3}


def _both(build, user, queryset=None):
    """(COPY table, ORM table) of ``build``; each a fresh one-pass stream."""
    return build(user, queryset, copy=True), build(user, queryset, copy=False)


def _parquet_values(body: bytes) -> tuple:
    table = pq.read_table(io.BytesIO(body))
    return table.schema, table.to_pylist()


@pytest.mark.parametrize("build", [image_table, sample_table])
def test_csv_is_the_same_bytes_on_both_paths(awkward, build):
    copied, queried = _both(build, awkward["alice"])
    body = b"".join(write_csv(copied))
    assert body == b"".join(write_csv(queried))
    assert "ünïcödé ✓".encode() in body
    assert b"'=SUM(A1)" in body  # a formula is defused on both paths


@pytest.mark.parametrize("build", [image_table, sample_table])
def test_json_is_the_same_bytes_on_both_paths(awkward, build):
    copied, queried = _both(build, awkward["alice"])
    body = b"".join(write_json(copied))
    assert body == b"".join(write_json(queried))
    assert len(json.loads(body)) == {image_table: 5, sample_table: 4}[build]


@pytest.mark.parametrize("build", [image_table, sample_table])
def test_parquet_has_the_same_schema_and_values_on_both_paths(awkward, build):
    copied, queried = _both(build, awkward["alice"])
    schema, values = _parquet_values(b"".join(write_parquet(copied)))
    assert (schema, values) == _parquet_values(b"".join(write_parquet(queried)))
    assert len(values) == {image_table: 5, sample_table: 4}[build]


@pytest.mark.parametrize("build", [image_table, sample_table])
def test_rows_are_the_same_python_values_on_both_paths(awkward, build):
    copied, queried = _both(build, awkward["alice"])
    assert copied.columns == queried.columns
    rows = list(copied.rows)
    assert rows == list(queried.rows)
    # Equal values of different types would pass ==; CSV would tell 1 from 1.0.
    assert [[type(value) for value in row] for row in rows] == [
        [type(value) for value in row] for row in build(awkward["alice"], copy=False).rows
    ]


@pytest.mark.parametrize("copy", [True, False])
def test_a_sample_mean_sums_in_image_order_as_the_database_does(awkward, copy):
    table = sample_table(awkward["alice"], copy=copy)
    names = [column.name for column in table.columns]
    rows = {row[1]: dict(zip(names, row, strict=True)) for row in table.rows}
    s1 = rows[awkward["s1"].pk]
    assert s1["order_score_mean"] == ((0.1 + 0.2) + 0.3) / 3 != 0.2
    assert s1["analysed_image_count"] == 4
    assert s1["order_score_min"] == 0.1
    assert s1["particle_count_mean"] == 13 / 3  # the 4th run has no particle statistics
    assert s1['prop:BET "area" [m2/g]'] == 0.1 + 0.2  # the dated measurement is the latest


@pytest.mark.parametrize(
    ("filter_set", "build", "query"),
    [
        (ImageExportFilter, image_table, "material=" + AWKWARD_TEXT),
        (ImageExportFilter, image_table, "date_from=2024-03-15&date_to=2024-03-31"),
        (ImageExportFilter, image_table, "lab=lab-b"),
        (SampleExportFilter, sample_table, "date_from=2000-01-01"),
        (SampleExportFilter, sample_table, "sample={s1},{s3}"),
    ],
)
def test_filters_select_the_same_rows_on_both_paths(awkward, filter_set, build, query):
    filters = filter_set(QueryDict(query.format(s1=awkward["s1"].pk, s3=awkward["s3"].pk)))
    assert filters.is_valid(), filters.errors
    copied, queried = _both(build, awkward["alice"], filters.qs)
    assert b"".join(write_csv(copied)) == b"".join(write_csv(queried))


def test_other_labs_rows_stay_out_of_the_copy(awkward):
    rows = list(image_table(awkward["bob"], copy=True).rows)
    assert rows == []
    assert list(sample_table(awkward["bob"], copy=True).rows) == list(
        sample_table(awkward["bob"], copy=False).rows
    )
