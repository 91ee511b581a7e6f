"""The API's answer to a URL that names nothing: a JSON 404 like every other API error.

Without it, a path the router does not match (an id such as ``1.5``, which
the router's ``[^/.]+`` refuses) falls through to Django's HTML 404 page.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt


# It changes nothing, and a write to a bad URL must be a JSON 404, not the CSRF page's 403.
@csrf_exempt
def api_not_found(request: HttpRequest, path: str) -> JsonResponse:
    """404 with ``{"detail": ...}`` for any unmatched URL under ``/api/`` that ends in a slash."""
    return JsonResponse({"detail": "Not found."}, status=404)
