"""The Class quiz page under AppTest: one teacher and two students, each a session of its own, sharing one
temporary store (as browsers share the server's)."""
import json

import pytest

from cnncalc.classroom import predict
from cnncalc.classroom.classquiz import ClassQuiz

from .conftest import plain

PAGE = "ui/pages/class_quiz.py"
SECRET = "s3cret-for-tests"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))
    monkeypatch.setenv("CNNCALC_TEACHER_KEY", SECRET)
    return tmp_path / "store"


def student(open_page, name: str):
    at = open_page(PAGE)
    at.text_input(key="identity_name").set_value(name)
    next(b for b in at.button if b.label == "Use this name").click().run()
    assert not at.exception
    return at


def teacher(open_page):
    at = open_page(PAGE)
    at.text_input(key="identity_teacher").set_value(SECRET)
    at.button(key="identity_teacher_go").click().run()
    assert not at.exception and at.selectbox(key="cq_qid")
    return at


def send(at, text: str):
    at.text_input(key="cq_answer").set_value(text)
    at.button(key="cq_send").click().run()
    assert not at.exception
    return at


def _texts(at):
    return " ".join(plain(m.value) for m in at.markdown) + " " + " ".join(plain(c.value) for c in at.caption)


def _chart_counts(at) -> dict:
    """The bars of the teacher's histogram (Streamlit moves the chart's data into an Arrow table)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
    (chart,) = at.get("vega_lite_chart")
    assert json.loads(chart.proto.spec)["encoding"]["x"]["field"] == "students"
    rows = convert_arrow_bytes_to_pandas_df(chart.proto.data.data)
    return dict(zip(rows["answer"], rows["students"].astype(int)))


def test_teacher_opens_students_predict_teacher_sees_the_histogram_and_reveals(store, open_page):
    ada, bob = student(open_page, "Ada"), student(open_page, "<b>Bob</b>")
    assert any("No question is open yet" in i.value for i in ada.info)
    assert not [s for s in ada.selectbox if s.key == "cq_qid"]       # students get no teacher controls
    t = teacher(open_page)
    t.selectbox(key="cq_qid").set_value("conv1_fc").run()
    t.button(key="cq_open").click().run()
    fc = predict.by_key("conv1_fc")
    send(ada.run(), "100,663,296")                                    # (3·32·32)·(32·32·32)
    send(bob.run(), "3072")                                           # one neuron's weights: × 32,768 = the truth
    send(bob, "3 072")                                                # a resubmission replaces
    assert "Sent: **3 072**" in _texts(bob) and "Ada" not in _texts(bob)  # a student sees only their own answer
    assert fc.shown not in _texts(bob)                                # not revealed yet
    t.run()
    assert _chart_counts(t) == {"right": 1, "per-neuron FC": 1}
    assert "2 students answered" in _texts(t) and "Bob" not in _texts(t)
    t.button(key="cq_reveal").click().run()
    assert ClassQuiz(store).current().revealed
    bob.run()
    assert f"Answer: {fc.shown}." in _texts(bob)
    assert any("x′·y′·N = 32,768 outputs" in e.value for e in bob.error)
    assert not [x for x in bob.text_input if x.key == "cq_answer"]   # no more answers after the reveal
    assert any(s.value.startswith("Right") for s in ada.run().success)
    assert not (ada.exception or bob.exception or t.exception)


def test_a_student_cannot_act_as_the_teacher(store, open_page):
    ada = student(open_page, "Ada")
    assert not [b for b in ada.button if b.key in ("cq_open", "cq_reveal", "cq_close")]
    from cnncalc.classroom.classquiz import ClassQuiz as Quiz
    from cnncalc.server.identity import Identity
    with pytest.raises(PermissionError):
        Quiz(store).open_question(Identity("x", "Ada"), "lab_total")


def test_answer_after_the_teacher_moved_on_is_refused(store, open_page):
    t = teacher(open_page)
    t.button(key="cq_open").click().run()                             # the first question
    ada = student(open_page, "Ada")
    t.selectbox(key="cq_qid").set_value("chance_loss").run()
    t.button(key="cq_open").click().run()
    ada.text_input(key="cq_answer").set_value("2.3")
    ada.button(key="cq_send").click().run()
    assert any("opened another question" in e.value for e in ada.error)
    send(ada, "2,303")
    assert ClassQuiz(store).tally() == {"right": 1}
    t.button(key="cq_close").click().run()
    assert any("No question is open yet" in i.value for i in ada.run().info)
