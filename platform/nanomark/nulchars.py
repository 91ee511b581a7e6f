"""Text holding a NUL character (U+0000) is refused with a 400 before it reaches the database.

PostgreSQL cannot store or compare NUL in text or jsonb (psycopg raises
``DataError``), while SQLite takes it, so without these guards the same
request is a 500 on one database and a silent oddity on the other. Django's
and DRF's ``CharField`` (so every django-filter text filter) already refuse
NUL; :class:`JSONParser` refuses any string (key or value) anywhere in a JSON
body, which covers JSON fields and slug fields (a row's lab); the API's lab
field checks a form body's text itself.
"""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

NUL = "\x00"
MESSAGE = "Text may not contain NUL (U+0000) characters."


def holds_nul(value: Any) -> bool:
    """Whether a parsed JSON value (str, list, dict, number, ...) holds NUL in any string."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a body with NUL in any string (400 ``{"detail": ...}``)."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if holds_nul(data):
            raise ParseError(f"JSON parse error - {MESSAGE}")
        return data
