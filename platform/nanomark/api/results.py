"""API of analysis runs: their status and results (order score, defects, particles); retries."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from nanomark.api.openapi import ErrorSerializer
from nanomark.api.registry import ModelVersionBriefSerializer
from nanomark.api.scoping import Conflict, LabScopedViewSet
from nanomark.results.filters import AnalysisRunFilter
from nanomark.results.models import MODEL_ROLES, AnalysisRun, DefectStatistic, ParticleStatistics
from nanomark.results.services import retry_run


class DefectStatisticSerializer(serializers.ModelSerializer):
    """Segmentation statistics of one defect class (lengths in nm, densities per µm²)."""

    class Meta:
        model = DefectStatistic
        fields = [
            "defect_class",
            "area_fraction",
            "skeleton_length_nm",
            "segment_count",
            "branch_point_count",
            "cluster_count",
            "density_per_um2",
        ]


class ParticleStatisticsSerializer(serializers.ModelSerializer):
    """Detected Pd particles: what found them, count, density, sizes and spatial statistics."""

    detector = serializers.CharField(
        read_only=True, help_text='"LoG", or the name of the particle segmenter version'
    )

    class Meta:
        model = ParticleStatistics
        fields = [
            "detector",
            "count",
            "density_per_um2",
            "mean_diameter_nm",
            "diameter_histogram",
            "mean_nearest_neighbour_nm",
            "clark_evans_r",
            "ripley_l",
        ]


class AnalysisRunSerializer(serializers.ModelSerializer):
    """A run: image, model versions, status and timings, and the numbers it produced."""

    lab = serializers.CharField(source="lab.slug", read_only=True)
    classifier = ModelVersionBriefSerializer(read_only=True, allow_null=True)
    segmenter = ModelVersionBriefSerializer(read_only=True, allow_null=True)
    embedder = ModelVersionBriefSerializer(read_only=True, allow_null=True)
    particle_segmenter = ModelVersionBriefSerializer(read_only=True, allow_null=True)
    order_score = serializers.FloatField(
        source="order_score.score", read_only=True, allow_null=True, default=None
    )
    defect_statistics = DefectStatisticSerializer(source="defect_stats", many=True, read_only=True)
    particles = ParticleStatisticsSerializer(read_only=True, allow_null=True)

    class Meta:
        model = AnalysisRun
        fields = [
            "id",
            "lab",
            "image",
            "classifier",
            "segmenter",
            "embedder",
            "particle_segmenter",
            "status",
            "attempts",
            "error",
            "queued_at",
            "started_at",
            "finished_at",
            "timings_s",
            "batch",
            "indexed_at",
            "order_score",
            "defect_statistics",
            "particles",
        ]
        read_only_fields = fields


def runs_with_results(queryset):
    """``queryset`` of runs with all that :class:`AnalysisRunSerializer` reads, in 2 queries."""
    return queryset.select_related(
        "lab", *MODEL_ROLES, "order_score", "particles"
    ).prefetch_related("defect_stats")


class AnalysisRunViewSet(LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Analysis runs of the user's labs, newest first (``?image=``, ``?status=``, ``?models=``)."""

    queryset = runs_with_results(AnalysisRun.objects.all())
    serializer_class = AnalysisRunSerializer
    filterset_class = AnalysisRunFilter
    ordering_fields = ["queued_at", "finished_at", "status"]

    @extend_schema(request=None, responses={202: AnalysisRunSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None) -> Response:
        """Queue a failed run again with fresh attempts (409 when it has not failed)."""
        run = self.get_object()
        if not retry_run(run):
            raise Conflict(f"Only a failed run can be retried; this one is {run.status}.")
        run = self.get_queryset().get(pk=run.pk)
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)
