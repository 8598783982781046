"""The Lab companion's answers, Streamlit side: one renderer per question, one module per part of the lab
(:mod:`.arithmetic`, :mod:`.training`, :mod:`.improvements`), the shared helpers in :mod:`.common`.

Each renderer takes the page's :class:`~ui.companion.common.Context`; every number comes from
cnncalc.classroom.companion (the core never imports streamlit)."""
from __future__ import annotations

from cnncalc.classroom.companion import questions as cq

from . import arithmetic, improvements, training
from .common import COMPUTED, QUOTED, STORED, Context, context, link  # noqa: F401

ANSWERS = {**arithmetic.ANSWERS, **training.ANSWERS, **improvements.ANSWERS}
if sorted(ANSWERS) != [q.number for q in cq.QUESTIONS]:
    raise RuntimeError(f"the companion has {len(cq.QUESTIONS)} questions but renderers for {sorted(ANSWERS)}")


def render(number: int, ctx: Context) -> None:
    """The answer to question ``number``."""
    ANSWERS[number](ctx)
