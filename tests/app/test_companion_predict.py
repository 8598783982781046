"""The Lab companion's "Predict first" mode under AppTest, on a temporary run store."""
import pytest

from cnncalc.classroom import predict

from .conftest import plain

PAGE = "ui/pages/companion.py"


@pytest.fixture
def page(tmp_path, monkeypatch, open_page):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))
    return open_page(PAGE)


def _texts(at):
    return " ".join(plain(m.value) for m in at.markdown).replace("**", "")


def _feedback(at):
    return [e.value for e in at.error] + [s.value for s in at.success]


def test_off_by_default_the_sheet_reads_as_answers(page):
    assert not page.exception
    assert page.toggle(key="lc_predict").value is False
    assert not [t for t in page.text_input if t.key and t.key.startswith("lc_pred_")]


def test_predict_first_hides_the_answer_until_a_prediction(page):
    at = page.toggle(key="lc_predict").set_value(True).run()
    assert not at.exception
    keys = {t.key for t in at.text_input if t.key and t.key.startswith("lc_pred_")}
    assert keys == {f"lc_pred_{q.key}" for q in predict.questions()}
    total = predict.by_key("lab_total")
    assert f"Answer: {total.shown}" not in _texts(at)          # Q10's worked answer and table are hidden
    assert any("appears once each number above" in c.value for c in at.caption)
    at.text_input(key="lc_pred_lab_total").set_value("1190000")
    at.button(key="lc_pred_check_lab_total").click().run()   # 1,191,170 − 1,170 biases
    assert not at.exception
    assert any("counts the weights only" in e for e in _feedback(at))
    assert f"Answer: {total.shown}." in _texts(at) and "Your prediction: 1190000" in _texts(at)


def test_show_the_answer_without_predicting_and_predict_again(page):
    at = page.toggle(key="lc_predict").set_value(True).run()
    at.button(key="lc_pred_check_chance_loss").click().run()  # empty box: asked to type, nothing shown
    assert any("Type a prediction first" in i.value for i in at.info)
    at.button(key="lc_pred_show_chance_loss").click().run()
    assert "Answer: ln 10 ≈ 2.303." in _texts(at)
    at.button(key="lc_pred_again_chance_loss").click().run()
    assert "Answer: ln 10 ≈ 2.303." not in _texts(at)
    at.text_input(key="lc_pred_chance_loss").set_value("2,3")
    at.button(key="lc_pred_check_chance_loss").click().run()
    assert any(s.value.startswith("Right") for s in at.success)


def test_a_prediction_is_shown_escaped(page):
    at = page.toggle(key="lc_predict").set_value(True).run()
    at.text_input(key="lc_pred_dropout_scale").set_value("**2** <b>[x](http://e.vil)</b>")
    at.button(key="lc_pred_check_dropout_scale").click().run()
    assert not at.exception
    shown = next(m.value for m in at.markdown if m.value.startswith("Your prediction"))
    assert "\\*\\*2\\*\\*" in shown and "\\<b\\>" in shown and "\\[x\\]" in shown
    assert any("Type a number" in e.value for e in at.error)
