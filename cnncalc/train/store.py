"""The run store: SQLite in WAL mode under a data folder, plus checkpoint files per run.

A run is never lost: its config is written before it starts, every epoch as it ends, and its status moves
queued → running → done | diverged | cancelled | failed | interrupted | stopped. Everything a classroom needs
to trust the queue lives here, so that the app, the CLI and the demos share one set of rules:

* **ownership** — a run records its owner's id and display name; :meth:`RunStore.cancel`,
  :meth:`RunStore.delete` and :meth:`RunStore.resume` check ``Identity.may_change`` (the owner or the teacher);
* **quotas** — :meth:`RunStore.enqueue` refuses, inside its write transaction, what :class:`Limits` forbids
  (:class:`QuotaExceeded` names the limit, the value asked and how to change it);
* **a queue that heals itself** — a row whose config this version cannot read is reported as failed, never
  raised; a run whose worker is gone (pid dead, or no heartbeat for :data:`STALE_SECONDS`) becomes
  "interrupted" at the next :meth:`RunStore.heal`, which the page calls on every refresh;
* **checkpoints** — weights (safetensors) and a resume state (torch.save of tensors and plain values only,
  read back with ``weights_only=True``) written atomically, so an interrupted run can be resumed;
* **a schema version** — ``PRAGMA user_version``; an older store is migrated in place, its runs kept;
* **one CPU shared by a class** — :meth:`RunStore.identical` offers a finished run of the same experiment
  (``enqueue(..., reuse=True)`` returns it instead of queueing a copy), :meth:`RunStore.queue_places` gives each
  queued run its place in the worker's fair-share order and an estimated wait, and a running run records its
  phase (engine.PHASES) for the page.

This module imports no torch at import time (the server's limits and the app read it cheaply).
"""
from __future__ import annotations

import fcntl
import heapq
import json
import math
import os
import sqlite3
import statistics
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from ..server import db as sqlite
from ..server.identity import Identity
from ..server.limits import Limits
from .config import TrainConfig, experiment_key

ACTIVE = ("queued", "running")
FINISHED = ("done", "diverged", "cancelled", "failed", "interrupted", "stopped")
RESUMABLE = ("interrupted", "stopped", "cancelled")  # a checkpoint may be kept; the config was fine
HEARTBEAT_SECONDS = 2.0  # a training process beats this often, from its own thread
STALE_SECONDS = 10.0     # a running run whose process has not beaten for this long is presumed dead
SCHEMA_VERSION = 2       # PRAGMA user_version; 0: the first store (no owner_name, no resume state); 1: no phase,
                         # experiment key or start time
DATASET_SIZES = {"cifar10": 50_000, "mnist": 60_000}  # training examples of the built-in sets
SYNTHETIC_DEFAULT = (5000, 1000)  # data.load("synthetic") without a limit: (train, test) images
FOLDER_COUNT_CAP = 10_000_000  # files counted at most in an ImageFolder tree (the count is then a lower bound)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    config TEXT NOT NULL,
    spec TEXT,
    input_shape TEXT,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    worker_pid INTEGER,
    heartbeat REAL,
    cancel INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    checkpoint TEXT,
    normalization TEXT,
    owner_name TEXT NOT NULL DEFAULT '',
    resume_epoch INTEGER NOT NULL DEFAULT 0,
    resume_state TEXT,
    phase TEXT NOT NULL DEFAULT '',
    experiment TEXT,
    started REAL
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    epoch INTEGER NOT NULL,
    train_loss REAL, train_top1 REAL, train_top5 REAL,
    test_loss REAL, test_top1 REAL, test_top5 REAL,
    lr REAL, seconds REAL, batch_losses TEXT,
    PRIMARY KEY (run_id, epoch)
);
"""
# Columns added since version 0, in order: (name, declaration) — identifiers from this file only.
# Version 2: the phase of a running run (engine.PHASES), the experiment key (config.experiment_key; NULL: never
# offered as identical — every run recorded before version 2, whose origin is unknown) and when it started running.
ADDED_COLUMNS = (("owner_name", "TEXT NOT NULL DEFAULT ''"), ("resume_epoch", "INTEGER NOT NULL DEFAULT 0"),
                 ("resume_state", "TEXT"), ("phase", "TEXT NOT NULL DEFAULT ''"), ("experiment", "TEXT"),
                 ("started", "REAL"))
INDEXES = ("CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, owner)",
           "CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, status)")


class NotAllowed(PermissionError):
    """An action on somebody else's run (not an operating-system permission: callers tell the two apart)."""


class QuotaExceeded(ValueError):
    """A run refused by a classroom limit; the message names the limit, the value asked and how to change it."""

    def __init__(self, limit: str, asked: int, allowed: int, what: str, setting: str = ""):
        self.limit, self.asked, self.allowed = limit, asked, allowed
        super().__init__(f"{what} ({setting or f'{limit} = {allowed:,}'}; {Limits.how_to_change(limit)})")


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    owner: str                  # the owner's id (Identity.id)
    created: float
    updated: float
    config: TrainConfig         # TrainConfig() as a placeholder when config_error says it cannot be read
    spec: str | None
    input_shape: tuple[int, ...] | None
    status: str
    message: str
    device: str
    worker_pid: int | None
    heartbeat: float | None
    cancel: bool
    progress: float
    checkpoint: str | None      # the weights file (safetensors), the newest saved
    normalization: dict | None
    owner_name: str = ""        # the owner's display name (user text: show it escaped)
    resume_epoch: int = 0       # the epoch the resume state continues after (0: none)
    resume_state: str | None = None
    config_error: str = ""      # why the stored config cannot be read ("" when it can)
    phase: str = ""             # what a running run is doing (engine.PHASES); "" when it is not running
    started: float | None = None  # when it last started running (time.time()); None while queued

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE and not self.config_error


@dataclass(frozen=True)
class Health:
    """What :meth:`RunStore.heal` found: the runs it just marked interrupted, the runs waiting in the queue,
    and whether some worker process is alive (holds its device's lock)."""
    interrupted: tuple[int, ...]
    queued: int
    worker_alive: bool

    @property
    def needs_worker(self) -> bool:
        """Queued runs wait and no worker serves them: start one (``worker.ensure_worker``)."""
        return self.queued > 0 and not self.worker_alive


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued run stands in the worker's real claim order (:meth:`RunStore.claim`: owners with fewer runs
    started first, then the oldest), and about how long it waits (:meth:`RunStore.queue_places` says how)."""
    run_id: int
    position: int               # 1: the next run the worker takes
    ahead: tuple[int, ...]      # the runs it waits for: the worker's running run, then the queued runs before it
    wait_seconds: float         # estimated seconds until the worker takes it
    measured: bool              # every run ahead was estimated from measured runs; False: some by their time
                                # limit, so the wait is an upper bound ("at most")


def as_identity(owner: Identity | str) -> Identity:
    """An :class:`Identity`; a plain string (older callers) is an owner id that is also its display name."""
    return owner if isinstance(owner, Identity) else Identity(str(owner), str(owner))


def read_config(text: str) -> tuple[TrainConfig | None, str]:
    """(config, "") or (None, the reason it cannot be read). A row written by another version (``optimizer:
    "lion"``) or damaged by hand must be reported, never raised: one bad row must not stop the queue."""
    try:
        return TrainConfig.from_json(text), ""
    except Exception as err:  # anything from json or TrainConfig's checks: a stored row is untrusted input
        return None, f"{type(err).__name__}: {err}"


def unreadable(reason: str) -> str:
    return f"its settings cannot be read by this version of cnncalc ({reason}); queue it again from the form"


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        (self.root / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.path = self.root / "runs.sqlite"
        self._migrate()

    # --- connection and schema ----------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        return sqlite.connect(self.path, rows=True)

    def _db(self, write: bool = False):
        """One connection, closed afterwards; ``write``: one BEGIN IMMEDIATE transaction (the write lock is
        taken first, so a read-then-write decision — a quota, a claim — cannot race another process)."""
        return sqlite.session(self._connect(), write)

    def _migrate(self) -> None:
        """Create the tables, or bring an older store to :data:`SCHEMA_VERSION` in place (ALTER TABLE ADD COLUMN:
        its runs and epochs are kept). A newer store is used as it is: unknown columns are ignored."""
        with self._db() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return
        with self._db(write=True) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:  # another process migrated it meanwhile
                return
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            have = {r["name"] for r in db.execute("PRAGMA table_info(runs)")}
            for name, declaration in ADDED_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {name} {declaration}")
            if version < 1:
                db.execute("UPDATE runs SET owner_name = owner WHERE owner_name = ''")  # the old id was its name
            for statement in INDEXES:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")  # a pragma takes no parameters

    def schema_version(self) -> int:
        with self._db() as db:
            return db.execute("PRAGMA user_version").fetchone()[0]

    def _run(self, row: sqlite3.Row) -> Run:
        """A row as a :class:`Run`; never raises: an unreadable config gives status "failed" and says why."""
        d = dict(row)
        cfg, error = read_config(d["config"])
        status, message = d["status"], d["message"] or ""
        if error:
            status, message = "failed", unreadable(error) + (f" — it was {d['status']}: {message}" if message
                                                             else f" — it was {d['status']}")
        return Run(id=d["id"], name=d["name"], owner=d["owner"], created=d["created"], updated=d["updated"],
                   config=cfg or TrainConfig(), spec=d["spec"], input_shape=_json(d["input_shape"], tuple),
                   status=status, message=message, device=d["device"], worker_pid=d["worker_pid"],
                   heartbeat=d["heartbeat"], cancel=bool(d["cancel"]), progress=d["progress"] or 0.0,
                   checkpoint=d["checkpoint"], normalization=_json(d["normalization"], dict),
                   owner_name=d.get("owner_name") or "", resume_epoch=d.get("resume_epoch") or 0,
                   resume_state=d.get("resume_state"), config_error=error, phase=d.get("phase") or "",
                   started=d.get("started"))

    # --- queue --------------------------------------------------------------------------------
    def enqueue(self, cfg: TrainConfig, name: str = "", owner: Identity | str = "",
                limits: Limits | None = None, reuse: bool = False) -> int:
        """Queue ``cfg`` for ``owner``; with ``limits``, refuse (:class:`QuotaExceeded`) a run larger than they
        allow (:func:`check_run_size`) or one more than ``queued_runs_per_owner`` runs queued or running for
        this owner — counted and inserted in one BEGIN IMMEDIATE transaction, so a browser firing 30 requests
        at once gets exactly the quota. The teacher is exempt from the per-owner count only (the class's
        demonstrations queue several runs), not from the size limits. Without ``limits`` nothing is checked
        (the CLI, which acts as the teacher, and tests).

        ``reuse``: when the same experiment is already in the store — done, or else queued or running
        (:meth:`identical` with ``active=True``) — its id is returned and nothing is inserted or counted: a class
        that presses "Quick demo" together trains it once and everybody watches that run (whoever owns it). The
        page asks the student first (:meth:`identical`) and passes ``reuse`` only when they accept."""
        if reuse:
            same = self.identical(cfg, active=True)
            if same is not None:
                return same.id
        return self._insert(cfg, name, as_identity(owner), limits, "queued", key=experiment_key(cfg))

    def start_external(self, cfg: TrainConfig, name: str, owner: Identity | str, pid: int, device: str,
                       limits: Limits | None = None, variant: str | None = None) -> int:
        """Record a run that this process trains itself (a demo, the CLI): inserted as 'running', so no
        worker can take it; the same checks as :meth:`enqueue` with ``limits``. Beat with :meth:`keep_alive`
        while training, or the run is declared dead after :data:`STALE_SECONDS`. ``variant``: what the caller
        does beyond ``cfg`` ("" for nothing: the CLI trains the config as it is; the demos page names its
        pixel shuffle and test subset) — part of the run's experiment key, so that :meth:`identical` can offer
        it; None (the default): the caller's data or network may differ from ``cfg`` in ways the config does
        not say, so the run is never offered as identical."""
        key = experiment_key(cfg, variant) if variant is not None else None
        return self._insert(cfg, name, as_identity(owner), limits, "running", pid, device, key)

    def identical(self, cfg: TrainConfig, variant: str = "", active: bool = False) -> Run | None:
        """The most recent run of the same experiment as ``cfg`` (:func:`config.experiment_key`: equal data,
        network, optimisation settings and seed; device, pipeline, precision, workers and compile do not count)
        whose status is "done" — with ``active``, failing that, the most recent queued or running one. One
        indexed query: cheap enough for every refresh. Runs recorded before schema version 2, and external
        runs recorded without a ``variant``, have no key and are never offered."""
        key = experiment_key(cfg, variant)
        with self._db() as db:
            rows = db.execute("SELECT * FROM runs WHERE experiment=? AND status IN ('done', 'queued', 'running') "
                              "ORDER BY status='done' DESC, id DESC" if active else
                              "SELECT * FROM runs WHERE experiment=? AND status='done' ORDER BY id DESC",
                              (key,)).fetchall()
        for row in rows:
            run = self._run(row)
            if not run.config_error and run.status in ("done", "queued", "running"):
                return run
        return None

    def _insert(self, cfg: TrainConfig, name: str, who: Identity, limits: Limits | None, status: str,
                pid: int | None = None, device: str = "", key: str | None = None) -> int:
        if limits is not None:
            check_run_size(cfg, limits)  # reads no row: before the write lock (an ImageFolder count takes time)
        now = time.time()
        with self._db(write=True) as db:
            if limits is not None and not who.teacher:
                _check_owner_quota(db, who.id, limits)
            cur = db.execute("INSERT INTO runs (name, owner, owner_name, created, updated, config, status, "
                             "worker_pid, heartbeat, device, experiment, started) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                             (name or describe(cfg), who.id, who.name, now, now, cfg.to_json(), status, pid,
                              now if pid is not None else None, device, key, now if status == "running" else None))
            return int(cur.lastrowid)

    def claim(self, pid: int, device: str, run_id: int | None = None) -> Run | None:
        """Atomically take a queued run (``run_id``, or the next: owners with fewer runs started go first, so
        a classroom sharing one GPU queues fairly, then the oldest). A queued row whose config cannot be read
        is marked failed with the reason and skipped: it must never block the runs behind it."""
        with self._db(write=True) as db:
            while True:
                if run_id is not None:
                    row = db.execute("SELECT id, config FROM runs WHERE id=? AND status='queued'",
                                     (run_id,)).fetchone()
                else:
                    row = db.execute("""
                        SELECT id, config FROM runs q WHERE status = 'queued' ORDER BY
                          (SELECT COUNT(*) FROM runs r WHERE r.owner = q.owner AND r.status != 'queued'), id LIMIT 1
                    """).fetchone()
                if row is None:
                    return None
                now = time.time()
                error = read_config(row["config"])[1]
                if not error:
                    break
                db.execute("UPDATE runs SET status='failed', message=?, updated=? WHERE id=?",
                           (unreadable(error), now, row["id"]))
                if run_id is not None:
                    return None
            db.execute("UPDATE runs SET status='running', worker_pid=?, heartbeat=?, updated=?, device=?, started=?, "
                       "phase='' WHERE id=?", (pid, now, now, device, now, row["id"]))
        return self.get(row["id"])

    def beat(self, run_id: int, progress: float | None = None) -> None:
        with self._db() as db:
            if progress is None:
                db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))
            else:
                db.execute("UPDATE runs SET heartbeat=?, progress=? WHERE id=?", (time.time(), progress, run_id))

    @contextmanager
    def keep_alive(self, run_id: int, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
        """Beat for ``run_id`` every ``every`` seconds from a thread of its own while the block runs: data
        decoding, a model build or a long first epoch never looks like a dead process. A beat that fails (the
        store busy past its timeout) is skipped; the next one tries again."""
        stop = threading.Event()

        def loop():
            while not stop.wait(every):
                try:
                    self.beat(run_id)
                except sqlite3.Error:
                    pass

        self.beat(run_id)
        thread = threading.Thread(target=loop, name=f"heartbeat-run-{run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=every + 1)

    def requeue(self, run_id: int) -> bool:
        """Put a running run that never started training back in the queue (the Ray backend lost its machine
        before the run reported anything): nothing of it exists yet, so nothing is lost. True when done."""
        with self._db(write=True) as db:
            if db.execute("SELECT COUNT(*) FROM epochs WHERE run_id=?", (run_id,)).fetchone()[0]:
                return False
            cur = db.execute("UPDATE runs SET status='queued', worker_pid=NULL, heartbeat=NULL, started=NULL, "
                             "phase='', device='', updated=? WHERE id=? AND status='running' AND cancel=0",
                             (time.time(), run_id))
            return cur.rowcount == 1

    def set_device(self, run_id: int, device: str) -> None:
        """Where a running run trains, once known (the Ray backend learns the machine after placing it)."""
        with self._db() as db:
            db.execute("UPDATE runs SET device=?, heartbeat=? WHERE id=? AND status='running'",
                       (device, time.time(), run_id))

    def set_phase(self, run_id: int, phase: str) -> None:
        """What the run's trainer is doing now (engine.PHASES), shown by the page beside its progress."""
        with self._db() as db:
            db.execute("UPDATE runs SET phase=?, heartbeat=? WHERE id=? AND status='running'",
                       (phase, time.time(), run_id))

    def started(self, run_id: int, spec: str, input_shape, normalization: dict) -> None:
        with self._db() as db:
            db.execute("UPDATE runs SET spec=?, input_shape=?, normalization=?, updated=? WHERE id=?",
                       (spec, json.dumps(list(input_shape)), json.dumps(normalization), time.time(), run_id))

    def finish(self, run_id: int, status: str, message: str = "", only_if_running: bool = False) -> bool:
        """Record the outcome. ``only_if_running``: only while the run is still 'running' (a worker must not
        overwrite a run that was declared dead, resumed or deleted meanwhile). True when recorded."""
        assert status in FINISHED, status
        with self._db() as db:
            cur = db.execute("UPDATE runs SET status=?, message=?, updated=?, phase='' WHERE id=?"
                             + (" AND status='running'" if only_if_running else ""),
                             (status, message, time.time(), run_id))
            return cur.rowcount == 1

    def request_cancel(self, run_id: int) -> None:
        """Unchecked, low level (a user's action goes through :meth:`cancel`): a queued run is cancelled at
        once; a running one at its trainer's next check."""
        with self._db(write=True) as db:
            db.execute("UPDATE runs SET cancel=1 WHERE id=?", (run_id,))
            db.execute("UPDATE runs SET status='cancelled', message='cancelled before it started', updated=?, "
                       "phase='' WHERE id=? AND status='queued'", (time.time(), run_id))

    def cancel_requested(self, run_id: int) -> bool:
        with self._db() as db:
            row = db.execute("SELECT cancel FROM runs WHERE id=?", (run_id,)).fetchone()
        return bool(row and row["cancel"])

    def stop_request(self, run_id: int) -> str:
        """What a trainer asks at its progress points: "cancel" (requested), "lost" (the run is no longer its
        own: declared dead and interrupted, resumed elsewhere or deleted) or "" (carry on)."""
        with self._db() as db:
            row = db.execute("SELECT cancel, status FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None or row["status"] != "running":
            return "lost"
        return "cancel" if row["cancel"] else ""

    # --- the owner's actions ------------------------------------------------------------------
    def cancel(self, run_id: int, actor: Identity | str) -> Run:
        """Cancel a queued run now, a running one at its trainer's next check (within seconds); a finished run
        is left as it is. PermissionError unless ``actor`` owns the run or is the teacher."""
        with self._db() as db:
            row = _row(db, run_id)
        _authorize(row, as_identity(actor), "cancel")
        if row["status"] in ACTIVE:
            self.request_cancel(run_id)
        return self.get(run_id)

    def delete(self, run_id: int, actor: Identity | str) -> None:
        """Remove a run, its epochs and its checkpoint files. A running run must be cancelled first (its trainer
        would go on writing); one whose process is dead counts as interrupted. PermissionError unless
        ``actor`` owns the run or is the teacher; KeyError for no such run."""
        with self._db(write=True) as db:
            row = _row(db, run_id)
            _authorize(row, as_identity(actor), "delete")
            if row["status"] == "running" and not _dead(row["worker_pid"], row["heartbeat"], time.time()):
                raise ValueError(f"run #{run_id} is running: cancel it first, then delete it once it shows "
                                 "cancelled (a few seconds)")
            db.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        # ids are never reused (AUTOINCREMENT), so these names belong to this run only
        for path in (self.root / "checkpoints").glob(f"run-{int(run_id)}.*"):
            path.unlink(missing_ok=True)

    def resume(self, run_id: int, actor: Identity | str, limits: Limits | None = None) -> Run:
        """Queue an interrupted, time-limited ("stopped") or cancelled run again: it continues after the epoch of
        its resume state (the epochs after it are dropped, to be trained again; without a state it starts
        over). With ``limits``, it counts against its owner's ``queued_runs_per_owner`` unless the teacher
        resumes it. PermissionError unless ``actor`` owns the run or is the teacher; ValueError otherwise."""
        who = as_identity(actor)
        with self._db(write=True) as db:
            row = _row(db, run_id)
            _authorize(row, who, "resume")
            error = read_config(row["config"])[1]
            if error:
                raise ValueError(f"run #{run_id} cannot be resumed: {unreadable(error)}")
            if row["status"] not in RESUMABLE:
                raise ValueError(f"run #{run_id} is {row['status']}: only an interrupted, stopped or cancelled "
                                 "run can be resumed")
            if limits is not None and not who.teacher:
                _check_owner_quota(db, row["owner"], limits)
            state = row["resume_state"]
            kept = row["resume_epoch"] if state and (self.root / "checkpoints" / state).is_file() else 0
            epochs = TrainConfig.from_json(row["config"]).epochs
            message = (f"resumed by {who.name}: continues after epoch {kept}" if kept else
                       f"resumed by {who.name}: no checkpoint was kept, so it starts again from epoch 1")
            db.execute("DELETE FROM epochs WHERE run_id=? AND epoch>?", (run_id, kept))
            db.execute("UPDATE runs SET status='queued', cancel=0, worker_pid=NULL, heartbeat=NULL, progress=?, "
                       "message=?, updated=?, resume_epoch=?, resume_state=?, phase='', started=NULL WHERE id=?",
                       (kept / epochs, message, time.time(), kept, state if kept else None, run_id))
        return self.get(run_id)

    # --- the queue as the page shows it ---------------------------------------------------------
    def queue_places(self, limits: Limits | None = None, slots: int = 1) -> dict[int, QueuePlace]:
        """Every queued run's place, in one pass (the page shows them all on each 2-second refresh): three
        small queries and a replay of :meth:`claim`'s order — each pick raises its owner's count of started
        runs, as the real claim does — so the positions are the order the worker will really take them in,
        unless new runs arrive (a newcomer with fewer runs started may go ahead: that is the fairness).

        The wait is the time left of the worker's running run plus the expected duration of each queued run
        ahead (:func:`expected_seconds`). A run recorded by :meth:`start_external` (the CLI, the demos page)
        trains in its own process beside the queue, so nobody waits for it. ``slots``: runs the queue trains at
        once (1: the CPU server's one worker; the Ray backend: its cluster's room) — each queued run then waits
        for the first slot to come free, given the runs before it (at least as many slots as runs running)."""
        now, limit_s = time.time(), 60 * (limits or Limits()).run_minutes
        with self._db() as db:
            active = db.execute("SELECT id, owner, config, status, progress, created, started, resume_epoch "
                                "FROM runs WHERE status IN ('queued', 'running') ORDER BY id").fetchall()
            if not any(r["status"] == "queued" for r in active):
                return {}
            counts = {r["owner"]: r["n"] for r in db.execute(
                "SELECT owner, COUNT(*) AS n FROM runs WHERE status != 'queued' GROUP BY owner")}
            speeds = self._speeds(db)
        free, measured, ahead = [], True, []  # when each slot comes free, seconds from now
        for row in active:
            cfg = read_config(row["config"])[0]
            if row["status"] != "running" or cfg is None or row["started"] == row["created"]:
                continue  # queued, unreadable (claim fails it at once) or external: nobody waits for it
            left, known = _remaining(row, cfg, speeds, now, limit_s)
            free.append(left)
            measured = measured and known
            ahead.append(row["id"])
        free += [0.0] * max(0, slots - len(free))  # idle slots: free now (a running run holds one slot)
        heapq.heapify(free)
        places = {}
        for position, (row, cfg) in enumerate(_claim_order(active, counts), start=1):
            wait = heapq.heappop(free)
            places[row["id"]] = QueuePlace(row["id"], position, tuple(ahead), wait, measured)
            seconds, known = expected_seconds(cfg, speeds, limit_s, row["resume_epoch"])
            heapq.heappush(free, wait + seconds)
            measured = measured and known
            ahead.append(row["id"])
        return places

    def queue_position(self, run_id: int, limits: Limits | None = None, slots: int = 1) -> QueuePlace | None:
        """The place of one queued run (:meth:`queue_places`); None when it is not queued."""
        return self.queue_places(limits, slots).get(run_id)

    def _speeds(self, db: sqlite3.Connection) -> dict[tuple, float]:
        """Seconds per training example per epoch (evaluation included) of finished runs on this store's
        machine, by :func:`speed_key`: the median of the 5 most recent runs of each kind among the last 200.
        Recomputed only when a run has finished since (cached per store file)."""
        signature = tuple(db.execute("SELECT COUNT(*), MAX(updated) FROM runs WHERE status IN "
                                     "('done', 'stopped', 'cancelled', 'interrupted')").fetchone())
        cached = _SPEEDS.get(str(self.path))
        if cached is not None and cached[0] == signature:
            return cached[1]
        rows = db.execute("""
            WITH recent AS (SELECT id, config FROM runs WHERE status IN ('done', 'stopped', 'cancelled',
                            'interrupted') ORDER BY id DESC LIMIT 200)
            SELECT recent.config AS config, COUNT(e.epoch) AS n, SUM(e.seconds) AS seconds
            FROM recent JOIN epochs e ON e.run_id = recent.id GROUP BY recent.id ORDER BY recent.id DESC
        """).fetchall()
        samples: dict[tuple, list[float]] = {}
        for row in rows:
            cfg = read_config(row["config"])[0]
            examples = cfg and _examples(cfg)
            if examples and row["n"] and row["seconds"]:
                samples.setdefault(speed_key(cfg), []).append(row["seconds"] / (row["n"] * examples))
        speeds = {key: statistics.median(values[:5]) for key, values in samples.items()}
        _SPEEDS[str(self.path)] = (signature, speeds)
        return speeds

    # --- liveness -----------------------------------------------------------------------------
    def heal(self, stale_seconds: float = STALE_SECONDS) -> Health:
        """Cheap enough for every page refresh: runs left 'running' by a dead process (its pid gone, or no
        heartbeat for ``stale_seconds``) become "interrupted", their epochs and checkpoint kept; returns what
        it found, including whether queued runs wait with no live worker (:attr:`Health.needs_worker`)."""
        now = time.time()
        with self._db() as db:
            running = db.execute("SELECT id, worker_pid, heartbeat, resume_epoch FROM runs "
                                 "WHERE status='running'").fetchall()
            queued = db.execute("SELECT COUNT(*) FROM runs WHERE status='queued'").fetchone()[0]
        lost = [r for r in running if _dead(r["worker_pid"], r["heartbeat"], now, stale_seconds)]
        return Health(tuple(r["id"] for r in lost if self._interrupt(r)), queued, workers_alive(self.root))

    def recover(self, stale_seconds: float = STALE_SECONDS) -> list[int]:
        """The runs :meth:`heal` marks interrupted now (a worker calls it when it starts)."""
        return list(self.heal(stale_seconds).interrupted)

    def _interrupt(self, row: sqlite3.Row) -> bool:
        """Mark one dead run interrupted, unless it changed since it was read (claimed again, finished)."""
        with self._db() as db:
            done = db.execute("SELECT COUNT(*) FROM epochs WHERE run_id=?", (row["id"],)).fetchone()[0]
            kept = row["resume_epoch"]
            message = (f"the worker stopped during the run (after epoch {done}); its epochs are kept, and so is "
                       + (f"its last checkpoint (epoch {kept}): resume continues from there" if kept else
                          "its last checkpoint — none yet, so resume starts again from epoch 1"))
            cur = db.execute("UPDATE runs SET status='interrupted', message=?, updated=?, phase='' WHERE id=? AND "
                             "status='running' AND worker_pid IS ? AND heartbeat IS ?",
                             (message, time.time(), row["id"], row["worker_pid"], row["heartbeat"]))
            return cur.rowcount == 1

    # --- results and checkpoints --------------------------------------------------------------
    def add_epoch(self, run_id: int, record) -> None:
        d = asdict(record)
        d["batch_losses"] = json.dumps([round(x, 5) for x in d["batch_losses"]])
        cols = list(d)  # the EpochRecord's field names: identifiers from code, the values are parameters
        with self._db() as db:
            db.execute(f"INSERT OR REPLACE INTO epochs (run_id, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})",
                       (run_id, *d.values()))
            db.execute("UPDATE runs SET heartbeat=?, updated=? WHERE id=?", (time.time(), time.time(), run_id))

    def drop_epochs_after(self, run_id: int, epoch: int) -> None:
        """Forget the epochs after ``epoch`` (a resumed run trains them again from its state)."""
        with self._db() as db:
            db.execute("DELETE FROM epochs WHERE run_id=? AND epoch>?", (run_id, epoch))

    def save_checkpoint(self, run_id: int, model, epoch: int | None = None, state: dict | None = None) -> Path:
        """Write the weights (``model``: a module or its state dict) as safetensors and, with ``state``, the
        resume state of ``epoch`` (torch.save of tensors and plain values; :meth:`load_resume_state` reads it
        with ``weights_only=True``). Each file is written beside its place and moved there with os.replace, and
        the state's name carries its epoch, so the row always names a complete state: a kill at any moment
        leaves the previous checkpoint or the new one, never half of one."""
        from safetensors.torch import save_file
        folder = self.root / "checkpoints"
        weights = model.state_dict() if hasattr(model, "state_dict") else model
        path = folder / f"run-{run_id}.safetensors"
        _atomic(path, lambda tmp: save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()},
                                            str(tmp)))
        name = None
        if state is not None:
            import torch
            name = f"run-{run_id}.e{int(epoch)}.state.pt"
            _atomic(folder / name, lambda tmp: torch.save(state, tmp))
        with self._db() as db:
            db.execute("UPDATE runs SET checkpoint=?, resume_epoch=COALESCE(?, resume_epoch), "
                       "resume_state=COALESCE(?, resume_state) WHERE id=?",
                       (path.name, epoch if name else None, name, run_id))
        if name:
            self._remove_states(run_id, keep=name)
        return path

    def load_resume_state(self, run: Run) -> dict | None:
        """The run's resume state (see engine.capture), or None; loaded with ``weights_only=True``: tensors and
        plain values only, never arbitrary pickled objects."""
        if not run.resume_state or not (self.root / "checkpoints" / run.resume_state).is_file():
            return None
        import torch
        return torch.load(self.root / "checkpoints" / run.resume_state, map_location="cpu", weights_only=True)

    def discard_resume_state(self, run_id: int) -> None:
        """A finished run needs no resume state (the weights stay)."""
        with self._db() as db:
            db.execute("UPDATE runs SET resume_state=NULL WHERE id=?", (run_id,))
        self._remove_states(run_id)

    def _remove_states(self, run_id: int, keep: str | None = None) -> None:
        for path in (self.root / "checkpoints").glob(f"run-{int(run_id)}.e*.state.pt*"):
            if path.name != keep:
                path.unlink(missing_ok=True)

    def checkpoint_path(self, run: Run) -> Path | None:
        return self.root / "checkpoints" / run.checkpoint if run.checkpoint else None

    def get(self, run_id: int) -> Run:
        with self._db() as db:
            return self._run(_row(db, run_id))

    def list(self, status: str | None = None) -> list[Run]:
        """The runs, newest first (those with ``status`` only). A row whose config cannot be read is listed as
        failed, whatever its stored status, so it is filtered after reading."""
        where = status is not None and status != "failed"
        with self._db() as db:
            rows = db.execute("SELECT * FROM runs" + (" WHERE status=?" if where else "") + " ORDER BY id DESC",
                              (status,) if where else ()).fetchall()
        runs = [self._run(r) for r in rows]
        return [r for r in runs if r.status == status] if status else runs

    def trained(self) -> list[Run]:
        """Finished runs whose weights are kept (status done, a checkpoint, a C×H×W input), newest first: the
        models the other pages can load."""
        return [r for r in self.list(status="done") if r.checkpoint and r.input_shape and len(r.input_shape) == 3]

    def epochs(self, run_id: int) -> list[dict]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall()
        out = [dict(r) for r in rows]
        for r in out:
            r["batch_losses"] = json.loads(r["batch_losses"] or "[]")
        return out


# --- queue estimates -----------------------------------------------------------------------------
START_SECONDS = 5.0      # seconds of a run outside its epochs on the CPU server (data from the cache, network,
                         # warm-up): 4.6 s of the quick recipe's 42.5 s in a fresh process (docs/BENCHMARKS.md)
_SPEEDS: dict[str, tuple[tuple, dict]] = {}           # store file → (finished-runs signature, speeds)
_EXAMPLES: dict[tuple, tuple[float, int]] = {}        # (data, limit) → (when counted, training examples)
EXAMPLES_TTL = 60.0      # seconds an ImageFolder's count is reused (the page asks every 2 s for every student)


def speed_key(cfg: TrainConfig) -> tuple:
    """What decides an epoch's seconds per training example: the network, its input (the data source, crops),
    the batch size and how it runs. Runs with equal keys are "similar" for :func:`expected_seconds`."""
    return (cfg.spec or cfg.preset.lower(), cfg.batchnorm, cfg.augment == "cropflip", cfg.zca, cfg.batch_size,
            cfg.pipeline, cfg.precision, cfg.device, cfg.compile,
            cfg.data if cfg.data in DATASET_SIZES or cfg.data == "synthetic" else os.path.realpath(cfg.data))


def _examples(cfg: TrainConfig) -> int:
    """:func:`training_examples`, an ImageFolder's count reused for :data:`EXAMPLES_TTL` seconds."""
    if cfg.data == "synthetic" or cfg.data in DATASET_SIZES:
        return training_examples(cfg)
    key, now = (cfg.data, cfg.limit), time.monotonic()
    hit = _EXAMPLES.get(key)
    if hit is None or now - hit[0] > EXAMPLES_TTL:
        hit = _EXAMPLES[key] = (now, training_examples(cfg))
    return hit[1]


def expected_seconds(cfg: TrainConfig, speeds: dict[tuple, float], limit_s: float,
                     done_epochs: int = 0) -> tuple[float, bool]:
    """(seconds, measured): how long ``cfg`` should run here. Measured: :data:`START_SECONDS` + epochs left ×
    training examples × the seconds per example-epoch of similar finished runs (:func:`speed_key`), at most its
    time budget (``max_seconds``) and the classroom's ``run_minutes`` (``limit_s``). Unknown (no similar run
    has finished yet): that time limit itself, an upper bound (measured=False)."""
    cap = min(cfg.max_seconds or math.inf, limit_s)
    per = speeds.get(speed_key(cfg))
    if per is None:
        return cap, False
    return min(cap, START_SECONDS + max(cfg.epochs - done_epochs, 0) * _examples(cfg) * per), True


def _remaining(row: sqlite3.Row, cfg: TrainConfig, speeds: dict, now: float, limit_s: float) -> tuple[float, bool]:
    """Seconds left of the worker's running run: at its own pace (elapsed × (1 − p) / p) once it has done 2 % of
    its work, else its expected duration less the time it has run; never past its time limits."""
    elapsed = max(0.0, now - (row["started"] or now))
    cap = max(0.0, min(cfg.max_seconds or math.inf, limit_s) - elapsed)
    p = row["progress"] or 0.0
    if p >= 0.02 and elapsed > 0:
        return min(cap, elapsed * (1 - p) / p), True
    seconds, known = expected_seconds(cfg, speeds, limit_s, row["resume_epoch"] or 0)
    return min(cap, max(0.0, seconds - elapsed)), known


def _claim_order(rows: list, counts: dict[str, int]) -> list[tuple[sqlite3.Row, TrainConfig]]:
    """The queued rows in the order :meth:`RunStore.claim` takes them: repeatedly the lowest (runs its owner
    has started, id), each pick adding one to its owner's count. Unreadable rows are left out (claim fails them
    without running them)."""
    by_owner: dict[str, list] = {}
    for row in rows:
        cfg = read_config(row["config"])[0] if row["status"] == "queued" else None
        if cfg is not None:
            by_owner.setdefault(row["owner"], []).append((row, cfg))  # rows come by id: each list is in order
    heap = [(counts.get(owner, 0), runs[0][0]["id"], owner) for owner, runs in by_owner.items()]
    heapq.heapify(heap)
    order, nxt = [], {owner: 0 for owner in by_owner}
    while heap:
        started, _, owner = heapq.heappop(heap)
        order.append(by_owner[owner][nxt[owner]])
        nxt[owner] += 1
        if nxt[owner] < len(by_owner[owner]):
            heapq.heappush(heap, (started + 1, by_owner[owner][nxt[owner]][0]["id"], owner))
    return order


# --- quotas -----------------------------------------------------------------------------------
def check_run_size(cfg: TrainConfig, limits: Limits) -> None:
    """Refuse (:class:`QuotaExceeded`) a run larger than ``limits`` allow, whoever asks: a data folder the
    teacher did not list, a synthetic set above ``synthetic_examples`` (train + test images), or epochs ×
    training examples above ``run_epoch_examples`` (batch size 1 on a million images is refused this way)."""
    if cfg.data == "synthetic":
        train, test = synthetic_sizes(cfg.limit)
        if train + test > limits.synthetic_examples:
            raise QuotaExceeded("synthetic_examples", train + test, limits.synthetic_examples,
                                f"a synthetic data set of {train:,} + {test:,} = {train + test:,} images is larger "
                                "than this server allows: choose a smaller limit")
    elif cfg.data not in DATASET_SIZES and not _data_folder_allowed(cfg.data, limits):
        raise QuotaExceeded("data_folders", 1, 0, "this data folder is not offered on this server: choose "
                            "cifar10, mnist, synthetic or a folder the teacher lists",
                            "data_folders lists the folders students may train on")
    cap = limits.run_epoch_examples // cfg.epochs + 1  # counting further cannot change the answer
    examples = training_examples(cfg, cap)
    if cfg.epochs * examples > limits.run_epoch_examples:
        raise QuotaExceeded("run_epoch_examples", cfg.epochs * examples, limits.run_epoch_examples,
                            f"{cfg.epochs} epochs × {examples:,} training examples = {cfg.epochs * examples:,} "
                            "examples seen is more than one run may train: fewer epochs or a smaller limit")


def synthetic_sizes(limit: int | None) -> tuple[int, int]:
    """(train, test) images of ``data.load("synthetic", limit)``: ``limit`` and a fifth of it (≥ 200), else
    5,000 and 1,000 — the same rule as data.load, which tests/test_train_queue.py checks against it."""
    if limit is None:
        return SYNTHETIC_DEFAULT
    return limit, max(limit // 5, 200)


def training_examples(cfg: TrainConfig, cap: int = FOLDER_COUNT_CAP) -> int:
    """Training examples of ``cfg``: its limit when set (at most the set's size), else the set's size; an
    ImageFolder tree's train images are counted, stopping at ``cap`` (cheap: directory entries only)."""
    if cfg.data == "synthetic":
        return synthetic_sizes(cfg.limit)[0]
    size = DATASET_SIZES.get(cfg.data)
    if size is None:
        size = _count_train_images(Path(cfg.data), min(cap, cfg.limit or cap))
    return min(size, cfg.limit) if cfg.limit else size


def _count_train_images(root: Path, stop: int) -> int:
    from .data import IMAGE_SUFFIXES
    n = 0
    try:
        for cls in os.scandir(root / "train"):
            if not cls.is_dir():
                continue
            for entry in os.scandir(cls.path):
                n += os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
                if n >= stop:
                    return n
    except OSError:  # no such tree: the run fails later with data.load's own message
        pass
    return n


def _data_folder_allowed(path: str, limits: Limits) -> bool:
    from .data import local_cifar10
    allowed = [*limits.data_folders, *([local_cifar10()] if local_cifar10() else [])]
    return any(os.path.realpath(path) == os.path.realpath(folder) for folder in allowed)


def _check_owner_quota(db: sqlite3.Connection, owner: str, limits: Limits) -> None:
    """Inside the caller's write transaction: the count and the insert that follows are one atomic step."""
    n = db.execute("SELECT COUNT(*) FROM runs WHERE owner=? AND status IN ('queued', 'running')",
                   (owner,)).fetchone()[0]
    if n >= limits.queued_runs_per_owner:
        raise QuotaExceeded("queued_runs_per_owner", n + 1, limits.queued_runs_per_owner,
                            f"{n} runs of this owner are already queued or running: wait until one finishes, "
                            "or cancel one")


def _authorize(row: sqlite3.Row, actor: Identity, verb: str) -> None:
    if not actor.may_change(row["owner"]):
        whose = f"belongs to {row['owner_name'] or row['owner']}" if row["owner"] else "has no owner"
        raise NotAllowed(f"run #{row['id']} {whose}: only its owner or the teacher may {verb} it")


def _row(db: sqlite3.Connection, run_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
    if row is None:
        raise KeyError(f"no run {run_id}")
    return row


# --- helpers ----------------------------------------------------------------------------------
def _json(text: str | None, kind):
    try:
        return kind(json.loads(text)) if text else None
    except (ValueError, TypeError):  # a damaged column reads as unknown, like a missing one
        return None


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _dead(pid: int | None, heartbeat: float | None, now: float, stale_seconds: float = STALE_SECONDS) -> bool:
    return pid is None or not _alive(pid) or (heartbeat or 0) < now - stale_seconds


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def lock_held(path: Path) -> bool:
    """Whether a live process holds the flock on ``path`` (the kernel drops it when its holder dies, even by
    kill -9, so this is a liveness test that a stale file cannot fool)."""
    try:
        with open(path) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def workers_alive(root: str | Path) -> bool:
    """Some worker process serves this store (any device: every worker takes every queued run)."""
    return any(lock_held(p) for p in Path(root).glob("worker-*.lock"))


def describe(cfg: TrainConfig) -> str:
    parts = [cfg.spec and "custom net" or cfg.preset, cfg.data if cfg.data in ("cifar10", "mnist", "synthetic")
             else Path(cfg.data).name, f"bs {cfg.batch_size}", f"lr {cfg.lr:g}", f"{cfg.epochs} ep"]
    extras = [cfg.standardize != "none" and "std", {"cropflip": "crop 28 + flip", "padcrop": "pad-crop + flip"}.get(cfg.augment),
              cfg.momentum and f"mom {cfg.momentum:g}", cfg.schedule != "none" and cfg.schedule,
              cfg.dropout and f"dropout {cfg.dropout:g}", cfg.batchnorm and "bn", cfg.zca and "zca",
              cfg.optimizer != "sgd" and cfg.optimizer,
              cfg.test_limit and cfg.test_limit != cfg.limit and f"{cfg.test_limit:,} test",
              cfg.max_seconds and f"≤ {cfg.max_seconds:g} s"]
    return " · ".join(parts + [e for e in extras if e])


def default_root() -> Path:
    """$CNNCALC_DATA, else data/ beside the package (ignored by git)."""
    return Path(os.environ.get("CNNCALC_DATA", Path(__file__).resolve().parents[2] / "data"))
