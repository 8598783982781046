"""Class mode for predict-then-reveal: the teacher opens one question of :mod:`.predict` to the class, every
student submits one prediction (a new one replaces the last), the teacher sees how many answers each mistake
got, then reveals the worked answer to everyone.

Kept in ``classquiz.sqlite`` in the run store's folder (SQLite in WAL mode, as the run store: several app
processes share it). Only a teacher identity may open, reveal or close a question (PermissionError otherwise,
whatever a page shows); a student's answer is diagnosed when it is submitted, and nobody reads another
student's text: :meth:`ClassQuiz.tally` gives counts, :meth:`ClassQuiz.mine` one's own answer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..server import db as sqlite
from ..server.identity import Identity
from . import predict

MAX_CHARS = predict.MAX_CHARS
MAX_ANSWERS = 300  # answers one round takes: a class, with room; a student signing in again and again cannot flood it
_SCHEMA = """
CREATE TABLE IF NOT EXISTS question (id INTEGER PRIMARY KEY CHECK (id = 1), round INTEGER NOT NULL,
    qid TEXT NOT NULL, opened REAL NOT NULL, revealed INTEGER NOT NULL DEFAULT 0, closed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS answer (round INTEGER NOT NULL, owner TEXT NOT NULL, text TEXT NOT NULL,
    mistake TEXT NOT NULL, correct INTEGER NOT NULL, at REAL NOT NULL, PRIMARY KEY (round, owner));
"""


@dataclass(frozen=True)
class Current:
    round: int            # grows with every question opened: a student's answer belongs to one round
    question: predict.Prediction
    revealed: bool
    answers: int          # how many students have answered (a count only)


@dataclass(frozen=True)
class Answer:
    text: str
    diagnosis: predict.Diagnosis


def _teacher(who: Identity | None) -> None:
    if who is None or not who.teacher:
        raise PermissionError("only the teacher may open, reveal or close the class's question")


class ClassQuiz:
    def __init__(self, root: str | Path):
        Path(root).mkdir(parents=True, exist_ok=True)
        self.path = Path(root) / "classquiz.sqlite"
        with self._db(write=True) as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def _db(self, write: bool = False):
        """One connection, closed afterwards; ``write``: one BEGIN IMMEDIATE transaction."""
        return sqlite.session(sqlite.connect(self.path), write)

    # --- the teacher ----------------------------------------------------------------------------------
    def open_question(self, teacher: Identity | None, qid: str) -> int:
        """Open question ``qid`` (a :func:`predict.questions` key) to the class: a new round; returns its number."""
        _teacher(teacher)
        if predict.by_key(qid) is None:
            raise ValueError(f"no predict question {qid!r}")
        with self._db(write=True) as db:
            (last,) = db.execute("SELECT COALESCE(MAX(round), 0) FROM question").fetchone()
            db.execute("INSERT OR REPLACE INTO question (id, round, qid, opened) VALUES (1, ?, ?, ?)",
                       (last + 1, qid, time.time()))
            db.execute("DELETE FROM answer WHERE round < ?", (last + 1,))  # earlier rounds are not kept
        return last + 1

    def reveal(self, teacher: Identity | None) -> None:
        """Show the worked answer to everyone; no more answers are taken."""
        _teacher(teacher)
        with self._db(write=True) as db:
            if not db.execute("UPDATE question SET revealed = 1 WHERE closed = 0").rowcount:
                raise ValueError("no question is open")

    def close(self, teacher: Identity | None) -> None:
        """Take the question off the students' screens."""
        _teacher(teacher)
        with self._db(write=True) as db:
            db.execute("UPDATE question SET closed = 1")

    # --- everyone -------------------------------------------------------------------------------------
    def current(self) -> Current | None:
        """The question open now (revealed or not), or None."""
        with self._db() as db:
            row = db.execute("SELECT round, qid, revealed FROM question WHERE closed = 0").fetchone()
            if row is None:
                return None
            (n,) = db.execute("SELECT COUNT(*) FROM answer WHERE round = ?", (row[0],)).fetchone()
        q = predict.by_key(row[1])
        return None if q is None else Current(row[0], q, bool(row[2]), n)

    def submit(self, student: Identity | None, text: str, round_: int | None = None) -> predict.Diagnosis:
        """``student``'s prediction for the open question (replacing an earlier one); its diagnosis is stored
        with it, and returned — the page shows it only once the answer is revealed. With ``round_`` (the round
        the student's screen showed), an answer to a question the teacher has since replaced is refused."""
        if student is None:
            raise PermissionError("type a display name first")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("type a prediction")
        if len(text) > MAX_CHARS:
            raise ValueError(f"a prediction has at most {MAX_CHARS} characters")
        with self._db(write=True) as db:
            row = db.execute("SELECT round, qid, revealed FROM question WHERE closed = 0").fetchone()
            if row is None or row[2]:
                raise ValueError("no question is open for answers" if row is None else
                                 "the answer has been revealed: predictions are closed")
            if round_ is not None and row[0] != round_:
                raise ValueError("the teacher has opened another question: read it and send your prediction again")
            question = predict.by_key(row[1])
            if question is None:  # a question of another version of the app: as if none were open
                raise ValueError("no question is open for answers")
            (mine,) = db.execute("SELECT COUNT(*) FROM answer WHERE round = ? AND owner = ?",
                                 (row[0], student.id)).fetchone()
            (count,) = db.execute("SELECT COUNT(*) FROM answer WHERE round = ?", (row[0],)).fetchone()
            if not mine and count >= MAX_ANSWERS:  # replacing one's own answer is always allowed
                raise ValueError(f"this question already has {MAX_ANSWERS} answers, the most one round takes")
            verdict = question.diagnose(text)
            db.execute("INSERT OR REPLACE INTO answer VALUES (?, ?, ?, ?, ?, ?)",
                       (row[0], student.id, text.strip(), verdict.mistake, int(verdict.correct), time.time()))
        return verdict

    def mine(self, student: Identity | None) -> Answer | None:
        """This student's own answer to the current question (nobody else's)."""
        if student is None:
            return None
        with self._db() as db:
            row = db.execute("SELECT a.text, q.qid FROM answer a JOIN question q ON a.round = q.round "
                             "WHERE q.closed = 0 AND a.owner = ?", (student.id,)).fetchone()
        q = row and predict.by_key(row[1])
        return Answer(row[0], q.diagnose(row[0])) if q else None

    def tally(self) -> dict[str, int]:
        """How many answers each diagnosis got for the current question: right first, then by count."""
        with self._db() as db:
            rows = db.execute("SELECT a.mistake, COUNT(*), MAX(a.correct) FROM answer a JOIN question q "
                              "ON a.round = q.round WHERE q.closed = 0 GROUP BY a.mistake").fetchall()
        rows.sort(key=lambda r: (-r[2], -r[1], r[0]))
        return {mistake: n for mistake, n, _ in rows}


def chart(counts: dict[str, int]) -> dict:
    """The teacher's histogram: one horizontal bar per diagnosis (Vega-Lite), the right answers green."""
    rows = [{"answer": m, "students": n, "right": m in (predict.RIGHT, predict.HWC)} for m, n in counts.items()]
    return {"data": {"values": rows}, "mark": {"type": "bar"}, "height": {"step": 28},
            "encoding": {"y": {"field": "answer", "type": "nominal", "sort": None, "title": None},
                         "x": {"field": "students", "type": "quantitative", "title": "students",
                               "axis": {"tickMinStep": 1}},
                         "color": {"field": "right", "type": "nominal", "legend": None,
                                   "scale": {"domain": [True, False], "range": ["#2ca02c", "#d62728"]}},
                         "tooltip": [{"field": "answer"}, {"field": "students"}]}}
