"""Checks on rendered HTML shared by the page tests: external URLs, and a small element reader
so that a test can look at the cells of a table row or the items of a list, not the whole page.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

# src= or href= attributes that point at another host (absolute or protocol-relative).
_EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?((?:https?:)?//[^"'\s>]+)""", re.IGNORECASE)
# Elements that have no end tag.
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)


def external_urls(html: str) -> list[str]:
    """URLs of other hosts that a page would load or link to (scripts, styles, images, links)."""
    return _EXTERNAL.findall(html)


@dataclass
class Element:
    """One parsed element: its tag, attributes and children (elements and text)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list["Element | str"] = field(default_factory=list)

    def find_all(self, tag: str, class_: str | None = None) -> list["Element"]:
        """Descendants named ``tag`` (with ``class_`` among their classes), in document order."""
        return [
            element
            for element in self.descendants()
            if element.tag == tag
            and (class_ is None or class_ in element.attrs.get("class", "").split())
        ]

    def find(self, tag: str, class_: str | None = None) -> "Element":
        """The first descendant named ``tag`` (with ``class_``); an AssertionError if none."""
        found = self.find_all(tag, class_)
        assert found, f"no <{tag}> with class {class_!r}"
        return found[0]

    def text(self, skip: tuple[str, ...] = ()) -> str:
        """The text as shown: runs of spaces as one, a line per <br>, ``skip`` tags left out."""
        pieces = list(self._text_pieces(skip))
        lines = "".join(pieces).split("\n")
        return "\n".join(line.strip() for line in lines).strip()

    def _text_pieces(self, skip: tuple[str, ...]) -> Iterator[str]:
        for child in self.children:
            if isinstance(child, str):
                yield re.sub(r"\s+", " ", child)
            elif child.tag == "br":
                yield "\n"
            elif child.tag not in skip:
                yield from child._text_pieces(skip)

    def descendants(self) -> Iterator["Element"]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.descendants()


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document")
        self._open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self._open[-1].children.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        # An end tag closes the innermost open element of its name; a stray one is ignored.
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._open[-1].children.append(data)


def parse_html(html: str) -> Element:
    """The page as a tree of :class:`Element` under a ``document`` root."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def table_after(page: Element, heading: str) -> list[list[str]]:
    """Cell texts, row by row (the header row first), of the table under <h2>``heading``.

    An AssertionError if there is no such heading, or no table before the next <h2>.
    """
    elements = iter(page.descendants())
    assert any(e.tag == "h2" and e.text() == heading for e in elements), f"no <h2>{heading}</h2>"
    for element in elements:
        assert element.tag != "h2", f"no table under <h2>{heading}</h2>"
        if element.tag == "table":
            return table_rows(element)
    raise AssertionError(f"no table under <h2>{heading}</h2>")


def table_rows(table: Element) -> list[list[str]]:
    """Cell texts (<th> and <td>), row by row, of ``table``."""
    return [
        [cell.text() for cell in row.children if isinstance(cell, Element)]
        for row in table.find_all("tr")
    ]


def list_items(tree: Element) -> list[tuple[int, Element]]:
    """Each <li> under ``tree`` with its depth (0: not inside another <li>), in document order."""
    items: list[tuple[int, Element]] = []

    def walk(element: Element, depth: int) -> None:
        for child in element.children:
            if isinstance(child, Element):
                if child.tag == "li":
                    items.append((depth, child))
                walk(child, depth + (child.tag == "li"))

    walk(tree, 0)
    return items
