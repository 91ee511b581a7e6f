"""Model registry pages: versions by task, the Table 1 metrics, the training set, activation."""

import pytest
from django.urls import reverse

from nanomark.imaging.models import DefectMask, OrderLabel, SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.registry.views import metrics_table
from nanomark.results.models import AnalysisBatch, AnalysisRun
from nanomark.runs import RunStatus
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db


def _cross_validation(n_params: int = 21_300_000) -> dict:
    """Stored metrics as registry.training writes them: 2 folds of a classifier, NaN as None."""
    folds = [
        {"accuracy": 0.93, "precision": 0.9, "recall": 0.95, "roc_auc": 0.97},
        {"accuracy": 0.97, "precision": 1.0, "recall": 0.85, "roc_auc": None},
    ]
    return {
        "cross_validation": {
            # Keys out of order, as PostgreSQL's jsonb returns them.
            "mean": {"roc_auc": 0.97, "recall": 0.9, "accuracy": 0.95, "precision": 0.95},
            "std": {"roc_auc": None, "recall": 0.05, "accuracy": 0.02, "precision": 0.05},
            "folds": folds,
            "n_params": n_params,
            "wall_time_s": 125.0,
            "table": "| network | params | accuracy |",
        },
        "derived_from": None,
    }


def _image(lab, sample, name: str) -> SEMImage:
    return image_row(sample, name, lab=lab)


@pytest.fixture
def versions(labs):
    """Lab A: an active and a newer inactive classifier (trained on 2 images), a segmenter;
    lab B: one classifier."""
    lab, sample = labs["a"], labs["sample_a"]
    images = [_image(lab, sample, f"train-{i}.png") for i in range(2)]
    labels = [
        OrderLabel.objects.create(image=images[0], label="ordered", annotator=labs["alice"]),
        OrderLabel.objects.create(image=images[0], label="ordered", annotator=labs["charlie"]),
        OrderLabel.objects.create(image=images[1], label="disordered", annotator=labs["alice"]),
    ]
    mask = DefectMask.objects.create(
        image=images[1],
        sheet_border="m/1.png",
        grain_boundary="m/2.png",
        topological_defect="m/3.png",
        point_defect="m/4.png",
    )
    old = ModelVersion.objects.create(
        lab=lab, task=ModelTask.ORDER_CLASSIFIER, name="resnet34-old", architecture="resnet34"
    )
    old.activate()
    new = ModelVersion.objects.create(
        lab=lab,
        task=ModelTask.ORDER_CLASSIFIER,
        name="resnet34-new",
        architecture="resnet34",
        input_pixel_size_nm=1.5,
        metrics=_cross_validation(),
        created_by=labs["alice"],
    )
    new.training_images.set(images)
    new.training_labels.set(labels)
    new.training_masks.set([mask])
    segmenter = ModelVersion.objects.create(
        lab=lab,
        task=ModelTask.DEFECT_SEGMENTER,
        name="fpn-se",
        architecture="fpn",
        encoder="se_resnet50",
    )
    foreign = ModelVersion.objects.create(
        lab=labs["b"], task=ModelTask.ORDER_CLASSIFIER, name="lab-b-net", architecture="resnet18"
    )
    return {"old": old, "new": new, "segmenter": segmenter, "foreign": foreign, "images": images}


def test_metrics_table_follows_table_1(versions):
    table = metrics_table(versions["new"].metrics)
    assert table.headers == ["accuracy", "precision", "recall", "ROC AUC"]
    assert table.summary == ["0.950 ± 0.020", "0.950 ± 0.050", "0.900 ± 0.050", "0.970"]
    assert table.folds[1] == ["0.970", "1.000", "0.850", "—"]
    assert table.params_millions == pytest.approx(21.3)
    assert metrics_table({}) is None
    assert metrics_table({"cross_validation": {"mean": {}}}) is None


def test_the_list_shows_the_current_labs_versions_by_task(client, labs, versions):
    client.force_login(labs["charlie"])
    response = client.get(reverse("model-list"))
    page = response.content.decode()
    assert response.status_code == 200
    # Grouped by task, newest first within a task.
    segmenters, classifiers = page.index("<h2>Defect segmenter"), page.index("<h2>Order classifier")
    assert segmenters < page.index("fpn-se") < classifiers
    assert classifiers < page.index("resnet34-new") < page.index("resnet34-old")
    assert "se_resnet50" in page
    assert "1.500 nm/px" in page
    assert page.count('active-badge">active') == 1
    assert "lab-b-net" not in page
    response = client.get(reverse("model-list"), {"task": ModelTask.DEFECT_SEGMENTER})
    assert [v.name for v in response.context["object_list"]] == ["fpn-se"]


def test_another_labs_versions_are_not_found(client, labs, versions):
    client.force_login(labs["bob"])
    page = client.get(reverse("model-list")).content.decode()
    assert "resnet34" not in page
    assert "lab-b-net" in page
    assert client.get(reverse("model-detail", args=[versions["new"].pk])).status_code == 404
    response = client.post(reverse("model-activate", args=[versions["new"].pk]))
    assert response.status_code == 404
    versions["new"].refresh_from_db()
    assert not versions["new"].is_active


def test_the_version_page_shows_metrics_and_the_frozen_training_set(client, labs, versions):
    client.force_login(labs["charlie"])
    response = client.get(reverse("model-detail", args=[versions["new"].pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "0.950 ± 0.020" in page
    assert "21.3 M" in page
    assert "fold 2" in page
    assert "2 images" in page
    assert "3 order labels (1 disordered, 2 ordered)" in page
    assert "1 defect mask," in page
    for image in versions["images"]:
        assert reverse("image-thumbnail", args=[image.pk]) in page
    # A viewer is told they cannot activate, and is refused if they try.
    assert "Viewers cannot activate" in page
    response = client.post(reverse("model-activate", args=[versions["new"].pk]))
    assert response.status_code == 403
    versions["old"].refresh_from_db()
    assert versions["old"].is_active
    assert not AnalysisRun.objects.exists()


def test_activating_queues_the_labs_images_and_shows_the_batch(client, labs, versions):
    client.force_login(labs["alice"])
    response = client.post(reverse("model-activate", args=[versions["new"].pk]))
    batch = AnalysisBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("model-detail", args=[versions["new"].pk]) + (
        f"?batch={batch.pk}"
    )
    versions["new"].refresh_from_db()
    versions["old"].refresh_from_db()
    assert versions["new"].is_active
    assert not versions["old"].is_active
    runs = AnalysisRun.objects.filter(batch=batch)
    assert {run.image_id for run in runs} == {image.pk for image in versions["images"]}
    assert {run.classifier_id for run in runs} == {versions["new"].pk}
    runs.filter(image=versions["images"][0]).update(status=RunStatus.SUCCEEDED)

    page = client.get(response["Location"]).content.decode()
    assert "2 images queued" in page
    assert "<td>1</td><td>0</td><td>1</td><td>0</td><td>2</td>" in page
    assert "window.location.reload" in page
    # Asking again queues nothing new: every image already has a run with these models.
    response = client.post(reverse("model-activate", args=[versions["new"].pk]))
    assert response["Location"] == reverse("model-detail", args=[versions["new"].pk])
    assert AnalysisRun.objects.count() == 2


def test_activation_is_a_post(client, labs, versions):
    client.force_login(labs["alice"])
    response = client.get(reverse("model-activate", args=[versions["new"].pk]))
    assert response.status_code == 405
    versions["new"].refresh_from_db()
    assert not versions["new"].is_active
