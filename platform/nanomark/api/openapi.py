"""The API schema's error responses, documented once for every operation.

drf-spectacular documents only the success responses a view declares; a
client (and a fuzzer checking the schema) also meets the errors every view
can give. :class:`AutoSchema` adds them where they can happen, unless the
view documents its own (e.g. the exports' plain-text 400):

- 400 where the operation takes a body or query parameters (validation);
- 401 everywhere (a missing or wrong token);
- 403 for writes (lab role, CSRF of a session) on views that check permissions;
- 404 where the path names a row, or a list has ``?page=`` (a page past the end);
- 409 for deletions (a row others still depend on; see ``scoping.Conflict``).

Bodies are documented as JSON where the view keeps DRF's default parsers (see
:meth:`AutoSchema.map_parsers`). Query parameters that may be sent empty are
marked ``allowEmptyValue``: filters and pages, and every parameter of a view
with ``query_blank_is_absent``. A view whose response is a file of rows (the
exports) documents its FilterSet's parameters with ``documents_filters``.
"""

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers
from rest_framework.settings import api_settings

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}

#: A validation error: field name (or ``non_field_errors``, ``detail``) → messages.
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "What was wrong: each bad field (``non_field_errors`` for the whole body) with its "
        "messages, or ``detail``."
    ),
    "additionalProperties": {},
}


class ErrorSerializer(serializers.Serializer):
    """An error that is not about one field: 401, 403, 404, 409 and some 400s."""

    detail = serializers.CharField()


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema of an operation, with the error responses listed above."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if getattr(self.view, "query_blank_is_absent", False):
            _blank_allowed(operation.get("parameters", []))
        responses = operation["responses"]
        for code in self._error_codes(operation):
            if code not in responses:
                responses[code] = self._error_response(code)
        return operation

    def map_parsers(self) -> list[str]:
        """JSON only, unless the view names its parsers (the multipart uploads).

        DRF's default form parsers stay for the browsable API and form posts,
        but forms cannot carry nested rows (a synthesis's parameters), and a
        body that is no form at all reads as an empty one, so the documented
        contract of those views is JSON.
        """
        if self.view.parser_classes == api_settings.DEFAULT_PARSER_CLASSES:
            return ["application/json"]
        return super().map_parsers()

    def get_filter_backends(self) -> list:
        """Also for a view marked ``documents_filters`` whose response is a file of rows."""
        if getattr(self.view, "documents_filters", False):
            return self.view.filter_backends
        return super().get_filter_backends()

    def _get_filter_parameters(self) -> list[dict]:
        return _blank_allowed(super()._get_filter_parameters())

    def _get_pagination_parameters(self) -> list[dict]:
        return _blank_allowed(super()._get_pagination_parameters())

    def _error_codes(self, operation: dict) -> list[str]:
        parameters = operation.get("parameters", [])
        in_query = {p["name"] for p in parameters if p["in"] == "query"}
        codes = ["401"]
        if "requestBody" in operation or in_query:
            codes.append("400")
        if self.method in _WRITES and self.view.get_permissions():
            codes.append("403")
        if any(p["in"] == "path" for p in parameters) or "page" in in_query:
            codes.append("404")
        if self.method == "DELETE":
            codes.append("409")
        return sorted(codes)

    def _error_response(self, code: str) -> dict:
        if code == "400":
            component = ResolvedComponent(
                name="ValidationError",
                type=ResolvedComponent.SCHEMA,
                schema=VALIDATION_ERROR_SCHEMA,
                object="ValidationError",
            )
            self.registry.register_on_missing(component)
            return self._get_response_for_code(component.ref, code)
        return self._get_response_for_code(ErrorSerializer, code)


def _blank_allowed(parameters: list[dict]) -> list[dict]:
    """Mark optional query parameters that may be empty: an empty filter or page is no filter.

    The web pages' filter forms send every field, filled or not; the API reads
    the same FilterSets, so ``?sample=`` means "any sample", not a bad id.
    """
    for parameter in parameters:
        if parameter["in"] == "query" and not parameter.get("required"):
            parameter["allowEmptyValue"] = True
    return parameters
