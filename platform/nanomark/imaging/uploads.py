"""Image uploads from the web UI: SEM files inspected before they are stored.

An image upload takes two steps so that the user sees what will be stored.
:func:`stage_upload` reads every file with the reader ingest uses
(:func:`analysis.semfile.read_sem`, with a ``.txt`` or ``.hdr`` sidecar paired
by file stem, and :func:`~nanomark.imaging.services.inspect_frame` for the
field and the calibration), reports format, size, pixel size, duplicates and refusals, and
keeps the readable new files in a per-user staging folder
(``VAR_DIR/uploads/<user id>/<token>/``) so that the browser sends them once.
:func:`store_staged` hands the files the user kept to
:func:`~nanomark.imaging.services.ingest_sem_image` (which also queues their
analysis) and removes the folder; folders older than :data:`STAGING_MAX_AGE_S`
are swept whenever a new upload is staged.
"""

import hashlib
import json
import re
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from analysis.semfile import SIDECAR_MAX_BYTES, SEMFileError, decode_sidecar, read_sem
from nanomark.imaging.choices import PixelSizeSource
from nanomark.imaging.models import SEMImage
from nanomark.imaging.services import ImageRejected, ingest_sem_image, inspect_frame
from nanomark.samples.models import Sample

#: Seconds after which an upload that was never confirmed is deleted.
STAGING_MAX_AGE_S = 24 * 3600
#: File name endings of metadata sidecars, paired with the image of the same stem:
#: Hitachi and JEOL ``.txt``, Tescan ``.hdr``.
SIDECAR_SUFFIXES = (".txt", ".hdr")

NEW = "new"
DUPLICATE = "duplicate"
UNREADABLE = "unreadable"

_TOKEN = re.compile(r"[0-9a-f]{32}")
_MANIFEST = "manifest.json"


class UploadExpired(LookupError):
    """The staged upload does not exist (already stored, cancelled, expired or never made)."""


@dataclass
class InspectedFile:
    """What step 1 found out about one uploaded file (``status`` is NEW, DUPLICATE or UNREADABLE).

    Sizes are in bytes and pixels, ``pixel_size_nm`` in nm/px; ``acquired_at`` is the
    instrument's ISO 8601 local time; ``existing_image_id`` names the stored image a
    duplicate repeats (None for a repeat within this upload, see ``message``).
    """

    index: int
    filename: str
    size_bytes: int
    status: str
    message: str = ""
    sha256: str = ""
    sidecar_filename: str = ""
    existing_image_id: int | None = None
    format: str = ""
    width_px: int | None = None
    height_px: int | None = None
    bit_depth: int | None = None
    pixel_size_nm: float | None = None
    pixel_size_source: str = ""
    magnification: float | None = None
    accelerating_voltage_kv: float | None = None
    detector: str = ""
    instrument: str = ""
    acquired_at: str = ""
    field_width_px: int | None = None
    field_height_px: int | None = None
    calibration_reason: str = ""

    @property
    def pixel_size_source_label(self) -> str:
        """Human-readable origin of the pixel size ("" when none is known)."""
        return PixelSizeSource(self.pixel_size_source).label if self.pixel_size_source else ""


@dataclass
class StagedUpload:
    """Files inspected for ``sample_id`` and kept under ``token`` until confirmed."""

    token: str
    sample_id: int
    created_at: float
    files: list[InspectedFile] = field(default_factory=list)
    unpaired_sidecars: list[str] = field(default_factory=list)

    @property
    def new_files(self) -> list[InspectedFile]:
        """The files that can be stored (readable and not yet in the lab)."""
        return [item for item in self.files if item.status == NEW]


@dataclass(frozen=True)
class StoreResult:
    """What step 2 did with one file: the image stored (or found), or the refusal."""

    filename: str
    image: SEMImage | None
    created: bool
    message: str = ""


def stage_upload(*, user, sample: Sample, files: Sequence[UploadedFile]) -> StagedUpload:
    """Inspect ``files`` for ``sample`` and stage the new, readable ones; nothing is stored.

    Files whose name ends in ``.txt`` or ``.hdr`` are sidecars of the image with the
    same stem (case-insensitive); the others are images, told apart by content.

    Returns:
        The staged upload, one :class:`InspectedFile` per image in upload order.
    """
    discard_stale_uploads()
    images = [f for f in files if not f.name.lower().endswith(SIDECAR_SUFFIXES)]
    # Read past the limit by one byte only, so that decode_sidecar can say it is too large.
    sidecars = {
        _stem(f.name): (f.name, f.read(SIDECAR_MAX_BYTES + 1))
        for f in files
        if f.name.lower().endswith(SIDECAR_SUFFIXES)
    }
    staged = StagedUpload(token=secrets.token_hex(16), sample_id=sample.pk, created_at=time.time())
    folder = _folder(user, staged.token)
    folder.mkdir(parents=True)
    seen: dict[str, str] = {}
    for index, upload in enumerate(images):
        sidecar = sidecars.get(_stem(upload.name))
        item, data, sidecar_bytes = _inspect(index, upload, sidecar, sample.lab_id, seen)
        if item.status == NEW:
            (folder / f"{index}.data").write_bytes(data)
            if sidecar_bytes is not None:
                (folder / f"{index}.sidecar").write_bytes(sidecar_bytes)
        staged.files.append(item)
    paired = {_stem(f.name) for f in images}
    staged.unpaired_sidecars = [name for stem, (name, _) in sidecars.items() if stem not in paired]
    # Written last: a folder without its manifest is never offered for confirmation.
    (folder / _MANIFEST).write_text(json.dumps(asdict(staged)))
    return staged


def load_staged(user, token: str) -> StagedUpload:
    """The upload ``user`` staged under ``token``.

    Raises:
        UploadExpired: no such upload for this user.
    """
    manifest = _folder(user, token) / _MANIFEST if _TOKEN.fullmatch(token) else None
    if manifest is None or not manifest.is_file():
        raise UploadExpired("This upload was already stored, cancelled or has expired.")
    values = json.loads(manifest.read_text())
    values["files"] = [InspectedFile(**item) for item in values["files"]]
    return StagedUpload(**values)


def store_staged(
    staged: StagedUpload, *, user, sample: Sample, pixel_sizes_nm: dict[int, float | None]
) -> list[StoreResult]:
    """Store the staged files chosen in ``pixel_sizes_nm`` and discard the staging folder.

    Args:
        staged: the upload, as :func:`load_staged` returns it.
        user: its owner, recorded as the uploader.
        sample: the sample of every image (``staged.sample_id``).
        pixel_sizes_nm: file index -> pixel size entered by hand in nm/px (None: the
            file's own); files not named are not stored.

    Returns:
        One result per file stored or refused, in upload order.
    """
    folder = _folder(user, staged.token)
    results = []
    for item in staged.new_files:
        if item.index not in pixel_sizes_nm:
            continue
        sidecar = folder / f"{item.index}.sidecar"
        try:
            outcome = ingest_sem_image(
                sample=sample,
                data=(folder / f"{item.index}.data").read_bytes(),
                filename=item.filename,
                sidecar=sidecar.read_bytes() if sidecar.is_file() else None,
                pixel_size_nm=pixel_sizes_nm[item.index],
                uploaded_by=user,
                upload_batch=staged.token,
            )
        except ImageRejected as exc:
            results.append(StoreResult(item.filename, None, False, str(exc)))
            continue
        results.append(StoreResult(item.filename, outcome.image, outcome.created))
    discard_staged(user, staged.token)
    return results


def discard_staged(user, token: str) -> None:
    """Delete ``user``'s staged upload ``token`` (nothing happens if it is gone)."""
    if _TOKEN.fullmatch(token):
        shutil.rmtree(_folder(user, token), ignore_errors=True)


def discard_stale_uploads(max_age_s: float = STAGING_MAX_AGE_S) -> int:
    """Delete every user's staged uploads older than ``max_age_s`` seconds; return how many."""
    cutoff = time.time() - max_age_s
    stale = [
        folder
        for folder in _staging_root().glob("*/*")
        if folder.is_dir() and folder.stat().st_mtime < cutoff
    ]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return len(stale)


def _inspect(
    index: int,
    upload: UploadedFile,
    sidecar: tuple[str, bytes] | None,
    lab_id: int,
    seen: dict[str, str],
) -> tuple[InspectedFile, bytes, bytes | None]:
    """Read one upload with its (name, bytes) sidecar.

    ``seen`` maps the SHA-256 of the earlier readable files of the upload to their names.
    """
    item = InspectedFile(index=index, filename=upload.name, size_bytes=upload.size, status=NEW)
    limit = settings.NANOMARK_MAX_UPLOAD_BYTES
    if upload.size > limit:
        item.status = UNREADABLE
        item.message = f"{upload.size:,} bytes exceeds the {limit:,}-byte limit."
        return item, b"", None
    data = upload.read()
    item.sidecar_filename, sidecar_bytes = sidecar if sidecar is not None else ("", None)
    item.sha256 = hashlib.sha256(data).hexdigest()
    existing = SEMImage.objects.filter(lab_id=lab_id, sha256=item.sha256).first()
    if existing is not None:
        item.status, item.existing_image_id = DUPLICATE, existing.pk
        item.message = f"Already stored as {existing.original_filename}."
        return item, data, sidecar_bytes
    if item.sha256 in seen:
        item.status, item.message = DUPLICATE, f"Same file as {seen[item.sha256]} in this upload."
        return item, data, sidecar_bytes
    try:
        sidecar_text = decode_sidecar(sidecar_bytes) if sidecar_bytes is not None else None
        sem = read_sem(
            data, sidecar_text=sidecar_text, max_pixels=settings.NANOMARK_MAX_IMAGE_PIXELS
        )
        frame = inspect_frame(sem, upload.name)
    except SEMFileError as exc:
        item.status, item.message = UNREADABLE, str(exc)
        return item, data, sidecar_bytes
    except ImageRejected as exc:
        item.status, item.message = UNREADABLE, str(exc).removeprefix(f"{upload.name}: ")
        return item, data, sidecar_bytes
    seen[item.sha256] = upload.name
    meta = sem.metadata
    item.format, item.bit_depth = sem.format, sem.bit_depth
    item.width_px, item.height_px = sem.width, sem.height
    item.pixel_size_nm, item.pixel_size_source = frame.pixel_size_nm, frame.pixel_size_source or ""
    item.field_width_px, item.field_height_px = frame.field.width_px, frame.field.height_px
    item.calibration_reason = frame.reason
    item.magnification = frame.magnification
    item.accelerating_voltage_kv = meta.accelerating_voltage_kv
    item.detector, item.instrument = meta.detector or "", meta.instrument or ""
    item.acquired_at = meta.acquired_at.isoformat(sep=" ") if meta.acquired_at else ""
    return item, data, sidecar_bytes


def _staging_root() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def _folder(user, token: str) -> Path:
    return _staging_root() / str(user.pk) / token


def _stem(filename: str) -> str:
    return PurePath(filename).stem.lower()
