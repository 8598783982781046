"""Predict first, in the Lab companion: a "Your prediction" box above each numeric answer; the worked answer
(cnncalc.classroom.predict) appears once the student submits a prediction or clicks "Show the answer", with
the diagnosis of a wrong prediction. Session keys start with ``lc_``."""
from __future__ import annotations

import streamlit as st

from cnncalc.classroom import predict
from ui.widgets import escape

ss = st.session_state
SHOWN = "lc_pred_shown"   # {prediction key: the text submitted ('' when shown without a prediction)}
EMPTY = "lc_pred_empty"   # the prediction whose "Check" was clicked with an empty box


def _submit(key: str, check: bool) -> None:
    text = str(ss.get(f"lc_pred_{key}", "") or "").strip()
    if check and not text:
        ss[EMPTY] = key
        return
    ss.setdefault(SHOWN, {})[key] = text if check else ""


def _again(key: str) -> None:
    ss.setdefault(SHOWN, {}).pop(key, None)


def feedback(p: predict.Prediction, text: str) -> predict.Diagnosis:
    """The student's prediction (escaped) and its diagnosis."""
    d = p.diagnose(text)
    st.markdown(f"Your prediction: **{escape(text)}**")
    (st.success if d.correct else st.error)(d.message)
    return d


def answer(p: predict.Prediction) -> None:
    st.markdown(f"**Answer: {p.shown}.** {p.answer}")


def ask(p: predict.Prediction) -> bool:
    """One prediction; True once its worked answer is shown."""
    shown = ss.setdefault(SHOWN, {})
    with st.container(border=True):
        if p.key not in shown:
            with st.form(f"lc_pf_{p.key}", border=False):
                st.text_input(f"Your prediction — {p.prompt}", key=f"lc_pred_{p.key}", max_chars=predict.MAX_CHARS,
                              placeholder="your prediction",
                              help="A number: 2432, 2,432, 2.3 or 2,3, 10 %, 1/10; a shape as C×H×W, e.g. 64x4x4.")
                c1, c2 = st.columns(2)
                c1.form_submit_button("Check my prediction", key=f"lc_pred_check_{p.key}", on_click=_submit,
                                     args=(p.key, True))
                c2.form_submit_button("Show the answer", key=f"lc_pred_show_{p.key}", on_click=_submit,
                                     args=(p.key, False))
            if ss.get(EMPTY) == p.key:
                ss.pop(EMPTY)
                st.info("Type a prediction first — or click “Show the answer”.")
            return False
        st.markdown(f"*{p.prompt}*")
        if shown[p.key]:
            feedback(p, shown[p.key])
        answer(p)
        st.button("Predict again", key=f"lc_pred_again_{p.key}", on_click=_again, args=(p.key,))
    return True


def ask_all(predictions) -> bool:
    """Every prediction of one question; True when all their answers are shown."""
    return all([ask(p) for p in predictions])  # noqa: C419 (every box is drawn: no short-circuit)
