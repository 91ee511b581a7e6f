"""Where imaging files live in media storage.

Originals are content-addressed (``sem/lab<id>/<sha[:2]>/<sha256>.<ext>``) so a
path says which bytes it holds; derived files sit under the same key.
"""

from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

EXTENSIONS = {"tiff": "tif", "png": "png", "jpeg": "jpg"}


def original_path(lab_id: int, sha256: str, file_format: str) -> str:
    """Storage name of an original SEM file."""
    return f"sem/lab{lab_id}/{sha256[:2]}/{sha256}.{EXTENSIONS[file_format]}"


def derived_path(kind: str, lab_id: int, sha256: str, suffix: str = ".png") -> str:
    """Storage name of a file derived from an original (``kind``: previews, thumbnails, masks…)."""
    return f"{kind}/lab{lab_id}/{sha256[:2]}/{sha256}{suffix}"


def save_file(name: str, content: bytes, written: list[str]) -> str:
    """Save ``content`` under ``name`` and append the name actually used to ``written``."""
    stored = default_storage.save(name, ContentFile(content))
    written.append(stored)
    return stored


def delete_files(names: Iterable[str]) -> None:
    """Delete stored files, ignoring those already gone."""
    for name in names:
        if name:
            default_storage.delete(name)
