"""Data-bar detection and scale-bar reading on rendered frames: accuracy and time.

Run: ``python bench/bench_databar.py`` (about 4 min on 2 cores; ``--n`` bar
images, ``--n-plain`` images without a bar). Fields come from
:func:`simulation.render.render_sem` on a smooth surface with random
particles (fast), at random magnifications x30k-x200k and widths 1024, 1280
or 2560 px; :func:`simulation.databar.draw_random_databar` appends a bar of
random look (font, size, height, units, contrast, captions, noise, JPEG).
Frames without a bar are dark smooth, textured, streaky, dark-bottomed and
black-holed fields, some JPEG re-compressed.

Printed: the field box exact rate, the rate of pixel sizes within 1 %, the
uncalibrated rate, false calibrations (any pixel size more than 1 % off, and
any bar or calibration on a frame without a bar), time per image of
detection and of detection + reading, and their ratio to the baseline
measured in the same run: decoding the frame from PNG, as a worker must.
Goals: field box exact and pixel size within 1 % on >= 98 % of bar images;
no false calibration.
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.databar import find_data_bar
from analysis.magnification import pixel_size_for_magnification
from analysis.ocr import tesseract_available
from analysis.scalebar import read_scale_bar
from simulation.databar import draw_random_databar
from simulation.render import RenderStyle, render_sem

WIDTHS_PX = (1024, 1280, 2560)
PLAIN_KINDS = ("smooth", "dark", "textured", "streaky", "dark_bottom", "black_hole")


def bar_frame(rng: np.random.Generator) -> tuple[np.ndarray, object]:
    """A rendered field with a random bar, and the bar's truth."""
    width = int(rng.choice(WIDTHS_PX))
    # Instruments step magnification in three significant digits.
    magnification = float(f"{rng.uniform(30e3, 200e3):.3g}")
    pixel_size_nm = pixel_size_for_magnification(magnification, width)
    field = _field(rng, width, RenderStyle.random(rng))
    return draw_random_databar(field, pixel_size_nm, rng)


def plain_frame(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A frame without a bar: one of :data:`PLAIN_KINDS`."""
    width = int(rng.choice(WIDTHS_PX[:2]))
    if kind in ("dark", "dark_bottom", "black_hole"):
        style = RenderStyle(
            background=rng.uniform(0.02, 0.1),
            offset=rng.uniform(-0.08, 0.0),
            texture=0.01,
            photons_per_full_scale=rng.uniform(40, 160),
            particle_brightness=0.8,
        )
    elif kind == "textured":
        style = RenderStyle(background=rng.uniform(0.4, 0.7), texture=rng.uniform(0.1, 0.2))
    else:
        style = RenderStyle.random(rng)
    image = _field(rng, width, style).astype(np.float32)
    height = image.shape[0]
    if kind == "streaky":
        for _ in range(int(rng.integers(1, 6))):
            y, thick = int(rng.integers(int(0.6 * height), height)), int(rng.integers(1, 6))
            image[y : y + thick] += rng.uniform(60, 150)
        image += rng.normal(0, 6, (height, 1)).astype(np.float32)
    elif kind == "dark_bottom":
        image[int(rng.uniform(0.6, 0.95) * height) :] *= rng.uniform(0.0, 0.3)
    elif kind == "black_hole":
        top = int(rng.uniform(0.6, 0.95) * height)
        image[top:] = 0
        for _ in range(int(rng.integers(0, 200))):
            centre = (int(rng.integers(0, width)), int(rng.integers(top, height)))
            cv2.circle(image, centre, int(rng.integers(1, 5)), 255, -1, cv2.LINE_AA)
    frame = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))]
        frame = cv2.imdecode(cv2.imencode(".jpg", frame, quality)[1], cv2.IMREAD_GRAYSCALE)
    return frame


def _field(rng: np.random.Generator, width: int, style: RenderStyle) -> np.ndarray:
    height = round(width * 890 / 1280)
    positions = rng.random((int(rng.integers(50, 1500)), 2)) * [width, height]
    return render_sem(positions, 1.0, rng, shape=(height, width), style=style)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images with a bar (200)")
    parser.add_argument("--n-plain", type=int, default=60, help="images without a bar (60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print every miss")
    args = parser.parse_args()
    if not tesseract_available():
        print("tesseract is not installed: only the detection is measured")

    counts: Counter[str] = Counter()
    times: dict[str, float] = Counter()
    for k in range(args.n):
        rng = np.random.default_rng([args.seed, k])
        frame, truth = bar_frame(rng)
        png = cv2.imencode(".png", frame)[1]
        start = time.perf_counter()
        cv2.imdecode(png, cv2.IMREAD_UNCHANGED)
        decoded = time.perf_counter()
        bar = find_data_bar(frame)
        detected = time.perf_counter()
        reading = read_scale_bar(frame, bar) if bar is not None else None
        read = time.perf_counter()
        times["decode"] += decoded - start
        times["detect"] += detected - decoded
        times["read"] += read - detected
        exact = bar is not None and bar.field == truth.field
        counts["exact"] += exact
        pixel = reading.pixel_size_nm if reading is not None else None
        if pixel is None:
            counts["uncalibrated"] += 1
        elif abs(pixel - truth.pixel_size_nm) <= 0.01 * truth.pixel_size_nm:
            counts["within_1pc"] += 1
        else:
            counts["false_calibration"] += 1
        missed = pixel is None or abs(pixel - truth.pixel_size_nm) > 0.01 * truth.pixel_size_nm
        if args.verbose and (not exact or missed):
            found = None if bar is None else bar.field.height_px
            print(
                f"  {k}: field {truth.field.height_px} found {found}; {truth.label!r}"
                f" {truth.text!r} -> {reading}"
            )

    plain_bars = plain_calibrated = 0
    for k in range(args.n_plain):
        rng = np.random.default_rng([args.seed, 10**6 + k])
        kind = PLAIN_KINDS[k % len(PLAIN_KINDS)]
        frame = plain_frame(rng, kind)
        bar = find_data_bar(frame)
        if bar is not None:
            reading = read_scale_bar(frame, bar)
            plain_bars += 1
            plain_calibrated += reading.calibrated
            if args.verbose:
                print(f"  plain {k} ({kind}): bar {bar.band} {reading}")

    n = args.n
    print(f"bar images: {n}, without a bar: {args.n_plain}")
    print(f"field box exact:           {100 * counts['exact'] / n:6.1f} %")
    print(f"pixel size within 1 %:     {100 * counts['within_1pc'] / n:6.1f} %")
    print(f"uncalibrated:              {100 * counts['uncalibrated'] / n:6.1f} %")
    print(f"false calibrations:        {counts['false_calibration']} (> 1 % off)")
    print(f"no-bar images with a bar:  {plain_bars} of {args.n_plain}")
    print(f"false calibrations no-bar: {plain_calibrated} of {args.n_plain}")
    decode, detect, read = (1e3 * times[key] / n for key in ("decode", "detect", "read"))
    print(
        f"time per image: decode {decode:.1f} ms (baseline), detect {detect:.1f} ms "
        f"({detect / decode:.2f}x), detect + read {detect + read:.1f} ms "
        f"({(detect + read) / decode:.1f}x)"
    )


if __name__ == "__main__":
    main()
