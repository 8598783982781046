"""The CUDA-graph training step (cnncalc/train/graphed.py).

On every machine: when a run is graphed and why not, the step count with the tail dropped, and the pieces the
graph relies on, checked against PyTorch's own eager optimisers — a fused SGD / capturable Adam with the rate
as a tensor takes the same steps as the plain ones, a schedule writes that tensor in place, and zeroed optimiser
state is a fresh start. On CUDA only: graphed and eager training give the same losses step by step on the same
data, with dropout and batch norm inside the graph, and a graphed run is reproducible.
"""
from __future__ import annotations

import pytest
import torch

from cnncalc.train import graphed as g
from cnncalc.train.config import TrainConfig
from cnncalc.train.engine import make_optimizer

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")


@pytest.mark.parametrize("cfg, device, n, graphed, reason", [
    (TrainConfig(), CUDA, 50_000, True, None),
    (TrainConfig(graph="off"), CUDA, 50_000, False, "graph='off'"),
    (TrainConfig(pipeline="lab"), CUDA, 50_000, False, "lab pipeline"),
    (TrainConfig(compile=True), CUDA, 50_000, False, "torch.compile"),
    (TrainConfig(schedule="onecycle"), CUDA, 50_000, False, "OneCycleLR cycles the momentum"),
    (TrainConfig(batch_size=128), CUDA, 100, False, "100 training images make no full batch of 128"),
    (TrainConfig(), torch.device("mps"), 50_000, False, "not mps"),
    (TrainConfig(), CPU, 50_000, False, None),  # the CPU path is eager by design: nothing to explain
])
def test_when_a_run_is_graphed(cfg, device, n, graphed, reason):
    assert g.graphed(cfg, device, n) is graphed
    why = g.why_not_graphed(cfg, device, n)
    assert (why is None) if reason is None else (reason in why)


@pytest.mark.parametrize("n, batch, steps", [
    (50_000, 128, 390),  # 390·128 = 49,920: 80 images of each epoch's order left out (the lab's loader: 391 steps)
    (50_000, 8, 6250),   # divides: nothing left out
    (10_000, 64, 156),   # 156·64 = 9,984
    (128, 128, 1),
])
def test_graphed_epochs_use_full_batches_only(n, batch, steps):
    assert g.graph_steps(n, batch) == steps


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 10))


def _train(model, opt, schedule=None, steps=4, device=CPU):
    gen = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        x = torch.randn(8, 3, 8, 8, generator=gen).to(device)
        y = torch.randint(0, 10, (8,), generator=gen).to(device)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if schedule is not None:
            schedule.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("changes", [
    dict(optimizer="sgd", momentum=0.9, lr=0.05),
    dict(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4, lr=0.05),
    dict(optimizer="sgd", momentum=0.0, lr=0.1),
    dict(optimizer="adam", lr=1e-3),
    dict(optimizer="adamw", lr=1e-3, weight_decay=0.01),
])
def test_graph_optimizer_takes_the_eager_optimizers_steps(changes):
    """The oracle: PyTorch's plain (foreach/for-loop) optimisers with a float rate, as the eager path builds them."""
    cfg = TrainConfig(**changes)
    device = CPU
    if cfg.optimizer != "sgd":  # capturable Adam runs on CUDA (in PyTorch, not on the CPU)
        if not torch.cuda.is_available():
            pytest.skip("capturable Adam needs CUDA")
        device = CUDA
    a, b = _net().to(device), _net().to(device)
    eager, _ = make_optimizer(cfg, a, steps_per_epoch=4)
    graphable = g.graph_optimizer(cfg, b, device)
    assert isinstance(graphable.param_groups[0]["lr"], torch.Tensor)
    la, lb = _train(a, eager, device=device), _train(b, graphable, device=device)
    assert lb == pytest.approx(la, rel=1e-5, abs=1e-6)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pb, pa, rtol=1e-5, atol=1e-6)


def test_a_schedule_writes_the_rate_tensor_in_place():
    """ExponentialLR ×0.5 per step: 0.1 → 0.05 → 0.025, in the tensor the captured step reads (same object)."""
    model = _net()
    opt = g.graph_optimizer(TrainConfig(lr=0.1, momentum=0.9), model, CPU)
    rate = opt.param_groups[0]["lr"]
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    _train(model, opt, sched, steps=2)
    assert opt.param_groups[0]["lr"] is rate
    assert rate.item() == pytest.approx(0.025)


def test_zeroed_sgd_state_is_a_fresh_start():
    """SGD with momentum: buf ← m·buf + g, so a zero buffer gives buf = g, as the first step's clone does."""
    cfg = TrainConfig(lr=0.05, momentum=0.9)
    a, b = _net(), _net()
    opt_a = g.graph_optimizer(cfg, a, CPU)
    opt_b = g.graph_optimizer(cfg, b, CPU)
    before = g._tensor_state(opt_b)      # a fresh run: no state yet
    _train(b, opt_b, steps=1)            # the warm-up creates and fills the momentum buffers ...
    b.load_state_dict(_net().state_dict())  # ... then the weights go back ...
    g._put_back_state(opt_b, before)     # ... and the state it created is zeroed
    assert _train(b, opt_b) == pytest.approx(_train(a, opt_a), rel=1e-6)


def test_a_resumed_runs_state_survives_the_warm_up():
    """Resumed: the momentum buffers exist before the warm-up; afterwards they hold their values again."""
    cfg = TrainConfig(lr=0.05, momentum=0.9)
    model = _net()
    opt = g.graph_optimizer(cfg, model, CPU)
    _train(model, opt, steps=2)
    before = g._tensor_state(opt)
    kept = {k: v[1].clone() for k, v in before.items()}
    _train(model, opt, steps=3)          # the warm-up's steps
    g._put_back_state(opt, before)
    for key, (tensor, _) in before.items():
        torch.testing.assert_close(tensor, kept[key], rtol=0, atol=0)


def test_a_checkpoint_of_another_path_gets_this_optimizers_flags_back():
    """load_state_dict takes the saved groups whole: an eager run's SGD groups (foreach, a float rate) would
    make the graphed optimiser un-capturable; the other way round, a tensor rate would reach eager SGD."""
    cfg = TrainConfig(lr=0.05, momentum=0.9)
    eager_model, graph_model = _net(), _net()
    eager, _ = make_optimizer(cfg, eager_model, steps_per_epoch=4)
    _train(eager_model, eager, steps=1)
    graphable = g.graph_optimizer(cfg, graph_model, CPU)
    graphable.load_state_dict(eager.state_dict())
    assert graphable.param_groups[0]["fused"] is not True  # what load_state_dict left
    g.match_loaded_state(graphable, CPU, graphed=True)
    group = graphable.param_groups[0]
    assert group["fused"] is True and isinstance(group["lr"], torch.Tensor)
    eager.load_state_dict(graphable.state_dict())
    g.match_loaded_state(eager, CPU, graphed=False)
    assert not eager.param_groups[0].get("fused") and isinstance(eager.param_groups[0]["lr"], float)
    assert _train(eager_model, eager, steps=1)[0] > 0  # and it still steps


def test_a_resumed_rate_goes_back_to_the_device():
    model = _net()
    opt = g.graph_optimizer(TrainConfig(lr=0.1), model, CPU)
    for saved in (0.05, torch.tensor(0.05, dtype=torch.float64)):  # an eager run's state; a graphed run's
        opt.param_groups[0]["lr"] = saved
        g.keep_rate_on_device(opt, CPU)
        rate = opt.param_groups[0]["lr"]
        assert isinstance(rate, torch.Tensor) and rate.device == CPU and rate.item() == pytest.approx(0.05)


def test_graph_is_an_execution_setting_not_another_experiment():
    from cnncalc.train.config import cli_command, experiment_key
    assert experiment_key(TrainConfig(graph="off")) == experiment_key(TrainConfig())
    assert "--graph off" in cli_command(TrainConfig(graph="off"))
    with pytest.raises(ValueError, match="graph='on'"):
        TrainConfig(graph="on")


# ----------------------------------------------------------------------------------------------- CUDA only

def _session_losses(cfg: TrainConfig, epochs: int = 2):
    from cnncalc.train import data as datasets
    from cnncalc.train.engine import train
    data = datasets.load("synthetic", 1024)
    result = train(cfg.replace(epochs=epochs), data)
    return [x for r in result.records for x in r.batch_losses], result


@cuda_only
@pytest.mark.parametrize("changes", [
    dict(),                                          # the lab net, SGD + momentum
    dict(batchnorm=True, dropout=0.5),               # batch norm and dropout inside the graph
    dict(optimizer="adam", lr=1e-3, schedule="exponential", gamma=0.5),  # capturable Adam, rate as a tensor
])
def test_graphed_and_eager_steps_give_the_same_losses(changes):
    """Same data, same seed, fp32: every step's loss of the graphed run equals the eager run's (the eager run
    has no tail here, so both see the same batches). With dropout the masks come from the same generator
    offsets in both if PyTorch's graph-safe RNG accounting matches the eager draws — not promised, so the
    losses must agree closely there, not exactly."""
    cfg = TrainConfig(data="synthetic", limit=1024, batch_size=128, lr=0.01, momentum=0.9, precision="fp32",
                      device="cuda", **changes)
    graphed, rg = _session_losses(cfg)
    eager, re = _session_losses(cfg.replace(graph="off"))
    assert any("CUDA graph" in n for n in rg.notes)
    assert len(graphed) == len(eager) == 2 * 8
    if changes.get("dropout"):
        assert graphed == pytest.approx(eager, rel=0.05)
    else:
        assert graphed == pytest.approx(eager, rel=1e-3, abs=1e-4)


@cuda_only
def test_a_graphed_run_is_reproducible(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)  # no atomics in cuDNN's backward
    cfg = TrainConfig(data="synthetic", limit=1024, batch_size=128, dropout=0.5, device="cuda")
    assert _session_losses(cfg)[0] == _session_losses(cfg)[0]


def test_full_batches_only_leave_out_the_tail_of_each_shuffled_order():
    """The graphed epoch's batches: ⌊300/128⌋ = 2 full batches (44 images left out), a new order each epoch, so
    over epochs every image is seen; without drop_last the third batch holds the 44."""
    import numpy as np
    from cnncalc.train.engine import Batches
    x = np.zeros((300, 3, 4, 4), dtype=np.uint8)
    y = np.arange(300) % 10
    b = Batches(x, y, CPU, (0.0,) * 3, (1.0,) * 3, "none", None, torch.Generator().manual_seed(0))
    full = [len(yb) for _, yb in b.epoch(128, train=True, drop_last=True)]
    assert full == [128, 128]
    assert [len(yb) for _, yb in b.epoch(128, train=True)] == [128, 128, 44]
    b.y = torch.arange(300)  # which images a graphed epoch used
    seen = set()
    for _ in range(6):
        for _, yb in b.epoch(128, train=True, drop_last=True):
            seen.update(yb.tolist())
    assert len(seen) == 300
