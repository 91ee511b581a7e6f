"""The lab switcher, write permissions, and the sample filters shared by UI and API."""

from datetime import UTC, datetime

import pytest

from nanomark.accounts.choices import Role
from nanomark.accounts.labcontext import SESSION_KEY, can_write
from nanomark.accounts.models import Membership
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.filters import AnalysedSampleFilter
from nanomark.results.models import AnalysisRun, OrderScore
from nanomark.runs import RunStatus
from nanomark.samples.filters import SampleFilter
from nanomark.samples.models import Sample, Synthesis
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db


def test_switching_lab_only_to_ones_own_labs(client, labs):
    Membership.objects.create(user=labs["alice"], lab=labs["b"], role=Role.VIEWER)
    client.force_login(labs["alice"])
    response = client.post("/lab/", {"lab": "lab-b", "next": "/samples/1/"})
    assert response.status_code == 302
    assert response["Location"] == "/samples/1/"
    assert client.session[SESSION_KEY] == labs["b"].pk
    client.force_login(labs["bob"])
    client.post("/lab/", {"lab": "lab-a"})
    assert SESSION_KEY not in client.session  # not bob's lab: nothing changes


def test_the_switcher_redirect_stays_on_this_site(client, labs):
    client.force_login(labs["alice"])
    response = client.post("/lab/", {"lab": "lab-a", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_viewers_read_and_members_write(labs):
    assert can_write(labs["alice"], labs["a"].pk)
    assert not can_write(labs["charlie"], labs["a"].pk)
    assert not can_write(labs["alice"], labs["b"].pk)


def test_sample_filter_by_synthesis_and_current_order_score(labs):

    sample_a = labs["sample_a"]
    other = Sample.objects.create(lab=labs["a"], code="S2", material=sample_a.material)
    Synthesis.objects.create(sample=sample_a, precursor="Pd2dba3", temperature_c=80)
    Synthesis.objects.create(sample=other, precursor="Pd(OAc)2", temperature_c=25)
    for sample, scores in [(sample_a, [0.9, 0.2]), (other, [0.4])]:
        image = image_row(sample, "x.png", width_px=1, height_px=1)
        # Successive runs with newer classifiers: only the most recent one counts.
        for day, score in enumerate(scores, start=1):
            classifier = ModelVersion.objects.create(
                lab=sample.lab, task=ModelTask.ORDER_CLASSIFIER, name=f"{sample.code}-{day}"
            )
            run = AnalysisRun.objects.create(
                lab=sample.lab,
                image=image,
                classifier=classifier,
                status=RunStatus.SUCCEEDED,
                finished_at=datetime(2026, 1, day, tzinfo=UTC),
            )
            OrderScore.objects.create(run=run, score=score)
    samples = Sample.objects.filter(lab=labs["a"])

    def codes(**params):
        return sorted(s.code for s in AnalysedSampleFilter(params, queryset=samples).qs)

    assert codes(precursor="dba") == ["S1"]
    assert codes(temperature_min=50) == ["S1"]
    # S1's current score is 0.2 (the 0.9 run is older); S2's is 0.4.
    assert codes(order_score_min=0.8) == []
    assert codes(order_score_min=0.3, order_score_max=0.5) == ["S2"]
    assert codes(order_score_max=0.3) == ["S1"]


def test_synthesis_conditions_hold_for_one_synthesis_step(labs):
    # S1 was made hot with Pd(OAc)2 and then treated cold with Pd2dba3: no single step
    # used Pd2dba3 at 60 °C or above, so S1 is no match for both conditions together.
    sample = labs["sample_a"]
    Synthesis.objects.create(sample=sample, precursor="Pd(OAc)2", temperature_c=90)
    Synthesis.objects.create(sample=sample, precursor="Pd2dba3", temperature_c=25)
    hot_dba = Sample.objects.create(lab=labs["a"], code="S2", material=sample.material)
    Synthesis.objects.create(sample=hot_dba, precursor="Pd2dba3", temperature_c=70)

    def codes(**params):
        filterset = SampleFilter(params, queryset=Sample.objects.filter(lab=labs["a"]))
        assert filterset.is_valid(), filterset.errors
        return sorted(s.code for s in filterset.qs)

    assert codes(precursor="dba", temperature_min=60) == ["S2"]
    assert codes(precursor="OAc", temperature_max=30) == []
    assert codes(temperature_min=60) == ["S1", "S2"]  # one row per sample, not per step


def test_a_backward_temperature_range_is_an_error_on_every_sample_list(labs, client, api):
    filterset = SampleFilter({"temperature_min": 90, "temperature_max": 80})
    assert not filterset.is_valid()
    assert filterset.errors == {"temperature_min": ["T min 90 °C is above T max 80 °C."]}
    response = api("alice").get("/api/samples/", {"temperature_min": 90, "temperature_max": 80})
    assert response.status_code == 400
    assert response.json() == {"temperature_min": ["T min 90 °C is above T max 80 °C."]}
    client.force_login(labs["alice"])
    page = client.get("/", {"temperature_min": 90, "temperature_max": 80})
    assert "T min 90 °C is above T max 80 °C." in page.content.decode()
