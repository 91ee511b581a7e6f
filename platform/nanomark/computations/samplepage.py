"""The sample page's computations: a section the computations app adds to the sample page.

Monte Carlo depositions and xtb calculations linked to the sample, and the
sample's provenance tree (synthesis → sample → images → labels, defect masks
and predictions → the simulations run on them → the xtb calculations behind
their energies). The computations app is the highest domain app the tree
reaches, so it draws the tree.
"""

from dataclasses import dataclass, field

from django.db.models import Prefetch, Q
from django.http import HttpRequest

from nanomark.computations.models import AdsorptionEnergy, MonteCarloRun, XtbCalculation
from nanomark.imaging.models import DefectMask, OrderLabel, SEMImage
from nanomark.results.samplepage import ImageRow, image_rows
from nanomark.samples.models import Sample

#: The section's template (``pagesections.add_section("sample-detail", ...)``).
SECTION_TEMPLATE = "computations/_sample_computations.html"


@dataclass
class ImageProvenance:
    """An image's analyses (``analyses``) and the simulations on its defect maps.

    ``masks`` pairs each defect mask with the Monte Carlo runs on it,
    ``prediction_runs`` are those on the current analysis's segmentation and
    ``other_runs`` those on other segmentations.
    """

    analyses: ImageRow
    masks: list[tuple[DefectMask, list[MonteCarloRun]]] = field(default_factory=list)
    prediction_runs: list[MonteCarloRun] = field(default_factory=list)
    other_runs: list[MonteCarloRun] = field(default_factory=list)


def sample_computations_section(request: HttpRequest, sample: Sample) -> dict:
    """The section's context; a constant number of queries whatever the sample holds."""
    monte_carlo_runs = _monte_carlo_runs(request, sample)
    images = SEMImage.objects.filter(sample=sample).prefetch_related(
        Prefetch("order_labels", OrderLabel.objects.current().select_related("annotator")),
        Prefetch("defect_masks", DefectMask.objects.select_related("annotator", "reviewer")),
    )
    provenance = [_provenance(row, monte_carlo_runs) for row in image_rows(images)]
    image_ids = {row.analyses.image.pk for row in provenance}
    return {
        "sample": sample,
        "provenance": provenance,
        # Runs of the sample on no image of it (none, or another sample's image).
        "sample_runs": [run for run in monte_carlo_runs if run.source_image_id not in image_ids],
        "monte_carlo_runs": monte_carlo_runs,
        "xtb_calculations": _xtb_calculations(request, sample, monte_carlo_runs),
    }


def _provenance(row: ImageRow, monte_carlo_runs: list[MonteCarloRun]) -> ImageProvenance:
    on_image = [run for run in monte_carlo_runs if run.source_image_id == row.image.pk]
    current_id = row.current.pk if row.current else None
    prediction_runs = [
        run for run in on_image if current_id and run.segmentation_run_id == current_id
    ]
    return ImageProvenance(
        analyses=row,
        masks=[
            (mask, [run for run in on_image if run.defect_mask_id == mask.pk])
            for mask in row.image.defect_masks.all()
        ],
        prediction_runs=prediction_runs,
        other_runs=[
            run for run in on_image if run.defect_mask_id is None and run not in prediction_runs
        ],
    )


def _monte_carlo_runs(request: HttpRequest, sample: Sample) -> list[MonteCarloRun]:
    energies = AdsorptionEnergy.objects.select_related(
        "complex_calculation", "cluster_calculation", "surface_calculation"
    )
    return list(
        MonteCarloRun.objects.restrict(request.user)
        .filter(Q(sample=sample) | Q(source_image__sample=sample))
        .select_related("source_image")
        .prefetch_related(Prefetch("adsorption_energies", queryset=energies))
        .order_by("-queued_at", "-pk")
    )


def _xtb_calculations(
    request: HttpRequest, sample: Sample, monte_carlo_runs: list[MonteCarloRun]
) -> list[XtbCalculation]:
    """The sample's and its material's calculations and those behind its simulations."""
    via_simulation: dict[int, str] = {}
    for run in monte_carlo_runs:
        for energy in run.adsorption_energies.all():
            for calc_id in (
                energy.complex_calculation_id,
                energy.cluster_calculation_id,
                energy.surface_calculation_id,
            ):
                via_simulation.setdefault(calc_id, f"Monte Carlo run {run.pk}")
    calculations = list(
        XtbCalculation.objects.restrict(request.user)
        .filter(
            Q(sample=sample)
            | Q(material=sample.material_id, sample=None)
            | Q(pk__in=via_simulation)
        )
        .order_by("-queued_at", "-pk")
    )
    for calc in calculations:
        if calc.sample_id == sample.pk:
            calc.via = "this sample"
        elif calc.pk in via_simulation:
            calc.via = via_simulation[calc.pk]
        else:
            calc.via = f"material {sample.material}"
    return calculations
