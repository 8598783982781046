"""cnncalc.pytorch.activations against PyTorch itself: every map equals what a forward hook registered here,
independently, sees on the same module; channels are ordered by mean activation; a pass above the memory
limit is refused before it runs."""
import numpy as np
import pytest
import torch
from torch import nn

from cnncalc.pytorch import activations as act
from cnncalc.pytorch.bridge import build_model
from cnncalc.server.limits import TooLarge

LAB = ("conv 32 k=5 p=2; bn; relu; maxpool k=2; conv 64 k=5 p=2; bn; relu; maxpool k=2; conv 64 k=5 p=2; bn; "
       "relu; maxpool k=2; flatten; fc 1000; relu; dropout p=0.5; fc 10")


@pytest.fixture(scope="module")
def lab():
    torch.manual_seed(0)
    model = build_model(LAB, (3, 32, 32)).eval()
    for m in model.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def reference(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each named leaf's output, from hooks registered here, and the model's output."""
    seen: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(name, o.detach().clone()))
               for name, m in model.named_modules() if name]
    try:
        with torch.no_grad():
            out = model(x.unsqueeze(0))
    finally:
        for h in handles:
            h.remove()
    return seen, out[0]


def test_maps_equal_an_independent_forward_hook(lab):
    x = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(1))
    result = act.activations(lab, x, max_bytes=2**30)
    seen, out = reference(lab, x)
    names = [m.name for m in result.layers]
    assert names == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "pool3"]
    for layer in result.layers:
        expected = seen[layer.name][0]
        assert layer.shape == tuple(expected.shape)
        assert layer.maps.dtype == np.float32
        assert layer.kind == type(dict(lab.named_modules())[layer.name]).__name__
        torch.testing.assert_close(torch.from_numpy(layer.maps), expected[list(layer.order)])
        for c in (0, layer.shape[0] - 1):
            torch.testing.assert_close(torch.from_numpy(layer.channel(c)), expected[c])
    torch.testing.assert_close(torch.from_numpy(result.scores), out)
    assert [m.name for m in act.layer_activations(lab, x, max_bytes=2**30)] == names


def test_channels_are_ordered_by_mean_activation_strongest_first(lab):
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    seen, _ = reference(lab, x[0])
    for layer in act.layer_activations(lab, x, max_bytes=2**30):
        means = seen[layer.name][0].mean(dim=(1, 2)).numpy()
        np.testing.assert_allclose(layer.means, means, rtol=1e-6, atol=1e-6)
        ordered = means[list(layer.order)]
        assert sorted(layer.order) == list(range(layer.shape[0]))
        assert np.all(np.diff(ordered) <= 0), layer.name
        assert layer.order[0] == int(np.argmax(means))


def test_keep_stores_only_the_strongest_channels(lab):
    x = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(3))
    full = act.layer_activations(lab, x, max_bytes=2**30)
    kept = act.layer_activations(lab, x, keep=5, max_bytes=2**30)
    for a, b in zip(full, kept):
        assert b.maps.shape == (5, *a.shape[1:]) and b.shape == a.shape
        assert b.order == a.order[:5]
        np.testing.assert_array_equal(b.maps, a.maps[:5])


def test_an_in_place_relu_does_not_change_the_stored_conv_maps():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True)).eval()
    x = torch.randn(1, 8, 8)
    conv, relu = act.layer_activations(model, x, max_bytes=2**30)
    with torch.no_grad():
        expected = model[0](x.unsqueeze(0))[0]
    assert (conv.maps < 0).any()
    torch.testing.assert_close(torch.from_numpy(conv.maps), expected[list(conv.order)])
    torch.testing.assert_close(torch.from_numpy(relu.maps), expected.clamp(min=0)[list(relu.order)])


def test_top_classes_are_softmax_probabilities(lab):
    x = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(4))
    result = act.activations(lab, x, max_bytes=2**30)
    top = result.top([f"c{i}" for i in range(10)], 5)
    p = torch.softmax(torch.from_numpy(result.scores).double(), 0)
    assert [name for name, _ in top] == [f"c{int(i)}" for i in torch.argsort(p, descending=True)[:5]]
    assert top[0][1] == pytest.approx(float(p.max()))


def test_memory_refusal_before_the_pass(lab):
    calls = []
    handle = lab.register_forward_pre_hook(lambda m, i: calls.append(1) if not i[0].is_meta else None)
    try:
        need = act.activation_bytes(lab, (3, 32, 32))
        assert need > 4 * sum(p.numel() for p in lab.parameters())  # weights plus the kept maps
        with pytest.raises(TooLarge, match="memory_mb") as err:
            act.activations(lab, torch.zeros(3, 32, 32), max_bytes=need - 1)
        assert err.value.estimate == need and err.value.limit == need - 1
        assert calls == []  # refused before any real forward pass (the estimate traces on meta)
        act.activations(lab, torch.zeros(3, 32, 32), max_bytes=need)
        assert calls == [1]
    finally:
        handle.remove()
    assert act.activation_bytes(lab, (3, 32, 32), keep=4) < need


def test_rejects_a_batch_of_images(lab):
    with pytest.raises(ValueError, match="one C×H×W image"):
        act.activations(lab, torch.zeros(2, 3, 32, 32), max_bytes=2**30)
