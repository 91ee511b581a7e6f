"""The repository layout rules that keep the standard library and the libraries intact."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("analysis", "simulation", "ml")


def test_platform_folder_is_not_a_package():
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_import_platform_returns_the_standard_library_module():
    code = "import platform, sys; print(platform.__file__); print(platform.python_version())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert Path(out[0]).parent != ROOT / "platform"
    assert out[1] == ".".join(map(str, sys.version_info[:3]))


def _library_files():
    return sorted(p for lib in LIBRARIES for p in (ROOT / lib).rglob("*.py"))


@pytest.mark.parametrize("path", _library_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_libraries_do_not_import_django(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        assert not any(n == "django" or n.startswith(("django.", "nanomark")) for n in names), (
            f"{path.relative_to(ROOT)} imports {names}"
        )


def test_importing_the_libraries_loads_no_django():
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in _library_files()
        if p.name != "__main__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
