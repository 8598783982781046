"""The Ray backend of the run queue: ``python -m cnncalc worker --backend ray [--ray-address ADDR]
[--gpus-per-run 1] [--device cpu]`` — a class's training runs on the GPUs of several machines.

One dispatcher process on the web host serves the run store, as the embedded worker does. It claims queued runs
in the same fair-share order (:meth:`RunStore.claim`: owners with fewer runs started first, then the oldest) but
only as many as the cluster has room for — its GPUs ÷ ``gpus_per_run``, or its CPUs ÷ ``cpus_per_run`` with
``device="cpu"``, asked again every :data:`RESOURCE_SECONDS` as machines join and leave — so a student who
queues later with fewer runs started still goes ahead of a classmate's backlog (handing Ray the whole queue
would make it first come, first served). The classroom quotas were applied when the runs were queued
(:meth:`RunStore.enqueue`) and the time limit ``run_minutes`` applies to each run as in the embedded worker.

Each claimed run is trained by a Ray actor (:class:`RunActor`) that holds its GPU, so Ray places it on any
machine of the cluster. The run store stays on the web host (SQLite is not shared over a network): the actor trains with
engine.train and keeps what the engine reports — its epochs, progress, phase and newest checkpoint — until the
dispatcher collects them, every :data:`POLL_SECONDS`; the dispatcher writes them with the same
:class:`worker.RunReport` as the embedded worker. Cancel requests and the time limit travel the other way
(:meth:`RunActor.stop`) and stop the trainer at its next progress point, within a few seconds.

Faults: a run whose actor dies — its process killed, its machine lost — ends "interrupted" with its epochs and
the last checkpoint that reached the store, so resume continues from there. If the dispatcher itself dies, Ray
ends its actors with it and the next heal of the store marks their runs interrupted (the dispatcher's pid is the
runs' worker pid, its heartbeat theirs).

A run's actor stays warm for the next run for :data:`IDLE_ACTOR_SECONDS` (torch imported, as the embedded worker's
one process is for all its runs): a busy class pays the process start and the imports once per GPU, not once per
run; an idle one gives its GPUs back to the cluster. An actor whose run failed or died is never reused.
docs/BENCHMARKS.md measures the cost per run against the embedded worker (benchmarks/bench_ray.py).

Ray is an optional dependency (``pip install -r requirements-ray.txt`` or ``pip install .[ray]``): this module
is imported only by this backend.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import ray
    from ray.exceptions import ActorUnavailableError, RayError, RayTaskError
except ImportError as err:  # an optional dependency: say how to get it
    raise ImportError("the Ray backend needs Ray: pip install -r requirements-ray.txt (or pip install .[ray])") from err

from .config import TrainConfig
from .store import Run, RunStore
from .worker import Outcome, RunReport, _limits, cpu_copy, lock_path, train_outcome

POLL_SECONDS = 0.5        # how often the dispatcher collects each run's reports and passes on stop requests
RESOURCE_SECONDS = 2.0    # how often it asks the cluster's size again (machines join and leave)
BEAT_SECONDS = 2.0        # how often it beats for its runs in the store (store.HEARTBEAT_SECONDS)
CHECKPOINT_SECONDS = 30.0  # at most one checkpoint per run per this many seconds: each one crosses the network
REQUEUES = 2             # times a run whose actor is lost before it reports anything is queued again
IDLE_ACTOR_SECONDS = 60.0  # a warm actor waits this long for the next run, then its GPU goes back to the cluster
PACKAGE = Path(__file__).resolve().parents[1]  # cnncalc/, shipped to every machine of the cluster by Ray


@ray.remote(max_restarts=0, max_concurrency=2)
class RunActor:
    """A process on one machine of the cluster, holding the GPU (or CPUs) of one run at a time. ``train`` runs in
    one thread of the actor; ``collect`` and ``stop`` in the other (max_concurrency=2), so the dispatcher reads
    progress and cancels while it trains. Every call names its run, so a late ``stop`` for a finished run can
    never stop the next one. Reports are kept until collected: every epoch, and only the newest progress, phase
    and checkpoint (an older checkpoint is useless once a newer one exists) — a slow dispatcher costs the
    memory of one state, not of a backlog."""

    def __init__(self):
        if not ray.get_gpu_ids():  # a CPU run: Ray leaves CUDA_VISIBLE_DEVICES unset for an actor without GPUs,
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # so device "auto" would take a GPU it did not reserve
        from . import engine  # noqa: F401  (torch, and torch._dynamo which torch.optim imports on first use:
        import torch._dynamo  # noqa: F401   paid while the actor starts, as the embedded worker's _preload)
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._run: int | None = None
        self._events: dict[str, Any] = {"epochs": []}

    def where(self) -> dict:
        """The machine and device this actor trains on, for the run list."""
        import torch
        gpus = [str(g) for g in ray.get_gpu_ids()]
        return {"host": socket.gethostname(), "ip": ray.util.get_node_ip_address(), "pid": os.getpid(),
                "gpus": gpus, "cuda": torch.cuda.is_available(),
                "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}

    def train(self, run_id: int, config: str, resume: dict | None, progress_every: int | None,
              checkpoint_seconds: float) -> Outcome:
        with self._lock:
            self._run, self._events = run_id, {"epochs": []}
            self._stop.clear()
        try:
            cfg = TrainConfig.from_json(config)
            return train_outcome(cfg, portable=True, resume=resume, progress_every=progress_every,
                                 checkpoint_seconds=checkpoint_seconds, should_stop=self._stop.is_set,
                                 on_epoch=lambda record: self._add("epochs", record),
                                 on_start=lambda *start: self._put("start", start),
                                 on_progress=lambda e, s, n, loss: self._put("progress", (e, s, n)),
                                 on_phase=lambda name: self._put("phase", name),
                                 on_checkpoint=lambda epoch, state: self._put("checkpoint", (epoch, cpu_copy(state))))
        finally:
            _release_memory()  # the next run on this actor starts with the GPU's cache empty

    def collect(self, run_id: int) -> dict:
        """What ``run_id`` reported since the last call, and nothing twice (nothing for another run)."""
        with self._lock:
            if run_id != self._run:
                return {"epochs": []}
            events, self._events = self._events, {"epochs": []}
        return events

    def stop(self, run_id: int) -> None:
        with self._lock:
            if run_id == self._run:
                self._stop.set()

    def _put(self, name: str, value) -> None:
        with self._lock:
            self._events[name] = value

    def _add(self, name: str, value) -> None:
        with self._lock:
            self._events[name].append(value)


def _release_memory() -> None:
    import gc

    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass(frozen=True)
class Resources:
    """What one run asks of the cluster: ``gpus`` (0: a CPU run) and ``cpus``."""
    gpus: float = 1.0
    cpus: float = 1.0

    def __post_init__(self):
        for name, value, top in (("gpus per run", self.gpus, 64), ("cpus per run", self.cpus, 1024)):
            if not (isinstance(value, (int, float)) and 0 <= value <= top and math.isfinite(value)):
                raise ValueError(f"{name} {value!r}: give a number from 0 to {top}")
        if self.gpus == 0 and self.cpus == 0:
            raise ValueError("a run must ask for a GPU or a CPU")

    def __str__(self) -> str:
        parts = [f"{self.gpus:g} GPU" if self.gpus else "", f"{self.cpus:g} CPU" if self.cpus else ""]
        return " + ".join(p for p in parts if p) + " per run"

    def slots(self, cluster: dict) -> int:
        """Runs the cluster holds at once: its GPUs ÷ gpus per run (CPU runs: its CPUs ÷ cpus per run)."""
        if self.gpus:
            return int(math.floor(cluster.get("GPU", 0) / self.gpus + 1e-9))
        return int(math.floor(cluster.get("CPU", 0) / self.cpus + 1e-9))


@dataclass
class _Actor:
    """A live :class:`RunActor` as the dispatcher knows it."""
    handle: Any
    placed: Any = None              # ObjectRef of RunActor.where until answered
    where: str = ""                 # device_label, once placed
    idle_since: float = 0.0         # time.monotonic() when its last run ended (while idle)


@dataclass
class _Flight:
    """A claimed run, its actor and the calls in flight, as the dispatcher follows it."""
    run: Run
    report: RunReport
    actor: _Actor
    result: Any                     # ObjectRef of RunActor.train → Outcome
    collecting: Any = None          # the ObjectRef of the collect call in flight
    reported: bool = False          # the trainer has reported something (it started)
    stopping: bool = False
    beat: float = field(default_factory=time.monotonic)


def device_label(place: dict) -> str:
    """Where a run trains, for the run list: ``ray · gpu-node-3 · GPU 1`` or ``ray · gpu-node-3 · CPU``."""
    on = f"GPU {','.join(place['gpus'])}" if place.get("gpus") else "CPU"
    return f"ray · {str(place.get('host', '?'))[:40]} · {on}"


class Dispatcher:
    """Claims runs while the cluster has room, follows each to its end; one :meth:`step` per poll.

    An actor whose run ended normally (done, cancelled, stopped, diverged — its process answered to the end)
    waits :data:`IDLE_ACTOR_SECONDS` for the next run, warm — torch imported, as the embedded worker's one
    process is for all its runs — so a busy class pays the process start once per slot, not once per run; then
    it is ended and its GPU goes back to the cluster. An actor whose run failed, or that did not answer, is
    ended at once: the next run gets a fresh process."""

    def __init__(self, store: RunStore, resources: Resources, progress_every: int | None = None,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS, on_size=None):
        self.store, self.resources, self.on_size = store, resources, on_size
        self.progress_every, self.checkpoint_seconds = progress_every, checkpoint_seconds
        self.flights: dict[int, _Flight] = {}
        self.idle: list[_Actor] = []
        self._requeued: dict[int, int] = {}  # run id → times queued again after losing its actor unstarted
        self.executed, self._slots, self._asked = 0, 0, -math.inf
        self._said_full = False

    # --- the queue ------------------------------------------------------------------------------
    def slots(self) -> int:
        if time.monotonic() - self._asked >= RESOURCE_SECONDS:
            cluster, before = ray.cluster_resources(), self._slots
            self._slots, self._asked = self.resources.slots(cluster), time.monotonic()
            if self.on_size is not None and self._slots != before:
                self.on_size(cluster, self._slots)
            if self._slots == 0 and not self._said_full:
                need = "GPU" if self.resources.gpus else "CPU"
                print(f"ray worker: the cluster has no {need} for a run ({self.resources}); queued runs wait "
                      "until a machine with one joins (ray start --address …)", file=sys.stderr, flush=True)
            self._said_full = self._slots == 0
        return self._slots

    def claim(self) -> bool:
        """Start one queued run when the cluster has room for it; True when one was started."""
        if len(self.flights) >= self.slots():
            return False
        run = self.store.claim(os.getpid(), "ray")
        if run is None:
            return False
        report = RunReport(self.store, run, _limits(self.store.root))
        try:
            resume = report.resume_state()
        except Exception as err:  # an unreadable state: said on the run, never raised into the queue
            report.conclude(Outcome("failed", f"its resume state cannot be read ({type(err).__name__}: {err})"))
            return True
        actor = self.idle.pop() if self.idle else self._new_actor()
        if actor.where:
            self.store.set_device(run.id, actor.where)
        else:
            self.store.set_phase(run.id, "waiting for a machine of the Ray cluster")
        result = actor.handle.train.remote(run.id, run.config.to_json(), resume, self.progress_every,
                                           self.checkpoint_seconds)
        self.flights[run.id] = _Flight(run, report, actor, result)
        return True

    def _new_actor(self) -> _Actor:
        handle = RunActor.options(num_gpus=self.resources.gpus, num_cpus=self.resources.cpus).remote()
        return _Actor(handle, placed=handle.where.remote())

    def retire_idle(self, now: float | None = None) -> None:
        """End the actors idle for :data:`IDLE_ACTOR_SECONDS`, and those beyond the cluster's room."""
        now = time.monotonic() if now is None else now
        keep = max(0, self.slots() - len(self.flights))
        for i, actor in enumerate(sorted(self.idle, key=lambda a: -a.idle_since)):
            if i >= keep or now - actor.idle_since >= IDLE_ACTOR_SECONDS:
                self.idle.remove(actor)
                _kill(actor)

    # --- following the runs ---------------------------------------------------------------------
    def step(self) -> None:
        for flight in list(self.flights.values()):
            self._follow(flight)
        self.retire_idle()

    def wait(self, seconds: float) -> None:
        """Sleep until the next poll, or until a run ends (its slot is then given at once, not a poll later)."""
        results = [f.result for f in self.flights.values()]
        if results:
            ray.wait(results, num_returns=1, timeout=seconds)
            time.sleep(0.02)  # a result that stays ready (a transient error) must not spin the loop
        else:
            time.sleep(seconds)

    def _follow(self, f: _Flight) -> None:
        run_id, actor = f.run.id, f.actor
        try:
            if actor.placed is not None and _ready(actor.placed):
                actor.where, actor.placed = device_label(ray.get(actor.placed)), None
                self.store.set_device(run_id, actor.where)
            if f.collecting is not None and _ready(f.collecting):
                self._apply(f, ray.get(f.collecting))
                f.collecting = None
            if _ready(f.result):  # the reports still on the actor first, in order
                if f.collecting is not None:
                    self._apply(f, ray.get(f.collecting, timeout=30))
                    f.collecting = None
                self._apply(f, ray.get(actor.handle.collect.remote(run_id), timeout=30))
                self._end(f, ray.get(f.result))
                return
        except ActorUnavailableError:  # a network hiccup or a restart in progress: ask again next poll
            f.collecting = None
            return
        except RayTaskError as err:  # our code raised on the node outside train_outcome (an import, a pickle)
            self._end(f, Outcome("failed", f"on {actor.where or 'the Ray cluster'}: {_first_line(err)}"))
            return
        except RayError as err:  # the actor's process or machine is gone
            self._lost(f, err)
            return
        if f.collecting is None:
            f.collecting = actor.handle.collect.remote(run_id)
        if time.monotonic() - f.beat >= BEAT_SECONDS:
            self.store.beat(run_id)
            f.beat = time.monotonic()
        if not f.stopping and f.report.watch():
            self._stop(f)

    def _apply(self, f: _Flight, events: dict) -> None:
        """Write a run's reports to the store, in the order the engine made them."""
        f.reported = f.reported or len(events) > 1 or bool(events.get("epochs"))
        if "start" in events:
            f.report.start(*events["start"])
        for record in events.get("epochs", ()):
            f.report.epoch(record)
        if "checkpoint" in events:
            f.report.checkpoint(*events["checkpoint"])
        if "progress" in events:
            f.report.progress(*events["progress"])
        if "phase" in events:
            f.report.phase(events["phase"])

    def _stop(self, f: _Flight) -> None:
        """A cancel, the time limit or a deleted run. A run still waiting for its machine ends at once; a
        training one at its trainer's next progress point (it records its last checkpoint first)."""
        f.stopping = True
        if f.report.watch.reason == "lost" or (f.actor.placed is not None and not _ready(f.actor.placed)):
            self._end(f, Outcome("cancelled", "cancelled before it started training"), keep_actor=False)
            return
        f.actor.handle.stop.remote(f.run.id)

    def _end(self, f: _Flight, outcome: Outcome, keep_actor: bool = True) -> None:
        self.flights.pop(f.run.id, None)
        status = f.report.conclude(outcome)
        self.executed += 1
        if keep_actor and outcome.status != "failed":
            f.actor.idle_since = time.monotonic()
            self.idle.append(f.actor)
        else:
            _kill(f.actor)
        print(f"ray worker: run {f.run.id} {status} ({f.actor.where or 'never placed'})", file=sys.stderr,
              flush=True)

    def _lost(self, f: _Flight, err: Exception, why: str = "") -> None:
        """The run's actor died: record the run interrupted, its epochs and last checkpoint kept — or, when it
        died before the run reported anything (a warm actor whose machine left while it waited, an actor that
        could not start), queue the run again, at most :data:`REQUEUES` times: the student loses nothing."""
        self.flights.pop(f.run.id, None)
        tries = self._requeued.get(f.run.id, 0)
        if not why and not f.reported and tries < REQUEUES and self.store.requeue(f.run.id):
            self._requeued[f.run.id] = tries + 1
            _kill(f.actor)
            print(f"ray worker: run {f.run.id} queued again — its Ray worker was lost before it started "
                  f"({_first_line(err)})", file=sys.stderr, flush=True)
            return
        kept = self.store.get(f.run.id).resume_epoch
        what = why or (f"the Ray worker training it on {f.actor.where or 'the cluster'} was lost (its process or "
                       f"its machine stopped: {type(err).__name__})")
        message = (f"{what} after epoch {len(f.report.records)}; its epochs are kept, and so is "
                   + (f"its last checkpoint (epoch {kept}): resume continues from there" if kept else
                      "its last checkpoint — none yet, so resume starts again from epoch 1"))
        self.store.finish(f.run.id, "interrupted", message, only_if_running=True)
        self.executed += 1
        _kill(f.actor)
        print(f"ray worker: run {f.run.id} interrupted — {what}: {_first_line(err)}", file=sys.stderr, flush=True)

    def shutdown(self, why: str) -> None:
        """The dispatcher stops with runs in flight: each is recorded interrupted (resumable)."""
        for f in list(self.flights.values()):
            self._lost(f, RuntimeError(why), why=why)
        for actor in self.idle:
            _kill(actor)
        self.idle.clear()


def _kill(actor: _Actor) -> None:
    try:
        ray.kill(actor.handle)
    except RayError:  # already gone
        pass


def _ready(ref) -> bool:
    return bool(ray.wait([ref], timeout=0)[0])


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def connect(address: str | None = None) -> dict:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine belongs to), or start a local one.
    cnncalc's code goes to every machine with each run (Ray's ``py_modules``), so the GPU machines need only
    the dependencies (requirements.txt, requirements-ray.txt), and always run the web host's version."""
    env = {"py_modules": [str(PACKAGE)], "excludes": ["__pycache__", "*.pyc"]}
    options = dict(runtime_env=env, namespace="cnncalc", logging_level="WARNING")
    try:
        if address:
            _reachable(address)
            ray.init(address=address, **options)
        else:
            ray.init(include_dashboard=False, **options)
    except Exception as err:  # unreachable, refused (token), or a local Ray that cannot start
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise RayUnavailable(f"cannot use {where}: {_first_line(err)} — start the head with `ray start --head` "
                             "(RAY_AUTH_MODE=token on every machine), or leave out --ray-address for a local "
                             "Ray") from None
    return ray.cluster_resources()


def _reachable(address: str, seconds: float = 5.0) -> None:
    """Fail fast for a HOST:PORT nobody answers on: ray.init would wait minutes on it. ``auto`` (the cluster
    this machine belongs to) and ``ray://`` (Ray Client) addresses are left to Ray."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=seconds).close()
    except OSError as err:
        raise ConnectionError(f"nothing answers at {address} ({err.strerror or err})") from None


class RayUnavailable(RuntimeError):
    """The cluster cannot be joined (or a local Ray started); the message says which and what to do."""


def serve(root: str | Path, address: str | None = None, resources: Resources = Resources(),
          idle_exit: float | None = None, poll: float = POLL_SECONDS, progress_every: int | None = None,
          checkpoint_seconds: float = CHECKPOINT_SECONDS) -> int:
    """Serve the run store's queue through Ray until idle for ``idle_exit`` seconds (forever when None). One
    dispatcher per store: a second exits at once (the lock file ``worker-ray.lock``, which also tells the app
    that a worker serves the queue). Returns the runs it ended."""
    store = RunStore(root)
    lock = open(lock_path(Path(root), "ray"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("ray worker: another Ray worker already serves this run store", file=sys.stderr, flush=True)
        return 0
    store.recover()
    cluster = connect(address)

    def announce(now: dict, slots: int) -> None:  # what the app shows and its queue estimate uses
        machines = sum(1 for node in ray.nodes() if node.get("Alive"))
        lock.seek(0)
        lock.truncate()
        json.dump({"backend": "ray", "pid": os.getpid(), "address": address or "local", "gpus": now.get("GPU", 0),
                   "cpus": now.get("CPU", 0), "machines": machines, "slots": slots}, lock)
        lock.flush()

    announce(cluster, resources.slots(cluster))
    print(f"ray worker: serving {Path(root).resolve()} on a Ray cluster of {cluster.get('CPU', 0):g} CPUs and "
          f"{cluster.get('GPU', 0):g} GPUs ({resources})", file=sys.stderr, flush=True)
    dispatcher = Dispatcher(store, resources, progress_every, checkpoint_seconds, on_size=announce)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_term) if main else None
    idle_since = time.monotonic()
    try:
        while True:
            try:
                dispatcher.step()
                while dispatcher.claim():
                    pass
                busy = bool(dispatcher.flights) or store.heal().queued > 0
            except sqlite3.OperationalError as err:  # the store locked past its timeout: try again next poll
                print(f"ray worker: the run store is busy ({err}); trying again", file=sys.stderr, flush=True)
                busy = True
            if busy:
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                return dispatcher.executed
            dispatcher.wait(poll)
    finally:
        dispatcher.shutdown("the Ray worker (the dispatcher on the web host) was stopped")
        ray.shutdown()
        if main:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
        lock.close()


def _exit_on_term(signum, frame):
    raise SystemExit(128 + signum)  # run serve's finally: runs in flight are recorded, Ray is shut down
