"""CPU inference time per 1280 x 890 image: NanoMark's inference functions vs a bare forward pass.

Run: ``python bench/bench_inference.py`` (about 1-2 min on 2 cores). One
synthetic SEM image (1280 x 890 px, :mod:`simulation.dataset`) goes through

* the ResNet34 order classifier: :func:`ml.inference.predict_order`;
* the FPN + SE-ResNet50 defect segmenter: :func:`ml.inference.predict_defects`
  (one pass at this size, no tiling);
* the ResNet34 patch embedder: :func:`ml.inference.patch_embeddings`
  (224 px patches side by side);

each next to a bare ``model(x)`` of the same network on the same input
tensor, measured in this run (median of ``--repeats``, the two alternated so
that both see the same machine load, after a warm-up). The ratio is the cost
of preprocessing, padding, blending and copying back.
Images are used at their own scale (``pixel_size_nm=None``) so that every
network sees 1280 x 890 px, as the anchors on this machine were measured:
ResNet34 about 1.1 s and FPN-SE-ResNet50 about 3.9 s per image on 2 cores.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import paired_times
from ml.data import prepare_image, to_tensor
from ml.inference import patch_embeddings, predict_defects, predict_order
from ml.registry import create_model
from simulation.dataset import synthesize_image

SHAPE = (890, 1280)


def bare(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object]:
    """A plain forward pass of ``model`` on ``x`` in eval and inference mode."""
    model.eval()

    def run() -> object:
        with torch.inference_mode():
            return model(x)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = synthesize_image(0, ordered=True, shape=SHAPE).image
    unit = prepare_image(image, None, 1.0)

    classifier = create_model("order_classifier", "resnet34").eval()
    segmenter = create_model("defect_segmenter", "fpn", "se_resnet50").eval()
    embedder = create_model("patch_embedder", "resnet34").eval()
    side = embedder.patch_px
    patches = np.stack(
        [
            unit[y : y + side, x : x + side]
            for y in range(0, SHAPE[0] - side + 1, side)
            for x in range(0, SHAPE[1] - side + 1, side)
        ]
    )
    padded = np.pad(unit, ((0, -SHAPE[0] % 32), (0, -SHAPE[1] % 32)), mode="reflect")
    cases = [
        (
            "classifier ResNet34",
            lambda: predict_order(classifier, image, None),
            bare(classifier, to_tensor(unit)),
            f"1 x {SHAPE[1]} x {SHAPE[0]}",
        ),
        (
            "segmenter FPN + SE-ResNet50",
            lambda: predict_defects(segmenter, image, None),
            bare(segmenter, to_tensor(padded)),
            f"1 x {padded.shape[1]} x {padded.shape[0]}",
        ),
        (
            "embedder ResNet34",
            lambda: patch_embeddings(embedder, image, None),
            bare(embedder, to_tensor(patches)),
            f"{len(patches)} x {side} x {side}",
        ),
    ]
    print(
        f"CPU, {torch.get_num_threads()} torch threads, one {SHAPE[1]} x {SHAPE[0]} px image, "
        f"median of {args.repeats} alternated runs after a warm-up; anchors: ResNet34 ~1.1 s, "
        "FPN-SE-ResNet50 ~3.9 s on 2 cores"
    )
    print(f"{'network':30} {'input':>18} {'inference':>10} {'bare':>8} {'ratio':>6}")
    for name, wrapped, forward, shape in cases:
        t_forward, t_wrapped = paired_times(forward, wrapped, args.repeats)
        print(
            f"{name:30} {shape:>18} {t_wrapped:9.2f}s {t_forward:7.2f}s "
            f"{t_wrapped / t_forward:5.2f}x"
        )


if __name__ == "__main__":
    main()
