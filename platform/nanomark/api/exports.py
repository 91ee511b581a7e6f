"""API of the exports: the tidy image and sample tables, streamed as CSV, JSON or Parquet.

The same tables and the same view as the web download
(:func:`nanomark.exports.views.export_table`), behind the API's
authentication, so scripts can fetch them with a token.
"""

from django.db.models import QuerySet
from django.http import HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from nanomark.exports.filters import ImageExportFilter, SampleExportFilter
from nanomark.exports.views import export_table
from nanomark.imaging.models import SEMImage
from nanomark.samples.models import Sample


class AnyAccept(BaseContentNegotiation):
    """Serve the view's first renderer whatever the client accepts.

    The body is a file in the format the URL names; only errors are rendered,
    as JSON, and a client asking for ``text/csv`` must still be told what went wrong.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ExportView(APIView):
    """``GET /api/export/<table>.<fmt>``: one tidy row per image or sample of the user's labs.

    The web download's view does the work once DRF has authenticated the
    request (token or session): a bad filter is a 400 in plain text naming it,
    an unknown format a 404.
    """

    content_negotiation_class = AnyAccept
    # An empty filter is no filter, as from the web download's form.
    query_blank_is_absent = True
    table: str
    # For the schema: the table's FilterSet documents the query parameters
    # (the web view applies it), though the response is a file, not a list.
    filter_backends = [DjangoFilterBackend]
    documents_filters = True
    filterset_class: type
    queryset: QuerySet

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/json"): OpenApiTypes.BINARY,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
            (400, "text/plain"): OpenApiTypes.STR,
        },
    )
    def get(self, request, fmt: str) -> HttpResponse:
        """Stream the table in the format named by the URL (csv, json or parquet)."""
        # DRF has set the authenticated user on the underlying Django request.
        return export_table(request._request, table=self.table, fmt=fmt)


class ImageExportView(ExportView):
    """``GET /api/export/images.<fmt>``: one row per image."""

    table = "images"
    filterset_class = ImageExportFilter
    queryset = SEMImage.objects.none()


class SampleExportView(ExportView):
    """``GET /api/export/samples.<fmt>``: one row per sample."""

    table = "samples"
    filterset_class = SampleExportFilter
    queryset = Sample.objects.none()
