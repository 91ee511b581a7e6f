"""Recipes by device: the paper's on CUDA, the CPU one elsewhere, and what each fills in."""

import pytest
import torch

from ml.devicerecipes import AUTO, CPU, PAPER, recipe_for
from ml.registry import create_model
from ml.training import TrainConfig


def test_the_device_chooses_the_recipe():
    assert recipe_for(torch.device("cpu")) is CPU
    assert recipe_for(torch.device("cuda")) is PAPER
    assert recipe_for(torch.device("cpu"), "paper") is PAPER
    with pytest.raises(ValueError, match="unknown training recipe 'fast'; expected one of auto"):
        recipe_for(torch.device("cpu"), "fast")


def test_auto_takes_the_recipes_networks_and_a_named_one_stays():
    assert CPU.architecture("order_classifier", AUTO) == "resnet18"
    assert PAPER.architecture("order_classifier", AUTO) == "resnet34"
    assert CPU.architecture("order_classifier", "vgg13") == "vgg13"
    assert CPU.encoder("defect_segmenter", AUTO) == "resnet18"
    assert CPU.encoder("defect_segmenter", "se_resnet50") == "se_resnet50"
    assert CPU.encoder("order_classifier", None) is None


def test_every_recipe_builds_its_models():
    for recipe in (CPU, PAPER):
        for task in ("order_classifier", "defect_segmenter"):
            model = create_model(
                task,
                recipe.architecture(task, AUTO),
                recipe.encoder(task, AUTO if task == "defect_segmenter" else None),
                **recipe.model_kwargs(task),
            )
            assert model.target_nm_per_px == recipe.model_kwargs(task)["target_nm_per_px"]


def test_the_recipe_fills_in_what_the_request_leaves_open():
    config = CPU.train_config("order_classifier", TrainConfig(patience=None, batch_size=8))
    assert (config.crop_size, config.samples_per_image, config.lr) == (128, 16, 1e-3)
    assert config.schedule == "one_cycle"
    assert config.channels_last
    assert config.cpu_bf16
    assert config.patience is None
    assert config.batch_size == 8
    asked = PAPER.train_config("defect_segmenter", TrainConfig(crop_size=256, patience=None))
    assert (asked.crop_size, asked.patience, asked.schedule) == (256, 15, "constant")
    assert CPU.to_dict()["name"] == "cpu"
