"""The analysis of stored images, in this process: queueing, results, idempotence, failures."""

import numpy as np
import pytest
from django.core.management import call_command
from django_q.models import OrmQ

from nanomark.imaging.services import ingest_sem_image
from nanomark.results.models import (
    AnalysisRun,
    DefectStatistic,
    OrderScore,
    ParticleStatistics,
    PatchEmbedding,
)
from nanomark.results.services import activate_version, queue_analyses, retry_run
from nanomark.results.tasks import analyse_image
from nanomark.runs import MAX_ATTEMPTS, RunStatus

pytestmark = pytest.mark.django_db


def _store(labs, png: bytes, sample="sample_a", name="a.png"):
    return ingest_sem_image(sample=labs[sample], data=png, filename=name, pixel_size_nm=1.0).image


def test_storing_an_image_queues_its_analysis_on_commit(
    labs, active_models, rendered_png, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        image = _store(labs, rendered_png())
    run = AnalysisRun.objects.get(image=image)
    assert run.status == RunStatus.QUEUED
    assert (run.classifier, run.segmenter, run.embedder) == (
        active_models["classifier"],
        active_models["segmenter"],
        active_models["embedder"],
    )
    assert OrmQ.objects.count() == 1
    # Asking again for the same image and models adds nothing.
    assert queue_analyses([image]) == []


def test_an_analysis_stores_every_result_once(labs, active_models, rendered_png):
    image = _store(labs, rendered_png())
    run = AnalysisRun.objects.get(image=image)
    analyse_image(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempts == 1
    assert run.worker_host
    assert set(run.timings_s) == {
        "classifier",
        "segmenter",
        "defect_statistics",
        "particles",
        "embedder",
    }
    score = OrderScore.objects.get(run=run)
    assert 0.0 < score.score < 1.0
    assert score.saliency.read()[:8] == b"\x89PNG\r\n\x1a\n"
    stats = {s.defect_class: s for s in DefectStatistic.objects.filter(run=run)}
    assert set(stats) == {"sheet_border", "grain_boundary", "topological_defect", "point_defect"}
    assert stats["grain_boundary"].skeleton_length_nm is not None
    assert stats["point_defect"].cluster_count is not None
    particles = ParticleStatistics.objects.get(run=run)
    # 120 particles were rendered on 256 × 320 nm (some overlap); most are found.
    assert 75 <= particles.count <= 130
    assert particles.density_per_um2 == pytest.approx(particles.count / 0.08192, rel=1e-6)
    assert particles.positions.read().startswith(b"x_px,y_px,diameter_nm\n")
    vectors = [np.frombuffer(e.vector, "<f4") for e in PatchEmbedding.objects.filter(run=run)]
    assert vectors
    assert all(np.linalg.norm(v) == pytest.approx(1.0, abs=1e-4) for v in vectors)

    # A second delivery of the finished run changes nothing.
    counts = (OrderScore.objects.count(), DefectStatistic.objects.count(), len(vectors))
    analyse_image(run.pk)
    run.refresh_from_db()
    assert run.attempts == 1
    assert (
        OrderScore.objects.count(),
        DefectStatistic.objects.count(),
        PatchEmbedding.objects.filter(run=run).count(),
    ) == counts


def test_vectors_join_the_index_when_the_run_finishes(labs, active_models, rendered_png):
    from nanomark.search.models import SearchIndex

    image = _store(labs, rendered_png())
    run = AnalysisRun.objects.get(image=image)
    analyse_image(run.pk)
    run.refresh_from_db()
    assert run.indexed_at is not None
    index = SearchIndex.objects.get(embedder=active_models["embedder"])
    assert index.vector_count == PatchEmbedding.objects.filter(run=run).count() > 0
    assert index.kind == "flat"


def test_a_failing_run_is_requeued_and_given_up_after_three_attempts(labs, rendered_png):
    image = _store(labs, rendered_png())
    run = AnalysisRun.objects.get(image=image)
    image.original.storage.delete(image.original.name)  # unreadable from now on
    for attempt in range(1, MAX_ATTEMPTS + 1):
        OrmQ.objects.all().delete()
        analyse_image(run.pk)
        run.refresh_from_db()
        assert run.attempts == attempt
        assert "FileNotFoundError" in run.error
        # Requeued at once while attempts remain; failed for good after the last.
        assert OrmQ.objects.count() == (1 if attempt < MAX_ATTEMPTS else 0)
    assert run.status == RunStatus.FAILED
    analyse_image(run.pk)  # a late redelivery does not run it again
    run.refresh_from_db()
    assert run.attempts == MAX_ATTEMPTS

    assert retry_run(run)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == (RunStatus.QUEUED, 0, "")
    assert not retry_run(run)  # only a failed run can be retried


def test_activating_a_model_reanalyses_the_lab_in_one_batch(labs, active_models, rendered_png):
    images = [_store(labs, rendered_png(seed), name=f"{seed}.png") for seed in range(3)]
    _store(labs, rendered_png(9), sample="sample_b")  # another lab: not touched
    import torch

    from ml.registry import create_model
    from nanomark.registry.storing import store_model

    torch.manual_seed(1)
    newer = store_model(
        create_model("order_classifier", "alexnet"),
        lab_id=labs["a"].pk,
        name="newer",
        metadata={},
        metrics={},
    )
    runs = activate_version(newer)
    assert sorted(run.image_id for run in runs) == [image.pk for image in images]
    # The runs queued with the old classifier, never started, are superseded.
    assert set(AnalysisRun.objects.filter(lab=labs["a"])) == set(runs)
    batch = runs[0].batch
    assert batch.reason == "activated newer"
    assert batch.progress() == {"total": 3, "queued": 3, "running": 0, "succeeded": 0, "failed": 0}
    analyse_image(runs[0].pk)
    assert batch.progress()["succeeded"] == 1
    assert all(run.classifier == newer for run in runs)


def test_analyze_command_runs_the_chosen_images_here(labs, active_models, rendered_png, capsys):
    _store(labs, rendered_png(0))
    AnalysisRun.objects.all().delete()
    call_command("analyze", "--sample", "S1", "--lab", "lab-a", "--now")
    assert "Analysed 1 of 1 images" in capsys.readouterr().out
    call_command("analyze", "--all")
    assert "Nothing to do" in capsys.readouterr().out


def test_analyze_command_rejects_a_sample_without_its_lab(labs):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="needs --lab"):
        call_command("analyze", "--sample", "S1")
