"""Exports: tidy image and sample rows with known values, lab scoping, formats, query count."""

import csv
import io
import json
import math
from datetime import UTC, date, datetime

import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nanomark.exports.columns import ANALYSIS_COLUMNS, DEFECT_COLUMNS, Column, Table
from nanomark.exports.filters import ImageExportFilter, SampleExportFilter
from nanomark.exports.rows import image_table, sample_table
from nanomark.exports.writers import FORMATS, write_csv, write_json, write_parquet
from nanomark.imaging.models import ParticleAnnotation, SEMImage
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

pytestmark = pytest.mark.django_db


def _at(month: int, day: int = 1) -> datetime:
    return datetime(2024, month, day, 12, 0, tzinfo=UTC)


def _image(sample: Sample, filename: str, acquired_at: datetime | None = None) -> SEMImage:
    return image_row(
        sample,
        filename,
        original=f"originals/{filename}",
        format="tiff",
        size_bytes=1000,
        pixel_size_nm=0.99,
        acquired_at=acquired_at,
    )


def _run(image, score=None, finished_at=None, status=RunStatus.SUCCEEDED, **models) -> AnalysisRun:
    run = AnalysisRun.objects.create(
        lab=image.lab, image=image, status=status, finished_at=finished_at, **models
    )
    if score is not None:
        OrderScore.objects.create(run=run, score=score)
    return run


def _decorated(sample: Sample, **conditions) -> Synthesis:
    return Synthesis.objects.create(
        sample=sample,
        precursor="Pd2dba3",
        precursor_mass_mg=1.0,
        support_mass_mg=10.0,
        solvent="CHCl3",
        solvent_volume_ml=2.0,
        temperature_c=80.0,
        duration_min=3.0,
        **conditions,
    )


@pytest.fixture
def data(labs):
    """Lab A: S1 (3 images, 2 analysed, 2 syntheses, properties) and S2 (bare); lab B: S1."""
    lab_a, s1 = labs["a"], labs["sample_a"]
    s2 = Sample.objects.create(lab=lab_a, code="S2", material=Material.objects.get(lab=lab_a))
    classifier = ModelVersion.objects.create(
        lab=lab_a, task=ModelTask.ORDER_CLASSIFIER, name="clf-v1", architecture="resnet34"
    )
    segmenter = ModelVersion.objects.create(
        lab=lab_a, task=ModelTask.DEFECT_SEGMENTER, name="seg-v2", architecture="fpn"
    )
    preparation = Synthesis.objects.create(
        sample=s1, kind="material_preparation", performed_on=date(2024, 1, 1)
    )
    SynthesisParameter.objects.create(
        synthesis=preparation, name="milling time", value=30.0, unit="min"
    )
    decoration = _decorated(s1, performed_on=date(2024, 2, 1))
    SynthesisParameter.objects.create(
        synthesis=decoration, name="stirring rate", value=500.0, unit="rpm"
    )
    for value, measured_on in [(120.0, date(2024, 3, 1)), (100.0, date(2024, 1, 1))]:
        PropertyMeasurement.objects.create(
            sample=s1, name="BET area", value=value, unit="m2/g", measured_on=measured_on
        )
    PropertyMeasurement.objects.create(sample=s1, name="conductivity", value=5.0)

    i1 = _image(s1, "i1.tif", _at(3, 15))
    _run(i1, 0.2, _at(3, 16), classifier=segmenter)  # older: not current
    current = _run(i1, 0.9, _at(3, 17), classifier=classifier, segmenter=segmenter)
    _run(i1, None, _at(3, 18), status=RunStatus.FAILED)  # failed: not current
    DefectStatistic.objects.create(
        run=current,
        defect_class="grain_boundary",
        area_fraction=0.1,
        skeleton_length_nm=500.0,
        segment_count=3,
        branch_point_count=1,
    )
    DefectStatistic.objects.create(
        run=current, defect_class="point_defect", area_fraction=0.02, cluster_count=7
    )
    ParticleStatistics.objects.create(
        run=current, count=40, density_per_um2=4.0, mean_diameter_nm=2.5, clark_evans_r=0.6
    )
    i2 = _image(s1, "i2.tif", _at(5))
    second = _run(i2, 0.5, _at(5, 2), classifier=classifier)
    ParticleStatistics.objects.create(run=second, count=20, density_per_um2=2.0, clark_evans_r=0.8)
    i3 = _image(s1, "i3.tif")
    _run(i3, status=RunStatus.QUEUED)

    secret = _decorated(labs["sample_b"])
    SynthesisParameter.objects.create(synthesis=secret, name="secret param", value=1.0)
    PropertyMeasurement.objects.create(sample=labs["sample_b"], name="secret prop", value=1.0)
    other = _image(labs["sample_b"], "b1.tif", _at(3, 15))
    _run(other, 0.1, _at(3, 16))
    return {**labs, "s2": s2, "current": current, "classifier": classifier}


def _records(table: Table) -> list[dict]:
    names = [column.name for column in table.columns]
    return [dict(zip(names, row, strict=True)) for row in table.rows]


def test_an_image_row_holds_its_current_analysis_and_the_samples_conditions(data):
    rows = {row["filename"]: row for row in _records(image_table(data["alice"]))}
    assert sorted(rows) == ["i1.tif", "i2.tif", "i3.tif"]
    i1 = rows["i1.tif"]
    assert (i1["lab"], i1["sample_code"], i1["material"], i1["material_kind"]) == (
        "lab-a",
        "S1",
        "Graphite",
        "graphite",
    )
    assert (i1["pixel_size_nm"], i1["acquired_at"]) == (0.99, _at(3, 15))
    assert i1["analysis_run_id"] == data["current"].pk
    assert (i1["order_score"], i1["classifier"], i1["classifier_id"]) == (
        0.9,
        "clf-v1",
        data["classifier"].pk,
    )
    assert (i1["segmenter"], i1["embedder"], i1["embedder_id"]) == ("seg-v2", None, None)
    assert i1["grain_boundary_area_fraction"] == 0.1
    assert i1["grain_boundary_skeleton_length_nm"] == 500.0
    assert (i1["grain_boundary_segment_count"], i1["grain_boundary_branch_point_count"]) == (3, 1)
    assert (i1["point_defect_area_fraction"], i1["point_defect_cluster_count"]) == (0.02, 7)
    assert i1["sheet_border_area_fraction"] is None
    assert (i1["particle_count"], i1["particle_density_per_um2"]) == (40, 4.0)
    assert (i1["particle_mean_diameter_nm"], i1["particle_clark_evans_r"]) == (2.5, 0.6)
    assert i1["particle_mean_nearest_neighbour_nm"] is None
    # The latest synthesis step (the decoration) and its own parameters only.
    assert (i1["synthesis_count"], i1["synthesis_kind"], i1["synthesis_precursor"]) == (
        2,
        "pd_decoration",
        "Pd2dba3",
    )
    assert (i1["synthesis_temperature_c"], i1["synthesis_duration_min"]) == (80.0, 3.0)
    assert i1["synthesis_performed_on"] == date(2024, 2, 1)
    assert i1["param:stirring rate [rpm]"] == 500.0
    assert i1["param:milling time [min]"] is None
    assert (i1["prop:BET area [m2/g]"], i1["prop:conductivity"]) == (120.0, 5.0)
    assert rows["i2.tif"]["order_score"] == 0.5
    assert rows["i2.tif"]["prop:BET area [m2/g]"] == 120.0
    assert all(rows["i3.tif"][c.name] is None for c in (*ANALYSIS_COLUMNS, *DEFECT_COLUMNS))


def test_a_sample_row_aggregates_its_images_current_analyses(data):
    rows = {row["sample_code"]: row for row in _records(sample_table(data["alice"]))}
    s1, s2 = rows["S1"], rows["S2"]
    assert (s1["image_count"], s1["analysed_image_count"]) == (3, 2)
    assert s1["order_score_mean"] == pytest.approx(0.7)
    assert s1["order_score_std"] == pytest.approx(math.sqrt(0.08))
    assert (s1["order_score_min"], s1["order_score_max"]) == (0.5, 0.9)
    assert s1["particle_density_per_um2_mean"] == pytest.approx(3.0)
    assert s1["particle_clark_evans_r_mean"] == pytest.approx(0.7)
    assert s1["particle_mean_diameter_nm_mean"] == 2.5  # only i1 has one
    assert s1["grain_boundary_skeleton_length_nm_mean"] == 500.0
    assert s1["sheet_border_area_fraction_mean"] is None
    assert (s1["synthesis_solvent"], s1["prop:BET area [m2/g]"]) == ("CHCl3", 120.0)
    assert (s2["image_count"], s2["analysed_image_count"], s2["order_score_mean"]) == (0, 0, None)
    assert (s2["synthesis_count"], s2["synthesis_kind"], s2["prop:conductivity"]) == (0, None, None)


def test_a_single_analysis_has_no_spread(data):
    rows = _records(sample_table(data["bob"]))
    assert [(r["lab"], r["order_score_mean"], r["order_score_std"]) for r in rows] == [
        ("lab-b", 0.1, None)
    ]


def test_it_leaves_out_other_labs_rows_and_columns(data):
    for table in (image_table(data["alice"]), sample_table(data["alice"])):
        names = [column.name for column in table.columns]
        assert not [name for name in names if "secret" in name]
        assert {row[0] for row in table.rows} == {"lab-a"}
    assert [row["filename"] for row in _records(image_table(data["bob"]))] == ["b1.tif"]


def test_an_image_row_counts_its_latest_particle_labels(data):
    image = SEMImage.objects.get(original_filename="i1.tif")
    for count in (12, 7):  # the later labels count
        ParticleAnnotation.objects.create(image=image, particles=f"l{count}.csv", count=count)
    rows = {row["filename"]: row for row in _records(image_table(data["alice"]))}
    assert [rows[name]["labelled_particles"] for name in ("i1.tif", "i2.tif")] == [7, None]


@pytest.mark.parametrize(
    ("query", "files"),
    [
        ("lab=lab-a", ["i1.tif", "i2.tif", "i3.tif"]),
        ("lab=lab-b", []),
        ("material=Graphite&date_from=2024-04-01", ["i2.tif"]),
        ("date_from=2024-03-15&date_to=2024-03-15", ["i1.tif"]),
        ("material=Diamond", []),
    ],
)
def test_filters_select_the_images(data, query, files):
    filters = ImageExportFilter(QueryDict(query))
    assert filters.is_valid()
    table = image_table(data["alice"], filters.qs)
    assert sorted(row["filename"] for row in _records(table)) == files


def test_a_sample_filter_selects_samples(data):
    query = QueryDict(f"sample={data['s2'].pk},{data['sample_b'].pk}")
    rows = _records(sample_table(data["alice"], SampleExportFilter(query).qs))
    assert [row["sample_code"] for row in rows] == ["S2"]  # sample_b is bob's


def test_sample_ids_may_repeat_and_list(data):
    s1, s2 = data["sample_a"], data["s2"]
    only_s2 = ImageExportFilter(QueryDict(f"sample={s2.pk}")).qs
    assert _records(image_table(data["alice"], only_s2)) == []  # S2 has no images
    filters = ImageExportFilter(QueryDict(f"sample={s2.pk}&sample=,{s1.pk} ,"))
    assert filters.is_valid(), filters.errors
    assert filters.form.cleaned_data["sample"] == tuple(sorted((s1.pk, s2.pk)))
    rows = _records(image_table(data["alice"], filters.qs))
    assert sorted(row["filename"] for row in rows) == ["i1.tif", "i2.tif", "i3.tif"]


def _parse_csv(body: bytes, columns) -> list[dict]:
    readers = {
        "int": int,
        "float": float,
        "str": str,
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
    }
    lines = list(csv.reader(io.StringIO(body.decode())))
    assert lines[0] == [column.name for column in columns]
    return [
        {c.name: readers[c.type](v) if v else None for c, v in zip(columns, line, strict=True)}
        for line in lines[1:]
    ]


def _parse_json(body: bytes, columns) -> list[dict]:
    readers = {"datetime": datetime.fromisoformat, "date": date.fromisoformat}

    def read(column: Column, value):
        return readers[column.type](value) if column.type in readers and value else value

    return [{c.name: read(c, record[c.name]) for c in columns} for record in json.loads(body)]


def _parse_parquet(body: bytes, columns) -> list[dict]:
    table = pq.read_table(io.BytesIO(body))
    assert table.column_names == [column.name for column in columns]
    return table.to_pylist()


PARSERS = {"csv": _parse_csv, "json": _parse_json, "parquet": _parse_parquet}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize(("name", "build"), [("images", image_table), ("samples", sample_table)])
def test_each_format_reads_back_to_the_same_values(client, data, fmt, name, build):
    client.force_login(data["alice"])
    response = client.get(reverse(f"export-{name}", args=[fmt]))
    assert response.status_code == 200
    assert response["Content-Type"] == FORMATS[fmt].content_type
    assert response["Content-Disposition"] == f'attachment; filename="nanomark-{name}.{fmt}"'
    expected = build(data["alice"])
    rows = PARSERS[fmt](b"".join(response.streaming_content), expected.columns)
    assert rows == _records(expected)
    assert len(rows) == {"images": 3, "samples": 2}[name]


def _bulk_samples(lab, material, classifier, start: int, count: int) -> None:
    for i in range(start, start + count):
        sample = Sample.objects.create(lab=lab, code=f"Q{i}", material=material)
        synthesis = _decorated(sample)
        SynthesisParameter.objects.create(synthesis=synthesis, name=f"p{i % 3}", value=i)
        PropertyMeasurement.objects.create(sample=sample, name=f"prop{i % 4}", value=i)
        image = _image(sample, f"q{i}.tif", _at(6))
        run = _run(image, i / (start + count), _at(6), classifier=classifier)
        DefectStatistic.objects.create(run=run, defect_class="sheet_border", area_fraction=0.1)
        ParticleStatistics.objects.create(run=run, count=i)


def _export_queries(user) -> list[int]:
    counts = []
    for build in (image_table, sample_table):
        with CaptureQueriesContext(connection) as queries:
            for fmt in FORMATS.values():
                assert b"".join(fmt.write(build(user)))
        counts.append(len(queries))
    return counts


def test_the_number_of_queries_does_not_grow_with_the_rows(labs, monkeypatch):
    # Small chunks, so that 50 samples take several round trips per query.
    monkeypatch.setattr("nanomark.exports.rows.CHUNK_SIZE", 7)
    lab, material = labs["a"], Material.objects.get(lab=labs["a"])
    classifier = ModelVersion.objects.create(
        lab=lab, task=ModelTask.ORDER_CLASSIFIER, name="clf", architecture="resnet18"
    )
    _bulk_samples(lab, material, classifier, 0, 4)
    few = _export_queries(labs["alice"])
    _bulk_samples(lab, material, classifier, 4, 46)
    assert len(_records(sample_table(labs["alice"]))) == 51
    # On PostgreSQL: the 2 column reads, then (in the test's transaction, a savepoint and
    # its release around) the planner settings and one COPY, which bypasses the query log.
    per_export = 5 if connection.vendor == "postgresql" else 7
    assert _export_queries(labs["alice"]) == few == [3 * per_export, 3 * per_export]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date_from=2024-13-01", "date_from='2024-13-01' is not a date (YYYY-MM-DD)"),
        ("date_to=yesterday", "date_to='yesterday' is not a date"),
        ("date_from=2024-05-01&date_to=2024-04-01", "date_from 2024-05-01 is after date_to"),
        ("sample=12,abc", "sample='12,abc' holds 'abc', not an id"),
        ("sample=12&sample=99999999999999999999", "holds '99999999999999999999', not an id"),
        ("lab=lab-a&lab=lab-b", "lab='lab-a,lab-b' given 2 times; give it once"),
        ("colour=red", "unknown filter colour; expected lab, material, sample"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_why(client, labs, query, message):
    client.force_login(labs["alice"])
    response = client.get(reverse("export-images", args=["csv"]) + "?" + query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_an_unknown_format_is_a_404(client, labs):
    client.force_login(labs["alice"])
    assert client.get(reverse("export-samples", args=["xlsx"])).status_code == 404


def test_an_anonymous_user_is_sent_to_log_in(client, labs):
    response = client.get(reverse("export-samples", args=["csv"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def _tiny(rows: list[tuple]) -> Table:
    columns = (Column("x", "float"), Column("when", "date"))
    return Table("tiny", columns, iter(rows))


def test_json_writes_non_finite_numbers_as_null():
    body = b"".join(
        write_json(_tiny([(math.nan, date(2024, 1, 2)), (math.inf, None), (1.5, None)]))
    )
    assert json.loads(body) == [
        {"x": None, "when": "2024-01-02"},
        {"x": None, "when": None},
        {"x": 1.5, "when": None},
    ]


def test_an_empty_table_is_a_valid_file_in_every_format():
    assert b"".join(write_csv(_tiny([]))) == b"x,when\n"
    assert json.loads(b"".join(write_json(_tiny([])))) == []
    table = pq.read_table(io.BytesIO(b"".join(write_parquet(_tiny([])))))
    assert (table.num_rows, table.column_names) == (0, ["x", "when"])


def test_writers_yield_one_chunk_per_batch():
    rows = [(float(i), None) for i in range(10)]
    assert len(list(write_csv(_tiny(rows), batch_rows=4))) == 3
    chunks = list(write_parquet(_tiny(rows), batch_rows=4))
    assert len(chunks) == 4  # three row groups, then the footer
    assert pq.read_table(io.BytesIO(b"".join(chunks))).column("x").to_pylist() == [
        float(i) for i in range(10)
    ]


def test_csv_defuses_text_a_spreadsheet_would_run_as_a_formula():
    columns = (Column("code", "str"), Column("x", "float"))
    rows = [('=HYPERLINK("http://evil")', -1.0), ("@SUM(A1)", None), ("S1", 2.0), ("", 3.0)]
    body = b"".join(write_csv(Table("codes", columns, iter(rows)))).decode()
    assert list(csv.reader(io.StringIO(body))) == [
        ["code", "x"],
        ['\'=HYPERLINK("http://evil")', "-1.0"],
        ["'@SUM(A1)", ""],
        ["S1", "2.0"],
        ["", "3.0"],
    ]
    # JSON is not opened by spreadsheets: it keeps the stored text.
    records = json.loads(b"".join(write_json(Table("codes", columns, iter(rows)))))
    assert [record["code"] for record in records] == [row[0] for row in rows]
