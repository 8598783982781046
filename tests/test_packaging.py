"""pyproject.toml: the wheel's dependencies are exactly the pinned requirements files (one source of truth),
its console script runs the CLI, and it carries the core with its shipped assets — not the app."""
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pins(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src")  # a copy: building writes build/ and *.egg-info beside the sources
    for name in ("pyproject.toml", "README.md", "requirements.txt", "requirements-dev.txt", "requirements-ray.txt"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "cnncalc", src / "cnncalc", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out)], capture_output=True, text=True, timeout=300)
    if done.returncode and "No module named 'setuptools'" in done.stderr:
        pytest.skip("setuptools is not installed in this environment")
    assert done.returncode == 0, done.stderr
    return zipfile.ZipFile(next(out.glob("cnncalc-*.whl")))


def read(whl: zipfile.ZipFile, suffix: str) -> str:
    return whl.read(next(n for n in whl.namelist() if n.endswith(suffix))).decode()


def test_dependencies_are_the_pinned_requirements(wheel):
    meta = read(wheel, ".dist-info/METADATA")
    runtime = [m for m in re.findall(r"^Requires-Dist: (.+)$", meta, re.M) if "extra ==" not in m]
    dev = [m.split(";")[0].strip() for m in re.findall(r"^Requires-Dist: (.+)$", meta, re.M) if 'extra == "dev"' in m]
    ray = [m.split(";")[0].strip() for m in re.findall(r"^Requires-Dist: (.+)$", meta, re.M) if 'extra == "ray"' in m]
    assert runtime == pins(ROOT / "requirements.txt")
    assert dev == pins(ROOT / "requirements-dev.txt")
    assert ray == pins(ROOT / "requirements-ray.txt") == ["ray==2.60.0"]  # pip install .[ray]


def test_the_ray_tests_install_the_ray_backends_pin():
    """The README's test command installs requirements-dev.txt, which must carry the backend's own pin."""
    assert set(pins(ROOT / "requirements-ray.txt")) <= set(pins(ROOT / "requirements-dev.txt"))


def test_console_script_and_contents(wheel):
    assert "cnncalc = cnncalc.cli:main" in read(wheel, ".dist-info/entry_points.txt")
    names = wheel.namelist()
    assert "cnncalc/assets/labnet-cifar10.json" in names and "cnncalc/train/engine.py" in names
    assert not any(n.startswith(("ui/", "tests/")) or n == "app.py" for n in names)


def test_the_console_scripts_target_runs_the_cli():
    out = subprocess.run([sys.executable, "-c", "import sys; from cnncalc.cli import main; sys.exit(main(['presets']))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("lab ")
