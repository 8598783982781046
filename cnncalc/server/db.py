"""SQLite the way the class server uses it (the run store, the class quiz): one short connection per operation,
WAL (readers never wait for the writer), and write transactions that take the write lock first (BEGIN
IMMEDIATE), so a read-then-write decision — a quota, a claim, one answer per student — cannot race another
process. Standard library only."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TIMEOUT_SECONDS = 30  # how long a connection waits for another's write lock before sqlite3.OperationalError


def connect(path: str | Path, rows: bool = False) -> sqlite3.Connection:
    """An autocommit connection (explicit BEGINs) in WAL mode; ``rows``: rows readable by column name."""
    db = sqlite3.connect(path, timeout=TIMEOUT_SECONDS, isolation_level=None)
    if rows:
        db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


@contextmanager
def session(db: sqlite3.Connection, write: bool = False) -> Iterator[sqlite3.Connection]:
    """``db`` for one operation, closed afterwards; ``write``: one BEGIN IMMEDIATE transaction, committed at
    the end or rolled back on any exception."""
    try:
        if write:
            db.execute("BEGIN IMMEDIATE")
        yield db
        if write:
            db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()
