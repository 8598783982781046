"""Bad input to the training commands is one ``error: …`` line on stderr and exit code 2, never a traceback
(issue #10): an unusable run store (garbage bytes, a read-only folder, runs.sqlite a folder), a device that is
misspelt or absent, ladder steps that do not exist, and every out-of-range option. The options are checked
before the store is touched, so a refused command leaves the data folder empty."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {  # the quickest real work each command could start on, were the store usable
    "train": ["--device", "cpu", "--data", "synthetic", "--limit", "50", "--epochs", "1"],
    "ladder": ["--device", "cpu", "--data", "synthetic", "--limit", "50", "--epochs", "1", "--steps", "1"],
    "worker": ["--device", "cpu", "--idle-exit", "0.1"],
}
STORE_HINT = "(set --data-dir or $CNNCALC_DATA to a writable folder)"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnncalc", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def assert_refused(out: subprocess.CompletedProcess, *phrases: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.startswith("error: "), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    for phrase in phrases:
        assert phrase in out.stderr, (phrase, out.stderr)


# --- the run store ----------------------------------------------------------------------------------------

def _writable(folder: Path) -> bool:
    try:
        (folder / "probe").touch()
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


@pytest.fixture(params=["empty", "with a store"])
def read_only_folder(request, tmp_path):
    """A folder the store cannot write to. chmod is enough for a normal user; root ignores it, so there the
    folder is made immutable (chattr +i) when the file system allows, else the test is skipped."""
    folder = tmp_path / "store"
    folder.mkdir()
    if request.param == "with a store":
        assert cli("worker", "--device", "cpu", "--idle-exit", "0", "--data-dir", str(folder)).returncode == 0
    folder.chmod(0o555)
    immutable = _writable(folder) and shutil.which("chattr") is not None and \
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        if _writable(folder):
            pytest.skip("cannot make a read-only folder here (root without chattr)")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_corrupt_store(command, tmp_path):
    (tmp_path / "runs.sqlite").write_bytes(b"this is not SQLite \x00\xff" * 400)
    out = cli(command, *COMMANDS[command], "--data-dir", str(tmp_path))
    assert_refused(out, f"the run store at {tmp_path.resolve()} cannot be used", "not a database", STORE_HINT)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_store_folder(command, read_only_folder):
    out = cli(command, *COMMANDS[command], "--data-dir", str(read_only_folder))
    assert_refused(out, f"the run store at {read_only_folder.resolve()} cannot be used", STORE_HINT)


@pytest.mark.parametrize("command", COMMANDS)
def test_runs_sqlite_is_a_folder(command, tmp_path):
    (tmp_path / "runs.sqlite").mkdir()
    out = cli(command, *COMMANDS[command], "--data-dir", str(tmp_path))
    assert_refused(out, f"the run store at {tmp_path.resolve()} cannot be used", STORE_HINT)


def test_the_store_from_the_environment_is_named_too(tmp_path):
    (tmp_path / "runs.sqlite").mkdir()
    out = cli("train", *COMMANDS["train"], env={"CNNCALC_DATA": str(tmp_path)})
    assert_refused(out, str(tmp_path.resolve()), STORE_HINT)


# --- devices ----------------------------------------------------------------------------------------------

def _with_device(command: str, device: str) -> list[str]:
    args = list(COMMANDS[command])
    args[args.index("--device") + 1] = device
    return args


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("device", ["bogus", "cuda:x", "gpu"])
def test_a_misspelt_device(command, device, tmp_path):
    out = cli(command, *_with_device(command, device), "--data-dir", str(tmp_path))
    assert_refused(out, f"device={device!r}", "auto, cpu, cuda, cuda:N or mps")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", COMMANDS)
def test_an_absent_cuda_device(command, tmp_path):
    import torch
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device, phrase = ("cuda", "no CUDA device here: use --device cpu or auto") if count == 0 else \
        (f"cuda:{count}", f"no CUDA device {count} here")
    out = cli(command, *_with_device(command, device), "--data-dir", str(tmp_path))
    assert_refused(out, phrase)
    assert not any(tmp_path.iterdir())


# --- the ladder's steps -----------------------------------------------------------------------------------

@pytest.mark.parametrize("steps, phrase", [("x", "--steps 'x': no such step"), ("9", "--steps '9': no such step"),
                                           ("1,9", "--steps '9': no such step"), (",", "no step given")])
def test_ladder_steps_that_do_not_exist(steps, phrase, tmp_path):
    out = cli("ladder", "--device", "cpu", "--steps", steps, "--data-dir", str(tmp_path))
    assert_refused(out, phrase, "1 baseline", "6 + batch norm", "e.g. --steps 1,3")
    assert not any(tmp_path.iterdir())


# --- out-of-range options ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command, args, phrase", [
    ("train", ["--gamma", "-5"], "gamma=-5.0 is out of range: gamma must be in (0, 1]"),
    ("train", ["--gamma", "1.5"], "gamma=1.5 is out of range"),
    ("train", ["--lr", "inf"], "lr=inf is out of range: lr must be a finite number > 0"),
    ("train", ["--lr", "nan"], "lr=nan is out of range"),
    ("train", ["--lr", "0"], "lr=0.0 is out of range"),
    ("train", ["--lr", "-0.1"], "lr=-0.1 is out of range"),
    ("train", ["--lr", "1e999"], "lr=inf is out of range"),
    ("train", ["--momentum", "1"], "momentum=1.0 is out of range"),
    ("train", ["--weight-decay", "-1"], "weight_decay=-1.0 is out of range"),
    ("train", ["--epochs", "0"], "epochs=0 is out of range: epochs must be a whole number ≥ 1"),
    ("train", ["--batch-size", "0"], "batch_size=0 is out of range"),
    ("train", ["--limit", "0"], "limit=0 is out of range"),
    ("train", ["--dropout", "1"], "dropout=1.0 is out of range"),
    ("train", ["--preset", "nope"], "preset='nope': choose one of lab, lab28"),
    ("train", ["--spec", "conv 8; wobble"], "spec: layer 2 ('wobble'): unknown layer 'wobble'"),
    ("ladder", ["--epochs", "0"], "epochs=0 is out of range"),   # was taken as "not given" and ignored
    ("ladder", ["--limit", "0"], "limit=0 is out of range"),
])
def test_out_of_range_options(command, args, phrase, tmp_path):
    base = ["--device", "cpu"] + (["--steps", "1"] if command == "ladder" else [])
    out = cli(command, *base, *args, "--data-dir", str(tmp_path))
    assert_refused(out, phrase)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("seconds", ["nan", "-1"])
def test_worker_idle_exit_must_be_seconds(seconds, tmp_path):
    out = cli("worker", "--device", "cpu", "--idle-exit", seconds, "--data-dir", str(tmp_path))
    assert_refused(out, "--idle-exit", "seconds ≥ 0")
    assert not any(tmp_path.iterdir())


# --- the Ray backend without Ray ----------------------------------------------------------------------------

def test_the_ray_backend_without_ray_says_how_to_install_it(tmp_path):
    """Ray is optional: a machine without it gets the install command, not an ImportError's traceback."""
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray (test stand-in)')\n")
    out = cli("worker", "--backend", "ray", "--device", "cpu", "--data-dir", str(tmp_path / "store"),
              env={"PYTHONPATH": str(fake.parent)})
    assert_refused(out, "pip install -r requirements-ray.txt")


def test_a_misspelt_backend_setting_is_named(tmp_path):
    out = cli("worker", "--device", "cpu", "--data-dir", str(tmp_path), env={"CNNCALC_BACKEND": "rey"})
    assert_refused(out, "backend 'rey'", "choose one of embedded, ray")
    out = cli("submit", "--data", "synthetic", "--data-dir", str(tmp_path), env={"CNNCALC_BACKEND": "rey"})
    assert_refused(out, "backend 'rey'")
