"""Generalisation bench: an order classifier trained on rendered images, scored on other scenes.

Run: ``python bench/bench_generalisation.py --train-images 24 --eval-images 20 --minutes 4``.

The CPU recipe's classifier (:data:`ml.devicerecipes.CPU`, ResNet18 at
4 nm/px) is trained for ``--minutes`` on ``--train-images`` balanced images of
the training renderer (:func:`simulation.dataset.write_dataset`, ``--variety``, wide by
default), the way
``bench/bench_cpu_recipe.py`` trains a fold (:func:`bench.bench_cpu_recipe.timed_config`,
:func:`ml.recipes.fit_classifier`). It is then scored on whole images
(:func:`ml.recipes.evaluate_classifier`, as cross-validation scores a test
fold) of two balanced sets of ``--eval-images``: held-out renderer images and
scenes of the independent evaluation generator
(:func:`simulation.evalscenes.write_eval_set`). Both sets are read back from
their folders by :func:`ml.data.read_folder`, as uploads are decoded. The
ROC AUC of each and the gap (renderer minus evaluation scenes) are printed.

Goal (issue 15): ROC AUC >= 0.9 on the evaluation scenes for a classifier
trained on the (widened) renderer.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_cpu_recipe import TASK, timed_config
from ml.data import read_folder
from ml.devicerecipes import AUTO, CPU
from ml.recipes import at_model_scale, evaluate_classifier, fit_classifier
from ml.registry import create_model
from ml.training import seed_everything
from simulation.dataset import write_dataset
from simulation.evalscenes import write_eval_set
from simulation.variety import VARIETIES

AUC_GOAL = 0.9


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-images", type=int, default=24, help="rendered training images")
    parser.add_argument("--eval-images", type=int, default=20, help="images per scored set")
    parser.add_argument("--minutes", type=float, default=4.0, help="training time")
    parser.add_argument("--seed", type=int, default=0, help="seed of data sets and training")
    parser.add_argument(
        "--variety",
        choices=VARIETIES,
        default="wide",
        help="the renderer's variety for training and its held-out set (default wide)",
    )
    return parser.parse_args()


def write_sets(folder: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Write the three balanced sets under ``folder``; their folders by name."""
    folders = {name: folder / name for name in ("train", "rendered", "evalscenes")}
    write_dataset(
        folders["train"], args.train_images, args.seed, ordered_fraction=0.5, variety=args.variety
    )
    write_dataset(
        folders["rendered"],
        args.eval_images,
        args.seed + 1,
        ordered_fraction=0.5,
        variety=args.variety,
    )
    write_eval_set(folders["evalscenes"], args.eval_images, args.seed + 2, ordered_fraction=0.5)
    return folders


def main() -> None:
    args = parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, recipe {CPU.name}")
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        folders = write_sets(Path(scratch), args)
        records = {name: read_folder(path, masks=False) for name, path in folders.items()}
        print(
            f"wrote {args.train_images} training and 2 x {args.eval_images} scored images "
            f"in {time.perf_counter() - started:.0f} s"
        )

    seed_everything(args.seed)
    model = create_model(TASK, CPU.architecture(TASK, AUTO), **CPU.model_kwargs(TASK))
    trained = fit_classifier(
        model, records["train"], None, timed_config(CPU, args.minutes, args.seed)
    )
    print(f"trained {len(trained.history)} epochs in {trained.wall_time_s:.0f} s")

    auc = {}
    for name in ("rendered", "evalscenes"):
        metrics = evaluate_classifier(model, at_model_scale(records[name], model))
        auc[name] = metrics["roc_auc"]
        print(
            f"{name:>10}: ROC AUC {metrics['roc_auc']:.3f}, accuracy {metrics['accuracy']:.3f}, "
            f"precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}"
        )
    print(
        f"generalisation gap (rendered - evalscenes ROC AUC): "
        f"{auc['rendered'] - auc['evalscenes']:.3f}; goal evalscenes >= {AUC_GOAL}: "
        f"{'met' if auc['evalscenes'] >= AUC_GOAL else 'not met'}"
    )


if __name__ == "__main__":
    main()
