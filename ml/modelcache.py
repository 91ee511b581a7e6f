"""A local cache of saved models that any number of processes and hosts may fill at once.

Workers unpack a stored model version into a folder keyed by its weights'
SHA-256 (``<root>/<sha256>/``) before :func:`ml.persistence.load_model`
reads it. Several workers meet there when a version is activated. Each
writer therefore writes its own temporary file (a unique name in the same
folder), checks the digest, and renames it into place atomically; the
rename's winner and loser hold the same verified bytes, so either may win.
A file already in place is trusted only after its digest is checked, and a
bad one (a crash mid-copy by old code, a truncated disk) is replaced.

Example:
    >>> folder = install_model(root / sha, config, lambda: storage.open(name, "rb"), sha)
    >>> model = load_cached_model(root / sha, config, opener, sha, "cpu")
"""

import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from ml.persistence import CONFIG_NAME, file_sha256, load_model

#: Opens the stored weights for reading (bytes); called at most once per install.
WeightsOpener = Callable[[], BinaryIO]


class CorruptWeights(ValueError):
    """The stored weights themselves do not have the expected SHA-256."""


def install_model(
    folder: str | Path, config: Mapping[str, Any], open_weights: WeightsOpener, sha256: str
) -> Path:
    """Make ``folder`` hold ``config`` and verified weights, whoever else is writing it.

    Args:
        folder: the cache entry, ``<root>/<sha256>``; created if missing.
        config: the model's ``config.json`` contents (names the weights file).
        open_weights: opens the stored weights (e.g. from media storage).
        sha256: hex SHA-256 the weights must have.

    Returns:
        ``folder``, holding ``config.json`` and the weights with digest ``sha256``.

    Raises:
        CorruptWeights: the stored weights do not have ``sha256``; nothing is installed.
    """
    folder = Path(folder)
    weights = folder / config["weights"]["file"]
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / CONFIG_NAME, json.dumps(config).encode())
    if weights.is_file() and file_sha256(weights) == sha256:
        return folder
    temporary = _temporary_name(weights)
    try:
        with open_weights() as source, temporary.open("wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        if file_sha256(temporary) != sha256:
            raise CorruptWeights(
                f"the stored weights for {folder.name} do not have SHA-256 {sha256}"
            )
        os.replace(temporary, weights)  # atomic; a concurrent writer renames identical bytes
    finally:
        temporary.unlink(missing_ok=True)
    if file_sha256(weights) != sha256:  # another host's bad copy renamed after ours
        raise CorruptWeights(f"{weights} was replaced by a copy without SHA-256 {sha256}")
    return folder


def load_cached_model(
    folder: str | Path,
    config: Mapping[str, Any],
    open_weights: WeightsOpener,
    sha256: str,
    device: str | torch.device,
) -> nn.Module:
    """Install (if needed) and load a cached model, repairing a bad entry once.

    The digest is checked again on load (:func:`ml.persistence.load_model`);
    if the file went bad between install and load it is removed and installed anew.

    Raises:
        CorruptWeights: the stored weights themselves are bad.
    """
    folder = install_model(folder, config, open_weights, sha256)
    try:
        return load_model(folder, device, expected_sha256=sha256)
    except ValueError:
        (folder / config["weights"]["file"]).unlink(missing_ok=True)
        folder = install_model(folder, config, open_weights, sha256)
        return load_model(folder, device, expected_sha256=sha256)


def _temporary_name(path: Path) -> Path:
    """A name beside ``path`` that no other process or host uses."""
    return path.with_name(f".{path.name}.{os.uname().nodename}.{os.getpid()}.{uuid.uuid4().hex}")


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = _temporary_name(path)
    try:
        temporary.write_bytes(content)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
