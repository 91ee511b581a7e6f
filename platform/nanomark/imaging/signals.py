"""Remove an image's or mask's files once its row is deleted and the deletion committed."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from nanomark.imaging.models import DefectMask, SEMImage
from nanomark.imaging.storage import delete_files


@receiver(post_delete, sender=SEMImage)
def delete_image_files(sender, instance: SEMImage, **kwargs) -> None:
    names = [instance.original.name, instance.preview.name, instance.thumbnail.name]
    transaction.on_commit(lambda: delete_files(names))


@receiver(post_delete, sender=DefectMask)
def delete_mask_files(sender, instance: DefectMask, **kwargs) -> None:
    names = [layer.name for layer in instance.layer_files()]
    transaction.on_commit(lambda: delete_files(names))
