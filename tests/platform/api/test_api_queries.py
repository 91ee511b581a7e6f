"""API lists read a fixed number of queries, however many rows a page holds."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nanomark.computations.models import MonteCarloRun, XtbCalculation
from nanomark.imaging.models import OrderLabel
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, DefectStatistic, OrderScore, ParticleStatistics
from nanomark.runs import RunStatus
from nanomark.samples.models import PropertyMeasurement, Sample, Synthesis, SynthesisParameter
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/samples/",
    "/api/syntheses/",
    "/api/images/",
    "/api/order-labels/",
    "/api/analysis-runs/",
    "/api/models/",
    "/api/monte-carlo-runs/",
    "/api/xtb-calculations/",
]


def _add_rows(labs, n: int) -> None:
    """``n`` more of every kind of row in lab A, each with its related rows."""
    lab, material = labs["a"], labs["sample_a"].material
    start = Sample.objects.count()
    for i in range(start, start + n):
        sample = Sample.objects.create(lab=lab, code=f"Q{i}", material=material)
        synthesis = Synthesis.objects.create(sample=sample, temperature_c=80.0)
        SynthesisParameter.objects.create(synthesis=synthesis, name="rpm", value=600)
        PropertyMeasurement.objects.create(sample=sample, name="BET", value=500.0)
        image = image_row(
            sample, f"{i}.png", lab=lab, original=f"originals/{i}.png", width_px=8, height_px=8
        )
        OrderLabel.objects.create(image=image, label="ordered", annotator=labs["alice"])
        version = ModelVersion.objects.create(
            lab=lab, task=ModelTask.ORDER_CLASSIFIER, name=f"clf{i}", architecture="resnet34"
        )
        version.training_images.add(image)
        run = AnalysisRun.objects.create(
            lab=lab,
            image=image,
            classifier=version,
            status=RunStatus.SUCCEEDED,
            finished_at=timezone.now(),
        )
        OrderScore.objects.create(run=run, score=0.5)
        DefectStatistic.objects.create(run=run, defect_class="point_defect", area_fraction=0.1)
        ParticleStatistics.objects.create(run=run, count=10)
        MonteCarloRun.objects.create(lab=lab, sample=sample, parameters={})
        XtbCalculation.objects.create(lab=lab, name=f"x{i}", task="sp", input_xyz="x")


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_lists_take_as_many_queries_for_one_row_as_for_many(api, labs):
    alice = api("alice")
    _add_rows(labs, 1)
    few = {url: _queries(alice, url) for url in LISTS}
    _add_rows(labs, 4)
    many = {url: _queries(alice, url) for url in LISTS}
    assert many == few
