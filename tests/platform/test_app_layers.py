"""The Django apps import only downwards: accounts < samples < … < api < demo.

An app may import the apps listed before it and the project-wide modules
(``nanomark.runs``, ``nanomark.pagesections``, …), never one listed after it:
an upper app adds to a lower one through signals (``imaging/signals.py``,
``results/signals.py``) and page sections and contexts
(``nanomark.pagesections``). The project's URLconf and settings are above
every app.
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
    found = _upward_imports()
    assert not found, f"imports against the app order: {sorted(found)}"


def test_every_app_has_a_layer():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(LAYER)
