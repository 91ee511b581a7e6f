"""``manage.py train_particles --lab SLUG``: train a particle segmenter from particle labels."""

from nanomark.registry.choices import ModelTask
from nanomark.registry.management.commands import train_classifier


class Command(train_classifier.Command):
    help = (
        "Cross-validate and train a particle segmenter (U-Net) on the lab's particle "
        "annotations, at the images' own resolution, for --minutes (and --fold-minutes per "
        "fold); the result is a new model version. Queued for the worker unless --now."
    )
    task = ModelTask.PARTICLE_SEGMENTER
    default_architecture = "unet"
    default_encoder = "mobilenet_v2"
