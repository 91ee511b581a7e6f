"""What apps add to another app's page, so the page's app imports none of them.

A page of a lower app (the model page of the registry, say) shows what
apps above it know about its object (the results app's activation and
re-analysis progress) without importing them: the upper app registers in
its ``AppConfig.ready()`` and the page takes whatever is registered for it.

* a **section** (:func:`add_section`) is a template rendered on its own with
  its context, placed where the page renders its sections, in ``order``;
* a **context** (:func:`add_context`) adds variables to the page's own
  context, for a page whose template weaves the upper app's data into its
  own (the image viewer's overlays and the analysis panel it includes).
"""

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

#: A section: the template and its context for (request, object), or None to show nothing.
SectionContext = Callable[[HttpRequest, Any], dict | None]

_SECTIONS: dict[str, list[tuple[int, str, SectionContext]]] = defaultdict(list)
_CONTEXTS: dict[str, dict[str, SectionContext]] = defaultdict(dict)


def add_section(page: str, template: str, context: SectionContext, order: int = 100) -> None:
    """Show ``template`` with ``context(request, obj)`` on ``page`` (a page's name)."""
    if any(existing == template for _, existing, _ in _SECTIONS[page]):
        return  # ready() may run twice (tests, management commands)
    _SECTIONS[page].append((order, template, context))
    _SECTIONS[page].sort(key=lambda section: section[0])


def render_sections(page: str, request: HttpRequest, obj: Any) -> list[SafeString]:
    """The HTML of ``page``'s sections about ``obj``, in order; those with no context left out."""
    rendered = []
    for _, template, context in _SECTIONS[page]:
        values = context(request, obj)
        if values is not None:
            rendered.append(render_to_string(template, values, request=request))
    return rendered


def add_context(page: str, name: str, context: SectionContext) -> None:
    """Merge ``context(request, obj)`` into ``page``'s context, once per ``name``."""
    _CONTEXTS[page][name] = context


def page_context(page: str, request: HttpRequest, obj: Any) -> dict:
    """The variables every registered context adds to ``page`` about ``obj``."""
    merged: dict = {}
    for context in _CONTEXTS[page].values():
        merged.update(context(request, obj) or {})
    return merged
