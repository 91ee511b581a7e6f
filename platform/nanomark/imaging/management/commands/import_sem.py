"""``manage.py import_sem PATH... --sample CODE``: store SEM files from disk."""

from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from analysis.semfile import SIDECAR_MAX_BYTES
from nanomark.accounts.commandargs import user_from_name
from nanomark.imaging.services import ImageRejected, ingest_sem_image
from nanomark.samples.models import Sample

SIDECAR_SUFFIX = ".txt"


def collect_files(paths: list[Path]) -> list[Path]:
    """Files named directly plus every non-hidden file under named folders, sidecars excluded."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() != SIDECAR_SUFFIX
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{path}: no such file or folder")
    return found


class Command(BaseCommand):
    help = (
        "Import SEM images (TIFF, PNG, JPEG) from files or folders into a sample. A Hitachi "
        "sidecar with the same name and a .txt suffix is read with each image."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="files or folders")
        parser.add_argument("--sample", required=True, help="sample code")
        parser.add_argument("--lab", help="lab slug (needed when several labs use the code)")
        parser.add_argument("--user", help="username recorded as the uploader")
        parser.add_argument(
            "--pixel-size-nm", type=float, help="pixel size for every file, overriding metadata"
        )

    def handle(self, *args, **options) -> None:
        sample = self._sample(options["sample"], options["lab"])
        user = user_from_name(options["user"])
        files = collect_files(options["paths"])
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
                )
            except ImageRejected as exc:
                counts["rejected"] += 1
                rejected.append(str(exc))
                continue
            counts["imported" if outcome.created else "duplicate"] += 1

        self.stdout.write(
            f"{counts['imported']} imported, {counts['duplicate']} duplicate, "
            f"{counts['rejected']} rejected (sample {sample.code}, lab {sample.lab.slug})"
        )
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
        for candidate in (path.with_suffix(SIDECAR_SUFFIX), path.with_suffix(".TXT")):
            if candidate.is_file():
                # One byte past the cap is enough for decode_sidecar to refuse a huge file.
                with candidate.open("rb") as handle:
                    return handle.read(SIDECAR_MAX_BYTES + 1)
        return None
