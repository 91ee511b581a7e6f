"""``manage.py train_segmenter --lab SLUG``: train a defect segmenter on the lab's masks."""

from ml.devicerecipes import AUTO
from nanomark.registry.choices import ModelTask
from nanomark.registry.management.commands import train_classifier


class Command(train_classifier.Command):
    help = (
        "Cross-validate and train a defect segmenter (FPN or U-Net) on the lab's defect masks; "
        "the result is a new model version. Queued for the worker unless --now."
    )
    task = ModelTask.DEFECT_SEGMENTER
    default_architecture = "fpn"
    default_encoder = AUTO
