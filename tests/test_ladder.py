"""cnncalc.train.ladder: which run stands for each step (the lab net on CIFAR-10 only, full data and the step's
epochs first, never a demo), labels instead of headlines, comparison with the references at the same epoch
count only, the table, the chart, and two steps compared in words."""
import math
import os

import altair as alt
import pytest

from cnncalc.train import references as refs
from cnncalc.classroom.companion import runs as cr
from cnncalc.draw import train_charts as tc
from cnncalc.train import ladder
from cnncalc.train.config import LADDER, TrainConfig

STEPS = list(LADDER)


def _curve(n, top, tau=4.0, jitter=0.0):
    """A learning curve: test top-1 rising to ``top`` (±``jitter``, alternating), test loss falling."""
    out = []
    for e in range(1, n + 1):
        t = 0.1 + (top - 0.1) * (1 - math.exp(-e / tau)) + jitter * (-1) ** e
        out.append({"epoch": e, "train_loss": 2.3 * math.exp(-e / 8) + 0.05, "train_top1": min(1.0, t + 0.1),
                    "test_loss": 2.3 - 1.5 * (1 - math.exp(-e / tau)), "test_top1": t, "batch_losses": [2.31]})
    return tuple(out)


def _run(id, rows, status="done", name=None, **cfg):
    return cr.RunResult(id, name or f"run {id}", status, TrainConfig(**cfg), rows)


def _store_runs():
    """A subset run (2,000 images, 10 epochs, still climbing, the best top-1), a shuffled-pixels demo run on
    CIFAR-10 (its own spec, better still), a full 30-epoch baseline run."""
    subset = _run(1, _curve(10, 0.9, tau=30), data="cifar10", limit=2000, epochs=10)
    demo = _run(2, _curve(4, 0.95), name="shuffled-pixels: CNN, original", data="cifar10", limit=2000, epochs=4,
                spec="conv 16 k=3; fc 10", optimizer="adam", lr=1e-3, standardize="train", batch_size=64)
    full = _run(3, _curve(30, 0.72), data="cifar10", epochs=30)
    return [subset, demo, full]


# --- which run stands for a step --------------------------------------------------------------------------------

def test_the_full_run_stands_for_the_baseline_not_the_subset_nor_the_demo():
    results = _store_runs()
    assert [r.id for r in cr.by_step(results, STEPS[0])] == [3, 1]          # full data first, demo never
    assert cr.best_cifar10(results).id == ladder.best_run(results, STEPS[0]).id == 3
    assert [r.id for r in cr.lab_runs(results)] == [3, 1]
    assert ladder.is_demo(results[1]) and not ladder.is_lab_run(results[1])
    assert cr.ladder_step(results[1].config) is None
    # a demo's name is enough, even with the lab net's settings
    named = _run(4, _curve(3, 0.5), name="shuffled-pixels: MLP, shuffled", data="cifar10")
    assert not ladder.is_lab_run(named) and ladder.step_runs([named], STEPS[0]) == []
    # a custom spec is not the lab net, whatever its settings
    assert ladder.ladder_step(TrainConfig(spec="conv 8 k=3; fc 10")) is None
    assert ladder.ladder_step(TrainConfig(preset="LAB")) == STEPS[0]


def test_subset_and_unfinished_runs_are_labelled_not_headlined():
    subset, _, full = _store_runs()
    f = ladder.fit(subset)
    assert f.label == "2,000 images, 10 epochs: still learning — not converged"
    assert f.comparable == "2,000 images: not comparable (the reference trains on all 50,000)"
    assert subset.label == f.label
    g = ladder.fit(full)
    assert g.label.startswith("all 50,000 images, 30 epochs: ") and g.comparable == "compared at epoch 30"
    assert g.reference == refs.at(STEPS[0], 30) and g.top1_at == full.epochs[29]["test_top1"]
    assert "72.8 % measured (quoted)" in g.comparison
    cut = _run(5, _curve(12, 0.6), "interrupted", data="cifar10", **LADDER[STEPS[4]])
    assert ladder.fit(cut).label.startswith("all 50,000 images, 12 of 100 epochs (interrupted): ")
    assert ladder.fit(cut).comparable == "no reference measured yet"


@pytest.mark.skipif("test_limit" not in TrainConfig.__dataclass_fields__, reason="no separate test limit")
def test_all_training_images_but_fewer_test_images_is_not_comparable():
    f = ladder.fit(_run(1, _curve(30, 0.7), data="cifar10", epochs=30, test_limit=500))
    assert f.label.startswith("all 50,000 images (500 test images), 30 epochs")
    assert f.comparable == "500 test images: not comparable (the reference tests on all 10,000)"
    assert f.reference is None and not ladder.full_data(f.run.config)


@pytest.mark.parametrize("epochs, compared", [(10, None), (29, None), (30, 30), (40, 30), (50, 50), (80, 50)])
def test_a_run_is_compared_at_the_same_epoch_count_only(epochs, compared):
    f = ladder.fit(_run(1, _curve(epochs, 0.7), data="cifar10", epochs=epochs))
    if compared is None:
        assert f.reference is None and f.comparable == f"{epochs} epochs: not comparable (reference at 30 epochs)"
    else:
        assert f.reference.epochs == compared and f.top1_at == f.run.epochs[compared - 1]["test_top1"]
        assert f.reference.top1 == {30: 72.8, 50: 72.9}[compared]


def test_best_fit_order_full_data_then_epochs_reached_then_top1():
    short_better = _run(1, _curve(10, 0.8), data="cifar10", epochs=10)
    long_worse = _run(2, _curve(30, 0.6), data="cifar10", epochs=30)
    subset_long = _run(3, _curve(30, 0.9), data="cifar10", epochs=30, limit=5000)
    assert [r.id for r in ladder.step_runs([short_better, long_worse, subset_long], STEPS[0])] == [2, 1, 3]


def test_run_choice_from_a_real_store(tmp_path):
    from cnncalc.train.engine import EpochRecord
    from cnncalc.train.store import RunStore
    store = RunStore(tmp_path)
    ids = {}
    for r in _store_runs():
        ids[r.id] = store.enqueue(r.config, r.name)
        store.claim(os.getpid(), "cpu", run_id=ids[r.id])
        for e in r.epochs:
            store.add_epoch(ids[r.id], EpochRecord(e["epoch"], e["train_loss"], e["train_top1"], 0.9, e["test_loss"],
                                                   e["test_top1"], 0.9, 0.1, 1.0, (2.31,)))
        store.finish(ids[r.id], "done")
    results = cr.run_results(store)
    assert cr.best_cifar10(results).id == ids[3] and cr.lab_runs(results, "1 baseline")[0].id == ids[3]
    assert all(not r.name.startswith("shuffled-pixels") for r in cr.lab_runs(results))
    row = ladder.rows(results, [STEPS[0]])[0]
    assert row.fit.run.id == ids[3] and row.runs == 2


# --- the table and the chart ------------------------------------------------------------------------------------

def _ladder_runs():
    return [_run(10 + i, _curve(LADDER[s]["epochs"] if i < 4 else 12, 0.7 + 0.02 * i), data="cifar10",
                 **LADDER[s]) for i, s in enumerate(STEPS[:5])]


def test_six_rows_with_the_references_quoted_and_step_5_without_one():
    rows = ladder.rows(_ladder_runs())
    assert [r.step for r in rows] == STEPS and [r.runs for r in rows] == [1, 1, 1, 1, 1, 0]
    table = ladder.table(rows)
    by = {t["step"]: t for t in table}
    assert by[STEPS[0]]["reference, measured (%) — quoted"] == 72.8 and by[STEPS[0]]["reference epoch"] == 30
    assert by[STEPS[0]]["reference, students' logs (%) — quoted"] == 72.6
    assert by[STEPS[0]]["difference (points)"] == pytest.approx(by[STEPS[0]]["your test top-1 (%)"] - 72.8, abs=0.11)
    assert by[STEPS[2]]["reference, measured (%) — quoted"] == 78.7 and by[STEPS[2]]["at epoch"] == 50
    assert by[STEPS[4]]["comparison"] == "no reference measured yet"
    assert by[STEPS[4]]["reference, measured (%) — quoted"] is None and by[STEPS[4]]["difference (points)"] is None
    assert by[STEPS[5]]["your run"] == "—" and by[STEPS[5]]["your data, epochs: verdict"] == "no run yet"
    assert by[STEPS[5]]["reference, measured (%) — quoted"] == 83.7 and by[STEPS[5]]["reference epoch"] == 100


def test_chart_lines_and_reference_points():
    rows = ladder.rows(_ladder_runs())
    lines = ladder.lines(rows)
    assert list(lines) == [f"{s} (#{10 + i})" for i, s in enumerate(STEPS[:5])]
    top = ladder.points(rows, "top-1")
    assert {(p["line"], p["epoch"], round(p["value"], 4)) for p in top} >= {(f"{STEPS[0]} (#10)", 30, 0.728),
                                                                           (STEPS[5], 100, 0.837)}
    assert all(p["label"].startswith("quoted: ") for p in top)
    assert [(p["line"], p["value"]) for p in ladder.points(rows, "loss")] == [(STEPS[5], 0.54)]
    assert ladder.slots(rows)[STEPS[5]] == 5 and ladder.slots(rows[2:4]) == {f"{STEPS[2]} (#12)": 2,
                                                                            f"{STEPS[3]} (#13)": 3}
    pair = str(tc.ladder_chart(ladder.lines(rows[2:4]), ladder.points(rows[2:4]), slots=ladder.slots(rows[2:4]))
               .to_dict())
    assert f"'range': ['{tc.LADDER_COLORS[2]}', '{tc.LADDER_COLORS[3]}']" in pair   # step 3 keeps colour 3
    for metric, pts in (("top-1", top), ("loss", ladder.points(rows, "loss"))):
        chart = tc.ladder_chart(lines, pts, metric)
        assert isinstance(chart, alt.LayerChart)
        text = str(chart.to_dict())
        assert "reference results (quoted)" in text and STEPS[5] in text and f"Test {metric} per epoch" in text
    df = tc.ladder_frame(lines)
    assert set(df.metric) == {"top-1", "loss"} and len(df) == 2 * sum(len(e) for e in lines.values())


# --- two steps in words ---------------------------------------------------------------------------------------

def test_quoted_sentences_at_a_common_epoch():
    s = ladder.quoted_sentence(STEPS[0], STEPS[1])
    assert "at epoch 30" in s and "72.8 % → " in s and "75.3 %" in s and "+2.5 points" in s
    assert "72.6 % → 74.3 %" in s and "not computed here" in s
    s = ladder.quoted_sentence(STEPS[1], STEPS[2])
    assert "at epoch 50" in s and "75.5 %" in s and "78.7 %" in s
    s = ladder.quoted_sentence(STEPS[2], STEPS[3])
    assert "78.7 %" in s and "77.0 %" in s and "-1.7 points" in s and "80.1 % → 79.5 %" in s
    s = ladder.quoted_sentence(STEPS[3], STEPS[4])
    assert "no reference result yet for dropout alone" in s and "77.0 % at epoch 50" in s
    s = ladder.quoted_sentence(STEPS[4], STEPS[5])
    assert "83.7 % at epoch 100, test loss 0.54" in s and "84.3 %, test loss 0.49" in s


def test_runs_compared_at_the_last_common_epoch_with_the_noise():
    a, b = ladder.rows(_ladder_runs(), STEPS[1:3])
    s = ladder.runs_sentence(a, b)
    ta, tb = a.fit.run.epochs[29]["test_top1"], b.fit.run.epochs[29]["test_top1"]
    assert "at epoch 30" in s and f"{ta:.1%}" in s and f"{tb:.1%}" in s and "short of the ladder's length" in s
    noise = 2 * math.sqrt(ta * (1 - ta) / 10_000 + tb * (1 - tb) / 10_000)
    assert f"±{100 * noise:.1f} points on 10,000 test images" in s
    none = ladder.rows([], STEPS[4:6])
    assert "train *5 + dropout 0.5* and *6 + batch norm*" in ladder.runs_sentence(*none)
    subset = ladder.rows([_run(1, _curve(30, 0.7), data="cifar10", limit=2000, epochs=30),
                          _run(2, _curve(30, 0.7), data="cifar10", epochs=30, standardize="train")], STEPS[:2])
    assert "not both on all of CIFAR-10" in ladder.runs_sentence(*subset)


def test_stability_of_a_jittery_and_a_smooth_run():
    crop = _run(1, _curve(50, 0.78, jitter=0.01), data="cifar10", **LADDER[STEPS[2]])
    momentum = _run(2, _curve(50, 0.77), data="cifar10", **LADDER[STEPS[3]])
    s3, s4 = ladder.stability(crop, 26, 50), ladder.stability(momentum, 26, 50)
    assert s3["top1"] > 0.018 and s4["top1"] < 0.001 and s3["worst_drop"] > 0.018
    text = ladder.stability_sentence(*ladder.rows([crop, momentum], STEPS[2:4]))
    assert "Over epochs 26–50" in text and f"{100 * s3['top1']:.2f} points per epoch" in text
    assert ladder.stability(crop, 1, 2) is None
