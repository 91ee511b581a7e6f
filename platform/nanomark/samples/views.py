"""Sample pages: the current lab's sample list, create / edit, CSV import, the sample page.

Every query is restricted to the user's labs (another lab's sample is a 404); writes
need a member's or admin's role in the sample's lab (viewers get a 403).
"""

import secrets
from dataclasses import dataclass, field

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.generic import DetailView
from django_filters.views import FilterView

from analysis.defects import channel
from nanomark.accounts.labcontext import can_write, current_lab, require_write, user_labs
from nanomark.accounts.models import Lab
from nanomark.computations.models import AdsorptionEnergy, MonteCarloRun, XtbCalculation
from nanomark.imaging.calibrationviews import sample_calibration_form
from nanomark.imaging.models import DefectMask, OrderLabel, SEMImage
from nanomark.registry.models import ModelVersion
from nanomark.results.current import current_analysis_runs, current_order_scores
from nanomark.results.models import AnalysisRun
from nanomark.samples import csvimport
from nanomark.samples.choices import MaterialKind
from nanomark.samples.filters import SampleFilter
from nanomark.samples.forms import CSVUploadForm, SampleForms
from nanomark.samples.models import Material, Sample
from nanomark.samples.plots import order_score_histogram, skeleton_length_figure

#: Session key of the CSV waiting between its preview and its confirmation.
IMPORT_SESSION_KEY = "nanomark_sample_import"


def _writable_current_lab(request: HttpRequest) -> Lab:
    lab = current_lab(request)
    if lab is None:
        raise PermissionDenied("You are not a member of any lab.")
    require_write(request.user, lab.pk)
    return lab


def with_list_columns(samples):
    """``samples`` annotated with ``image_count``, ``uncalibrated_count`` and ``mean_order_score``.

    The order score is the mean over the images' current analyses.

    Both are correlated subqueries, so a page of samples is one query whatever the
    number of images and runs, and joins made by filters cannot inflate the counts.
    """
    images = SEMImage.objects.filter(sample=OuterRef("pk")).order_by().values("sample")
    runs = AnalysisRun.objects.filter(image__sample=OuterRef(OuterRef("pk")))
    scores = current_order_scores(runs).order_by().values("run__image__sample")
    return samples.annotate(
        image_count=Coalesce(Subquery(images.annotate(n=Count("pk")).values("n")), 0),
        uncalibrated_count=Coalesce(
            Subquery(images.filter(pixel_size_nm__isnull=True).annotate(n=Count("pk")).values("n")),
            0,
        ),
        mean_order_score=Subquery(scores.annotate(mean=Avg("score")).values("mean")),
    )


class SampleListView(LoginRequiredMixin, FilterView):
    """The current lab's samples, filtered with :class:`SampleFilter`, 25 a page."""

    template_name = "samples/sample_list.html"
    filterset_class = SampleFilter
    paginate_by = 25

    def get_queryset(self):
        self.lab = current_lab(self.request)
        samples = Sample.objects.restrict(self.request.user).filter(lab=self.lab)
        return with_list_columns(samples.select_related("material")).order_by("code")

    def get_filterset(self, filterset_class):
        filterset = super().get_filterset(filterset_class)
        # The page shows the current lab only (the API filters by lab instead).
        del filterset.filters["lab"]
        filterset.filters["material"].queryset = Material.objects.filter(lab=self.lab)
        _dress_filter_form(filterset.form)
        return filterset


def _dress_filter_form(form) -> None:
    """Date pickers and range placeholders for the page's filter form."""
    fields = form.fields
    for name in ("created_after", "created_before"):
        fields[name].widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    for widget, bound in zip(fields["order_score"].widget.widgets, ("min", "max"), strict=True):
        widget.attrs.update(placeholder=bound, size=4, inputmode="decimal")


@login_required
def sample_create(request: HttpRequest) -> HttpResponse:
    """New sample in the current lab, with its synthesis steps and properties."""
    lab = _writable_current_lab(request)
    return _edit(request, SampleForms(lab, data=request.POST or None))


@login_required
def sample_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a sample, its synthesis steps and properties."""
    sample = get_object_or_404(
        Sample.objects.restrict(request.user).select_related("lab", "material"), pk=pk
    )
    require_write(request.user, sample.lab_id)
    return _edit(request, SampleForms(sample.lab, instance=sample, data=request.POST or None))


def _edit(request: HttpRequest, editor: SampleForms) -> HttpResponse:
    if request.method == "POST" and editor.is_valid():
        sample = editor.save(request.user)
        if sample is not None:
            return redirect(sample)
    return render(request, "samples/sample_form.html", {"forms": editor})


def _import_page(request, lab, form, error="", status=200) -> HttpResponse:
    context = {
        "form": form,
        "error": error,
        "lab": lab,
        "max_mib": csvimport.MAX_CSV_BYTES / 2**20,
        "max_rows": csvimport.MAX_ROWS,
        "material_kinds": MaterialKind.choices,
    }
    return render(request, "samples/sample_import.html", context, status=status)


@login_required
def sample_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of samples; a readable file is kept in the session for its preview."""
    lab = _writable_current_lab(request)
    form = CSVUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read()
        try:
            csvimport.read_csv(data)
        except csvimport.CSVImportError as error:
            form.add_error("file", str(error))
        else:
            request.session[IMPORT_SESSION_KEY] = {
                "token": secrets.token_urlsafe(16),
                "lab": lab.pk,
                "filename": upload.name,
                "csv": data.decode("utf-8-sig"),
            }
            return redirect("sample-import-preview")
    return _import_page(request, lab, form, status=400 if form.errors else 200)


def _pending_import(request: HttpRequest) -> tuple[dict | None, Lab | None]:
    """The CSV waiting for confirmation and its lab (checked writable), or (None, None)."""
    pending = request.session.get(IMPORT_SESSION_KEY)
    if not pending:
        return None, None
    lab = get_object_or_404(user_labs(request.user), pk=pending["lab"])
    require_write(request.user, lab.pk)
    return pending, lab


def _preview_page(request, pending, lab, error="", status=200) -> HttpResponse:
    preview = csvimport.prepare_import(pending["csv"].encode(), lab)
    context = {"preview": preview, "pending": pending, "lab": lab, "error": error}
    return render(request, "samples/sample_import_preview.html", context, status=status)


@login_required
def sample_import_preview(request: HttpRequest) -> HttpResponse:
    """Every row of the uploaded CSV with its errors; confirmable when no row has any."""
    pending, lab = _pending_import(request)
    if pending is None:
        return redirect("sample-import")
    return _preview_page(request, pending, lab)


@require_POST
@login_required
def sample_import_confirm(request: HttpRequest) -> HttpResponse:
    """Import the previewed CSV in one transaction, or nothing if any row has an error."""
    pending, lab = _pending_import(request)
    if pending is None or not secrets.compare_digest(
        request.POST.get("token", ""), pending["token"]
    ):
        error = (
            "That preview is no longer current (it was imported, or another file was "
            "uploaded since): upload the file again."
        )
        lab = _writable_current_lab(request)
        return _import_page(request, lab, CSVUploadForm(), error=error, status=409)
    try:
        samples = csvimport.save_import(pending["csv"].encode(), lab, request.user)
    except csvimport.CSVImportError as error:
        return _preview_page(request, pending, lab, error=str(error), status=409)
    del request.session[IMPORT_SESSION_KEY]
    return render(
        request,
        "samples/sample_import_done.html",
        {"samples": samples, "lab": lab, "filename": pending["filename"]},
    )


@login_required
def sample_import_template(request: HttpRequest) -> HttpResponse:
    """An example CSV with every column, to fill in."""
    response = HttpResponse(csvimport.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="nanomark-samples.csv"'
    return response


@dataclass
class ImageRow:
    """One image of the sample page with its analyses and the simulations on its defect maps.

    ``current`` is its current analysis (most recent succeeded run), ``latest`` its most
    recent run of any status; ``masks`` pairs each defect mask with the Monte Carlo runs
    on it, ``prediction_runs`` are those on the current run's segmentation and
    ``other_runs`` those on other segmentations.
    """

    image: SEMImage
    current: AnalysisRun | None = None
    latest: AnalysisRun | None = None
    masks: list[tuple[DefectMask, list[MonteCarloRun]]] = field(default_factory=list)
    prediction_runs: list[MonteCarloRun] = field(default_factory=list)
    other_runs: list[MonteCarloRun] = field(default_factory=list)

    @property
    def order_score(self):
        """The current OrderScore row, or None."""
        return getattr(self.current, "order_score", None)

    @property
    def particles(self):
        """The current ParticleStatistics row, or None."""
        return getattr(self.current, "particles", None)

    @property
    def current_models(self) -> list[tuple[str, ModelVersion]]:
        """(role, model version) of the current analysis, for the versions it used."""
        if self.current is None:
            return []
        roles = ("classifier", "segmenter", "embedder")
        versions = [(role, getattr(self.current, role)) for role in roles]
        return [(role, version) for role, version in versions if version is not None]

    @property
    def defect_stats(self) -> list:
        """The current DefectStatistic rows, in :data:`DEFECT_CLASSES` order."""
        if self.current is None:
            return []
        return sorted(self.current.defect_stats.all(), key=lambda stat: channel(stat.defect_class))


class SampleDetailView(LoginRequiredMixin, DetailView):
    """Synthesis, properties, images and their analyses, simulations, xtb and provenance.

    A constant number of queries whatever the number of images and runs.
    """

    template_name = "samples/sample_detail.html"

    def get_queryset(self):
        return (
            Sample.objects.restrict(self.request.user)
            .select_related("lab", "material", "parent")
            .prefetch_related("syntheses__parameters", "properties", "children")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sample = self.object
        monte_carlo_runs = self._monte_carlo_runs(sample)
        rows = self._image_rows(sample, monte_carlo_runs)
        scores = [row.order_score.score for row in rows if row.order_score]
        image_ids = {row.image.pk for row in rows}
        lengths: dict[str, list[float]] = {}
        for row in rows:
            for stat in row.defect_stats:
                if stat.skeleton_length_nm is not None:
                    lengths.setdefault(stat.defect_class, []).append(stat.skeleton_length_nm)
        context.update(
            can_edit=can_write(self.request.user, sample.lab_id),
            image_rows=rows,
            uncalibrated_count=sum(row.image.pixel_size_nm is None for row in rows),
            calibration_form=sample_calibration_form(sample),
            # Runs of the sample on no image of it (none, or another sample's image).
            sample_runs=[run for run in monte_carlo_runs if run.source_image_id not in image_ids],
            monte_carlo_runs=monte_carlo_runs,
            xtb_calculations=self._xtb_calculations(sample, monte_carlo_runs),
            score_plot=order_score_histogram(scores) if scores else "",
            length_plot=skeleton_length_figure(lengths) if lengths else "",
        )
        return context

    def _monte_carlo_runs(self, sample: Sample) -> list[MonteCarloRun]:
        energies = AdsorptionEnergy.objects.select_related(
            "complex_calculation", "cluster_calculation", "surface_calculation"
        )
        return list(
            MonteCarloRun.objects.restrict(self.request.user)
            .filter(Q(sample=sample) | Q(source_image__sample=sample))
            .select_related("source_image")
            .prefetch_related(Prefetch("adsorption_energies", queryset=energies))
            .order_by("-queued_at", "-pk")
        )

    def _image_rows(self, sample: Sample, monte_carlo_runs) -> list[ImageRow]:
        images = SEMImage.objects.filter(sample=sample).prefetch_related(
            Prefetch("order_labels", OrderLabel.objects.current().select_related("annotator")),
            Prefetch("defect_masks", DefectMask.objects.select_related("annotator", "reviewer")),
        )
        rows = {image.pk: ImageRow(image=image) for image in images}
        runs = AnalysisRun.objects.filter(image__sample=sample)
        for run in runs.order_by("-queued_at", "-pk"):
            if rows[run.image_id].latest is None:
                rows[run.image_id].latest = run
        current = (
            current_analysis_runs(runs)
            .select_related("classifier", "segmenter", "embedder", "order_score", "particles")
            .prefetch_related("defect_stats")
        )
        for run in current:
            rows[run.image_id].current = run
        for row in rows.values():
            on_image = [run for run in monte_carlo_runs if run.source_image_id == row.image.pk]
            row.masks = [
                (mask, [run for run in on_image if run.defect_mask_id == mask.pk])
                for mask in row.image.defect_masks.all()
            ]
            current_id = row.current.pk if row.current else None
            row.prediction_runs = [
                run for run in on_image if current_id and run.segmentation_run_id == current_id
            ]
            row.other_runs = [
                run
                for run in on_image
                if run.defect_mask_id is None and run not in row.prediction_runs
            ]
        return list(rows.values())

    def _xtb_calculations(self, sample: Sample, monte_carlo_runs) -> list[XtbCalculation]:
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
            XtbCalculation.objects.restrict(self.request.user)
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
