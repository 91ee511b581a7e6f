"""Login for file downloads that API clients follow: a session or an API token.

The API's file links (originals, previews, overlays, mask layers, simulation
outputs) point at the lab-scoped web views that stream them. A browser has a
session; a script has its ``Authorization: Token …`` header, which
:func:`login_or_token_required` accepts too. A bad token is a 401, never a
redirect to the login page; the views stay lab-scoped either way.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def login_or_token_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like ``login_required``, but an API token in the Authorization header also logs in."""
    with_login = login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if not request.user.is_authenticated and header.split(" ", 1)[0] == "Token":
            try:
                found = TokenAuthentication().authenticate(request)
            except AuthenticationFailed as error:
                return JsonResponse({"detail": str(error.detail)}, status=401)
            if found is not None:
                request.user = found[0]
        return with_login(request, *args, **kwargs)

    return wrapper
