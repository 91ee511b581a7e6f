"""Pagination of API lists: ``?page=`` and ``?page_size=`` (at most :data:`MAX_PAGE_SIZE`)."""

from rest_framework import pagination

#: The largest page a client may ask for with ``?page_size=``.
MAX_PAGE_SIZE = 500


class PageNumberPagination(pagination.PageNumberPagination):
    """Pages of ``PAGE_SIZE`` rows (settings); ``?page_size=`` up to :data:`MAX_PAGE_SIZE`."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
