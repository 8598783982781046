"""The cost of the Ray backend per run, beside the embedded worker, on the same machine in one run.

    .venv/bin/python benchmarks/bench_ray.py                 # 6 runs per backend, 2 rounds, CPU, synthetic data
    .venv/bin/python benchmarks/bench_ray.py --runs 4 --rounds 1 --device cuda --data PATH   # on a GPU machine

Each round queues the same small runs (``RunStore.enqueue``, as the page does, one owner each) into a fresh run
store and starts the worker as the app or the teacher would — ``python -m cnncalc worker`` (embedded) or
``python -m cnncalc worker --backend ray`` (a local Ray started by it) — one run at a time in both cases
(``--cpus-per-run`` = every CPU, so Ray holds one run like the embedded worker). The backends alternate, so
both see the same machine state. From the store, per run:

* wall — claimed → finished (``started`` → ``updated``): what a student waits once their run is taken;
* epochs — the engine's epoch seconds (training and evaluation), the same work under both backends;
* outside — wall − epochs: data, network build, warm-up, and the backend's own cost (a Ray actor's process
  start and imports, the reports crossing to the store);
* first — the first run's wall, whose worker is cold (Ray starts the actor's process, which imports torch); the
  medians above are over the later runs, which find the worker warm under both backends;
* gap — from one run's end to the next run's claim (the queue's own latency);
* start — worker process launched → first claim (the embedded worker imports torch; Ray starts a local cluster).

Prints a table of medians and one JSON line with every number.

``--faults``: instead, the fault handling of the Ray backend, timed — a cancel (asked → the remote run recorded
cancelled), a killed Ray worker process (SIGKILL → the run recorded interrupted; resume → done) — three times.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnncalc.train.config import TrainConfig  # noqa: E402
from cnncalc.train.store import RunStore  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from worker_check import wait_for  # noqa: E402  (the same polling helper)


def one_round(backend: str, cfg: TrainConfig, runs: int, cpus: int, timeout: float) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-"))
    store = RunStore(root)
    ids = [store.enqueue(cfg, owner=f"student{i}") for i in range(runs)]
    command = [sys.executable, "-m", "cnncalc", "worker", "--data-dir", str(root), "--device", cfg.device,
               "--idle-exit", "1"]
    if backend == "ray":
        command += ["--backend", "ray", "--cpus-per-run", str(cpus)]
    env = {**os.environ, "CNNCALC_BACKEND": "embedded"}
    launched = time.time()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"{backend}: not done after {timeout:g} s")
    done = [store.get(i) for i in ids]
    bad = [r for r in done if r.status != "done"]
    if bad:
        raise SystemExit(f"{backend}: run {bad[0].id} {bad[0].status}: {bad[0].message}\n{proc.stderr.read()[-2000:]}")
    order = sorted(done, key=lambda r: r.started)
    walls = [r.updated - r.started for r in order]
    epochs = [sum(e["seconds"] for e in store.epochs(r.id)) for r in order]
    return {"backend": backend, "start_s": order[0].started - launched, "first_s": walls[0],
            "wall_s": walls[1:], "epochs_s": epochs[1:], "outside_s": [w - e for w, e in zip(walls[1:], epochs[1:])],
            "gap_s": [b.started - a.updated for a, b in zip(order, order[1:])],
            "makespan_s": order[-1].updated - launched}


def actor_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::RunActor"):
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def faults(cfg: TrainConfig, repeats: int, cpus: int) -> dict:
    """Cancel and kill latencies through a local Ray dispatcher (one run at a time)."""
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    store = RunStore(root)
    proc = subprocess.Popen([sys.executable, "-m", "cnncalc", "worker", "--backend", "ray", "--device", cfg.device,
                             "--cpus-per-run", str(cpus), "--checkpoint-seconds", "0", "--data-dir", str(root)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = {"cancel_s": [], "kill_s": [], "kept_epochs": [], "resumed": []}
    try:
        for _ in range(repeats):
            run_id = store.enqueue(cfg, owner="bench")
            wait_for("two epochs", lambda: len(store.epochs(run_id)) >= 2, 300, 0.05)
            asked = time.monotonic()
            store.cancel(run_id, "bench")
            wait_for("the cancel", lambda: store.get(run_id).finished, 60, 0.05)
            out["cancel_s"].append(time.monotonic() - asked)
            run_id = store.enqueue(cfg, owner="bench")
            wait_for("a checkpoint", lambda: store.get(run_id).resume_epoch >= 2, 300, 0.05)
            killed = time.monotonic()
            for pid in actor_pids():
                os.kill(pid, signal.SIGKILL)
            run = wait_for("the kill", lambda: store.get(run_id) if store.get(run_id).finished else None, 60, 0.05)
            out["kill_s"].append(time.monotonic() - killed)
            out["kept_epochs"].append((len(store.epochs(run_id)), run.resume_epoch, run.status))
            store.resume(run_id, "bench")
            out["resumed"].append(wait_for("the resumed run", lambda: store.get(run_id).finished
                                           and store.get(run_id).status, 300, 0.05))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--faults", type=int, metavar="N", help="time N cancels and N kills instead")
    a = p.parse_args()
    cfg = TrainConfig(data=a.data, limit=a.limit, test_limit=200, epochs=a.epochs, batch_size=64, device=a.device)
    cpus = os.cpu_count() or 1
    if a.faults:
        long = cfg.replace(limit=1000, epochs=30, batch_size=32)
        found = faults(long, a.faults, cpus)
        print(f"cancel: asked → recorded {', '.join(f'{x:.2f}' for x in found['cancel_s'])} s; kill -9 of the Ray "
              f"worker → interrupted {', '.join(f'{x:.2f}' for x in found['kill_s'])} s; (epochs kept, checkpoint "
              f"epoch, status) {found['kept_epochs']}; after resume: {found['resumed']}")
        print(json.dumps(found))
        return
    rows = []
    for _ in range(a.rounds):
        for backend in ("embedded", "ray"):
            rows.append(one_round(backend, cfg, a.runs, cpus, a.timeout))
            r = rows[-1]
            print(f"{backend:9} start {r['start_s']:5.1f} s | first run {r['first_s']:5.2f} s | later runs: wall {median(r['wall_s']):5.2f} s, epochs "
                  f"{median(r['epochs_s']):5.2f} s, outside {median(r['outside_s']):5.2f} s, gap "
                  f"{median(r['gap_s']):5.2f} s | {a.runs} runs in {r['makespan_s']:5.1f} s", flush=True)
    summary = {}
    for backend in ("embedded", "ray"):
        mine = [r for r in rows if r["backend"] == backend]
        summary[backend] = {k: median([x for r in mine for x in (r[k] if isinstance(r[k], list) else [r[k]])])
                            for k in ("start_s", "first_s", "wall_s", "epochs_s", "outside_s", "gap_s",
                                                                  "makespan_s")}
    e, r = summary["embedded"], summary["ray"]
    print(f"medians: Ray costs {r['outside_s'] - e['outside_s']:+.2f} s outside the epochs per warm run "
          f"({r['wall_s'] / e['wall_s']:.2f}× the embedded wall), {r['first_s'] - e['first_s']:+.2f} s on the first "
          f"(cold) run, {r['gap_s'] - e['gap_s']:+.2f} s between runs, {r['start_s'] - e['start_s']:+.1f} s to "
          f"start; {a.runs} runs end to end {r['makespan_s'] / e['makespan_s']:.2f}× the embedded time")
    print(json.dumps({"config": {"runs": a.runs, "rounds": a.rounds, "data": a.data, "limit": a.limit,
                                 "epochs": a.epochs, "device": a.device, "cpus": cpus},
                      "medians": summary, "rounds": rows}))


if __name__ == "__main__":
    main()
