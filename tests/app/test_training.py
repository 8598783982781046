"""The Training page under AppTest, on a temporary run store; no real worker is ever started."""
import math
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnncalc.train import worker
from cnncalc.train.config import LADDER, TrainConfig
from cnncalc.train.engine import EpochRecord
from cnncalc.train.store import RunStore
from ui.training_form import form_values

ENSURE_WORKER = worker.ensure_worker  # the real one, before the fixture replaces it

from .conftest import plain

PAGE = str(Path(__file__).resolve().parents[2] / "ui" / "pages" / "training.py")


def _record(epoch, train_loss, train_top1, test_loss, test_top1):
    return EpochRecord(epoch, train_loss, train_top1, min(1.0, train_top1 + 0.4), test_loss, test_top1,
                       min(1.0, test_top1 + 0.4), 0.1, 1.5, (2.31, 2.2, 2.0))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))
    started = []
    monkeypatch.setattr(worker, "ensure_worker", lambda root, *a, **k: started.append(Path(root)) or True)
    s = RunStore(tmp_path / "store")
    s.started_workers = started
    return s


def _open(run=None):
    at = AppTest.from_file(PAGE, default_timeout=30)
    if run is not None:
        at.query_params["run"] = str(run)
    return at.run()


def _finished_run(store) -> int:
    """Hand-made: test loss lowest at epoch 2 (1.80); best test top-1 42.0 % at epoch 3."""
    run_id = store.enqueue(TrainConfig(data="synthetic", limit=300, epochs=3), owner="someone")
    store.claim(os.getpid(), "cpu", run_id=run_id)
    for rec in [_record(1, 2.30, 0.12, 2.25, 0.18), _record(2, 1.60, 0.40, 1.80, 0.35),
                _record(3, 1.10, 0.60, 1.95, 0.42)]:
        store.add_epoch(run_id, rec)
    store.finish(run_id, "done", "final test top-1 42.0% (best 42.0% at epoch 3)")
    return run_id


def test_empty_store_renders(store):
    at = _open()
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def test_finished_run_status_best_top1_and_chance_text(store):
    run_id = _finished_run(store)
    at = _open(run_id)
    assert not at.exception
    assert any(s.value.startswith("**Done.**") for s in at.success)
    assert next(m.value for m in at.metric if m.label == "best test top-1") == "42.0%"
    text = " ".join(md.value for md in at.markdown)
    assert "ln 10 ≈ 2.303" in text and "guesses uniformly" in text
    assert "lowest at epoch 2 (1.800)" in text and "+18.0 points" in text  # 0.60 − 0.42
    runs = at.dataframe[0].value
    assert runs.loc[runs["#"] == run_id, "status"].item() == "✅ done"
    assert runs.loc[runs["#"] == run_id, "best test top-1"].item() == pytest.approx(42.0)


def test_diverged_run_shows_error(store):
    run_id = store.enqueue(TrainConfig(data="synthetic", lr=10.0, epochs=2))
    store.claim(os.getpid(), "cpu", run_id=run_id)
    store.add_epoch(run_id, _record(1, math.nan, 0.1, math.nan, 0.1))
    message = "the training loss became nan at epoch 1, step 3: the learning rate 10 is too high"
    store.finish(run_id, "diverged", message)
    at = _open(run_id)
    assert not at.exception
    assert any(message in plain(e.value) for e in at.error)


def test_ladder_preset_fills_the_form(store):
    at = _open()
    at.button(key="tr_step4").click().run()
    assert at.number_input(key="tr_momentum").value == pytest.approx(0.9)
    assert at.selectbox(key="tr_schedule").value == "exponential"
    assert at.number_input(key="tr_gamma").value == pytest.approx(0.95)
    assert at.selectbox(key="tr_standardize").value == "train"
    assert at.selectbox(key="tr_augment").value == "cropflip"
    at.button(key="tr_lr_0.001").click().run()  # a sweep changes one value only
    assert at.number_input(key="tr_lr").value == pytest.approx(0.001)
    assert at.number_input(key="tr_momentum").value == pytest.approx(0.9)
    at.button(key="tr_step1").click().run()  # a ladder step resets the rest
    assert at.number_input(key="tr_momentum").value == 0.0 and at.selectbox(key="tr_schedule").value == "none"
    assert not at.exception


def sign_in(at, name: str):
    at.text_input(key="identity_name").set_value(name)
    next(b for b in at.button if b.label == "Use this name").click().run()
    assert not at.exception
    return at


def queue(at, epochs: int = 2, name: str = ""):
    at.selectbox(key="tr_source").set_value("synthetic (offline demo)")
    at.number_input(key="tr_limit").set_value(300)
    at.number_input(key="tr_epochs").set_value(epochs)
    at.text_input(key="tr_name").set_value(name)
    next(b for b in at.button if b.label == "Queue this run").click().run()
    assert not at.exception
    return at


def test_submit_queues_a_run_and_starts_the_worker(store):
    at = sign_in(_open(), "Ada")
    at.selectbox(key="tr_source").set_value("synthetic (offline demo)")
    at.number_input(key="tr_limit").set_value(300)
    at.number_input(key="tr_epochs").set_value(2)
    next(b for b in at.button if b.label == "Queue this run").click().run()
    assert not at.exception and not at.error
    (run,) = store.list()
    assert (run.config.data, run.config.limit, run.config.epochs, run.status) == ("synthetic", 300, 2, "queued")
    assert set(store.started_workers) == {store.root}  # asked after queueing (and again by the refresh: none runs)
    assert at.query_params["run"] == str(run.id)
    assert any("queued" in p.proto.text for p in at.get("progress"))


def test_no_free_text_path_and_no_server_path_shown(store, tmp_path, monkeypatch):
    """Students train only on what the server offers: no path box, no server path in a label or a help text;
    a run cannot be queued without a name."""
    copy = tmp_path / "secret-location" / "cifar"
    for split in ("train", "test"):
        (copy / split / "cat").mkdir(parents=True)
    monkeypatch.setenv("CNNCALC_CIFAR10_DIR", str(copy))
    at = _open()
    assert not [t for t in at.text_input if "folder" in t.label.lower()]
    shown = " ".join(list(at.selectbox(key="tr_source").options) + [str(at.selectbox(key="tr_source").help)])
    assert "CIFAR-10 (local copy)" in shown and "secret-location" not in shown and str(tmp_path) not in shown
    queue(at)
    assert any("Type your name first" in e.value for e in at.error) and store.list() == []


def test_cancel_a_queued_run(store):
    at = sign_in(_open(), "Ada")
    queue(at, epochs=1)
    (run,) = store.list()
    run_id = run.id
    assert any("queued" in p.proto.text for p in at.get("progress"))
    at.button(key=f"tr_cancel{run_id}").click().run()
    assert not at.exception
    assert store.get(run_id).status == "cancelled"
    assert any("cancelled before it started" in plain(w.value) for w in at.warning)


def test_unknown_run_and_unusable_store_are_explained(store, tmp_path, monkeypatch):
    _finished_run(store)
    at = _open(999)
    assert not at.exception and any("no run 999" in w.value for w in at.warning)
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "a_file"))
    at = _open()
    assert not at.exception and any("cannot be opened" in e.value for e in at.error)


def test_q32_form_values_fill_the_training_form():
    v = form_values({**LADDER["6 + batch norm"], "dropout": 0.25})
    assert v["tr_dropout"] == 0.25 and v["tr_batchnorm"] is True and v["tr_epochs"] == 100
    assert v["tr_lr"] == 0.1 and v["tr_augment"] == "cropflip"
    with pytest.raises(ValueError):
        form_values({"dropout": 1.5})


def test_only_the_owner_and_the_teacher_may_change_a_run(store, monkeypatch):
    """Two browsers: B sees A's run read-only (no cancel button; the store refuses too); the teacher, signed
    in with the secret, sees who ran it and may cancel it."""
    a = sign_in(_open(), "Ada")
    queue(a, name="ada's run")
    (run,) = store.list()
    assert (run.owner_name, run.name) == ("Ada", "ada's run")
    b = sign_in(_open(run.id), "Bob")
    assert not [x for x in b.button if x.key == f"tr_cancel{run.id}"]
    assert any("Another student's run" in c.value for c in b.caption)
    assert "student" not in b.dataframe[0].value.columns  # students do not see each other's names
    from cnncalc.server.identity import Identity
    with pytest.raises(PermissionError):
        store.cancel(run.id, Identity("intruder", "Bob"))
    monkeypatch.setenv("CNNCALC_TEACHER_KEY", "s3cret-for-tests")
    t = _open(run.id)
    t.text_input(key="identity_teacher").set_value("wrong")
    t.button(key="identity_teacher_go").click().run()
    assert any("not the teacher secret" in e.value for e in t.error)
    t.text_input(key="identity_teacher").set_value("s3cret-for-tests")
    t.button(key="identity_teacher_go").click().run()
    assert t.dataframe[0].value["student"].tolist() == ["Ada"]
    t.button(key=f"tr_cancel{run.id}").click().run()
    assert store.get(run.id).status == "cancelled"


def test_the_same_cookie_is_the_same_owner_after_a_reload(store, monkeypatch):
    """A reload or a new tab sends the cookie back: the page verifies it and the runs are still yours. A token
    with a changed name or another server's signature is ignored."""
    from cnncalc.server import identity as ident
    from ui import identity as page_identity
    a = sign_in(_open(), "Ada")
    queue(a)
    (run,) = store.list()
    token = ident.issue("Ada", ident.server_key(store.root), owner_id=run.owner)
    monkeypatch.setattr(page_identity, "_cookie_token", lambda: token)
    again = _open(run.id)
    assert any("Signed in as **Ada**" in m.value for m in again.markdown)
    assert [x for x in again.button if x.key == f"tr_cancel{run.id}"]
    forged = token.split(".")[0][:-2] + "xx." + token.split(".")[1]
    monkeypatch.setattr(page_identity, "_cookie_token", lambda: forged)
    assert not [x for x in _open(run.id).button if x.key == f"tr_cancel{run.id}"]


def test_quota_refusal_names_the_limit(store, monkeypatch, fresh_limits):
    monkeypatch.setenv("CNNCALC_QUEUED_RUNS_PER_OWNER", "2")
    at = sign_in(_open(), "Ada")
    for epochs in (2, 3, 4):  # three different experiments (the same one twice would be shown, not queued)
        queue(at, epochs=epochs)
    assert len(store.list()) == 2
    assert any("queued_runs_per_owner" in plain(e.value) and "classroom.toml" in plain(e.value) for e in at.error)


def test_run_names_and_odd_links_are_text(store):
    """A run named like a Markdown image must not make every viewer's browser fetch a URL; ?run=² is no run."""
    at = sign_in(_open(), "Ada")
    queue(at, name="![p](http://host/pixel.png) :red[x] <img src=x>")
    assert not at.get("imgs") and not [m for m in at.markdown if "](http" in m.value.replace("\\", "")]
    assert any("![p](http://host/pixel.png)" in plain(h.value) for h in at.subheader)
    assert not any("](http://host" in h.value for h in at.subheader)  # escaped in the source: no link, no image
    odd = _open()
    odd.query_params["run"] = "²"
    odd.run()
    assert not odd.exception


def test_quick_demo_queues_the_recipe_once_for_the_class(store, monkeypatch):
    """On a machine without a GPU the form starts with the quick recipe; the Quick demo button queues it, and a
    second student pressing it is shown the same run instead of training it again."""
    from cnncalc.train.config import QUICK_EXPLANATION, quick_config
    from ui import training_form
    small = quick_config("synthetic").replace(limit=2_000, test_limit=400)  # within the synthetic-data quota
    monkeypatch.setattr(training_form, "quick_run", lambda: small)
    a = sign_in(_open(), "Ada")
    assert a.number_input(key="tr_epochs").value == quick_config("synthetic").epochs  # the form's default here
    assert any(QUICK_EXPLANATION[:60] in m.value for m in a.markdown)
    a.button(key="tr_quick").click().run()
    assert not a.exception
    (run,) = store.list()
    assert run.config == small and run.status == "queued"
    assert any("place 1 in the queue" in p.proto.text for p in a.get("progress"))
    b = sign_in(_open(), "Bob")
    b.button(key="tr_quick").click().run()
    assert len(store.list()) == 1 and b.query_params["run"] == str(run.id)
    assert any("already in the store" in i.value for i in b.info)


def test_cpu_ladder_buttons_scale_the_step_and_full_length_restores_it(store):
    from cnncalc.train.config import LADDER, cpu_ladder
    at = _open()
    step = "3 + random crop 28 + flip"
    at.button(key="tr_step3").click().run()
    small = cpu_ladder(LADDER[step])
    assert at.number_input(key="tr_epochs").value == small["epochs"] < LADDER[step]["epochs"]
    assert at.number_input(key="tr_limit").value == small["limit"]
    at.toggle(key="tr_full").set_value(True).run()
    at.button(key="tr_step3").click().run()
    assert at.number_input(key="tr_epochs").value == LADDER[step]["epochs"]
    assert at.number_input(key="tr_limit").value == 0



def test_with_the_ray_backend_the_page_starts_no_worker_and_says_who_serves(store, monkeypatch):
    """backend = "ray": the teacher's `worker --backend ray` serves the queue; when it is not running the page
    says so instead of starting an embedded worker on the web host."""
    monkeypatch.setenv("CNNCALC_BACKEND", "ray")
    monkeypatch.setattr(worker, "ensure_worker", ENSURE_WORKER)
    launched = []
    monkeypatch.setattr(worker.subprocess, "Popen", lambda *a, **k: launched.append(a))
    store.enqueue(TrainConfig(data="synthetic", limit=300, epochs=1), owner="someone")
    at = _open()
    assert not at.exception and launched == []
    assert any("worker --backend ray" in w.value for w in at.warning), [w.value for w in at.warning]


def test_with_the_ray_backend_the_caption_names_the_clusters_gpus(store, monkeypatch):
    """The Ray worker's lock file says what it found: the page's caption and GPU-sized form follow it."""
    import fcntl
    import json
    monkeypatch.setenv("CNNCALC_BACKEND", "ray")
    with open(worker.lock_path(store.root, "ray"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        json.dump({"backend": "ray", "gpus": 4.0, "cpus": 64.0, "machines": 3, "slots": 4}, lock)
        lock.flush()
        at = _open()
        assert not at.exception
        caption = " ".join(c.value for c in at.caption)
        assert "the class's Ray cluster: 4 GPUs on 3 machines" in caption
        assert not any("No GPU here" in i.value for i in at.info)  # the runs train on the cluster's GPUs
        assert not any("worker --backend ray" in w.value for w in at.warning)  # its worker runs
        assert worker.queue_slots(store.root) == 4  # the page's wait estimates count four runs at once
    assert worker.queue_slots(store.root) == 1  # no Ray worker now
