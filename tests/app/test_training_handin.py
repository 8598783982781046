"""The Training page's hand-in section (ui/training_handin.py) under AppTest, in a tiny page that only calls it:
the button computes and caches the confusion matrix, the download hands over the zip (read back here, as the
browser would receive it), and runs without a matrix say why."""
import io
import json
import os
import sqlite3
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from cnncalc.server.identity import cli_owner
from cnncalc.train import handin, worker
from cnncalc.train.config import TrainConfig
from cnncalc.train.store import RunStore

from .conftest import plain

CFG = TrainConfig(data="synthetic", limit=300, epochs=1, spec="conv 8 k=3 p=1; relu; maxpool k=2; flatten; fc 10",
                  batch_size=32, optimizer="adam", lr=1e-3, augment="cropflip", device="cpu")


def page(root: str, run_id: int, me: str | None = None) -> None:
    """The tiny page: the section for one run. Its download button is watched: what it would hand the browser
    (its callable run, as a click runs it) is kept in the session for the test to open."""
    import streamlit as st

    from cnncalc.server.identity import cli_owner
    from cnncalc.train.store import RunStore
    from ui.training_handin import handin_section

    real = st.download_button

    def watched(label, data, **kwargs):
        st.session_state["tr_test_download"] = (kwargs.get("file_name"), data() if callable(data) else data)
        return real(label, data, **kwargs)

    st.download_button = watched
    try:
        store = RunStore(root)
        handin_section(store, store.get(run_id), cli_owner(me) if me else None)
    finally:
        st.download_button = real


def _open(store, run_id, me=None) -> AppTest:
    return AppTest.from_function(page, args=(str(store.root), run_id, me), default_timeout=120).run()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("handin-app"))
    run_id = store.start_external(CFG, "my **run** :red[x]", cli_owner("Ada"), os.getpid(), "cpu")
    assert worker.execute(store, store.get(run_id)) == "done"
    return store, run_id


def _zip(at) -> tuple[str, dict[str, bytes]]:
    name, blob = at.session_state["tr_test_download"]
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return name, {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}


def test_the_button_computes_the_matrix_and_the_download_then_holds_it(trained):
    store, run_id = trained
    run = store.get(run_id)
    handin.cache_path(store, run).unlink(missing_ok=True)
    at = _open(store, run_id, me="Ada")
    assert not at.exception
    assert at.subheader[0].value == "What to hand in" and not at.get("vega_lite_chart")
    (button,) = [b for b in at.button if b.label == "Compute the confusion matrix"]
    assert [d.label for d in at.download_button] == ["Download the hand-in (zip)"]
    name, files = _zip(at)
    assert name == f"run-{run_id}-my-run-red-x.zip" and "confusion.csv" not in files and "epochs.csv" in files
    assert "it has not been computed yet" in files["README.txt"].decode()

    at = button.click().run()
    assert not at.exception
    conf = handin.cached(store, run)
    assert conf is not None and conf.agrees  # computed once, cached beside the checkpoint
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["title"]["text"] == "Confusion matrix (test set)"
    assert spec["layer"][0]["encoding"]["color"]["field"] == "row_share" and len(spec["layer"]) == 2  # + counts
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["test top-1 from the matrix"] == f"{conf.accuracy:.2%}"
    assert metrics["recorded in training (epoch 1)"] == f"{store.epochs(run_id)[-1]['test_top1']:.2%}"
    assert any(f"The same {conf.correct:,} of {conf.evaluated:,} images right" in s.value for s in at.success)
    text = plain(" ".join(md.value for md in at.markdown))
    assert "Most confused" in text and "images (" in text
    _, files = _zip(at)
    assert files["confusion.csv"].decode() == conf.to_csv() and "confusion.png" in files

    again = _open(store, run_id)  # another student, later: the cached matrix, no button
    assert not again.exception and again.get("vega_lite_chart")
    assert not [b for b in again.button if b.label == "Compute the confusion matrix"]


def test_another_students_run_can_be_exported_without_names(trained):
    store, run_id = trained
    at = _open(store, run_id, me="Bob")
    assert not at.exception
    assert any("Another student's run" in c.value for c in at.caption)
    _, files = _zip(at)
    assert not any(b"Ada" in v for k, v in files.items() if not k.endswith((".png", ".safetensors")))


def test_runs_without_a_matrix_say_why(trained):
    store, _ = trained
    queued = store.enqueue(CFG, "waiting")
    at = _open(store, queued)
    assert not at.exception
    assert any("once it has finished" in plain(i.value) for i in at.info)
    assert not at.download_button and any("once an epoch has finished" in c.value for c in at.caption)
    store.finish(queued, "failed", "x")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET config=? WHERE id=?", ('{"optimizer": "lion"}', queued))
    at = _open(store, queued)
    assert not at.exception
    assert any("settings cannot be read by this version" in plain(i.value) for i in at.info)
