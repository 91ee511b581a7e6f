"""Upload size limits enforced while the request arrives, not after it has been read.

Two guards keep a web worker's memory and disk flat whatever a client sends:

* :class:`RequestSizeLimitMiddleware` refuses a request whose Content-Length
  exceeds ``NANOMARK_MAX_REQUEST_BYTES`` (413) before any of its body is read;
* :class:`SizeLimitedUploadHandler` streams each uploaded file to a temporary
  file and stops the upload as soon as one file passes
  ``NANOMARK_MAX_UPLOAD_BYTES`` (chunked requests have no Content-Length);
  the middleware then answers 413 with the file's name, whatever the view did.

Small requests (under ``FILE_UPLOAD_MAX_MEMORY_SIZE``) stay in memory as
Django keeps them.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse


def _refusal(request: HttpRequest, message: str) -> HttpResponse:
    if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        return JsonResponse({"detail": message}, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """A temporary-file upload handler that stops at the per-file byte limit."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        limit = settings.NANOMARK_MAX_UPLOAD_BYTES
        if start + len(raw_data) > limit:
            self.request.upload_refusal = (
                f"{self.file_name}: the file exceeds the {limit:,}-byte limit; nothing was stored."
            )
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


class RequestSizeLimitMiddleware:
    """413 for a request too large by its Content-Length, or whose upload was stopped."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.NANOMARK_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return _refusal(
                request,
                f"The request is {length:,} bytes; NanoMark accepts at most {limit:,} per request.",
            )
        response = self.get_response(request)
        refusal = getattr(request, "upload_refusal", None)
        return _refusal(request, refusal) if refusal else response
