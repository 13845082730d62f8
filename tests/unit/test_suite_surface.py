"""The seam between the engine and the vendors (as httpx guards its public surface in test_exported_members.py):
suites and strategies import the engine only through `authcanary.suite`, never a conftest.py, and that module
exports exactly its `__all__`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import authcanary.suite as suite

ROOT = Path(__file__).resolve().parents[2]
VENDOR_CODE = sorted([*(ROOT / "suites").rglob("*.py"), *(ROOT / "strategies").rglob("*.py")])


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in `path`, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def test_the_public_surface_exports_exactly_its_all():
    public = {
        name for name in vars(suite) if name.isidentifier() and not name.startswith("_") and name != "annotations"
    }
    assert public == set(suite.__all__), "authcanary.suite exports something not in __all__ (or the reverse)"
    assert len(suite.__all__) == len(set(suite.__all__))


@pytest.mark.parametrize("path", VENDOR_CODE, ids=lambda path: str(path.relative_to(ROOT)))
def test_vendor_code_imports_the_engine_only_through_the_public_surface(path):
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] == "authcanary" and not module.startswith("authcanary.suite")
    ]
    assert not wrong, "import these from authcanary.suite (add them there if a suite really needs them):\n" + "\n".join(
        wrong
    )


@pytest.mark.parametrize("path", VENDOR_CODE, ids=lambda path: str(path.relative_to(ROOT)))
def test_vendor_code_never_imports_a_conftest(path):
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[-1] == "conftest"
    ]
    assert not wrong, "conftest.py holds fixtures only; put helpers in a module of the suite:\n" + "\n".join(wrong)


def test_the_surface_guard_can_fail():
    """The import scan is not vacuous: an engine import and a conftest import are both seen."""
    module = ROOT / "suites" / "_surface_probe.py"
    try:
        module.write_text("from authcanary.plugin import Expect\nfrom .autodesk import conftest\n", encoding="utf-8")
        modules = [name for _, name in _imports(module)]
    finally:
        module.unlink()
    assert "authcanary.plugin" in modules and "suites.autodesk.conftest" in modules, modules
