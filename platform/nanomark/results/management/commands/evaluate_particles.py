"""``manage.py evaluate_particles``: detected particles of an image or sample vs hand labels."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.particlescore import pooled
from nanomark.accounts.commandargs import lab_from_slug
from nanomark.imaging.models import ParticleAnnotation
from nanomark.results.current import current_analysis_runs
from nanomark.results.models import AnalysisRun
from nanomark.results.particlescoring import score_run


class Command(BaseCommand):
    help = (
        "Score the particles of the current analyses against the images' particle labels: "
        "precision, recall, F1, count and size errors per image and pooled over them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        chosen = parser.add_mutually_exclusive_group(required=True)
        chosen.add_argument("--image", type=int, help="one image's id")
        chosen.add_argument("--sample", help="one sample's code (with --lab)")
        parser.add_argument("--lab", help="lab slug")

    def handle(self, *args, **options) -> None:
        annotations = ParticleAnnotation.objects.select_related("image").order_by("image", "pk")
        if options["image"] is not None:
            annotations = annotations.filter(image_id=options["image"])
            where = f"image {options['image']}"
        else:
            if not options["lab"]:
                raise CommandError("--sample needs --lab (sample codes are unique per lab)")
            lab = lab_from_slug(options["lab"])
            annotations = annotations.filter(image__lab=lab, image__sample__code=options["sample"])
            where = f"sample {options['sample']}"
        if not annotations:
            raise CommandError(f"{where} has no particle labels")
        runs = current_analysis_runs(
            AnalysisRun.objects.filter(image__in={a.image_id for a in annotations})
        )
        current = {run.image_id: run for run in runs}
        self.stdout.write(
            f"{'image':>7} {'labels':>6} {'run':>6} {'true':>5} {'found':>5} "
            f"{'P':>6} {'R':>6} {'F1':>6} {'count':>7} {'size':>7}"
        )
        by_image: dict[int, list[ParticleAnnotation]] = {}
        for annotation in annotations:
            by_image.setdefault(annotation.image_id, []).append(annotation)
        scored = []
        for image_id, labels in by_image.items():
            run = current.get(image_id)
            scored += score_run(run, labels) if run else [(label, None) for label in labels]
        scores = []
        for annotation, score in scored:
            run = current.get(annotation.image_id)
            head = f"{annotation.image_id:>7} {annotation.pk:>6} "
            if score is None:
                self.stdout.write(head + "  no current analysis with particles")
                continue
            scores.append(score)
            found = score.true_positives + score.false_positives
            true = score.true_positives + score.false_negatives
            self.stdout.write(
                head + f"{run.pk:>6} {true:>5} {found:>5} {score.precision:6.3f} "
                f"{score.recall:6.3f} {score.f1:6.3f} {_percent(score.count_error)} "
                f"{_percent(score.median_size_error)}"
            )
        if not scores:
            raise CommandError(f"no image of {where} has a current analysis with particles")
        precision, recall, f1 = pooled(scores)
        self.stdout.write(
            f"pooled over {len(scores)} label set(s): "
            f"precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f}"
        )


def _percent(fraction: float | None) -> str:
    return f"{'—':>7}" if fraction is None else f"{100 * fraction:+6.1f}%"
