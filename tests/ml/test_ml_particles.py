"""The particle segmenter: shapes, persistence, tiling, instances, cross-validation, learning."""

import numpy as np
import pytest
import torch
from torch import nn

from analysis.particlelabels import LabelledParticles, disc_mask
from analysis.particlescore import pooled
from ml.particles import (
    ParticleDataset,
    ParticleTrainConfig,
    core_mask,
    cross_validate_particle_segmenter,
    particles_from_probability,
    predict_particles,
    score_segmenter,
    segmented_particles,
    separated_mask,
    train_particle_segmenter,
)
from ml.persistence import load_model, save_model
from ml.registry import create_model
from simulation.particlescene import SizeDistribution, render_particle_scene


def _scene(seed, shape=(128, 128), n_particles=14):
    return render_particle_scene(
        shape=shape,
        diameters=SizeDistribution(median_px=7.0, spread=0.3, min_px=4.0, max_px=12.0),
        background="dark_smooth",
        n_particles=n_particles,
        touching_fraction=0.0,
        agglomerates=0,
        seed=seed,
    )


def _truth(scene):
    return LabelledParticles(scene.particles_xy, scene.diameters_px)


@pytest.mark.parametrize("architecture", ["unet", "fpn"])
def test_forward_pass_gives_one_logit_map_at_input_resolution(architecture):
    model = create_model("particle_segmenter", architecture).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 1, 64, 96))
    assert out.shape == (2, 1, 64, 96)
    assert torch.isfinite(out).all()
    assert model.spec.encoder == "mobilenet_v2"


def test_unknown_encoder_lists_the_particle_encoders():
    with pytest.raises(ValueError, match="mobilenet_v2, resnet18, resnet34"):
        create_model("particle_segmenter", "unet", "vgg16")


def test_a_reloaded_particle_segmenter_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = create_model("particle_segmenter", "unet", "resnet18").eval()
    save_model(model, tmp_path / "m", {"minutes": 8})
    loaded = load_model(tmp_path / "m")
    x = torch.randn(1, 1, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert loaded.spec == model.spec


class _Local(nn.Module):
    """A 3 x 3 filter: its output depends on no more context than tiles share."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def test_tiles_blend_to_the_untiled_map():
    torch.manual_seed(0)
    image = np.random.default_rng(0).integers(0, 256, (150, 200)).astype(np.uint8)
    model = _Local()
    whole = predict_particles(model, image, tile_px=256, overlap_px=32)
    tiled = predict_particles(model, image, tile_px=64, overlap_px=32)
    assert whole.shape == tiled.shape == (1, 150, 200)
    assert whole.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, atol=2e-3)


def test_tiled_segmenter_matches_untiled_away_from_tile_edges():
    torch.manual_seed(0)
    model = create_model("particle_segmenter", "unet").eval()
    image = _scene(3, shape=(160, 160)).image
    whole = predict_particles(model, image, tile_px=256)
    tiled = predict_particles(model, image, tile_px=96, overlap_px=48)
    # A deep network sees past the tile edge; blending keeps the difference small.
    assert np.abs(tiled - whole).mean() < 0.02


def test_instances_come_from_the_thresholded_map_with_touching_particles_split():
    yy, xx = np.mgrid[:60, :80]
    probability = np.zeros((60, 80), np.float32)
    for x, y, radius in [(12, 12, 4), (60, 40, 5), (30, 40, 5), (40, 40, 5)]:
        probability[(xx - x) ** 2 + (yy - y) ** 2 <= radius**2] = 0.9
    probability[(xx - 70) ** 2 + (yy - 10) ** 2 <= 9] = 0.3  # below the threshold
    found = particles_from_probability(probability, 0.5)
    assert len(found) == 4
    centres = sorted(map(tuple, found.xy.round().astype(int).tolist()))
    assert centres[0] == (12, 12)
    assert centres[-1] == (60, 40)
    assert 29 <= centres[1][0] <= 31
    assert 39 <= centres[2][0] <= 41
    assert len(particles_from_probability(probability, 0.5, min_diameter_px=9.5)) == 3


def test_touching_particles_are_trained_one_pixel_apart():
    yy, xx = np.mgrid[:30, :50]
    mask = ((xx - 15) ** 2 + (yy - 15) ** 2 <= 36) | ((xx - 27) ** 2 + (yy - 15) ** 2 <= 36)
    mask |= (xx - 44) ** 2 + (yy - 15) ** 2 <= 4
    assert len(particles_from_probability(mask.astype(np.float32), split_depth_px=100)) == 2
    separated = separated_mask(mask)
    # Two blobs now even without the watershed, and only the contact lost pixels.
    assert len(particles_from_probability(separated.astype(np.float32), split_depth_px=100)) == 3
    assert mask.sum() - separated.sum() <= 8
    assert not (separated & ~mask).any()


def test_cores_seed_one_particle_each_where_the_mask_merges_touching_ones():
    # Two 8 px discs 5 px apart and a 3 px one: the merged pair's neck is too shallow to split.
    truth = LabelledParticles(
        np.array([[20.0, 20.0], [25.0, 20.0], [40.0, 40.0]]), np.array([8.0, 8.0, 3.0])
    )
    mask = disc_mask((64, 64), truth.xy, truth.diameters_px)
    assert len(particles_from_probability(mask.astype(np.float32))) == 2  # distance: one blob
    cores = core_mask(mask.shape, truth)
    found = particles_from_probability(np.stack([mask, cores]).astype(np.float32))
    order = np.argsort(found.xy[:, 0])
    # Each half of the merged blob is one particle, centred near its own disc's centre.
    np.testing.assert_allclose(found.xy[order], truth.xy, atol=0.6)
    assert found.diameters_px[order][2] == pytest.approx(3.4, abs=0.1)


def test_a_two_channel_model_learns_particles_and_cores():
    scene = _scene(4, shape=(96, 96), n_particles=8)
    model, _ = train_particle_segmenter(
        [scene.image],
        [scene.mask],
        ParticleTrainConfig(minutes=0.01, crop_px=32, batch_size=2, samples_per_image=2),
    )
    assert model.spec.kwargs == {"channels": 2}
    assert predict_particles(model, scene.image).shape == (2, 96, 96)


def test_crops_keep_image_and_mask_aligned_and_binary():
    scene = _scene(1)
    unit = scene.image.astype(np.float32) / 255
    dataset = ParticleDataset([unit], [scene.mask], crop_px=64, samples_per_image=4, seed=0)
    x, y = dataset[0]
    assert x.shape == y.shape == (1, 64, 64)
    cores = core_mask(scene.mask.shape, _truth(scene))
    two = ParticleDataset([unit], [scene.mask], 64, 4, seed=0, cores=[cores])
    _, y2 = two[0]
    assert y2.shape == (2, 64, 64)
    assert not (y2[1].bool() & ~y2[0].bool()).any()  # cores lie inside particles
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
    assert len(dataset) == 4


def test_cross_validation_scores_every_image_once():
    scenes = [_scene(seed, shape=(64, 64), n_particles=4) for seed in (10, 11)]
    config = ParticleTrainConfig(minutes=0.01, crop_px=32, batch_size=2, samples_per_image=2)
    result = cross_validate_particle_segmenter(
        [s.image for s in scenes], [s.mask for s in scenes], k=2, config=config
    )
    assert sorted(i for fold in result.folds for i in fold.test_indices) == [0, 1]
    assert set(result.pooled()) == {"precision", "recall", "f1"}
    assert all(0.0 <= value <= 1.0 for value in result.pooled().values())
    assert result.to_dict()["pooled"] == result.pooled()


def test_one_image_is_cross_validated_by_bands_each_scored_on_its_own_particles():
    scene = _scene(12, shape=(128, 96), n_particles=12)
    config = ParticleTrainConfig(minutes=0.01, crop_px=32, batch_size=2, samples_per_image=2)
    result = cross_validate_particle_segmenter(
        [scene.image], [scene.mask], k=2, config=config, truths=[_truth(scene)]
    )
    assert [fold.band for fold in result.folds] == [(1, 2), (2, 2)]
    assert [fold.test_indices for fold in result.folds] == [[0], [0]]
    # Each band is scored against the particles centred in it: together, all of them.
    labelled = [s.true_positives + s.false_negatives for f in result.folds for s in f.scores]
    in_top = int((scene.particles_xy[:, 1] < 63.5).sum())
    assert labelled == [in_top, len(scene.diameters_px) - in_top]
    stored = result.to_dict()
    assert [fold["band"] for fold in stored["folds"]] == [[1, 2], [2, 2]]
    assert set(stored["mean"]) == {"precision", "recall", "f1", "count_error"}


def test_bands_thinner_than_the_network_input_are_refused():
    scene = _scene(13, shape=(96, 96), n_particles=4)
    with pytest.raises(ValueError, match="cannot be cut into 4 bands of at least 32 px"):
        cross_validate_particle_segmenter([scene.image], [scene.mask], k=4)


class _BrightIsParticle(nn.Module):
    """A stand-in segmenter that calls every bright pixel particle (logit 20 × input)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, x):
        return self.scale * x


def test_segmented_particles_are_in_nm_and_drop_specks_below_the_smallest_diameter():
    image = np.zeros((96, 128), np.uint8)
    image[10:16, 20:26] = 255  # 36 px: 6.77 px across
    image[60, 90] = 255  # 1 px: 1.13 px across, under 1 nm at 0.5 nm/px
    particles = segmented_particles(_BrightIsParticle(), image, 0.5)
    np.testing.assert_allclose(particles.positions_xy, [[22.5, 12.5]])
    np.testing.assert_allclose(particles.diameters_nm, [0.5 * 2 * np.sqrt(36 / np.pi)])
    with pytest.raises(ValueError, match="pixel_size_nm must be positive"):
        segmented_particles(_BrightIsParticle(), image, 0.0)


def test_a_minute_of_training_finds_particles_an_untrained_model_misses():
    train = [_scene(seed) for seed in (1, 2)]
    held_out = [_scene(seed) for seed in (3,)]
    config = ParticleTrainConfig(
        minutes=0.75, crop_px=64, batch_size=4, samples_per_image=8, lr=3e-3, threads=1
    )
    torch.manual_seed(0)
    untrained = create_model("particle_segmenter", "unet").eval()
    model, result = train_particle_segmenter(
        [s.image for s in train], [s.mask for s in train], config
    )
    assert result.wall_time_s < 60
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    truths = [_truth(s) for s in held_out]
    trained_f1 = pooled(score_segmenter(model, [s.image for s in held_out], truths))[2]
    untrained_f1 = pooled(score_segmenter(untrained, [s.image for s in held_out], truths))[2]
    assert trained_f1 > untrained_f1 + 0.3
