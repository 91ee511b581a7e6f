"""``manage.py import_sem PATH... --sample CODE``: store SEM files from disk.

Folders are searched recursively. Sidecars (``.txt``, ``.hdr``) are read with
the image of the same stem; files that are not micrographs (mask or label
layers by name, images of two grey levels or fewer) are skipped with the
reason, and ``--pattern`` restricts the import to matching names.
"""

import fnmatch
import secrets
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from analysis.micrograph import name_problem
from analysis.semfile import SIDECAR_MAX_BYTES
from nanomark.accounts.commandargs import user_from_name
from nanomark.imaging.services import ImageRejected, NotAMicrograph, ingest_sem_image
from nanomark.imaging.uploads import SIDECAR_SUFFIXES
from nanomark.samples.models import Sample

#: Suffixes of the text files that data folders hold beside images (manifests, tables, notes).
TEXT_SUFFIXES = frozenset({".json", ".csv", ".tsv", ".md", ".xml", ".ini", ".log", ".yaml"})


def collect_files(paths: list[Path], pattern: str | None = None) -> tuple[list[Path], list[str]]:
    """Image files to import, and the reasons for the files of named folders left out.

    Files named directly are always taken; under a folder, every non-hidden
    file that is not a sidecar, matches ``pattern`` (a glob on the file name,
    case-insensitive) if given, and is neither a text file nor, without a
    pattern, named like a mask or label layer.
    """
    found: list[Path] = []
    skipped: list[str] = []
    for path in paths:
        if path.is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise CommandError(f"{path}: no such file or folder")
        for candidate in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in candidate.relative_to(path).parts)
            if not candidate.is_file() or hidden or candidate.suffix.lower() in SIDECAR_SUFFIXES:
                continue
            if pattern is not None and not fnmatch.fnmatch(candidate.name.lower(), pattern.lower()):
                continue
            problem = name_problem(candidate.name) if pattern is None else None
            if candidate.suffix.lower() in TEXT_SUFFIXES:
                problem = f"{candidate.name}: a text file, not an image."
            if problem:
                skipped.append(problem)
            else:
                found.append(candidate)
    return found, skipped


class Command(BaseCommand):
    help = (
        "Import SEM images (TIFF, PNG, JPEG) from files or folders into a sample. A sidecar "
        "with the same name and a .txt (Hitachi, JEOL) or .hdr (Tescan) suffix is read with "
        "each image; mask layers and other non-micrographs are skipped with the reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="files or folders")
        parser.add_argument("--sample", required=True, help="sample code")
        parser.add_argument("--lab", help="lab slug (needed when several labs use the code)")
        parser.add_argument("--user", help="username recorded as the uploader")
        parser.add_argument(
            "--pixel-size-nm", type=float, help="pixel size for every file, overriding metadata"
        )
        parser.add_argument(
            "--pattern",
            help="import only files under the folders whose name matches this glob, e.g. '*.tif' "
            "(names marking masks are then taken too)",
        )

    def handle(self, *args, **options) -> None:
        sample = self._sample(options["sample"], options["lab"])
        user = user_from_name(options["user"])
        files, skipped = collect_files(options["paths"], options["pattern"])
        batch = secrets.token_hex(16)
        counts: Counter[str] = Counter()
        rejected: list[str] = []
        for path in tqdm(files, desc="Importing", unit="file", disable=options["verbosity"] < 1):
            try:
                outcome = ingest_sem_image(
                    sample=sample,
                    data=self._read(path),
                    filename=path.name,
                    sidecar=self._sidecar(path),
                    pixel_size_nm=options["pixel_size_nm"],
                    uploaded_by=user,
                    upload_batch=batch,
                )
            except NotAMicrograph as exc:
                skipped.append(str(exc))
                continue
            except ImageRejected as exc:
                counts["rejected"] += 1
                rejected.append(str(exc))
                continue
            counts["imported" if outcome.created else "duplicate"] += 1

        self.stdout.write(
            f"{counts['imported']} imported, {counts['duplicate']} duplicate, "
            f"{len(skipped)} skipped, {counts['rejected']} rejected "
            f"(sample {sample.code}, lab {sample.lab.slug})"
        )
        for reason in skipped:
            self.stdout.write(f"  skipped: {reason}")
        for reason in rejected:
            self.stdout.write(f"  rejected: {reason}")
        if rejected:
            raise CommandError(f"{len(rejected)} file(s) rejected")

    def _sample(self, code: str, lab_slug: str | None) -> Sample:
        samples = Sample.objects.filter(code=code).select_related("lab")
        if lab_slug:
            samples = samples.filter(lab__slug=lab_slug)
        found = list(samples[:2])
        if not found:
            raise CommandError(
                f"no sample with code {code!r}" + (f" in lab {lab_slug}" if lab_slug else "")
            )
        if len(found) > 1:
            raise CommandError(f"several labs have a sample {code!r}: name one with --lab")
        return found[0]

    def _read(self, path: Path) -> bytes:
        size = path.stat().st_size
        if size > settings.NANOMARK_MAX_UPLOAD_BYTES:
            raise ImageRejected(
                f"{path.name}: {size:,} bytes exceeds the "
                f"{settings.NANOMARK_MAX_UPLOAD_BYTES:,}-byte limit."
            )
        return path.read_bytes()

    def _sidecar(self, path: Path) -> bytes | None:
        suffixes = [*SIDECAR_SUFFIXES, *(suffix.upper() for suffix in SIDECAR_SUFFIXES)]
        for candidate in (path.with_suffix(suffix) for suffix in suffixes):
            if candidate.is_file():
                # One byte past the cap is enough for decode_sidecar to refuse a huge file.
                with candidate.open("rb") as handle:
                    return handle.read(SIDECAR_MAX_BYTES + 1)
        return None
