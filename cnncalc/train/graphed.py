"""The whole training step as one CUDA graph: the fast path on a GPU.

At batch 128 the lab net's step is launch-bound, not arithmetic-bound: an epoch of CIFAR-10 is about 7 TFLOP
(~10 ms of an H100's arithmetic) but some 400 steps × a few hundred kernel launches, each costing microseconds
of Python and driver time. Capturing forward, loss, backward and the optimiser step once in a CUDA graph and
replaying it per step turns those launches into one (measurements of the same net on one H200 in issue #12:
0.23 s/epoch graphed vs 0.88–1.2 s eager; the pattern is PyTorch's "whole network capture",
https://pytorch.org/docs/stable/notes/cuda.html#whole-network-capture).

What the graph needs, and how this module provides it:

* **Static buffers.** A graph replays fixed addresses: each step copies its (already augmented) batch into
  ``x``/``y``; the loss and the step's correct-prediction counts land in static outputs.
* **One batch shape.** A graph is captured for one shape, so training uses full batches only: the last partial
  batch of each epoch is *dropped* (50,000 % 128 = 80 images; the order is reshuffled every epoch, so every
  image is still seen). The lab's DataLoader keeps it; a second graph for the tail would cost a second capture
  and memory pool for < 0.2 % of the steps. :func:`graph_steps` is the step count.
* **An optimiser that stays on the device.** SGD (with momentum) uses PyTorch's fused kernel, Adam/AdamW
  ``capturable=True``; the learning rate is a 0-dim device tensor, which the schedulers update in place
  (``fill_``), so a schedule never forces a re-capture. (:func:`graph_optimizer`)
* **Warm-up on a side stream.** Capture needs the optimiser's state (momentum buffers, Adam's moments) to exist
  and cuDNN/cuBLAS to have chosen their kernels; a few warm-up steps on the first batch do that. They train,
  so the network, its batch-norm statistics and the optimiser state are put back as they were afterwards
  (zeroed optimiser state equals a fresh one for SGD and Adam): a graphed run starts from the same weights as
  the eager one.
* **Randomness.** Augmentation (crop, flip, normalisation) runs eagerly on the GPU, in the same stream, before
  each replay, with the run's generator. Dropout inside the graph draws from the CUDA generator, which a graph
  advances by its captured offset on every replay: a seeded run gives the same numbers again.
* **Metrics on the device.** The loss and top-1/top-5 counts of each step are device tensors, read by the host
  once per progress interval (as in the eager path).

Eager stays the reference and the fallback (``TrainConfig.graph = "off"``, or wherever :func:`why_not_graphed`
gives a reason); tests/test_graphed.py compares graphed and eager losses step by step on the same data
(CUDA only).
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # engine imports this module; the Session type is only for readers
    from .config import TrainConfig
    from .engine import Session

WARMUP_STEPS = 3  # side-stream steps before capture (PyTorch's docs use 3: enough for cuDNN and the allocator)


def why_not_graphed(cfg: "TrainConfig", device: torch.device, train_examples: int) -> str | None:
    """Why the training step of ``cfg`` cannot be one CUDA graph on ``device``; None when it can. The run then
    trains eagerly and this reason is its note."""
    if cfg.graph == "off":
        return "CUDA graph off (graph='off'): eager steps"
    if device.type != "cuda":
        return None if device.type == "cpu" else f"eager steps: CUDA graphs need a CUDA device, not {device.type}"
    if cfg.pipeline != "fast":
        return "eager steps: the lab pipeline's DataLoader hands over host tensors (CUDA graph in the fast one only)"
    if cfg.compile:
        return "eager steps: torch.compile builds its own graphs"
    if cfg.schedule == "onecycle":  # it writes momentum / beta1 as numbers each step: a graph keeps the first one
        return "eager steps: OneCycleLR cycles the momentum, which a CUDA graph would fix at its captured value"
    if train_examples < cfg.batch_size:
        return (f"eager steps: {train_examples} training images make no full batch of {cfg.batch_size} "
                "(a CUDA graph needs one batch shape)")
    return None


def graphed(cfg: "TrainConfig", device: torch.device, train_examples: int) -> bool:
    """Whether the run's training step is one CUDA graph: on CUDA, unless :func:`why_not_graphed` says why not."""
    return device.type == "cuda" and why_not_graphed(cfg, device, train_examples) is None


def graph_steps(train_examples: int, batch_size: int) -> int:
    """Training steps per epoch of a graphed run: full batches only, ⌊n / batch⌋ (the tail is dropped)."""
    return train_examples // batch_size


def graph_optimizer(cfg: "TrainConfig", model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """The optimiser of ``cfg`` in a form a CUDA graph can hold: the learning rate a 0-dim tensor on ``device``,
    SGD fused (its foreach form would read a tensor rate back to the host), Adam/AdamW capturable (the step count
    stays on the device)."""
    lr = torch.tensor(float(cfg.lr), device=device)
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=cfg.weight_decay, fused=True)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, weight_decay=cfg.weight_decay, capturable=True, foreach=True)


def keep_rate_on_device(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """After ``load_state_dict`` (a resumed run) a group's rate comes back as it was saved — a number (an eager
    run's state) or a tensor on the host (``torch.load`` to the CPU): make it a tensor on ``device`` again, before
    capture, so the captured step reads the value the schedule writes."""
    target = torch.empty(0, device=device).device  # "cuda" → "cuda:0": compare resolved devices
    for group in optimizer.param_groups:
        rate = group["lr"]
        if not isinstance(rate, torch.Tensor) or rate.device != target:
            group["lr"] = torch.tensor(float(rate), device=target)


def match_loaded_state(optimizer: torch.optim.Optimizer, device: torch.device, graphed: bool) -> None:
    """After ``optimizer.load_state_dict`` (a resumed run): ``load_state_dict`` takes the *saved* param groups
    whole, so a checkpoint of an eager run would turn a graphed optimiser back into a foreach one (which reads
    the rate to the host and cannot be captured), and a graphed run's checkpoint would make an eager Adam
    "capturable" on the CPU. Put back this optimiser's own implementation flags, the rate in the form its path
    needs (a device tensor when graphed, a number when eager), and Adam's step count where that implementation
    keeps it (on the parameter's device when capturable or fused, on the host otherwise)."""
    for group in optimizer.param_groups:
        for flag in ("fused", "foreach", "capturable"):
            if flag in optimizer.defaults:
                group[flag] = optimizer.defaults[flag]
        if not graphed and isinstance(group["lr"], torch.Tensor):
            group["lr"] = float(group["lr"])
        on_device = bool(group.get("capturable") or group.get("fused"))
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            if isinstance(state.get("step"), torch.Tensor):
                state["step"] = state["step"].to(param.device if on_device else "cpu", torch.float32)
    if graphed:
        keep_rate_on_device(optimizer, device)


def _tensor_state(optimizer: torch.optim.Optimizer) -> dict:
    return {id(v): (v, v.clone()) for st in optimizer.state.values() for v in st.values() if isinstance(v, torch.Tensor)}


def _put_back_state(optimizer: torch.optim.Optimizer, before: dict) -> None:
    """The optimiser's state as it was before the warm-up, in the same tensors (the graph holds their
    addresses): a tensor that existed is copied back (a resumed run keeps its momentum, Adam its moments and step
    count); one the warm-up created is zeroed — for SGD a zero momentum buffer gives buf = grad at the next
    step, as a first step does; Adam's moments and step count at 0 are its start."""
    for st in optimizer.state.values():
        for value in st.values():
            if isinstance(value, torch.Tensor):
                if id(value) in before:
                    value.copy_(before[id(value)][1])
                else:
                    value.zero_()


class GraphedStep:
    """One training step (forward, cross-entropy, backward, optimiser step, correct counts) captured in a CUDA
    graph for batches of ``batch`` images; :meth:`step` copies a batch in and replays it."""

    def __init__(self, s: "Session", first_x: torch.Tensor, first_y: torch.Tensor):
        from .engine import top_k_correct
        self.device = s.device
        self.x = torch.empty_like(first_x)
        self.y = torch.empty_like(first_y)
        self.x.copy_(first_x)
        self.y.copy_(first_y)
        model, net, opt, bf16 = s.model, s.net, s.optimizer, s.bf16
        keep_rate_on_device(opt, s.device)

        def one_step():
            # autocast's cache of bf16 weight copies must not outlive a capture (PyTorch's CUDA-graph notes)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
                logits = net(self.x).float()
            loss = F.cross_entropy(logits, self.y)
            loss.backward()
            opt.step()
            return loss.detach(), top_k_correct(logits.detach(), self.y, 1), top_k_correct(logits.detach(), self.y, 5)

        model.train()
        saved = copy.deepcopy(model.state_dict())
        state_before = _tensor_state(opt)
        devices = [s.device.index if s.device.index is not None else torch.cuda.current_device()]
        side = torch.cuda.Stream(s.device)
        side.wait_stream(torch.cuda.current_stream(s.device))
        with torch.random.fork_rng(devices=devices), torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                opt.zero_grad(set_to_none=True)
                one_step()
        torch.cuda.current_stream(s.device).wait_stream(side)
        with torch.no_grad():
            model.load_state_dict(saved)  # copies in place: the parameters keep their addresses
        _put_back_state(opt, state_before)
        opt.zero_grad(set_to_none=True)  # backward inside the graph then writes the gradients, not adds to them
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss, self.top1, self.top5 = one_step()

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Train on one full batch: (loss, top-1 count, top-5 count) as device tensors, overwritten by the next
        step — copy them before then."""
        self.x.copy_(xb)
        self.y.copy_(yb)
        self.graph.replay()
        return self.loss, self.top1, self.top5
