"""``manage.py detect_calibration``: read stored images' field and pixel size again.

For images stored before NanoMark read a vendor's tags, the data bar or the
scale bar: each original is read again with :func:`analysis.frame.calibrate_frame`;
what it finds anew is applied as a recorded correction (and re-analysed),
except values a person entered, which are kept.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from analysis.frame import calibrate_frame
from analysis.semfile import SEMFileError, read_sem
from nanomark.accounts.commandargs import user_from_name
from nanomark.imaging.calibration import CalibrationRejected, detected_correction, recalibrate
from nanomark.imaging.models import SEMImage


class Command(BaseCommand):
    help = (
        "Read the field box (data bar) and pixel size (vendor tags, scale bar) of stored "
        "images again and apply what is new; values entered by hand are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lab", help="lab slug (default: every lab)")
        parser.add_argument("--sample", help="sample code (with --lab)")
        parser.add_argument(
            "--only-uncalibrated", action="store_true", help="only images without a pixel size"
        )
        parser.add_argument("--user", help="username recorded with the changes")
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")

    def handle(self, *args, **options) -> None:
        images = SEMImage.objects.order_by("pk")
        if options["lab"]:
            images = images.filter(lab__slug=options["lab"])
        if options["sample"]:
            if not options["lab"]:
                raise CommandError("--sample needs --lab")
            images = images.filter(sample__code=options["sample"])
        if options["only_uncalibrated"]:
            images = images.filter(pixel_size_nm__isnull=True)
        user = user_from_name(options["user"])
        changed = unchanged = 0
        for image in tqdm(images, desc="Reading", unit="image", disable=options["verbosity"] < 1):
            try:
                with image.original.open("rb") as handle:
                    sem = read_sem(handle.read(), max_pixels=settings.NANOMARK_MAX_IMAGE_PIXELS)
            except (OSError, SEMFileError) as exc:
                self.stdout.write(f"  {image.pk} {image.original_filename}: unreadable ({exc})")
                continue
            frame = calibrate_frame(sem)
            correction = detected_correction(image, frame)
            if correction is None:
                unchanged += 1
                continue
            changed += 1
            new_size = correction.pixel_size_nm or image.pixel_size_nm
            new_box = correction.field or image.field_box
            self.stdout.write(
                f"  {image.pk} {image.original_filename}: pixel size {image.pixel_size_nm} -> "
                f"{new_size}, field {image.field_box.to_json()} -> {new_box.to_json()}"
                + (f" ({frame.reason})" if frame.reason else "")
            )
            if not options["dry_run"]:
                try:
                    recalibrate([image], correction, user=user)
                except CalibrationRejected as exc:
                    self.stdout.write(f"    not applied: {exc}")
        verb = "would change" if options["dry_run"] else "changed"
        self.stdout.write(f"{changed} image(s) {verb}, {unchanged} unchanged")
