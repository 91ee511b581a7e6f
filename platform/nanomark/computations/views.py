"""Pages of computational records, restricted to the user's labs."""

import io

import numpy as np
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import DetailView, ListView

from nanomark.accounts.fileaccess import login_or_token_required
from nanomark.computations.figures import kinetics_figure, md_figure, overlay_figure, scan_figure
from nanomark.computations.models import AdsorptionEnergy, MonteCarloRun, XtbCalculation
from nanomark.runs import RunStatus

_CONTENT_TYPES = {"rendered_image": "image/png", "final_positions": "text/csv"}


class MonteCarloRunDetailView(LoginRequiredMixin, DetailView):
    template_name = "computations/montecarlo_detail.html"
    context_object_name = "run"

    def get_queryset(self):
        return MonteCarloRun.objects.restrict(self.request.user).select_related(
            "sample", "source_image", "defect_mask"
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = self.object
        if run.status == RunStatus.SUCCEEDED:
            context["kinetics_plot"] = kinetics_figure(run)
            if run.source_image and run.final_positions:
                with run.final_positions.open("rb") as handle:
                    table = np.genfromtxt(io.BytesIO(handle.read()), delimiter=",", skip_header=1)
                context["overlay_plot"] = overlay_figure(
                    run,
                    reverse("image-preview", args=[run.source_image_id]),
                    table[:, :2],
                    table[:, 2].astype(int),
                )
        return context


@login_or_token_required
def monte_carlo_file(request: HttpRequest, pk: int, field: str) -> FileResponse:
    """Stream a run's rendered image or positions table; another lab's run is a 404."""
    run = get_object_or_404(MonteCarloRun.objects.restrict(request.user), pk=pk)
    stored = getattr(run, field)
    if not stored:
        raise Http404("This run has no such file yet.")
    return FileResponse(stored.open("rb"), content_type=_CONTENT_TYPES[field])


class XtbOverviewView(LoginRequiredMixin, ListView):
    """Adsorption energies by site and the lab's xtb calculations."""

    template_name = "computations/xtb_list.html"
    context_object_name = "calculations"
    paginate_by = 50

    def get_queryset(self):
        return XtbCalculation.objects.restrict(self.request.user).select_related("lab")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["energies"] = (
            AdsorptionEnergy.objects.restrict(self.request.user)
            .select_related("complex_calculation", "material")
            .order_by("complex_calculation__name", "site")
        )
        return context


class XtbCalculationDetailView(LoginRequiredMixin, DetailView):
    template_name = "computations/xtb_detail.html"
    context_object_name = "calc"

    def get_queryset(self):
        return XtbCalculation.objects.restrict(self.request.user).select_related(
            "sample", "material"
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        output = self.object.output
        if output.get("scan_profile"):
            context["scan_plot"] = scan_figure(self.object)
        if output.get("md", {}).get("edge_distance_a"):
            context["md_plot"] = md_figure(self.object)
        return context


@login_or_token_required
def xtb_file(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Input or optimised geometry as .xyz, or the program's log; another lab's is a 404."""
    calc = get_object_or_404(XtbCalculation.objects.restrict(request.user), pk=pk)
    if kind == "log":
        if not calc.log:
            raise Http404("This calculation has no log yet.")
        return FileResponse(calc.log.open("rb"), content_type="text/plain; charset=utf-8")
    text = calc.input_xyz if kind == "input" else calc.optimized_xyz
    if not text:
        raise Http404("This calculation has no such geometry.")
    response = HttpResponse(text, content_type="chemical/x-xyz")
    response["Content-Disposition"] = f'attachment; filename="xtb-{calc.pk}-{kind}.xyz"'
    return response
