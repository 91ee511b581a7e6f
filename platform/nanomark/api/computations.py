"""API of computational records: Monte Carlo deposition runs and xtb calculations (read-only).

Runs are started from the web UI and ``manage.py`` commands; the API lists
them with their provenance and results, and links their files.
"""

from django.urls import reverse
from rest_framework import mixins, serializers

from nanomark.api.scoping import LabScopedViewSet
from nanomark.computations.filters import MonteCarloRunFilter, XtbCalculationFilter
from nanomark.computations.models import MonteCarloRun, XtbCalculation

_RUN_FIELDS = ["status", "attempts", "error", "queued_at", "started_at", "finished_at"]


def _file_link(serializer: serializers.Serializer, name: str, row, present) -> str | None:
    """Absolute URL of ``row``'s lab-scoped file view ``name``; None if ``present`` is empty."""
    if not present:
        return None
    return serializer.context["request"].build_absolute_uri(reverse(name, args=[row.pk]))


class MonteCarloRunSerializer(serializers.ModelSerializer):
    """A deposition run: its defect map's provenance, parameters and summary results."""

    lab = serializers.CharField(source="lab.slug", read_only=True)
    rendered_image_url = serializers.SerializerMethodField()
    final_positions_url = serializers.SerializerMethodField()

    class Meta:
        model = MonteCarloRun
        fields = [
            "id",
            "lab",
            *_RUN_FIELDS,
            "sample",
            "source_image",
            "defect_mask",
            "segmentation_run",
            "parameters",
            "seed",
            "pixel_size_nm",
            "particle_diameter_nm",
            "rate_per_step",
            "rate_r_squared",
            "clark_evans_r",
            "rendered_image_url",
            "final_positions_url",
        ]
        read_only_fields = fields

    def get_rendered_image_url(self, run: MonteCarloRun) -> str | None:
        return _file_link(self, "montecarlo-rendered", run, run.rendered_image)

    def get_final_positions_url(self, run: MonteCarloRun) -> str | None:
        return _file_link(self, "montecarlo-positions", run, run.final_positions)


class MonteCarloRunDetailSerializer(MonteCarloRunSerializer):
    """A run with its kinetics (per-step particle counts) and adsorption energies."""

    class Meta(MonteCarloRunSerializer.Meta):
        fields = [*MonteCarloRunSerializer.Meta.fields, "kinetics", "adsorption_energies"]
        read_only_fields = fields


class MonteCarloRunViewSet(LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Monte Carlo runs of the user's labs, newest first; the detail adds the kinetics."""

    queryset = MonteCarloRun.objects.select_related("lab")
    filterset_class = MonteCarloRunFilter
    ordering_fields = ["queued_at", "finished_at", "rate_per_step", "clark_evans_r"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return MonteCarloRunDetailSerializer
        return MonteCarloRunSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("adsorption_energies")
        return queryset


class XtbCalculationSerializer(serializers.ModelSerializer):
    """An xtb run: what was computed, with which method, and its energies (Eh, eV)."""

    lab = serializers.CharField(source="lab.slug", read_only=True)
    input_xyz_url = serializers.SerializerMethodField()
    optimized_xyz_url = serializers.SerializerMethodField()
    log_url = serializers.SerializerMethodField()

    class Meta:
        model = XtbCalculation
        fields = [
            "id",
            "lab",
            *_RUN_FIELDS,
            "name",
            "task",
            "method",
            "program_version",
            "sample",
            "material",
            "charge",
            "unpaired_electrons",
            "electronic_temperature_k",
            "solvent",
            "energy_eh",
            "gradient_norm_eh_bohr",
            "homo_lumo_gap_ev",
            "wall_time_s",
            "input_xyz_url",
            "optimized_xyz_url",
            "log_url",
        ]
        read_only_fields = fields

    def get_input_xyz_url(self, calculation: XtbCalculation) -> str | None:
        return _file_link(self, "xtb-input", calculation, calculation.input_xyz)

    def get_optimized_xyz_url(self, calculation: XtbCalculation) -> str | None:
        return _file_link(self, "xtb-optimized", calculation, calculation.optimized_xyz)

    def get_log_url(self, calculation: XtbCalculation) -> str | None:
        return _file_link(self, "xtb-log", calculation, calculation.log)


class XtbCalculationDetailSerializer(XtbCalculationSerializer):
    """A calculation with its parameters, structured output, SCC retries and inputs it used."""

    class Meta(XtbCalculationSerializer.Meta):
        fields = [
            *XtbCalculationSerializer.Meta.fields,
            "parameters",
            "output",
            "retries",
            "derived_from",
        ]
        read_only_fields = fields


class XtbCalculationViewSet(LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """xtb calculations of the user's labs, newest first (``?task=``, ``?method=``)."""

    queryset = XtbCalculation.objects.select_related("lab")
    filterset_class = XtbCalculationFilter
    ordering_fields = ["queued_at", "finished_at", "energy_eh"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return XtbCalculationDetailSerializer
        return XtbCalculationSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("derived_from")
        return queryset
