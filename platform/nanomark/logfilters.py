"""Logging filters of the project's LOGGING setting."""

import logging


class RefusalsInOneLine(logging.Filter):
    """Log a refused request (4xx, e.g. a viewer's 403) as one line, without its traceback.

    Django attaches the PermissionDenied traceback to ``django.request``'s
    warning; a refusal is expected behaviour, and its stack says nothing.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
