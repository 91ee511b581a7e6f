"""Property-vs-feature correlation: Pearson r on known numbers, a lab's sample values, the page."""

import math
from datetime import UTC, date, datetime

import numpy as np
import pytest
from django.urls import reverse

from analysis.correlation import correlation_matrix, pearson
from nanomark.exports.correlation import label, sample_values
from nanomark.results.models import AnalysisRun, OrderScore, ParticleStatistics
from nanomark.runs import RunStatus
from nanomark.samples.models import PropertyMeasurement, Sample
from tests.platform.rows import image_row

BET = "prop:BET area [m2/g]"


def test_pearson_on_known_numbers():
    r, n = pearson(np.array([1.0, 2, 3, 4, 5]), np.array([2.0, 4, 5, 4, 5]))
    # Σdxdy = 6, Σdx² = 10, Σdy² = 6: r = 6 / √60 = √0.6.
    assert r == pytest.approx(math.sqrt(0.6), abs=1e-12)
    assert n == 5
    assert pearson(np.array([1.0, 2, 3]), np.array([-2.0, -4, -6])) == pytest.approx((-1.0, 3))


def test_pearson_uses_pairs_with_both_values_only():
    x = np.array([1.0, 2, np.nan, 3, 4, 5, 100])
    y = np.array([2.0, 4, 7, 5, 4, 5, np.nan])
    r, n = pearson(x, y)
    assert n == 5
    assert r == pytest.approx(math.sqrt(0.6))


def test_pearson_is_undefined_for_too_few_pairs_or_a_constant():
    r, n = pearson(np.array([1.0, 2, np.nan]), np.array([3.0, 5, 1]))
    assert math.isnan(r)
    assert n == 2
    r, n = pearson(np.array([1.0, 1, 1, 1]), np.array([3.0, 5, 1, 2]))
    assert math.isnan(r)
    assert n == 4
    with pytest.raises(ValueError, match="same length"):
        pearson(np.zeros(3), np.zeros(4))


def test_correlation_matrix_is_pairwise_complete():
    values = np.array(
        [
            [1.0, 2.0, 10.0],
            [2.0, 4.0, np.nan],
            [3.0, 5.0, 30.0],
            [4.0, 4.0, 20.0],
            [5.0, 5.0, 50.0],
        ]
    )
    r, n = correlation_matrix(values)
    assert r[0, 1] == r[1, 0] == pytest.approx(math.sqrt(0.6))
    assert n.tolist() == [[5, 5, 4], [5, 5, 4], [4, 4, 4]]
    expected = np.corrcoef(values[[0, 2, 3, 4]][:, [0, 2]].T)[0, 1]
    assert r[0, 2] == pytest.approx(expected)
    assert np.diag(r) == pytest.approx([1.0, 1.0, 1.0])


def _analysed_image(sample: Sample, name: str, score: float, clark_evans_r: float | None = None):
    image = image_row(sample, name)
    run = AnalysisRun.objects.create(
        lab=sample.lab,
        image=image,
        status=RunStatus.SUCCEEDED,
        finished_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    OrderScore.objects.create(run=run, score=score)
    if clark_evans_r is not None:
        ParticleStatistics.objects.create(run=run, count=10, clark_evans_r=clark_evans_r)
    return image


def _bet(sample: Sample, value: float, day: date) -> None:
    PropertyMeasurement.objects.create(
        sample=sample, name="BET area", unit="m2/g", value=value, measured_on=day
    )


@pytest.fixture
def measured(labs):
    """Four lab-A samples with order scores 0.2, 0.4, 0.6, 0.8 and BET areas 10, 30, 20, 40.

    r(order score, BET) = 80 / √(20 · 500) = 0.8. A-1's score is the mean of two images;
    A-2 also has an older BET of 999 (not its latest); A-5 has no analysis, A-6 no BET.
    """
    material = labs["sample_a"].material
    samples = {
        code: Sample.objects.create(lab=labs["a"], code=code, material=material)
        for code in ("A-1", "A-2", "A-3", "A-4", "A-5", "A-6")
    }
    recent, old = date(2025, 6, 1), date(2023, 1, 1)
    _analysed_image(samples["A-1"], "a1-x.png", 0.1, clark_evans_r=0.5)
    _analysed_image(samples["A-1"], "a1-y.png", 0.3, clark_evans_r=0.7)
    for code, score in (("A-2", 0.4), ("A-3", 0.6), ("A-4", 0.8), ("A-6", 0.5)):
        _analysed_image(samples[code], f"{code}.png", score)
    for code, value in (("A-1", 10), ("A-2", 30), ("A-3", 20), ("A-4", 40), ("A-5", 50)):
        _bet(samples[code], value, recent)
    _bet(samples["A-2"], 999, old)
    _bet(labs["sample_b"], 77, recent)
    _analysed_image(labs["sample_b"], "b.png", 0.9)
    return samples


def test_sample_values_reads_latest_properties_and_mean_features(labs, measured):
    data = sample_values(labs["alice"], labs["a"])
    assert data.properties == [BET]
    assert "order_score_mean" in data.features
    assert "particle_clark_evans_r_mean" in data.features
    by_code = dict(zip(data.sample_codes, range(len(data.sample_codes)), strict=True))
    assert "S1" in by_code
    assert len(by_code) == 7
    scores = data.feature_values("order_score_mean")
    bet = data.property_values(BET)
    assert scores[by_code["A-1"]] == pytest.approx(0.2)
    assert bet[by_code["A-2"]] == 30
    assert math.isnan(scores[by_code["A-5"]])
    assert data.feature_values("particle_clark_evans_r_mean")[by_code["A-1"]] == pytest.approx(0.6)
    r, n = pearson(scores, bet)
    assert r == pytest.approx(0.8)
    assert n == 4
    with pytest.raises(ValueError, match="unknown property 'prop:porosity'"):
        data.property_values("prop:porosity")
    # Line-class statistics nobody measured are no feature at all.
    assert "sheet_border_area_fraction_mean" not in data.features
    assert label(BET) == "BET area [m2/g]"
    assert label("order_score_mean") == "order score (mean)"
    assert label("particle_clark_evans_r_mean") == "particle Clark–Evans R (mean)"
    assert label("point_defect_density_per_um2_mean") == "point defect density [µm⁻²] (mean)"


def test_the_page_shows_r_and_n_of_the_chosen_pair(client, labs, measured):
    client.force_login(labs["alice"])
    url = reverse("correlation")
    response = client.get(url, {"property": BET, "feature": "order_score_mean"})
    assert response.status_code == 200
    assert response.context["r"] == pytest.approx(0.8)
    assert response.context["n"] == 4
    page = response.content.decode()
    assert 'id="pearson-r">0.800<' in page
    assert "Correlation matrix" in page
    assert "A-4" in page
    # The defaults are the first property and the mean order score.
    response = client.get(url)
    assert response.context["r"] == pytest.approx(0.8)


def test_an_unknown_choice_is_a_message_not_an_error(client, labs, measured):
    client.force_login(labs["charlie"])  # viewers read correlations too
    response = client.get(
        reverse("correlation"), {"property": "prop:porosity", "feature": "order_score_mean"}
    )
    assert response.status_code == 400
    assert "unknown property &#x27;prop:porosity&#x27;" in response.content.decode()
    response = client.get(reverse("correlation"), {"property": BET, "feature": "nonsense"})
    assert response.status_code == 400
    assert "unknown feature" in response.content.decode()


def test_another_labs_samples_are_never_shown(client, labs, measured):
    client.force_login(labs["bob"])
    response = client.get(reverse("correlation"), {"property": BET})
    page = response.content.decode()
    assert response.status_code == 200
    assert "A-1" not in page
    assert "A-4" not in page
    # Lab B has one sample with a BET area: no coefficient from a single point.
    assert response.context["n"] == 1
    assert response.context["r"] is None
