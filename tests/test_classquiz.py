"""The class quiz's store (cnncalc.classroom.classquiz): who may do what, one answer per student, the tally."""
import pytest

from cnncalc.classroom import classquiz
from cnncalc.server.identity import TEACHER, Identity

ADA, BOB, CY = Identity("a1", "Ada"), Identity("b2", "Bob"), Identity("c3", "Cy")


@pytest.fixture
def quiz(tmp_path):
    return classquiz.ClassQuiz(tmp_path)


def test_only_the_teacher_opens_reveals_and_closes(quiz):
    for who in (ADA, None, Identity("teacher-ish", "teacher")):
        with pytest.raises(PermissionError):
            quiz.open_question(who, "lab_total")
    quiz.open_question(TEACHER, "lab_total")
    for action in (quiz.reveal, quiz.close):
        with pytest.raises(PermissionError):
            action(BOB)
    assert not quiz.current().revealed
    quiz.reveal(TEACHER)
    assert quiz.current().revealed
    quiz.close(TEACHER)
    assert quiz.current() is None


def test_an_unknown_question_is_refused(quiz):
    with pytest.raises(ValueError):
        quiz.open_question(TEACHER, "no-such-question")


def test_one_answer_per_student_a_resubmission_replaces(quiz):
    quiz.open_question(TEACHER, "conv1_fc")
    quiz.submit(ADA, "3072")                       # per-neuron: 3,072 × 32·32·32 = 100,663,296
    quiz.submit(ADA, "100,663,296")                # replaces it
    quiz.submit(BOB, "3,072")
    assert quiz.current().answers == 2
    assert quiz.tally() == {"right": 1, "per-neuron FC": 1}
    assert quiz.mine(ADA).text == "100,663,296" and quiz.mine(ADA).diagnosis.correct
    assert quiz.mine(CY) is None


def test_tally_groups_by_mistake_right_first(quiz):
    quiz.open_question(TEACHER, "lab_total")
    for i, text in enumerate(["1190000", "1,190,000", "1191170", "156160", "1190000", "abc"]):
        quiz.submit(Identity(f"s{i}", f"S{i}"), text)
    counts = quiz.tally()
    assert counts == {"right": 1, "forgot the biases": 3, "only the conv layers": 1, "unreadable": 1}
    assert list(counts)[:2] == ["right", "forgot the biases"]
    spec = classquiz.chart(counts)
    assert [r["students"] for r in spec["data"]["values"]] == [1, 3, 1, 1]


def test_answers_are_checked_and_closed_after_the_reveal(quiz):
    with pytest.raises(ValueError):
        quiz.submit(ADA, "1")                      # nothing open
    n = quiz.open_question(TEACHER, "chance_loss")
    with pytest.raises(PermissionError):
        quiz.submit(None, "2.3")
    for bad in ("", "   ", "9" * (classquiz.MAX_CHARS + 1)):
        with pytest.raises(ValueError):
            quiz.submit(ADA, bad)
    assert quiz.submit(ADA, "2,303", n).correct
    quiz.open_question(TEACHER, "dropout_scale")   # a new round: the old answers go
    with pytest.raises(ValueError):
        quiz.submit(ADA, "2", n)                   # sent from the screen of the previous question
    assert quiz.tally() == {} and quiz.mine(ADA) is None
    quiz.reveal(TEACHER)
    with pytest.raises(ValueError):
        quiz.submit(BOB, "2")


def test_two_stores_on_one_folder_share_the_question(tmp_path):
    a, b = classquiz.ClassQuiz(tmp_path), classquiz.ClassQuiz(tmp_path)  # two app processes
    a.open_question(TEACHER, "momentum_gain")
    b.submit(ADA, "0.9")                           # m instead of 1/(1 − m) = 10
    assert a.tally() == {"m vs 1/(1−m)": 1}


def test_one_round_takes_at_most_max_answers_and_a_student_may_still_replace_theirs(quiz, monkeypatch):
    """Signing in again gives a new owner id: without a cap one student could stuff the projected histogram."""
    monkeypatch.setattr(classquiz, "MAX_ANSWERS", 3)
    quiz.open_question(TEACHER, "lab_total")
    for who in (ADA, BOB, CY):
        quiz.submit(who, "1191170")
    with pytest.raises(ValueError, match="already has 3 answers"):
        quiz.submit(Identity("d4", "Dee"), "1191170")
    quiz.submit(ADA, "1190000")                    # a replacement is not a new answer
    assert quiz.current().answers == 3 and quiz.tally() == {"right": 2, "forgot the biases": 1}


def test_a_question_id_this_version_does_not_know_is_as_if_none_were_open(quiz):
    quiz.open_question(TEACHER, "lab_total")
    with quiz._db(write=True) as db:                # what an older version's row could hold
        db.execute("UPDATE question SET qid = 'renamed_since'")
    assert quiz.current() is None
    with pytest.raises(ValueError, match="no question is open"):
        quiz.submit(ADA, "1191170")
