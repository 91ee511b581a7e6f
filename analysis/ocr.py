"""Reading text with Tesseract, the OCR program Debian's ``tesseract-ocr`` installs.

Tesseract runs as a program (PNG on stdin, TSV on stdout), one thread, with
its English model from the package; nothing is downloaded. Callers prepare
the image: dark text on white, glyphs a few tens of pixels tall.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass

import cv2
import numpy as np

#: Seconds one Tesseract call may take.
OCR_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class OcrWord:
    """One word from Tesseract: its text, confidence (0-100) and box in the input image."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]


def tesseract_available() -> bool:
    """Whether the ``tesseract`` program is on ``PATH``."""
    return _tesseract_path() is not None


def read_words(image: np.ndarray, psm: int, whitelist: str | None = None) -> list[OcrWord]:
    """Words Tesseract reads in ``image``, in reading order.

    Args:
        image: (H, W) uint8, dark text on white.
        psm: Tesseract's page segmentation mode (7: one line, 6: a block).
        whitelist: the only characters to recognise, or None for all.

    Raises:
        OSError, subprocess.SubprocessError: Tesseract is missing, failed or timed out.
    """
    png = cv2.imencode(".png", image)[1].tobytes()
    command = [str(_tesseract_path()), "stdin", "stdout", "--psm", str(psm), "-l", "eng"]
    if whitelist is not None:
        command += ["-c", f"tessedit_char_whitelist={whitelist}"]
    # One thread: Tesseract's OpenMP threads only contend on a shared machine.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    result = subprocess.run(
        [*command, "tsv"],
        input=png,
        capture_output=True,
        env=env,
        timeout=OCR_TIMEOUT_S,
        check=True,
    )
    return _parse_tsv(result.stdout.decode("utf-8", "replace"))


def _parse_tsv(tsv: str) -> list[OcrWord]:
    """Words of Tesseract's TSV output, in reading order."""
    words = []
    for line in tsv.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 12 or not fields[11].strip():
            continue
        left, top, width, height = (int(v) for v in fields[6:10])
        words.append(OcrWord(fields[11].strip(), float(fields[10]), (left, top, width, height)))
    return words


def _tesseract_path() -> str | None:
    return shutil.which("tesseract")
