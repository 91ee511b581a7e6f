"""The Django apps import only downwards: accounts < samples < … < api < demo.

An app may import the apps listed before it and the project-wide modules
(``nanomark.runs``, ``nanomark.pagesections``, …), never one listed after it:
an upper app adds to a lower one through signals (``imaging/signals.py``,
``results/signals.py``) and page sections (``nanomark.pagesections``).
``KNOWN`` lists the imports against the order that remain, each to be
removed (issue 18); the test fails on any other, and on a listed one that is
gone, so the list only shrinks.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "platform" / "nanomark"

#: Layers, lowest first; apps in one layer may not import each other.
LAYERS = [
    {"accounts"},
    {"workers"},
    {"samples"},
    {"imaging"},
    {"registry"},
    {"results"},
    {"search", "exports", "computations"},
    {"api"},
    {"demo"},
]
LAYER = {app: level for level, apps in enumerate(LAYERS) for app in apps}

#: (module, imported app) pairs still against the order.
KNOWN = {
    ("nanomark/imaging/views.py", "results"),
    ("nanomark/samples/filters.py", "results"),
    ("nanomark/samples/views.py", "computations"),
    ("nanomark/samples/views.py", "imaging"),
    ("nanomark/samples/views.py", "registry"),
    ("nanomark/samples/views.py", "results"),
}


def _upward_imports() -> set[tuple[str, str]]:
    found = set()
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        app = parts[0]
        if app not in LAYER or "migrations" in parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts_of_name = name.split(".")
                if parts_of_name[0] != "nanomark" or len(parts_of_name) < 2:
                    continue
                other = parts_of_name[1]
                if other in LAYER and other != app and LAYER[other] >= LAYER[app]:
                    found.add((str(path.relative_to(ROOT.parent)), other))
    return found


def test_apps_import_only_the_apps_below_them():
    new = _upward_imports() - KNOWN
    assert not new, f"imports against the app order: {sorted(new)}"


def test_the_list_of_known_upward_imports_only_shrinks():
    gone = KNOWN - _upward_imports()
    assert not gone, f"no longer imported, remove from KNOWN: {sorted(gone)}"


def test_every_app_has_a_layer():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(LAYER)
