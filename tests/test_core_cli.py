"""``python -m cnncalc analyze``: the table, --json, and the exit codes (0 ok, 2 unreadable spec, 3 invalid
settings)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnncalc import LayerReport

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnncalc", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_preset_table():
    out = cli("analyze", "--preset", "lab")
    assert out.returncode == 0, out.stderr
    assert "1,191,170" in out.stdout                        # 2,432 + 51,264 + 102,464 + 1,025,000 + 10,010
    for name, params in (("conv1", "2,432"), ("conv2", "51,264"), ("conv3", "102,464"), ("fc4", "1,025,000"),
                         ("fc5", "10,010")):
        line = next(l for l in out.stdout.splitlines() if l.startswith(name + " "))
        assert params in line.split(), line
    total = next(l for l in out.stdout.splitlines() if l.startswith("total"))
    assert "1,191,170" in total.split()


def test_json():
    out = cli("analyze", "--preset", "lab", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["totals"]["params"] == 1191170
    assert data["input_shape"] == [3, 32, 32] and data["output_shape"] == [10] and data["ok"] is True
    fields = {f.name for f in dataclasses.fields(LayerReport)} - {"layer"}
    for layer in data["layers"]:
        assert set(layer) == fields | {"kind"}, set(layer) ^ (fields | {"kind"})
    conv1 = data["layers"][0]
    assert (conv1["name"], conv1["out_shape"], conv1["params"], conv1["rf"]) == ("conv1", [32, 32, 32], 2432, [5, 5])
    assert sum(l["params"] for l in data["layers"]) == 1191170


def test_json_spec_and_input():
    out = cli("analyze", "conv 8 k=3 s=2", "--input", "3x32x32", "--json")
    assert out.returncode == 0                              # a warning is not a failure
    layer = json.loads(out.stdout)["layers"][0]
    # ⌊(32 − 3)/2⌋ + 1 = 15, row 31 unread → warning, fix p=1
    assert (layer["out_shape"], layer["status"], layer["fix"]) == ([8, 15, 15], "warning", "conv 8 k=3 s=2 p=1")


@pytest.mark.parametrize("spec, token", [
    ("conv 8 k=3 q=2", "q=2"),
    ("conv 32 k=5; wobble; fc 10", "wobble"),
    ("conv 8 p=1:2:3", "1:2:3"),
])
def test_bad_spec_exits_2_naming_the_token(spec, token):
    out = cli("analyze", spec)
    assert out.returncode == 2
    assert token in out.stderr and out.stderr.startswith("error:")
    assert "Traceback" not in out.stderr


def test_bad_input_shape_and_preset_exit_2():
    assert cli("analyze", "relu", "--input", "3x0x4").returncode == 2
    out = cli("analyze", "--preset", "nope")
    assert out.returncode == 2 and "nope" in out.stderr


def test_invalid_settings_exit_3_with_the_fix():
    # ⌊(4 − 7)/1⌋ + 1 = −2 ≤ 0; padding 2 gives ⌊(4 + 4 − 7)/1⌋ + 1 = 2
    out = cli("analyze", "conv 8 k=7; relu", "--input", "3x4x4")
    assert out.returncode == 3
    assert "conv1: error" in out.stdout and "conv 8 k=7 p=2" in out.stdout
    out = cli("analyze", "conv 8 k=7; relu", "--input", "3x4x4", "--json")
    assert out.returncode == 3
    data = json.loads(out.stdout)
    assert data["ok"] is False and data["layers"][0]["fix"] == "conv 8 k=7 p=2"


GOLDEN = ROOT / "tests" / "golden"


@pytest.mark.parametrize("preset", ["lab", "vgg16"])
def test_analyze_output_matches_the_checked_in_file(preset):
    """The whole table as torchinfo's tests do it: a formatting change is a visible diff of
    tests/golden/analyze-<preset>.txt (rewrite it with CNNCALC_UPDATE_GOLDEN=1 after checking the change)."""
    import os
    out = cli("analyze", "--preset", preset)
    assert out.returncode == 0, out.stderr
    golden = GOLDEN / f"analyze-{preset}.txt"
    if os.environ.get("CNNCALC_UPDATE_GOLDEN"):
        golden.write_text(out.stdout)
    assert out.stdout == golden.read_text()


# --- over-long and junk specs: a message, never a traceback (issue #10) -----------------------------------

@pytest.mark.parametrize("spec, phrase", [
    ("relu; " * 12_000, "the spec is 72,000 characters long, more than the limit of 65,536 characters"),
    ("dropout p=" + "1" * 16_000 + "!", "at most 100 characters"),
    ("\x01\x02 ;;; ==", "unknown layer '\\x01\\x02'"),
    ("conv 8 k=3 " + "p=1 " * 5_000, "'p' is given twice"),
    ("=", "unknown layer '='"),
])
def test_over_long_or_junk_spec_exits_2(spec, phrase):
    out = cli("analyze", spec)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("error:") and phrase in out.stderr, out.stderr
    assert len(out.stderr) < 1000                                        # the message does not echo the text


def test_the_spec_limit_is_the_teachers():
    import os
    env = {**os.environ, "CNNCALC_SPEC_CHARS": "10"}
    out = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", "conv 8 k=3; relu"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "more than the limit of 10 characters" in out.stderr
    assert "CNNCALC_SPEC_CHARS" in out.stderr and "classroom.toml" in out.stderr


@pytest.mark.parametrize("shape", ["9" * 3000, "3x" * 1000 + "3", "3x32x32x"])
def test_junk_input_shape_exits_2(shape):
    out = cli("analyze", "relu", "--input", shape)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "input shape" in out.stderr
    assert len(out.stderr) < 500
