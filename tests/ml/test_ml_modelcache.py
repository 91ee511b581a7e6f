"""The model cache under concurrent loaders: one verified file, no failures, repairs."""

import json
import multiprocessing
from functools import partial
from pathlib import Path

import pytest
import torch

from ml.modelcache import CorruptWeights, install_model, load_cached_model
from ml.persistence import CONFIG_NAME, file_sha256, save_model
from ml.registry import create_model

LOADERS = 6


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, dict, str]:
    """A saved classifier as media storage holds it: (weights path, config, sha256)."""
    folder = tmp_path_factory.mktemp("stored")
    torch.manual_seed(0)
    sha256 = save_model(create_model("order_classifier", "resnet34"), folder)
    config = json.loads((folder / CONFIG_NAME).read_text())
    return folder / config["weights"]["file"], config, sha256


def _load_in_a_process(weights: str, config: dict, sha256: str, cache: str, start) -> str:
    start.wait()  # every loader begins at once
    model = load_cached_model(
        Path(cache) / sha256, config, partial(Path(weights).open, "rb"), sha256, "cpu"
    )
    return type(model).__name__


def test_concurrent_loaders_all_succeed_with_one_verified_file(stored, tmp_path):
    weights, config, sha256 = stored
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(LOADERS)
        with context.Pool(LOADERS) as pool:
            results = [
                pool.apply_async(
                    _load_in_a_process, (str(weights), config, sha256, str(tmp_path), start)
                )
                for _ in range(LOADERS)
            ]
            names = [result.get(timeout=300) for result in results]
    assert len(names) == LOADERS
    entry = tmp_path / sha256
    assert sorted(p.name for p in entry.iterdir()) == [CONFIG_NAME, weights.name]
    assert file_sha256(entry / weights.name) == sha256


def test_a_bad_cached_file_is_replaced(stored, tmp_path):
    weights, config, sha256 = stored
    entry = tmp_path / sha256
    entry.mkdir()
    (entry / weights.name).write_bytes(b"half a file")
    install_model(entry, config, lambda: weights.open("rb"), sha256)
    assert file_sha256(entry / weights.name) == sha256


def test_a_file_that_goes_bad_before_loading_is_repaired(stored, tmp_path, monkeypatch):
    weights, config, sha256 = stored
    entry = tmp_path / sha256
    install_model(entry, config, lambda: weights.open("rb"), sha256)
    real_install = install_model
    calls = []

    def install_then_truncate(*args):
        folder = real_install(*args)
        if not calls:
            (folder / weights.name).write_bytes(b"truncated")
        calls.append(1)
        return folder

    monkeypatch.setattr("ml.modelcache.install_model", install_then_truncate)
    model = load_cached_model(entry, config, lambda: weights.open("rb"), sha256, "cpu")
    assert not model.training
    assert len(calls) == 2
    assert file_sha256(entry / weights.name) == sha256


def test_bad_stored_weights_install_nothing(stored, tmp_path):
    _, config, sha256 = stored
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not the model")
    entry = tmp_path / "cache" / sha256
    with pytest.raises(CorruptWeights, match="do not have SHA-256"):
        install_model(entry, config, lambda: bad.open("rb"), sha256)
    assert not (entry / config["weights"]["file"]).exists()
    assert [p.name for p in entry.iterdir()] == [CONFIG_NAME]
