"""The import rules of docs/ARCHITECTURE.md, checked on the source: ui → cnncalc, never back; the core never
imports streamlit; ``import cnncalc`` loads no torch; the core names no page, title or session key; page
scripts stay thin and no function grows past 70 lines."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = sorted((ROOT / "cnncalc").rglob("*.py"))
UI = sorted((ROOT / "ui").rglob("*.py")) + [ROOT / "app.py"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_neither_streamlit_nor_the_ui(path):
    bad = {m for m in imported_modules(path) if m.split(".")[0] in ("streamlit", "ui")}
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_core_names_no_page_or_session_key():
    for path in CORE:
        text = path.read_text()
        assert "ui/pages" not in text and "app_pages" not in text and "session_state" not in text, path


def test_import_cnncalc_loads_no_torch():
    code = "import sys, cnncalc, cnncalc.cli; cnncalc.analyze('conv 8 k=3; fc 10', '3x8x8'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_ray_is_imported_by_the_ray_backend_only():
    """Ray is optional (requirements-ray.txt): the app, the CLI and the embedded worker run without it."""
    users = [str(p.relative_to(ROOT)) for p in CORE + UI if any(m.split(".")[0] == "ray" for m in imported_modules(p))]
    assert users == ["cnncalc/train/ray_backend.py"]
    code = ("import sys, cnncalc.cli, cnncalc.train.worker, cnncalc.train.store, cnncalc.server.limits; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_page_scripts_are_thin_and_registered():
    from ui.nav import PAGES
    scripts = sorted((ROOT / "ui" / "pages").glob("*.py"))
    assert sorted(p.script for p in PAGES) == sorted(str(s.relative_to(ROOT)) for s in scripts)
    for script in scripts:
        assert len(script.read_text().splitlines()) <= 150, f"{script.name} is longer than 150 lines"


def test_no_function_is_longer_than_70_lines():
    long = []
    for path in CORE + UI + sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 70:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long, long


def test_readme_lists_the_registered_pages():
    from ui.nav import PAGES
    readme = (ROOT / "README.md").read_text()
    listed = next(line for line in readme.split("## Pages", 1)[1].splitlines() if line.strip())
    assert listed.strip() == " · ".join(p.title for p in PAGES)
