"""What students hand in (issue #11, point 7). The confusion matrix's oracle is the engine's own evaluation stored
at training time: on real tiny runs (both pipelines, the "cropflip" centre crop, bf16 where this CPU has it, ZCA,
an ImageFolder tree with a limit) trace / total equals the recorded test top-1 exactly; the counting itself is
checked on a hand-made 3-class example. The export's files are read back: CSV rows = epochs, the command parses
back to the run's config with the CLI's own parser, PNGs decode with Pillow, the zip stays under its bound, and
nothing in it names a person or a server path."""
import argparse
import contextlib
import csv
import io
import json
import os
import shlex
import sqlite3
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnncalc.cli import main
from cnncalc.draw import confusion as cd
from cnncalc.server.identity import cli_owner
from cnncalc.train import handin, worker
from cnncalc.train.cli import add_parsers, config_from_args
from cnncalc.train.config import TrainConfig
from cnncalc.train.store import RunStore

SMALL = "conv 8 k=3 p=1; relu; maxpool k=2; flatten; fc {k}"
QUICK = dict(epochs=2, batch_size=16, optimizer="adam", lr=1e-3, standardize="train", device="cpu")
RUNS = {  # name → config: each exercises one way the engine prepared its test images
    "fast, lab net, cropflip": TrainConfig(data="synthetic", limit=300, epochs=2, augment="cropflip",
                                           standardize="train", device="cpu"),
    "lab pipeline, cropflip": TrainConfig(data="synthetic", limit=300, spec=SMALL.format(k=10), pipeline="lab",
                                          workers=0, augment="cropflip", **QUICK),
    "folder, zca": TrainConfig(data="FOLDER", spec=SMALL.format(k=3), zca=True, **QUICK),
    "folder, limit, padcrop": TrainConfig(data="FOLDER", limit=30, spec=SMALL.format(k=3), augment="padcrop",
                                          **QUICK),
}


def image_folder(root):
    """Three classes of 8×8 colour squares with noise: train 40, test 20 per class."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 20)):
        for k, name in enumerate(("bird", "cat", "dog")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                base = np.zeros((8, 8, 3)) + 60
                base[..., k] = 200
                img = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(root / split / name / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The runs of RUNS, trained through the worker as the CLI trains them, in one store owned by 'Ada'."""
    tmp = tmp_path_factory.mktemp("handin")
    folder = image_folder(tmp / "images")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNCALC_CACHE", str(tmp / "cache"))
        store = RunStore(tmp / "store")
        ids = {}
        for name, cfg in RUNS.items():
            cfg = cfg.replace(data=str(folder)) if cfg.data == "FOLDER" else cfg
            ids[name] = store.start_external(cfg, name, cli_owner("Ada"), os.getpid(), "cpu")
            assert worker.execute(store, store.get(ids[name])) == "done", store.get(ids[name]).message
        yield store, ids, folder


# --- counting ---------------------------------------------------------------------------------------------------
def test_counting_on_a_hand_made_three_class_example():
    true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    pred = [0, 1, 0, 1, 1, 2, 0, 2, 1]
    assert handin.count(true, pred, 3).tolist() == [[2, 1, 0], [0, 2, 0], [1, 1, 2]]
    conf = handin.Confusion(("a", "b", "c"), ((2, 1, 0), (0, 2, 0), (1, 1, 2)), 9, 3, 6 / 9)
    assert (conf.correct, conf.evaluated, conf.accuracy, conf.agrees) == (6, 9, 6 / 9, True)
    assert handin.Confusion(("a", "b", "c"), conf.counts, 9, 3, 5 / 9).agrees is False
    assert handin.Confusion(("a", "b", "c"), conf.counts, 20, 3, 6 / 9).agrees is None  # a sample: not compared
    assert conf.to_csv().splitlines() == ["true \\ predicted,a,b,c", "a,2,1,0", "b,0,2,0", "c,1,1,2"]
    with pytest.raises(ValueError, match="outside"):
        handin.count([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="2 true labels but 1"):
        handin.count([0, 1], [0], 3)


def test_the_most_confused_pairs_in_words():
    classes = ("cat", "dog", "bird")
    counts = [[800, 142, 58], [120, 860, 20], [10, 0, 990]]
    assert cd.confused_sentences(classes, counts) == [
        "cat → dog: 142 of the 1,000 cat images (14.2%)", "dog → cat: 120 of the 1,000 dog images (12.0%)",
        "cat → bird: 58 of the 1,000 cat images (5.8%)"]
    # a tie in counts: the larger share of its row first (4 of 10 before 4 of 100)
    assert cd.most_confused(("a", "b"), [[96, 4], [4, 6]], 2) == [("b", "a", 4, 10), ("a", "b", 4, 100)]
    assert cd.confused_sentences(classes, np.diag([5, 5, 5])) == [
        "no confusion at all: every test image was classified as its true class"]


def test_the_chart_is_the_matrix_with_viridis_and_row_percentages():
    spec = cd.confusion_chart(("cat", "dog"), [[3, 1], [0, 4]]).to_dict()
    rows = {(r["true"], r["predicted"]): r for r in next(iter(spec["datasets"].values()))}
    assert rows["cat", "dog"]["count"] == 1 and rows["cat", "dog"]["row_share"] == 0.25
    rect = spec["layer"][0]["encoding"]
    assert rect["color"]["scale"]["range"] == cd.VIRIDIS and cd.VIRIDIS[0] == "#440154" and cd.VIRIDIS[-1] == "#fde725"
    assert {t["field"] for t in rect["tooltip"]} >= {"true", "predicted", "count", "row_share"}


# --- the matrix of real runs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(RUNS))
def test_the_matrix_accuracy_is_the_recorded_test_top1(trained, name):
    store, ids, _ = trained
    run = store.get(ids[name])
    conf = handin.compute(store, run)
    last = store.epochs(run.id)[-1]
    assert conf.epoch == last["epoch"] and conf.recorded_top1 == last["test_top1"]
    assert conf.evaluated == conf.test_images
    assert conf.accuracy == last["test_top1"], (conf.correct, conf.evaluated)  # the engine's c1 / n, exactly
    assert conf.agrees and conf.note == ""
    expected = {"fast, lab net, cropflip": 200, "lab pipeline, cropflip": 200, "folder, zca": 60,
                "folder, limit, padcrop": 30}[name]  # synthetic: a fifth of 300, at least 200
    assert conf.test_images == expected


def test_cached_beside_the_checkpoint_and_renewed_with_it(trained):
    store, ids, _ = trained
    run = store.get(ids["lab pipeline, cropflip"])
    first = handin.confusion(store, run)
    path = handin.cache_path(store, run)
    assert path.name == f"run-{run.id}.confusion.json" and path.parent == store.checkpoint_path(run).parent
    assert json.loads(path.read_text())["counts"] == [list(r) for r in first.counts]
    assert handin.cached(store, run) == first and not list(path.parent.glob("*.tmp"))
    ckpt = store.checkpoint_path(run)
    os.utime(ckpt, ns=(ckpt.stat().st_atime_ns, ckpt.stat().st_mtime_ns + 1_000_000))  # new weights, same size
    assert handin.cached(store, run) is None
    second = handin.confusion(store, run)
    assert second.counts == first.counts and handin.cached(store, run) == second
    path.write_text('{"format": 1, "counts": "[[1]]"}')  # damaged by hand: read as missing, never trusted
    assert handin.cached(store, run) is None


def test_a_larger_test_set_is_sampled_and_says_so(trained):
    store, ids, _ = trained
    conf = handin.compute(store, store.get(ids["fast, lab net, cropflip"]), cap=50)
    assert (conf.evaluated, conf.test_images, conf.agrees) == (50, 200, None)
    assert "seeded random sample of 50 test images, the run's test split having 200" in conf.note


def test_runs_that_cannot_have_a_matrix_say_why(trained, tmp_path):
    store, ids, folder = trained
    run_id = store.enqueue(TrainConfig(data="synthetic", limit=200, epochs=1))
    assert "queued: its confusion matrix can be computed once it has finished" in handin.unavailable(
        store, store.get(run_id))
    store.finish(run_id, "diverged", "x")
    with pytest.raises(handin.NotAvailable, match="kept no checkpoint"):
        handin.compute(store, store.get(run_id))
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET config=? WHERE id=?", ('{"optimizer": "lion"}', run_id))
    with pytest.raises(handin.NotAvailable, match="settings cannot be read"):
        handin.confusion(store, store.get(run_id))
    moved = folder.with_name("moved")
    folder.rename(moved)
    try:
        with pytest.raises(handin.NotAvailable) as err:
            handin.compute(store, store.get(ids["folder, limit, padcrop"]))
    finally:
        moved.rename(folder)
    assert "the data 'images' — is not available" in str(err.value) and str(folder) not in str(err.value)


# --- the export ---------------------------------------------------------------------------------------------
def _files(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        folders = {n.split("/")[0] for n in zf.namelist()}
        assert len(folders) == 1, folders  # one folder: unzipping never scatters files
        return {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}


def test_the_zip_holds_the_epochs_curves_command_weights_and_matrix(trained):
    store, ids, _ = trained
    run = store.get(ids["fast, lab net, cropflip"])
    conf = handin.confusion(store, run)
    files = _files(handin.export_zip(store, run))
    assert set(files) == {"README.txt", "run.json", "command.txt", "epochs.csv", "curves.png", "confusion.csv",
                          "confusion.png", "weights.safetensors"}
    rows = list(csv.DictReader(io.StringIO(files["epochs.csv"].decode())))
    stored = store.epochs(run.id)
    assert len(rows) == len(stored) == 2 and "batch_losses" not in rows[0] and "run_id" not in rows[0]
    assert [float(r["test_top1"]) for r in rows] == [e["test_top1"] for e in stored]  # written exactly
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    assert config_from_args(parser.parse_args(shlex.split(files["command.txt"].decode())[3:])) == run.config
    for name in ("curves.png", "confusion.png"):
        with Image.open(io.BytesIO(files[name])) as im:
            im.load()
            assert im.format == "PNG" and 400 <= im.width <= 4000 and 300 <= im.height <= 3000, (name, im.size)
    assert files["confusion.csv"].decode() == conf.to_csv()
    assert files["weights.safetensors"] == store.checkpoint_path(run).read_bytes()
    meta = json.loads(files["run.json"])
    assert meta["final_test_top1"] == stored[-1]["test_top1"] and meta["confusion_agrees_with_record"] is True
    assert "equals the accuracy recorded during training" in files["README.txt"].decode()


def test_no_names_no_server_paths_and_a_safe_file_name(trained):
    store, ids, folder = trained
    run = store.get(ids["folder, zca"])
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET name=? WHERE id=?", ("../../Ada's <b>run</b> é/ü", run.id))
    run = store.get(run.id)
    assert handin.zip_name(run) == f"run-{run.id}-Ada-s-b-run-b-e-u.zip"
    blob = handin.export_zip(store, run)
    text = b"".join(v for k, v in _files(blob).items() if not k.endswith((".png", ".safetensors"))).decode()
    assert str(folder) not in text and str(store.root) not in text and "/tmp" not in text
    assert run.owner_name == "Ada" and "Ada" not in text.replace("Ada's", "")  # only inside the run's own name
    assert "--data images" in text and "give the path of your copy" in text


def test_safe_names():
    assert handin.safe_name("  lr 0.1 · bs 128 ") == "lr-0.1-bs-128"
    assert handin.safe_name("../../etc/passwd") == "etc-passwd"
    assert handin.safe_name("...") == handin.safe_name("") == handin.safe_name("日本") == "run"
    assert handin.safe_name("-rf x") == "rf-x" and len(handin.safe_name("a" * 500)) == 40


def test_the_zip_bound_leaves_the_weights_out_first(trained):
    store, ids, _ = trained
    run = store.get(ids["fast, lab net, cropflip"])
    weights = store.checkpoint_path(run).stat().st_size
    blob = handin.export_zip(store, run, max_bytes=weights // 2)
    files = _files(blob)
    assert "weights.safetensors" not in files and len(blob) <= weights // 2
    assert f"python -m cnncalc export {run.id} writes it" in files["README.txt"].decode()
    with pytest.raises(handin.NotAvailable, match="even without its weights"):
        handin.export_zip(store, run, max_bytes=1000)


def test_a_missing_png_renderer_is_a_note_not_a_failed_export(trained, monkeypatch):
    store, ids, _ = trained
    monkeypatch.setitem(sys.modules, "vl_convert", None)  # import vl_convert → ImportError
    with pytest.raises(cd.PngUnavailable, match="pip install vl-convert-python=="):
        cd.to_png({"mark": "point"})
    files = _files(handin.export_zip(store, store.get(ids["lab pipeline, cropflip"])))
    assert "curves.png" not in files and "epochs.csv" in files
    assert "curves.png is left out: PNG export needs the package vl-convert-python" in files["README.txt"].decode()


# --- the CLI ------------------------------------------------------------------------------------------------
def _cli(*args, capsys) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_export_writes_the_folder(trained, tmp_path, capsys):
    store, ids, _ = trained
    run_id = ids["folder, limit, padcrop"]
    handin.cache_path(store, store.get(run_id)).unlink(missing_ok=True)
    code, out, err = _cli("export", str(run_id), "--out", str(tmp_path), "--data-dir", str(store.root), capsys=capsys)
    assert code == 0, err
    folder = tmp_path / handin.folder_name(store.get(run_id))
    assert out.strip() == f"run {run_id} exported to {folder}: README.txt, run.json, command.txt, epochs.csv, " \
                          "confusion.csv, curves.png, confusion.png, weights.safetensors"
    assert "confusion matrix computed in" in err
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["README.txt", "run.json", "command.txt", "epochs.csv", "confusion.csv", "curves.png", "confusion.png",
         "weights.safetensors"])
    assert handin.cached(store, store.get(run_id)) is not None  # computed once, kept for the page


def test_cli_export_refusals_are_one_line_exit_2(trained, tmp_path, capsys):
    store, ids, _ = trained
    code, out, err = _cli("export", "999", "--data-dir", str(store.root), capsys=capsys)
    assert (code, out) == (2, "") and err == "error: there is no run 999 in this store (python -m cnncalc runs lists " \
                                             "them)\n"
    run_id = store.enqueue(TrainConfig(data="synthetic", limit=200, epochs=1))
    code, _, err = _cli("export", str(run_id), "--data-dir", str(store.root), capsys=capsys)
    assert code == 2 and err.startswith(f"error: run {run_id} (queued) has no checkpoint") and err.count("\n") == 1
    with contextlib.chdir(tmp_path):
        code, out, err = _cli("export", str(run_id), "--no-weights", "--data-dir", str(store.root), capsys=capsys)
    assert code == 0 and "note: weights.safetensors" not in err and "once it has finished" in err
    header = (tmp_path / handin.folder_name(store.get(run_id)) / "epochs.csv").read_text()
    assert header == ",".join(handin.EPOCH_COLUMNS) + "\n"  # no epoch yet: the header alone
