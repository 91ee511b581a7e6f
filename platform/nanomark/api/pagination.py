"""Pagination of API lists: ``?page=`` and ``?page_size=`` (at most :data:`MAX_PAGE_SIZE`)."""

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

#: The largest page a client may ask for with ``?page_size=``.
MAX_PAGE_SIZE = 500


class PageNumberPagination(pagination.PageNumberPagination):
    """Pages of ``PAGE_SIZE`` rows (settings); ``?page_size=`` up to :data:`MAX_PAGE_SIZE`.

    A ``page_size`` that is not a whole number from 1 is a 400 (DRF would
    quietly serve the default size); a larger one than the maximum is capped.
    An empty ``page_size`` or ``page`` is the default, as from a web form.
    """

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        text = request.query_params.get(self.page_size_query_param, "")
        if text and not (text.isascii() and text.isdigit() and int(text) >= 1):
            raise ValidationError(
                {self.page_size_query_param: f"{text!r} is not a page size (a whole number ≥ 1)."}
            )
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters
