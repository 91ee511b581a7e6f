"""API of analysis runs (results, retry), model versions (activation), computations."""

import pytest
from django.utils import timezone

from nanomark.computations.models import MonteCarloRun, XtbCalculation
from nanomark.imaging.models import SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, DefectStatistic, OrderScore, ParticleStatistics
from nanomark.runs import RunStatus
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db


def _image(sample, name: str) -> SEMImage:
    return image_row(sample, name, original=f"originals/{name}", size_bytes=1000, pixel_size_nm=1.0)


def _version(lab, name: str, task=ModelTask.ORDER_CLASSIFIER, **fields) -> ModelVersion:
    return ModelVersion.objects.create(
        lab=lab, task=task, name=name, architecture="resnet34", **fields
    )


@pytest.fixture
def analysed(labs):
    """Lab A's image with a succeeded run and all its results; lab B's image with a failed run."""
    classifier = _version(labs["a"], "clf-a", metrics={"accuracy": 0.91})
    image_a = _image(labs["sample_a"], "a.png")
    run = AnalysisRun.objects.create(
        lab=labs["a"],
        image=image_a,
        classifier=classifier,
        status=RunStatus.SUCCEEDED,
        attempts=1,
        finished_at=timezone.now(),
        timings_s={"classifier": 0.25},
    )
    OrderScore.objects.create(run=run, score=0.73)
    DefectStatistic.objects.create(
        run=run, defect_class="grain_boundary", area_fraction=0.02, skeleton_length_nm=1250.0
    )
    DefectStatistic.objects.create(
        run=run, defect_class="point_defect", area_fraction=0.001, cluster_count=7
    )
    ParticleStatistics.objects.create(
        run=run, count=118, density_per_um2=960.9, mean_diameter_nm=2.4, clark_evans_r=0.62
    )
    image_b = _image(labs["sample_b"], "b.png")
    failed = AnalysisRun.objects.create(
        lab=labs["b"], image=image_b, status=RunStatus.FAILED, attempts=3, error="boom"
    )
    return {"run": run, "failed_b": failed, "image_a": image_a, "classifier": classifier}


def test_a_run_shows_its_results(api, analysed):
    body = api("charlie").get(f"/api/analysis-runs/{analysed['run'].pk}/").json()
    assert (body["lab"], body["image"], body["status"]) == (
        "lab-a",
        analysed["image_a"].pk,
        "succeeded",
    )
    assert body["classifier"] == {
        "id": analysed["classifier"].pk,
        "name": "clf-a",
        "task": "order_classifier",
        "architecture": "resnet34",
    }
    assert body["segmenter"] is None
    assert body["order_score"] == 0.73
    stats = {row["defect_class"]: row for row in body["defect_statistics"]}
    assert stats["grain_boundary"]["skeleton_length_nm"] == 1250.0
    assert stats["point_defect"]["cluster_count"] == 7
    assert body["particles"]["count"] == 118
    assert body["particles"]["clark_evans_r"] == 0.62
    assert body["timings_s"] == {"classifier": 0.25}


def test_runs_are_listed_in_their_lab_only(api, labs, analysed):
    alice, bob = api("alice"), api("bob")
    assert [r["id"] for r in alice.get("/api/analysis-runs/").json()["results"]] == [
        analysed["run"].pk
    ]
    assert [r["id"] for r in bob.get("/api/analysis-runs/").json()["results"]] == [
        analysed["failed_b"].pk
    ]
    assert bob.get(f"/api/analysis-runs/{analysed['run'].pk}/").status_code == 404
    assert alice.get("/api/analysis-runs/", {"status": "failed"}).json()["count"] == 0
    assert (
        alice.get("/api/analysis-runs/", {"models": analysed["classifier"].pk}).json()["count"] == 1
    )
    assert alice.get("/api/analysis-runs/", {"sample": labs["sample_a"].pk}).json()["count"] == 1


def test_a_failed_run_is_retried_with_fresh_attempts(
    api, analysed, django_capture_on_commit_callbacks
):
    url = f"/api/analysis-runs/{analysed['failed_b'].pk}/retry/"
    assert api("alice").post(url).status_code == 404
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api("bob").post(url)
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["attempts"], response.json()["error"]) == (
        "queued",
        0,
        "",
    )
    assert len(queued) == 1  # the task is enqueued once the reset is committed
    again = api("bob").post(url)
    assert again.status_code == 409
    assert again.json()["detail"] == "Only a failed run can be retried; this one is queued."


def test_viewers_cannot_retry(api, analysed):
    analysed["run"].status = RunStatus.FAILED
    analysed["run"].save()
    assert api("charlie").post(f"/api/analysis-runs/{analysed['run'].pk}/retry/").status_code == 403
    assert AnalysisRun.objects.get(pk=analysed["run"].pk).status == RunStatus.FAILED


def test_model_versions_show_metrics_and_training_set(api, labs, analysed):
    version = analysed["classifier"]
    version.training_images.add(analysed["image_a"])
    _version(labs["b"], "clf-b")
    listed = api("alice").get("/api/models/").json()["results"]
    assert [(v["name"], v["metrics"], v["training_image_count"]) for v in listed] == [
        ("clf-a", {"accuracy": 0.91}, 1)
    ]
    detail = api("alice").get(f"/api/models/{version.pk}/").json()
    assert detail["training_images"] == [analysed["image_a"].pk]
    assert detail["training_labels"] == []
    assert api("bob").get(f"/api/models/{version.pk}/").status_code == 404
    assert api("alice").get("/api/models/", {"task": "defect_segmenter"}).json()["count"] == 0


def test_activating_a_version_reanalyses_the_lab(api, labs, analysed):
    old = analysed["classifier"]
    old.activate()
    new = _version(labs["a"], "clf-a2")
    url = f"/api/models/{new.pk}/activate/"
    assert api("charlie").post(url).status_code == 403
    assert api("bob").post(url).status_code == 404
    response = api("alice").post(url)
    assert response.status_code == 200
    body = response.json()
    assert body["version"]["is_active"] is True
    [run_id] = body["queued_run_ids"]
    assert AnalysisRun.objects.get(pk=run_id).classifier == new
    assert list(ModelVersion.objects.filter(is_active=True)) == [new]
    assert (
        api("alice").get("/api/models/", {"is_active": "true"}).json()["results"][0]["id"] == new.pk
    )


def test_computations_are_listed_in_their_lab_with_their_results(api, labs):
    run = MonteCarloRun.objects.create(
        lab=labs["a"],
        sample=labs["sample_a"],
        parameters={"steps": 3},
        kinetics={"defect": [0, 5, 9]},
        rate_per_step=0.41,
        status=RunStatus.SUCCEEDED,
    )
    MonteCarloRun.objects.create(lab=labs["b"], parameters={})
    calc = XtbCalculation.objects.create(
        lab=labs["a"],
        name="Pd13 on C96H24",
        task="opt",
        input_xyz="1\n\nPd 0 0 0\n",
        energy_eh=-42.5,
    )
    XtbCalculation.objects.create(lab=labs["b"], name="other", task="sp", input_xyz="x")
    alice = api("alice")
    runs = alice.get("/api/monte-carlo-runs/").json()["results"]
    assert [(r["id"], r["rate_per_step"], r["rendered_image_url"]) for r in runs] == [
        (run.pk, 0.41, None)
    ]
    assert "kinetics" not in runs[0]
    assert alice.get(f"/api/monte-carlo-runs/{run.pk}/").json()["kinetics"] == {"defect": [0, 5, 9]}
    assert alice.get("/api/monte-carlo-runs/", {"status": "queued"}).json()["count"] == 0
    calcs = alice.get("/api/xtb-calculations/", {"task": "opt", "method": "gfn2-xtb"}).json()
    assert [(c["name"], c["energy_eh"]) for c in calcs["results"]] == [("Pd13 on C96H24", -42.5)]
    assert alice.get(calcs["results"][0]["input_xyz_url"]).content == b"1\n\nPd 0 0 0\n"
    assert calcs["results"][0]["log_url"] is None
    assert api("bob").get(f"/api/xtb-calculations/{calc.pk}/").status_code == 404
    assert api("bob").get(f"/api/monte-carlo-runs/{run.pk}/").status_code == 404
    # Read-only: no writes at all.
    assert alice.post("/api/xtb-calculations/", {}).status_code == 405
