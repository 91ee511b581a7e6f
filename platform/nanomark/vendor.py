"""Serving plotly.js from the installed plotly package, so pages work on offline lab servers."""

from pathlib import Path

import plotly
from django.http import FileResponse, HttpRequest
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@require_GET
@cache_control(public=True, max_age=30 * 24 * 3600, immutable=True)
def plotly_js(request: HttpRequest) -> FileResponse:
    """plotly.min.js; its URL carries plotly's version, so it may be cached for long."""
    return FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript")
