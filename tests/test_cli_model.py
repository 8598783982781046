"""``python -m cnncalc analyze --model NAME``: any torchvision classification model through from_module, and
PyTorch text given as the SPEC."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnncalc.cli import main

torchvision = pytest.importorskip("torchvision")
ROOT = Path(__file__).resolve().parent.parent


def test_resnet18_params_equal_torchvision(capsys):
    import torch
    with torch.device("meta"):
        model = torchvision.models.get_model("resnet18")
    want = sum(p.numel() for p in model.parameters())
    assert want == 11_689_512
    assert main(["analyze", "--model", "resnet18", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == want and data["input_shape"] == [3, 224, 224]
    assert data["output_shape"] == [1000]


def test_table_through_the_real_entry_point():
    out = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", "--model", "vgg16", "-i", "3x224x224"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    total = next(line for line in out.stdout.splitlines() if line.startswith("total"))
    assert "138,357,544" in total.split()


@pytest.mark.parametrize("argv, message", [
    (["--model", "resnet19"], "close names: resnet18"),
    (["--model", "x" * 10_000], "unknown model"),
    (["--model", "resnet18", "--preset", "lab"], "one of SPEC"),
    (["--model", "resnet18", "--input", "3x0x5"], "input shape"),
    (["--model", "vit_b_16", "--input", "3x32x32"], "cannot run on a 3x32x32 input"),
])
def test_refusals_exit_2(argv, message, capsys):
    assert main(["analyze", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err) < 600 and "Traceback" not in err


def test_pytorch_text_as_spec_with_notes(capsys):
    text = "nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8192, 10))"
    assert main(["analyze", text, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["totals"]["params"] == 2432 + 81930
    assert "note: the first layer expects 3 input channels" in out.err
    assert main(["analyze", "__import__('os').system('id')"]) == 2
    assert "'__import__('os').system' at line 1, column 1" in capsys.readouterr().err
