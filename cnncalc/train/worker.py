"""Executes queued runs, one at a time per device, writing everything to the run store as it goes.

``python -m cnncalc worker --data-dir DIR [--device cuda] [--idle-exit 300]``. A lock file per device
makes a second worker for the same device exit at once, so runs on one GPU never overlap; the kernel drops
the lock when the worker dies, so the lock also says whether a worker is alive (:func:`store.workers_alive`).

While a run trains, its heartbeat beats from a thread of its own every :data:`store.HEARTBEAT_SECONDS`; at
each progress point the run stops for a cancel request, for the classroom's wall-clock limit
(``run_minutes``, read with :func:`load_limits` for every run: status "stopped") or because the run was taken
away from it (declared dead, deleted). Checkpoints (weights and a resume state) are written at an epoch's end
at most every :data:`engine.CHECKPOINT_SECONDS`, and at the end; a resumed run continues from its state.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..server.limits import Limits, load_limits, queue_backend
from .store import Health, Run, RunStore, lock_held


def summary(epochs: list) -> str:
    if not epochs:
        return "no epoch finished"
    last = epochs[-1]
    best = max(epochs, key=lambda e: e.test_top1)
    low = min(epochs, key=lambda e: e.test_loss)
    return (f"final test top-1 {last.test_top1:.1%} (best {best.test_top1:.1%} at epoch {best.epoch}); "
            f"lowest test loss {low.test_loss:.3f} at epoch {low.epoch}")


class _Watch:
    """``should_stop`` for engine.train: a cancel request, the run no longer this process's ("lost": declared
    dead and interrupted, or deleted), or the wall-clock limit ("time"); remembers which in ``reason``."""

    def __init__(self, store: RunStore, run_id: int, minutes: float | None):
        self.store, self.run_id, self.minutes, self.reason = store, run_id, minutes, ""
        self.deadline = time.monotonic() + 60 * minutes if minutes else None

    def __call__(self) -> bool:
        self.reason = self.store.stop_request(self.run_id)
        if not self.reason and self.deadline is not None and time.monotonic() > self.deadline:
            self.reason = "time"
        return bool(self.reason)


class _Progress:
    """The fraction of a run done: its epochs, or — with a time budget (``max_seconds``), when further along —
    the share of the budget spent, so a run that will stop on time does not sit at 60 % and then end."""

    def __init__(self, cfg):
        self.cfg, self.start = cfg, time.monotonic()

    def __call__(self, epoch: int, step: int, steps: int) -> float:
        done = ((epoch - 1) + step / steps) / self.cfg.epochs
        if self.cfg.max_seconds:
            done = max(done, min(1.0, (time.monotonic() - self.start) / self.cfg.max_seconds))
        return done


@dataclass(frozen=True)
class Outcome:
    """How one call of engine.train ended, in plain values: it may cross a network (the Ray backend)."""
    status: str                 # done | diverged | cancelled | failed
    text: str = ""              # done: the engine's notes joined; else the error's message
    weights: Any = None         # done: the trained model, or its state dict on the CPU (``portable``)


def train_outcome(cfg, portable: bool = False, **hooks) -> Outcome:
    """engine.train(cfg, **hooks) with every way it can end turned into an :class:`Outcome` — never raised: a
    failing run is recorded for its student, not lost. ``portable``: the weights as a CPU state dict (a Ray task
    returns them to the web host)."""
    from .data import DataUnavailable
    from .engine import Cancelled, Diverged, train
    try:
        result = train(cfg, **hooks)
    except Diverged as err:
        return Outcome("diverged", str(err))
    except Cancelled as err:
        return Outcome("cancelled", str(err))
    except DataUnavailable as err:
        return Outcome("failed", str(err))
    except Exception as err:  # recorded for the user, never lost silently
        return Outcome("failed", f"{type(err).__name__}: {err}")
    weights = cpu_copy(result.model.state_dict()) if portable else result.model
    return Outcome("done", "; ".join(result.notes), weights)


def cpu_copy(value):
    """``value`` (a capture state, a state dict) with every tensor copied to the CPU: the trainer changes its
    live tensors as soon as it goes on, and a GPU tensor cannot leave its machine."""
    import torch
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return type(value)((k, cpu_copy(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(cpu_copy(v) for v in value)
    return value


class RunReport:
    """The run store's side of one claimed run: what its trainer reports (the engine's hooks), written to the
    store as it comes — by the trainer's own process (:func:`execute`), or by the Ray dispatcher from the events
    a remote trainer sends back (cnncalc.train.ray_backend). Then :meth:`conclude` records how it ended."""

    def __init__(self, store: RunStore, run: Run, limits: Limits | None = None):
        self.store, self.run = store, run
        self.watch = _Watch(store, run.id, limits.run_minutes if limits else None)
        self.records: list = []
        self.checkpoint_epoch: int | None = None  # the epoch of the newest checkpoint written
        self._progress = _Progress(run.config)

    def resume_state(self) -> dict | None:
        """The state the run continues from (None: from the start); the epochs it keeps are loaded as records
        and those after its state's epoch dropped (trained again)."""
        resume = self.store.load_resume_state(self.run)
        self.records.extend(_kept_records(self.store, self.run.id, int(resume["epoch"]) if resume else 0))
        return resume

    def start(self, spec: str, shape, mean, std) -> None:
        self.store.started(self.run.id, spec, shape, {"mean": list(mean), "std": list(std)})

    def epoch(self, record) -> None:
        self.records.append(record)
        self.store.add_epoch(self.run.id, record)
        self.store.beat(self.run.id, self._progress(record.epoch, 1, 1))

    def progress(self, epoch: int, step: int, steps: int, loss: float | None = None) -> None:
        self.store.beat(self.run.id, self._progress(epoch, step, steps))

    def phase(self, name: str) -> None:
        self.store.set_phase(self.run.id, name)

    def checkpoint(self, epoch: int, state: dict) -> None:
        """The weights and, before the last epoch, the resume state (after the last epoch there is nothing to
        resume). Writes nothing for a run that is no longer this process's."""
        if self.watch.reason == "lost":
            return
        final = epoch >= self.run.config.epochs
        self.store.save_checkpoint(self.run.id, state["model"], None if final else epoch, None if final else state)
        self.checkpoint_epoch = epoch

    def hooks(self) -> dict:
        """engine.train's keyword arguments that report to the store."""
        return dict(on_epoch=self.epoch, on_start=self.start, on_progress=self.progress, on_phase=self.phase,
                    on_checkpoint=self.checkpoint, should_stop=self.watch)

    def conclude(self, outcome: Outcome) -> str:
        """Record ``outcome`` and return the final status ("lost": somebody else recorded the run's end —
        declared dead, deleted — and theirs is kept)."""
        status, message = outcome.status, outcome.text
        if status == "done":
            try:
                if self.checkpoint_epoch != self.run.config.epochs:  # resumed from the last epoch's state, or
                    self.store.save_checkpoint(self.run.id, outcome.weights)  # stopped by its time budget
                message = summary(self.records) + ("; " + outcome.text if outcome.text else "")
            except Exception as err:
                status, message = "failed", f"{type(err).__name__}: {err}"
        elif status == "cancelled":
            status, message = _stopped(self.watch, outcome.text, self.records)
        if status == "lost":
            return "lost"
        self.store.finish(self.run.id, status, message, only_if_running=True)
        if status in ("done", "diverged", "failed"):  # not resumable: the state is dead weight
            self.store.discard_resume_state(self.run.id)
        return status


def _kept_records(store: RunStore, run_id: int, upto: int) -> list:
    """The epochs a resumed run keeps (those up to its state's epoch), as EpochRecords; later ones are dropped:
    they are trained again."""
    from .engine import EpochRecord
    store.drop_epochs_after(run_id, upto)
    return [EpochRecord(**{**{k: v for k, v in e.items() if k != "run_id"},
                           "batch_losses": tuple(e["batch_losses"])}) for e in store.epochs(run_id)]


def execute(store: RunStore, run: Run, progress_every: int | None = None, limits: Limits | None = None,
            checkpoint_seconds: float | None = None) -> str:
    """Run one claimed run to its end in this process and record the outcome; returns the final status. A run
    with a resume state continues after its epoch. ``limits``: its ``run_minutes`` stop the run ("stopped",
    epochs and last checkpoint kept); None (the CLI, acting as the teacher): no time limit."""
    from .engine import CHECKPOINT_SECONDS

    report = RunReport(store, run, limits)
    with store.keep_alive(run.id):
        try:
            resume = report.resume_state()
        except Exception as err:  # an unreadable state: said on the run, never raised into the queue
            outcome = Outcome("failed", f"its resume state cannot be read ({type(err).__name__}: {err})")
        else:
            outcome = train_outcome(run.config, resume=resume, progress_every=progress_every,
                                    checkpoint_seconds=CHECKPOINT_SECONDS if checkpoint_seconds is None
                                    else checkpoint_seconds, **report.hooks())
    return report.conclude(outcome)


def _stopped(watch: _Watch, text: str, records: list) -> tuple[str, str]:
    if watch.reason == "time":
        return "stopped", (f"time limit of {watch.minutes:g} min reached after epoch {len(records)}; its epochs "
                           "and last checkpoint are kept")
    if watch.reason == "lost":
        return "lost", ""
    return "cancelled", f"{text}; " + summary(records)


def _device_name(device: str) -> str:
    from .engine import pick_device
    return str(pick_device(device))


def lock_path(root: Path, device: str) -> Path:
    return Path(root) / f"worker-{device.replace(':', '_')}.lock"


def _limits(root: str | Path) -> Limits:
    """The classroom's limits, read again for every run (a teacher's change applies to the next run); a broken
    config file must not stop the queue: the defaults then, and the reason in worker.log."""
    try:
        return load_limits(root)
    except ValueError as err:
        print(f"worker: {err}; using the default limits", file=sys.stderr, flush=True)
        return Limits()


def serve(root: str | Path, device: str = "auto", idle_exit: float | None = None, poll: float = 0.5) -> int:
    """Serve the queue until idle for ``idle_exit`` seconds (forever when None). Returns runs executed."""
    store = RunStore(root)
    name = _device_name(device)
    lock = open(lock_path(Path(root), name), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another worker already serves this device
    store.recover()
    _preload()
    done, idle_since = 0, time.time()
    while True:
        run = store.claim(os.getpid(), name)
        if run is not None:
            execute(store, run, limits=_limits(root))
            done, idle_since = done + 1, time.time()
            continue
        if idle_exit is not None and time.time() - idle_since > idle_exit:
            return done
        time.sleep(poll)


def _preload() -> None:
    """Import what every run needs before the first is claimed: torch, the engine and torch._dynamo, which
    torch.optim imports on its first optimiser (1.3–1.6 s on the 2-core Xeon of docs/BENCHMARKS.md) — paid while
    the worker idles, not by the first student's run."""
    from . import engine  # noqa: F401  (torch)
    import torch._dynamo  # noqa: F401


def worker_running(root: str | Path, device: str = "auto") -> bool:
    return lock_held(lock_path(Path(root), _device_name(device)))


def ensure_worker(root: str | Path, device: str = "auto", idle_exit: float = 600) -> bool:
    """Start a detached worker for ``device`` unless one is running, or unless the server's backend is Ray (the
    teacher's ``worker --backend ray`` serves the queue; :func:`serving_backend`); True when one was started.
    Runs left 'running' by a dead worker are marked interrupted first, so nobody waits on them."""
    if serving_backend(root) != "embedded" or worker_running(root, device):
        return False
    RunStore(root).recover()
    log = open(Path(root) / "worker.log", "a")
    subprocess.Popen([sys.executable, "-m", "cnncalc", "worker", "--data-dir", str(root), "--device", device,
                      "--idle-exit", str(idle_exit)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                     start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]))
    return True


def serving_backend(root: str | Path) -> str:
    """The server's backend setting (limits.queue_backend); a bad value reads as the default, "embedded", so a
    typo never leaves a class's runs unserved (``worker --backend`` refuses it with the setting named)."""
    try:
        return queue_backend(root)
    except ValueError as err:
        print(f"worker: {err}; using the embedded worker", file=sys.stderr, flush=True)
        return "embedded"


def ray_cluster(root: str | Path) -> dict | None:
    """What the running Ray worker last saw of its cluster — ``gpus``, ``cpus``, ``machines``, ``slots`` (runs at
    once), ``address``: its lock file, rewritten when the cluster's room changes — or None when no Ray worker
    serves this store."""
    path = lock_path(Path(root), "ray")
    if not lock_held(path):
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):  # written just after the lock is taken: not yet, or damaged
        return {}
    return info if isinstance(info, dict) else {}


def queue_slots(root: str | Path) -> int:
    """Runs the queue trains at once, for the wait estimates (:meth:`RunStore.queue_places`): the Ray worker's
    room on its cluster, as it last announced it; else 1 (each embedded worker's running run counts itself)."""
    cluster = ray_cluster(root) if serving_backend(root) == "ray" else None
    try:
        return max(1, int((cluster or {}).get("slots") or 1))
    except (TypeError, ValueError):
        return 1


def heal_queue(root: str | Path, device: str = "auto", idle_exit: float = 600) -> Health:
    """What a page calls on every refresh: dead runs become interrupted (:meth:`RunStore.heal`), and when queued
    runs wait with no live worker, one is started. Cheap when all is well (a few queries and lock probes)."""
    health = RunStore(root).heal()
    if health.needs_worker:
        ensure_worker(root, device, idle_exit)
    return health
