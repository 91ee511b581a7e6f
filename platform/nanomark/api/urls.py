"""API routes under ``/api/``: the resources, search, exports, tokens, schema and Swagger UI."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from nanomark.api.calibration import CalibrationChangeViewSet
from nanomark.api.computations import MonteCarloRunViewSet, XtbCalculationViewSet
from nanomark.api.exports import ImageExportView, SampleExportView
from nanomark.api.images import SEMImageViewSet
from nanomark.api.labels import OrderLabelViewSet
from nanomark.api.labs import LabViewSet
from nanomark.api.masks import DefectMaskViewSet
from nanomark.api.notfound import api_not_found
from nanomark.api.particlelabels import ParticleAnnotationViewSet
from nanomark.api.registry import ModelVersionViewSet
from nanomark.api.results import AnalysisRunViewSet
from nanomark.api.samples import (
    MaterialViewSet,
    PropertyMeasurementViewSet,
    SampleViewSet,
    SynthesisViewSet,
)
from nanomark.api.search import SearchView

router = DefaultRouter()
router.register("labs", LabViewSet, basename="api-lab")
router.register("materials", MaterialViewSet, basename="api-material")
router.register("samples", SampleViewSet, basename="api-sample")
router.register("syntheses", SynthesisViewSet, basename="api-synthesis")
router.register("properties", PropertyMeasurementViewSet, basename="api-property")
router.register("images", SEMImageViewSet, basename="api-image")
router.register("calibration-changes", CalibrationChangeViewSet, basename="api-calibration-change")
router.register("order-labels", OrderLabelViewSet, basename="api-order-label")
router.register("defect-masks", DefectMaskViewSet, basename="api-defect-mask")
router.register(
    "particle-annotations", ParticleAnnotationViewSet, basename="api-particle-annotation"
)
router.register("analysis-runs", AnalysisRunViewSet, basename="api-analysis-run")
router.register("models", ModelVersionViewSet, basename="api-model-version")
router.register("monte-carlo-runs", MonteCarloRunViewSet, basename="api-monte-carlo-run")
router.register("xtb-calculations", XtbCalculationViewSet, basename="api-xtb-calculation")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("search/", SearchView.as_view(), name="api-search"),
    path("export/images.<str:fmt>", ImageExportView.as_view(), name="api-export-images"),
    path("export/samples.<str:fmt>", SampleExportView.as_view(), name="api-export-samples"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
    # Last, and only for paths ending in "/": one without it still gets APPEND_SLASH's redirect.
    re_path(r"^(?P<path>.*/)$", api_not_found, name="api-not-found"),
]
