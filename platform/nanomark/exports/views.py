"""Export downloads: a tidy table of the user's images or samples, streamed as CSV, JSON, Parquet.

The view only reads the filters (:mod:`nanomark.exports.filters`); building
rows (:mod:`nanomark.exports.rows`) and writing them
(:mod:`nanomark.exports.writers`) happen while the response streams, so an
API view can serve the same tables.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from nanomark.exports.filters import EXPORT_FILTERS, error_text
from nanomark.exports.rows import TABLES
from nanomark.exports.writers import FORMATS


@login_required
@require_GET
def export_table(request: HttpRequest, table: str, fmt: str) -> HttpResponse:
    """Stream ``table`` (images or samples) as ``fmt``; bad filters are a 400 naming the problem.

    Query parameters: those of the table's FilterSet (:mod:`nanomark.exports.filters`):
    ``lab`` (slug), ``material`` (name), ``sample`` (ids, repeated or comma-separated),
    ``date_from`` / ``date_to`` (YYYY-MM-DD, inclusive).
    """
    export_format = FORMATS.get(fmt)
    if export_format is None:
        raise Http404(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    filters = EXPORT_FILTERS[table](request.GET)
    if not filters.is_valid():
        return HttpResponse(
            f"Bad export filter: {error_text(filters)}", status=400, content_type="text/plain"
        )
    rows = TABLES[table](request.user, filters.qs)
    response = StreamingHttpResponse(
        export_format.write(rows), content_type=export_format.content_type
    )
    response["Content-Disposition"] = f'attachment; filename="nanomark-{rows.name}.{fmt}"'
    return response
