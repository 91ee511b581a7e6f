"""Inference on whole images: scores, tiled defect maps, saliency and patch embeddings."""

import numpy as np
import pytest
import torch

from ml.data import prepare_image
from ml.embedder import PatchEmbedder
from ml.inference import (
    order_with_saliency,
    patch_embeddings,
    predict_defects,
    predict_order,
    predict_orders,
    saliency_map,
    segment_prepared,
)
from ml.registry import create_model


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    pixels = rng.normal(90, 20, (150, 210))
    for x, y in rng.uniform(0, 200, (60, 2)):
        pixels[int(y) % 150 : int(y) % 150 + 3, int(x) : int(x) + 3] = 250
    return np.clip(pixels, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return create_model("order_classifier", "resnet34", target_nm_per_px=2.0).eval()


@pytest.fixture(scope="module")
def segmenter():
    torch.manual_seed(0)
    return create_model("defect_segmenter", "fpn", "resnet34", target_nm_per_px=1.0).eval()


def test_order_score_is_a_probability_and_batches_agree(classifier, image):
    score = predict_order(classifier, image, pixel_size_nm=1.0)
    assert 0.0 < score < 1.0
    scores = predict_orders(classifier, [image, image[:, ::-1].copy()], [1.0, 1.0])
    assert scores.shape == (2,)
    assert scores[0] == pytest.approx(score, abs=1e-5)


def test_tiny_images_are_padded_for_the_classifier(classifier):
    assert 0.0 < predict_order(classifier, np.full((20, 30), 9, np.uint8), None) < 1.0


def test_defect_maps_come_back_at_the_original_resolution(segmenter, image):
    maps = predict_defects(segmenter, image, pixel_size_nm=0.8)
    assert maps.shape == (4, 150, 210)
    assert maps.dtype == np.float32
    assert maps.min() >= 0.0
    assert maps.max() <= 1.0


class LocalSegmenter(torch.nn.Module):
    """A segmenter that sees 5 × 5 px: tiles with enough overlap must reproduce it exactly."""

    target_nm_per_px = 1.0

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 5, padding=2)

    def forward(self, x):
        return self.conv(x)


def test_tiled_segmentation_equals_one_pass_for_a_local_model(image):
    model, unit = LocalSegmenter(), prepare_image(image, None, 1.0)
    whole = segment_prepared(model, unit, tile_size=512)
    tiled = segment_prepared(model, unit, tile_size=64, overlap=32, batch_size=3)
    assert tiled.shape == whole.shape == (4, 150, 210)
    # Only the 2 px image border differs: one pass pads the image, a tile flush
    # with the border meets the convolution's zero padding.
    np.testing.assert_allclose(tiled[:, 2:-2, 2:-2], whole[:, 2:-2, 2:-2], atol=1e-3)


def test_tiled_segmentation_is_close_to_one_pass_for_a_real_network(segmenter, image):
    unit = prepare_image(image, None, 1.0)
    whole = segment_prepared(segmenter, unit, tile_size=512)
    tiled = segment_prepared(segmenter, unit, tile_size=192, overlap=96, batch_size=2)
    assert tiled.shape == whole.shape == (4, 150, 210)
    # Tiles see less context than the whole image, so outputs differ a little.
    assert np.corrcoef(tiled.ravel(), whole.ravel())[0, 1] > 0.9
    assert np.abs(tiled - whole).mean() < 0.1


def test_tile_overlap_must_be_smaller_than_the_tile(segmenter, image):
    with pytest.raises(ValueError, match="overlap"):
        segment_prepared(segmenter, prepare_image(image, None, 1.0), tile_size=64, overlap=64)


def test_saliency_is_a_normalised_nonzero_map_at_image_resolution(classifier, image):
    saliency = saliency_map(classifier, image, pixel_size_nm=1.0)
    assert saliency.shape == image.shape
    assert saliency.dtype == np.float32
    assert saliency.max() == pytest.approx(1.0)
    assert saliency.min() >= 0.0
    assert (saliency > 0).mean() > 0.5
    assert not torch.is_grad_enabled() or all(p.grad is None for p in classifier.parameters())


def test_saliency_pass_gives_the_same_score_as_inference(classifier, image):
    score, saliency = order_with_saliency(classifier, image, pixel_size_nm=1.0)
    assert score == pytest.approx(predict_order(classifier, image, pixel_size_nm=1.0), abs=1e-5)
    assert saliency.shape == image.shape


def test_patch_embeddings_are_unit_vectors_on_a_grid(classifier, image):
    embedder = PatchEmbedder.from_classifier(classifier).eval()
    result = patch_embeddings(embedder, image, pixel_size_nm=1.0, patch_size_px=32, stride_px=32)
    # At 2 nm/px the image is 75 × 105 px: 2 rows × 3 columns of 32 px patches.
    assert result.vectors.shape == (6, 512)
    assert result.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-5)
    assert result.patch_size_px == 64
    assert result.positions_xy.tolist() == [[0, 0], [64, 0], [128, 0], [0, 64], [64, 64], [128, 64]]


def test_patches_cover_the_same_448_nm_at_every_scale(image):
    for nm_per_px, side in [(2.0, 224), (4.0, 112)]:
        embedder = PatchEmbedder("resnet18", target_nm_per_px=nm_per_px).eval()
        assert (embedder.patch_px, embedder.stride_px) == (side, side // 2)
    # At 4 nm/px the image (150 × 210 px at 1 nm/px) is 38 × 52 px: padded to one patch.
    result = patch_embeddings(embedder, image, pixel_size_nm=1.0)
    assert result.vectors.shape == (1, 512)
    assert result.patch_size_px == 448


def test_embedder_from_classifier_shares_the_trained_trunk(classifier):
    embedder = PatchEmbedder.from_classifier(classifier)
    for ours, theirs in zip(
        embedder.features.parameters(), classifier.features.parameters(), strict=True
    ):
        assert torch.equal(ours, theirs)
    assert embedder.target_nm_per_px == classifier.target_nm_per_px
