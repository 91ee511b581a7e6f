"""Per-image analysis time (the worker's whole task) vs the bare network passes it needs.

Run: ``python bench/bench_analysis.py [--recipe cpu|paper]`` (about 3-5 min on
2 cores). It sets up a throwaway NanoMark (SQLite and media in a temporary
folder), stores the recipe's order classifier and defect segmenter
(:mod:`ml.devicerecipes`; the paper's: a ResNet34 and an FPN + SE-ResNet50,
the CPU recipe's: a ResNet18 and an FPN + ResNet18 at coarser scales) and the
classifier's patch embedder as the lab's active versions, ingests one
synthetic 1280 x 890 SEM image at its simulated pixel size, and times

* the task ``nanomark.results.tasks.analyse_image``: reading the file,
  resampling, score + saliency, segmentation, defect and particle
  statistics, patch embeddings, PNG overlays, database rows, index update;
* the bare passes that work needs, on the same prepared tensors: the
  classifier's forward + backward (the saliency gradient), one segmenter
  forward, one embedder forward over the batch of patches.

Both are the median of ``--repeats`` alternated runs after a warm-up (which
also loads the models into the worker's cache). Between task runs the
results are deleted and the run re-queued. Goal: ratio <= 1.25.

The network time does not depend on the weights, but the defect statistics
do: an untrained segmenter marks about 90 % of the pixels, and thinning such
blobs takes seconds that no real analysis spends. So the segmenter is first
fitted for ``--fit-seconds`` on the image's own ground truth, which makes its
masks sparse, as a trained model's are; the classifier stays untrained.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]


def setup_django(folder: Path) -> None:
    """Configure a throwaway NanoMark in ``folder`` and create its tables."""
    os.environ.pop("DATABASE_URL", None)
    os.environ["NANOMARK_VAR_DIR"] = str(folder)
    os.environ.setdefault("NANOMARK_LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "nanomark.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default)")
    parser.add_argument(
        "--fit-seconds", type=float, default=60, help="segmenter fitting before timing (60)"
    )
    parser.add_argument("--recipe", default="paper", help="the models' recipe: paper or cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup_django(Path(folder))
        run(args.repeats, args.threads, args.fit_seconds, args.recipe)


def run(repeats: int, threads: int | None, fit_seconds: float, recipe_name: str) -> None:
    import numpy as np
    import torch

    from analysis.preview import encode_png
    from bench.timing import paired_times
    from ml.data import make_record, prepare_image, to_tensor
    from ml.devicerecipes import RECIPES
    from ml.embedder import PatchEmbedder
    from ml.recipes import fit_segmenter
    from ml.registry import create_model
    from ml.segmenters import INPUT_MULTIPLE
    from ml.training import TrainConfig
    from nanomark.accounts.models import Lab
    from nanomark.imaging.services import ingest_sem_image
    from nanomark.registry.storing import store_model
    from nanomark.results.models import (
        AnalysisRun,
        DefectStatistic,
        OrderScore,
        ParticleStatistics,
        PatchEmbedding,
    )
    from nanomark.results.tasks import analyse_image
    from nanomark.runs import RunStatus
    from nanomark.samples.models import Material, Sample
    from simulation.dataset import synthesize_image

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    lab = Lab.objects.create(name="Bench", slug="bench")
    sample = Sample.objects.create(
        lab=lab, code="B1", material=Material.objects.create(lab=lab, name="Graphite")
    )
    synthetic = synthesize_image(0, ordered=True)
    pixels, pixel_size = synthetic.image, synthetic.pixel_size_nm
    recipe = RECIPES[recipe_name]
    print(f"recipe {recipe.name}")
    tasks = {task: recipe.model_kwargs(task) for task in ("order_classifier", "defect_segmenter")}
    classifier = create_model(
        "order_classifier", recipe.classifier, **tasks["order_classifier"]
    ).eval()
    segmenter = create_model(
        "defect_segmenter", recipe.segmenter, recipe.segmenter_encoder, **tasks["defect_segmenter"]
    )
    fit_segmenter(
        segmenter,
        [make_record(pixels, pixel_size, mask=synthetic.labels)],
        None,
        TrainConfig(
            epochs=1000,
            batch_size=4,
            lr=1e-3,
            patience=None,
            crop_size=256,
            samples_per_image=8,
            progress=False,
            device="cpu",
            time_limit_s=fit_seconds,
        ),
    )
    segmenter.eval()
    embedder = PatchEmbedder.from_classifier(classifier).eval()
    for name, model in [("cls", classifier), ("seg", segmenter), ("emb", embedder)]:
        store_model(model, lab_id=lab.pk, name=name, metadata={}, metrics={}).activate()

    image = ingest_sem_image(
        sample=sample, data=encode_png(pixels), filename="bench.png", pixel_size_nm=pixel_size
    ).image
    run = AnalysisRun.objects.get(image=image)

    def task() -> None:
        for table in (OrderScore, DefectStatistic, ParticleStatistics, PatchEmbedding):
            table.objects.filter(run=run).delete()
        AnalysisRun.objects.filter(pk=run.pk).update(
            status=RunStatus.QUEUED, attempts=0, indexed_at=None
        )
        analyse_image(run.pk)

    cls_unit = prepare_image(pixels, pixel_size, classifier.target_nm_per_px)
    seg_unit = prepare_image(pixels, pixel_size, segmenter.target_nm_per_px)
    seg_unit = np.pad(
        seg_unit,
        ((0, -seg_unit.shape[0] % INPUT_MULTIPLE), (0, -seg_unit.shape[1] % INPUT_MULTIPLE)),
        mode="reflect",
    )
    emb_unit = prepare_image(pixels, pixel_size, embedder.target_nm_per_px)
    side, stride = embedder.patch_px, embedder.stride_px
    patches = np.stack(
        [
            emb_unit[y : y + side, x : x + side]
            for y in range(0, emb_unit.shape[0] - side + 1, stride)
            for x in range(0, emb_unit.shape[1] - side + 1, stride)
        ]
    )
    cls_x, seg_x, emb_x = to_tensor(cls_unit), to_tensor(seg_unit), to_tensor(patches)

    def bare() -> None:
        x = cls_x.clone().requires_grad_(True)
        torch.autograd.grad(torch.sigmoid(classifier(x)).sum(), x)
        with torch.inference_mode():
            segmenter(seg_x)
            embedder(emb_x)

    t_bare, t_task = paired_times(bare, task, repeats)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    print(
        f"CPU, {torch.get_num_threads()} torch threads; one {pixels.shape[1]} x "
        f"{pixels.shape[0]} px image at {pixel_size:.3f} nm/px; median of {repeats} "
        "alternated runs after a warm-up"
    )
    print(
        f"bare passes: classifier fwd+bwd {tuple(cls_x.shape[2:])}, segmenter fwd "
        f"{tuple(seg_x.shape[2:])}, embedder fwd {len(patches)} x {side}²"
    )
    print(
        "defect pixels marked (last run): "
        + ", ".join(f"{s.defect_class} {s.area_fraction:.4f}" for s in run.defect_stats.all())
    )
    print("task stages (last run): " + ", ".join(f"{k} {v:.2f}s" for k, v in run.timings_s.items()))
    print(f"{'analysis task':>14} {'bare passes':>12} {'ratio':>6}")
    print(f"{t_task:13.2f}s {t_bare:11.2f}s {t_task / t_bare:5.2f}x  (goal <= 1.25x)")


if __name__ == "__main__":
    main()
