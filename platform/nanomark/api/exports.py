"""API of the exports: the tidy image and sample tables, streamed as CSV, JSON or Parquet.

The same tables and the same view as the web download
(:func:`nanomark.exports.views.export_table`), behind the API's
authentication, so scripts can fetch them with a token.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from nanomark.exports.views import export_table


class AnyAccept(BaseContentNegotiation):
    """Serve the view's first renderer whatever the client accepts.

    The body is a file in the format the URL names; only errors are rendered,
    as JSON, and a client asking for ``text/csv`` must still be told what went wrong.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


_FILTERS = [
    OpenApiParameter("lab", str, description="lab slug"),
    OpenApiParameter("material", str, description="material name"),
    OpenApiParameter("sample", str, description="sample ids, repeated or comma-separated"),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="first day, inclusive"),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="last day, inclusive"),
]


class ExportView(APIView):
    """``GET /api/export/<table>.<fmt>``: one tidy row per image or sample of the user's labs.

    The web download's view does the work once DRF has authenticated the
    request (token or session): a bad filter is a 400 in plain text naming it,
    an unknown format a 404.
    """

    content_negotiation_class = AnyAccept
    # An empty filter is no filter (ExportFilter.from_query), as from the web download's form.
    query_blank_is_absent = True
    table = "images"

    @extend_schema(
        parameters=_FILTERS,
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
