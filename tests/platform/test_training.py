"""Training model versions from a lab's labels: commands, stored weights, activation."""

import hashlib
import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from analysis.semfile import read_sem
from ml.inference import patch_embeddings, predict_order
from ml.particles import segmented_particles
from nanomark.imaging.synthetic import load_synthetic_dataset
from nanomark.registry.choices import ModelTask
from nanomark.registry.loading import load_version
from nanomark.registry.models import ModelVersion, TrainingRun
from nanomark.runs import RunStatus
from simulation.dataset import write_dataset

pytestmark = pytest.mark.django_db

TINY = ["--folds=2", "--epochs=1", "--batch-size=4", "--crop-size=64", "--samples-per-image=1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("training-set")
    # At x150k (0.66 nm/px) the segmenter works near the images' own scale: a fast test.
    write_dataset(
        folder,
        6,
        seed=11,
        ordered_fraction=0.5,
        shape=(120, 160),
        magnifications=(150_000,),
        progress=False,
    )
    return folder


@pytest.fixture
def labelled_lab(labs, dataset, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    load_synthetic_dataset(dataset, labs["a"])
    return labs["a"]


def test_train_classifier_stores_a_classifier_and_its_embedder(labelled_lab):
    out = io.StringIO()
    call_command("train_classifier", "--lab=lab-a", "--now", *TINY, stdout=out)

    run = TrainingRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED
    assert "| ROC AUC |" in out.getvalue()
    classifier = ModelVersion.objects.get(task=ModelTask.ORDER_CLASSIFIER)
    embedder = ModelVersion.objects.get(task=ModelTask.PATCH_EMBEDDER)
    assert run.model_version == classifier
    assert classifier.training_images.count() == 6
    assert classifier.training_labels.count() == 6
    assert len(classifier.metrics["cross_validation"]["folds"]) == 2
    assert embedder.metrics["derived_from"] == classifier.name
    with classifier.weights.open("rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == classifier.weights_sha256

    model = load_version(classifier)
    image = next(iter(classifier.training_images.all()))
    pixels = read_sem(image.original.read()).pixels
    score = predict_order(model, pixels, image.pixel_size_nm)
    assert 0.0 < score < 1.0
    assert predict_order(load_version(classifier), pixels, image.pixel_size_nm) == score


def test_a_classifier_trained_with_an_embedding_dim_stores_a_projected_embedder(labelled_lab):
    call_command(
        "train_classifier", "--lab=lab-a", "--now", "--embedding-dim=4", *TINY, stdout=io.StringIO()
    )
    embedder = ModelVersion.objects.get(task=ModelTask.PATCH_EMBEDDER)
    model = load_version(embedder)
    image = next(iter(embedder.training_images.all()))
    pixels = read_sem(image.original.read()).pixels
    vectors = patch_embeddings(model, pixels, image.pixel_size_nm, stride_px=64).vectors
    assert vectors.shape[1] == 4
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(CommandError, match="embedding_dim must be at least 1"):
        call_command("train_classifier", "--lab=lab-a", "--embedding-dim=0", *TINY)


def test_the_training_device_chooses_the_recipe_and_the_version_records_it(labelled_lab, client):
    call_command("train_classifier", "--lab=lab-a", "--now", *TINY, stdout=io.StringIO())
    on_cpu = ModelVersion.objects.get(task=ModelTask.ORDER_CLASSIFIER)
    assert (on_cpu.architecture, on_cpu.config["metadata"]["recipe"]["name"]) == ("resnet18", "cpu")
    assert on_cpu.config["metadata"]["recipe"]["schedule"] == "one_cycle"
    assert load_version(on_cpu).target_nm_per_px == 4.0
    client.force_login(labelled_lab.memberships.get(user__username="alice").user)
    page = client.get(reverse("model-detail", args=[on_cpu.pk])).content.decode()
    assert "Training recipe</dt><dd>cpu: Adam, one learning-rate cycle to 0.001, bfloat16" in page
    call_command(
        "train_classifier", "--lab=lab-a", "--now", "--recipe=paper", *TINY, stdout=io.StringIO()
    )
    paper = ModelVersion.objects.filter(task=ModelTask.ORDER_CLASSIFIER).latest("pk")
    assert (paper.architecture, paper.config["metadata"]["recipe"]["name"]) == ("resnet34", "paper")
    assert load_version(paper).target_nm_per_px == 2.0


def test_train_segmenter_freezes_its_masks(labelled_lab):
    call_command(
        "train_segmenter",
        "--lab=lab-a",
        "--architecture=unet",
        "--encoder=resnet34",
        "--now",
        *TINY,
        stdout=io.StringIO(),
    )
    version = ModelVersion.objects.get(task=ModelTask.DEFECT_SEGMENTER)
    assert version.training_masks.count() == 6
    assert "line_iou" in version.metrics["cross_validation"]["mean"]


def test_it_refuses_too_few_labels_and_unknown_models(labs):
    with pytest.raises(CommandError, match="needs at least 2 ordered and 2 disordered"):
        call_command("train_classifier", "--lab=lab-a", *TINY)
    with pytest.raises(CommandError, match="unknown order_classifier resnet99"):
        call_command("train_classifier", "--lab=lab-a", "--architecture=resnet99")
    with pytest.raises(CommandError, match="unknown recipe 'fast'; valid: auto, paper, cpu"):
        call_command("train_classifier", "--lab=lab-a", "--recipe=fast")
    with pytest.raises(CommandError, match=r"plans 350\.0 minutes of training; the worker allows"):
        call_command("train_classifier", "--lab=lab-a", "--minutes=100", "--fold-minutes=50")
    with pytest.raises(CommandError, match="minutes and fold_minutes must be positive"):
        call_command("train_classifier", "--lab=lab-a", "--minutes=0")
    with pytest.raises(CommandError, match="unknown particle_segmenter auto"):
        call_command("train_particles", "--lab=lab-a", "--architecture=auto")
    assert not TrainingRun.objects.exists()


def test_activating_a_version_retires_the_previous_one(labs):
    first, second = (
        ModelVersion.objects.create(
            lab=labs["a"], task=ModelTask.ORDER_CLASSIFIER, name=name, architecture="resnet34"
        )
        for name in ("one", "two")
    )
    call_command("activate_model", "one", stdout=io.StringIO())
    call_command("activate_model", str(second.pk), stdout=io.StringIO())
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_active, second.is_active) == (False, True)
    with pytest.raises(CommandError, match="no model version 'three'"):
        call_command("activate_model", "three")


TINY_PARTICLES = ["--folds=2", "--minutes=0.02", "--fold-minutes=0.02", "--crop-px=32"]


def test_train_particles_freezes_its_annotations_and_its_activation_changes_the_detector(
    labs, labelled_lab, rendered_png
):
    from nanomark.imaging.services import ingest_sem_image
    from nanomark.results.models import AnalysisRun, ParticleStatistics
    from nanomark.results.services import activate_version
    from nanomark.results.tasks import analyse_image

    out = io.StringIO()
    call_command("train_particles", "--lab=lab-a", "--now", *TINY_PARTICLES, stdout=out)

    version = ModelVersion.objects.get(task=ModelTask.PARTICLE_SEGMENTER)
    assert (version.architecture, version.encoder) == ("unet", "mobilenet_v2")
    assert version.input_pixel_size_nm is None  # native resolution
    assert version.training_images.count() == version.training_particles.count() == 6
    cv = version.metrics["cross_validation"]
    assert sorted(i for fold in cv["folds"] for i in fold["test_indices"]) == list(range(6))
    assert 0.0 <= cv["pooled"]["f1"] <= 1.0
    assert "| precision | recall | F1 | count error |" in out.getvalue()

    image = ingest_sem_image(
        sample=labs["sample_a"], data=rendered_png(seed=3), filename="new.png"
    ).image
    image.pixel_size_nm = 1.0
    image.save()
    log_run = AnalysisRun.objects.get(image=image)
    analyse_image(log_run.pk)
    assert ParticleStatistics.objects.get(run=log_run).detector == "LoG"

    runs = activate_version(version, enqueue_runs=False)
    run = next(run for run in runs if run.image_id == image.pk)
    assert run.particle_segmenter == version
    assert run.models_key == f"0-0-0-{version.pk}"
    analyse_image(run.pk)
    particles = ParticleStatistics.objects.select_related("run__particle_segmenter").get(run=run)
    assert particles.detector == version.name
    found = segmented_particles(load_version(version), read_sem(image.original.read()).pixels, 1.0)
    assert particles.count == len(found.diameters_nm)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--folds=1"], "at least 2 folds"),
        (["--minutes=0"], "minutes and fold_minutes must be positive"),
        (["--crop-px=40"], "crop_px must be a positive multiple of 32"),
        (["--minutes=30"], "the worker allows 24.0"),
    ],
)
def test_train_particles_refuses_bad_options(labelled_lab, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("train_particles", "--lab=lab-a", *options)
    assert not TrainingRun.objects.exists()


def test_train_particles_needs_particle_annotations(labs):
    with pytest.raises(CommandError, match="no particle annotations"):
        call_command("train_particles", "--lab=lab-a")


def test_one_annotated_image_is_cross_validated_by_bands(labelled_lab):
    from nanomark.imaging.models import ParticleAnnotation

    keep = ParticleAnnotation.objects.order_by("image_id").first()
    ParticleAnnotation.objects.exclude(pk=keep.pk).delete()
    with pytest.raises(CommandError, match="a field 120 px high cannot be cut into 4 bands"):
        call_command("train_particles", "--lab=lab-a", "--folds=4")
    call_command("train_particles", "--lab=lab-a", "--now", *TINY_PARTICLES, stdout=io.StringIO())
    version = ModelVersion.objects.get(task=ModelTask.PARTICLE_SEGMENTER)
    assert list(version.training_particles.all()) == [keep]
    bands = [fold["band"] for fold in version.metrics["cross_validation"]["folds"]]
    assert bands == [[1, 2], [2, 2]]
