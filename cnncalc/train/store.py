"""The run store: SQLite in WAL mode under a data folder, plus one safetensors checkpoint per finished run.

A run is never lost: its config is written before it starts, every epoch as it ends, and its status
moves queued → running → done | diverged | cancelled | failed | interrupted. A worker that dies leaves
its run "running" with a stale heartbeat; :meth:`RunStore.recover` turns it into "interrupted".
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import TrainConfig

FINISHED = ("done", "diverged", "cancelled", "failed", "interrupted")
STALE_SECONDS = 30.0  # a running run whose worker has not beaten for this long is presumed dead

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
    normalization TEXT
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


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    owner: str
    created: float
    updated: float
    config: TrainConfig
    spec: str | None
    input_shape: tuple[int, ...] | None
    status: str
    message: str
    device: str
    worker_pid: int | None
    heartbeat: float | None
    cancel: bool
    progress: float
    checkpoint: str | None
    normalization: dict | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        (self.root / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.path = self.root / "runs.sqlite"
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit; explicit BEGINs
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _run(self, row: sqlite3.Row) -> Run:
        d = dict(row)
        d["config"] = TrainConfig.from_json(d["config"])
        d["input_shape"] = tuple(json.loads(d["input_shape"])) if d["input_shape"] else None
        d["normalization"] = json.loads(d["normalization"]) if d["normalization"] else None
        d["cancel"] = bool(d["cancel"])
        return Run(**d)

    # --- queue --------------------------------------------------------------------------------
    def enqueue(self, cfg: TrainConfig, name: str = "", owner: str = "") -> int:
        now = time.time()
        with self._connect() as db:
            cur = db.execute("INSERT INTO runs (name, owner, created, updated, config, status) VALUES (?,?,?,?,?,?)",
                             (name or describe(cfg), owner, now, now, cfg.to_json(), "queued"))
            return int(cur.lastrowid)

    def start_external(self, cfg: TrainConfig, name: str, owner: str, pid: int, device: str) -> int:
        """Record a run that this process trains itself (a demo, the CLI): inserted as 'running', so no
        worker can take it."""
        now = time.time()
        with self._connect() as db:
            cur = db.execute("INSERT INTO runs (name, owner, created, updated, config, status, worker_pid, heartbeat, "
                             "device) VALUES (?,?,?,?,?,?,?,?,?)",
                             (name or describe(cfg), owner, now, now, cfg.to_json(), "running", pid, now, device))
            return int(cur.lastrowid)

    def claim(self, pid: int, device: str, run_id: int | None = None) -> Run | None:
        """Atomically take a queued run (``run_id``, or the next: owners with fewer runs started go first, so
        a classroom sharing one GPU queues fairly, then the oldest)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            if run_id is not None:
                row = db.execute("SELECT id FROM runs WHERE id=? AND status='queued'", (run_id,)).fetchone()
            else:
                row = db.execute("""
                    SELECT id FROM runs q WHERE status = 'queued' ORDER BY
                      (SELECT COUNT(*) FROM runs r WHERE r.owner = q.owner AND r.status != 'queued'), id LIMIT 1
                """).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            now = time.time()
            db.execute("UPDATE runs SET status='running', worker_pid=?, heartbeat=?, updated=?, device=? WHERE id=?",
                       (pid, now, now, device, row["id"]))
            db.execute("COMMIT")
        return self.get(row["id"])

    def beat(self, run_id: int, progress: float | None = None) -> None:
        with self._connect() as db:
            if progress is None:
                db.execute("UPDATE runs SET heartbeat=? WHERE id=?", (time.time(), run_id))
            else:
                db.execute("UPDATE runs SET heartbeat=?, progress=? WHERE id=?", (time.time(), progress, run_id))

    def started(self, run_id: int, spec: str, input_shape, normalization: dict) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET spec=?, input_shape=?, normalization=?, updated=? WHERE id=?",
                       (spec, json.dumps(list(input_shape)), json.dumps(normalization), time.time(), run_id))

    def finish(self, run_id: int, status: str, message: str = "") -> None:
        assert status in FINISHED, status
        with self._connect() as db:
            db.execute("UPDATE runs SET status=?, message=?, updated=? WHERE id=?",
                       (status, message, time.time(), run_id))

    def request_cancel(self, run_id: int) -> None:
        """A queued run is cancelled at once; a running one at the worker's next check."""
        with self._connect() as db:
            db.execute("UPDATE runs SET cancel=1 WHERE id=?", (run_id,))
            db.execute("UPDATE runs SET status='cancelled', message='cancelled before it started', updated=? "
                       "WHERE id=? AND status='queued'", (time.time(), run_id))

    def cancel_requested(self, run_id: int) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT cancel FROM runs WHERE id=?", (run_id,)).fetchone()
        return bool(row and row["cancel"])

    def recover(self, stale_seconds: float = STALE_SECONDS) -> list[int]:
        """Runs left 'running' by a dead worker (its pid gone, or no heartbeat for a while) → interrupted."""
        lost = []
        for run in self.list(status="running"):
            dead = run.worker_pid is None or not _alive(run.worker_pid)
            if dead or (run.heartbeat or 0) < time.time() - stale_seconds:
                self.finish(run.id, "interrupted", f"the worker stopped during the run (after epoch "
                                                   f"{len(self.epochs(run.id))}); its epochs are kept")
                lost.append(run.id)
        return lost

    # --- results ------------------------------------------------------------------------------
    def add_epoch(self, run_id: int, record) -> None:
        d = asdict(record)
        d["batch_losses"] = json.dumps([round(x, 5) for x in d["batch_losses"]])
        cols = list(d)
        with self._connect() as db:
            db.execute(f"INSERT OR REPLACE INTO epochs (run_id, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})",
                       (run_id, *d.values()))
            db.execute("UPDATE runs SET heartbeat=?, updated=? WHERE id=?", (time.time(), time.time(), run_id))

    def save_checkpoint(self, run_id: int, model) -> Path:
        from safetensors.torch import save_file
        path = self.root / "checkpoints" / f"run-{run_id}.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
        os.replace(tmp, path)
        with self._connect() as db:
            db.execute("UPDATE runs SET checkpoint=? WHERE id=?", (path.name, run_id))
        return path

    def checkpoint_path(self, run: Run) -> Path | None:
        return self.root / "checkpoints" / run.checkpoint if run.checkpoint else None

    def get(self, run_id: int) -> Run:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id}")
        return self._run(row)

    def list(self, status: str | None = None) -> list[Run]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs" + (" WHERE status=?" if status else "") + " ORDER BY id DESC",
                              (status,) if status else ()).fetchall()
        return [self._run(r) for r in rows]

    def trained(self) -> list[Run]:
        """Finished runs whose weights are kept (status done, a checkpoint, a C×H×W input), newest first: the
        models the other pages can load."""
        return [r for r in self.list(status="done") if r.checkpoint and r.input_shape and len(r.input_shape) == 3]

    def epochs(self, run_id: int) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall()
        out = [dict(r) for r in rows]
        for r in out:
            r["batch_losses"] = json.loads(r["batch_losses"] or "[]")
        return out


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


def describe(cfg: TrainConfig) -> str:
    parts = [cfg.spec and "custom net" or cfg.preset, cfg.data if cfg.data in ("cifar10", "mnist", "synthetic")
             else Path(cfg.data).name, f"bs {cfg.batch_size}", f"lr {cfg.lr:g}", f"{cfg.epochs} ep"]
    extras = [cfg.standardize != "none" and "std", {"cropflip": "crop 28 + flip", "padcrop": "pad-crop + flip"}.get(cfg.augment),
              cfg.momentum and f"mom {cfg.momentum:g}", cfg.schedule != "none" and cfg.schedule,
              cfg.dropout and f"dropout {cfg.dropout:g}", cfg.batchnorm and "bn", cfg.zca and "zca",
              cfg.optimizer != "sgd" and cfg.optimizer]
    return " · ".join(parts + [e for e in extras if e])


def default_root() -> Path:
    """$CNNCALC_DATA, else data/ beside the package (ignored by git)."""
    return Path(os.environ.get("CNNCALC_DATA", Path(__file__).resolve().parents[2] / "data"))
