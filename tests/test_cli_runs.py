"""The run store from the command line: runs, cancel, delete, resume — as the teacher by default or as a named
student with --owner; somebody else's run is refused with one error line and exit 2."""
import json
import os
import subprocess
import sys
from pathlib import Path

from cnncalc.server.identity import cli_owner
from cnncalc.train.config import TrainConfig
from cnncalc.train.store import RunStore

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, store: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnncalc", *args, "--data-dir", str(store)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_owner_runs_and_refusals(tmp_path):
    out = cli("train", "--data", "synthetic", "--limit", "200", "--epochs", "1", "--device", "cpu", "--owner", "Ada",
              store=tmp_path)
    assert out.returncode == 0, out.stderr
    (row,) = [json.loads(line) for line in cli("runs", "--json", store=tmp_path).stdout.splitlines()]
    assert (row["owner"], row["status"]) == ("Ada", "done")
    refused = cli("delete", str(row["run"]), "--owner", "Bob", store=tmp_path)
    assert refused.returncode == 2 and "belongs to Ada" in refused.stderr and "Traceback" not in refused.stderr
    assert "only an interrupted, stopped or cancelled run" in cli("resume", str(row["run"]), store=tmp_path).stderr
    assert cli("delete", str(row["run"]), "--owner", "Ada", store=tmp_path).returncode == 0
    assert cli("runs", store=tmp_path).stdout == ""
    missing = cli("cancel", "7", store=tmp_path)
    assert missing.returncode == 2 and "there is no run 7" in missing.stderr


def test_resume_an_interrupted_run_here(tmp_path):
    store = RunStore(tmp_path)
    ada = cli_owner("Ada")
    run_id = store.enqueue(TrainConfig(data="synthetic", limit=200, epochs=2, device="cpu"), "r", ada)
    store.claim(os.getpid(), "cpu", run_id=run_id)
    store.finish(run_id, "interrupted", "the worker stopped during the run (after epoch 0)")
    out = cli("resume", str(run_id), "--owner", "Ada", store=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "starts again from epoch 1" in out.stdout and store.get(run_id).status == "done"
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2]
