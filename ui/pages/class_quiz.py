"""Class quiz: the teacher opens one predict-then-reveal question to the class, students send a prediction each,
the teacher sees the answers grouped by the mistake they most likely come from, then reveals the worked answer."""
import sqlite3

import streamlit as st

from cnncalc.classroom import classquiz, predict
from cnncalc.train.store import default_root
from ui import identity, predict_widget
from ui.widgets import escape

ss = st.session_state
REFRESH = 2  # seconds between two looks at the class's question

st.title("🙋 Class quiz")
st.caption("Predict, then reveal, as a class: the teacher opens one question of the Lab companion, everyone sends "
           "a prediction, the teacher's screen groups the answers by the mistake they most likely come from, then "
           "the worked answer is revealed to all. Nobody sees another student's answer or name.")
try:
    quiz = classquiz.ClassQuiz(default_root())
except (OSError, sqlite3.Error) as err:
    st.error(f"**The class quiz cannot be stored:** {err}. The server's administrator should set $CNNCALC_DATA "
             "to a writable folder.")
    st.stop()


def _state(now):
    return None if now is None else (now.round, now.revealed)


def _act(action: str, qid: str = "") -> None:
    """A teacher's button: the store checks the role again (PermissionError for anyone else)."""
    try:
        if action == "open":
            quiz.open_question(identity.current(), qid)
        else:
            getattr(quiz, action)(identity.current())
    except (PermissionError, ValueError) as err:
        ss["cq_error"] = str(err)
    except sqlite3.Error as err:  # e.g. the database stayed locked past its timeout
        ss["cq_error"] = f"The class quiz could not be saved now ({err}): try again."


def _send(round_: int) -> None:
    try:
        quiz.submit(identity.current(), ss.get("cq_answer", ""), round_)
    except (PermissionError, ValueError) as err:
        ss["cq_error"] = str(err)
    except sqlite3.Error as err:
        ss["cq_error"] = f"Your prediction could not be saved now ({err}): send it again."


@st.fragment(run_every=REFRESH)
def histogram() -> None:
    """The teacher's live view: the open question, how many answered, the answers grouped by diagnosis."""
    now = quiz.current()
    if now is None:
        st.info("No question is open: choose one above and click “Open to the class”.")
        return
    q = now.question
    st.markdown(f"**Open now — question {q.number}:** {q.prompt}")
    counts = quiz.tally()
    st.caption(f"{now.answers} student{'s' if now.answers != 1 else ''} answered · "
               + ("answer revealed" if now.revealed else "waiting for predictions"))
    if counts:
        st.vega_lite_chart(classquiz.chart(counts), width="stretch")
        st.caption("Answers by diagnosis: " + " · ".join(f"{m}: {n}" for m, n in counts.items()))
    if now.revealed:
        predict_widget.answer(q)


def teacher_view() -> None:
    now = quiz.current()
    titles = {q.key: f"{q.number}. {q.prompt}" for q in predict.questions()}
    qid = st.selectbox("Question to open", list(titles), format_func=titles.get, key="cq_qid")
    c = st.columns(3)
    c[0].button("Open to the class", key="cq_open", type="primary", on_click=_act, args=("open", qid),
                help="A new round: the previous question's answers are dropped.")
    c[1].button("Reveal the answer", key="cq_reveal", on_click=_act, args=("reveal",),
                disabled=now is None or now.revealed, help="Shows the worked answer to everyone; no more answers.")
    c[2].button("Close", key="cq_close", on_click=_act, args=("close",), disabled=now is None,
                help="Takes the question off the students' screens.")
    histogram()


@st.fragment(run_every=REFRESH)
def watch(seen) -> None:
    """A student's screen: rerun the page when the teacher opens, reveals or closes a question (only then, so
    a prediction being typed is left alone)."""
    if _state(quiz.current()) != seen:
        st.rerun()


def student_view(me) -> None:
    now = quiz.current()
    watch(_state(now))
    if now is None:
        st.info("No question is open yet: the teacher will open one (this page updates by itself).")
        return
    q = now.question
    st.subheader(f"Question {q.number} of the Lab companion")
    st.markdown(q.prompt)
    mine = quiz.mine(me)
    if not now.revealed:
        with st.form("cq_form"):
            st.text_input("Your prediction", key="cq_answer", max_chars=classquiz.MAX_CHARS,
                          placeholder="your prediction",
                          help="A number: 2432, 2,432, 2.3 or 2,3, 10 %, 1/10; a shape as C×H×W, e.g. 64x4x4.")
            st.form_submit_button("Send my prediction", key="cq_send", on_click=_send, args=(now.round,))
        if mine:
            st.caption(f"Sent: **{escape(mine.text)}** — send another to replace it. The answer appears here "
                       "when the teacher reveals it.")
        return
    if mine:
        predict_widget.feedback(q, mine.text)
    else:
        st.caption("You sent no prediction for this question.")
    predict_widget.answer(q)


me = identity.box("the teacher sees how many gave each kind of answer, never who gave which.")
if err := ss.pop("cq_error", None):
    st.error(err)
if me is not None and me.teacher:
    teacher_view()
elif me is not None:
    student_view(me)
identity.teacher_box()
