"""Checks on rendered HTML shared by the page tests."""

import re

# src= or href= attributes that point at another host (absolute or protocol-relative).
_EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?((?:https?:)?//[^"'\s>]+)""", re.IGNORECASE)


def external_urls(html: str) -> list[str]:
    """URLs of other hosts that a page would load or link to (scripts, styles, images, links)."""
    return _EXTERNAL.findall(html)
