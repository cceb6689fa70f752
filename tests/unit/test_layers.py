"""The layer rules of DESIGN.md, enforced: core and services never load a Qt binding, core loads
nothing but the standard library and Pillow, platform stays below the widgets.

Each module is imported in a fresh interpreter and everything that import loaded is inspected,
so an import two modules deep counts; the source is also scanned, so an import hidden inside a
function counts too. The last tests run the same checks on a scratch copy of the package with
a leak planted in it, which proves the checks fail when the rules are broken.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("core", "services", "platform")

QT_BINDINGS = ("PySide6", "shiboken6", "PySide2", "shiboken2", "PyQt5", "PyQt6", "sip")
#: Qt modules platform code may use (DESIGN.md: QtCore/QtGui/QtDBus, never QtWidgets).
PLATFORM_QT = {"QtCore", "QtGui", "QtDBus"}
ABOVE = {
    "core": ("services", "platform", "gui", "app", "cli"),
    "services": ("platform", "gui", "app", "cli"),
    "platform": ("gui", "app", "cli"),
}
#: Third-party top-level packages core may load (besides the standard library).
CORE_THIRD_PARTY = {"PIL", "desktop_vlm"}

_CHILD = """
import importlib, json, sys
before = set(sys.modules)
try:
    module = importlib.import_module(sys.argv[1])
except BaseException as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
else:
    print(json.dumps({"file": module.__file__, "loaded": sorted(set(sys.modules) - before)}))
"""


def modules_of(root: Path, layer: str) -> list[str]:
    package = root / "desktop_vlm" / layer
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _starts(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(layer: str, names: list[str]) -> list[str]:
    """The names among ``names`` (modules loaded or imported) that ``layer`` must not use."""
    found = []
    for name in names:
        top = name.split(".")[0]
        if any(_starts(name, f"desktop_vlm.{above}") for above in ABOVE[layer]):
            found.append(name)
        elif layer == "platform":
            if top in ("PySide6", "shiboken6"):
                sub = name.split(".")[1] if "." in name else ""
                if sub.startswith("Qt") and sub not in PLATFORM_QT:
                    found.append(name)
            elif top in QT_BINDINGS:
                found.append(name)
        elif top in QT_BINDINGS:
            found.append(name)
        elif layer == "core" and top not in sys.stdlib_module_names | CORE_THIRD_PARTY:
            found.append(name)  # requests, keyring, platformdirs, ... : core is stdlib + Pillow
    return sorted(found)


def import_fresh(root: Path, modules: list[str]) -> dict[str, dict]:
    """Import each module in its own new interpreter run from ``root``; report what loaded."""

    def run(name: str) -> tuple[str, dict]:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, name],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode or not lines:
            return name, {"error": f"exit {proc.returncode}: {proc.stderr[-2000:]}"}
        return name, json.loads(lines[-1])

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, modules))


def static_imports(path: Path, module: str) -> list[str]:
    """Every module name an import statement in ``path`` names, wherever the statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.append(base)
            # ``from PySide6 import QtWidgets`` imports the submodule PySide6.QtWidgets
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
    return names


@cache
def _real_results() -> dict[str, dict]:
    return import_fresh(ROOT, [m for layer in LAYERS for m in modules_of(ROOT, layer)])


CASES = [(layer, module) for layer in LAYERS for module in modules_of(ROOT, layer)]


@pytest.mark.parametrize(("layer", "module"), CASES, ids=[m for _, m in CASES])
def test_module_loads_nothing_its_layer_forbids(layer: str, module: str) -> None:
    # GIVEN a fresh interpreter
    # WHEN it imports the module (and so everything the module imports, transitively)
    result = _real_results()[module]
    assert "error" not in result, f"{module} cannot be imported: {result.get('error')}"
    # (the module really came from this work tree, not some other installed copy)
    assert Path(result["file"]).resolve().is_relative_to(ROOT)
    # THEN nothing forbidden for its layer was loaded
    assert violations(layer, result["loaded"]) == [], f"{module} ({layer}) loads forbidden modules"


@pytest.mark.parametrize(("layer", "module"), CASES, ids=[m for _, m in CASES])
def test_module_source_imports_nothing_its_layer_forbids(layer: str, module: str) -> None:
    # Catches imports a plain import of the module does not run: inside functions, or under
    # ``if TYPE_CHECKING``.
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    assert violations(layer, static_imports(path, module)) == []


def test_the_check_sees_real_imports() -> None:
    # A check that reports nothing because nothing was recorded would pass vacuously.
    results = _real_results()
    assert "PIL.Image" in results["desktop_vlm.core.imageprep"]["loaded"]
    assert "desktop_vlm.core.errors" in results["desktop_vlm.core.imageprep"]["loaded"]
    assert "requests" in results["desktop_vlm.services.client"]["loaded"]
    assert any(m.startswith("PySide6.QtCore") for r in results.values() for m in r["loaded"])
    assert len(modules_of(ROOT, "core")) >= 9


# --- proof that the checks fail when a rule is broken -----------------------------------------


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the package to plant leaks in (the work tree is never touched)."""
    shutil.copytree(
        ROOT / "desktop_vlm",
        tmp_path / "desktop_vlm",
        ignore=shutil.ignore_patterns("__pycache__", "resources"),
    )
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")


def test_a_qt_import_two_modules_deep_in_core_is_caught(scratch: Path) -> None:
    # GIVEN core/presets.py importing a (new) services module that imports PySide6.QtCore;
    # core/config.py imports presets, so config loads Qt two steps away
    (scratch / "desktop_vlm/services/qt_helper.py").write_text("from PySide6 import QtCore\n")
    _append(scratch / "desktop_vlm/core/presets.py", "from desktop_vlm.services import qt_helper")
    # WHEN the fresh-import check runs on the copy
    results = import_fresh(scratch, ["desktop_vlm.core.config", "desktop_vlm.core.sse"])
    # THEN config is reported, with the Qt modules and the layer breach, and sse is not
    assert Path(results["desktop_vlm.core.config"]["file"]).is_relative_to(scratch)
    caught = violations("core", results["desktop_vlm.core.config"]["loaded"])
    assert "PySide6.QtCore" in caught and "shiboken6" in caught
    assert "desktop_vlm.services.qt_helper" in caught
    assert violations("core", results["desktop_vlm.core.sse"]["loaded"]) == []


def test_a_third_party_import_in_core_is_caught(scratch: Path) -> None:
    _append(scratch / "desktop_vlm/core/pricing.py", "import platformdirs")
    result = import_fresh(scratch, ["desktop_vlm.core.pricing"])["desktop_vlm.core.pricing"]
    assert violations("core", result["loaded"]) == ["platformdirs"] + [
        m for m in result["loaded"] if m.startswith("platformdirs.")
    ]


def test_qt_widgets_in_platform_is_caught_but_qtgui_is_not(scratch: Path) -> None:
    _append(scratch / "desktop_vlm/platform/sysinfo.py", "import PySide6.QtGui")
    allowed = import_fresh(scratch, ["desktop_vlm.platform.sysinfo"])
    assert violations("platform", allowed["desktop_vlm.platform.sysinfo"]["loaded"]) == []
    _append(scratch / "desktop_vlm/platform/sysinfo.py", "from PySide6 import QtWidgets")
    leaked = import_fresh(scratch, ["desktop_vlm.platform.sysinfo"])
    assert "PySide6.QtWidgets" in violations(
        "platform", leaked["desktop_vlm.platform.sysinfo"]["loaded"]
    )


def test_an_import_hidden_in_a_function_is_caught_by_the_source_scan(scratch: Path) -> None:
    path = scratch / "desktop_vlm/core/sse.py"
    _append(path, "def _later():\n    from PySide6 import QtWidgets\n    import requests")
    # the fresh import does not see it (the function never runs) ...
    result = import_fresh(scratch, ["desktop_vlm.core.sse"])["desktop_vlm.core.sse"]
    assert violations("core", result["loaded"]) == []
    # ... the source scan does
    found = violations("core", static_imports(path, "desktop_vlm.core.sse"))
    assert found == ["PySide6", "PySide6.QtWidgets", "requests"]


def test_relative_imports_are_resolved_by_the_source_scan(scratch: Path) -> None:
    path = scratch / "desktop_vlm/services/client.py"
    _append(path, "from ..gui import overlay\nfrom . import settings")
    names = static_imports(path, "desktop_vlm.services.client")
    assert "desktop_vlm.gui.overlay" in names and "desktop_vlm.services.settings" in names
    assert violations("services", names) == ["desktop_vlm.gui", "desktop_vlm.gui.overlay"]


def test_signal_emit_keeps_bool_refcounts():
    """PySide6 6.12.0 dropped a reference to True on every Signal.emit() from Python; the app
    emits once per streamed token, so after about a thousand tokens True was deallocated and
    the process aborted. pyproject.toml excludes that release; this fails on any that does it."""
    import sys

    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        plain = Signal()
        text = Signal(str)

    emitter = Emitter()
    received: list[str] = []
    emitter.text.connect(received.append)
    before_true, before_false = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(200):
        emitter.plain.emit()
        emitter.text.emit("token")
    assert len(received) == 200
    assert sys.getrefcount(True) >= before_true - 5
    assert sys.getrefcount(False) >= before_false - 5


#: No module of the package is longer than this (issue 9: small rooms are what make the next
#: change easy; a module that grows past it is split by what its parts do).
MAX_MODULE_LINES = 450


def test_no_module_is_over_450_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): count
        for path in sorted((ROOT / "desktop_vlm").rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them): {long}"
