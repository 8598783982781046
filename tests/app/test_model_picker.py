"""The one model picker (ui/model_picker.py) on the analyzer, receptive-field and dense-maps pages: presets and
pasted text as before, torchvision architectures by name (counted on the meta device), checkpoints; the pages
that need weights offer only models that have them."""
from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import plain

DENSE = str(Path(__file__).resolve().parents[2] / "ui" / "pages" / "dense_maps.py")


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty run store and an empty torch hub cache: nothing downloaded, nothing cached."""
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "store"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def _dense_page():
    """The dense-maps page on the random-weights lab net and a small sample (quick to render)."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(DENSE, default_timeout=90)
    at.session_state["dm_model"] = "random"
    at.session_state["dm_image"] = "cat (chelsea)"
    at.session_state["dm_longest_32"] = 96
    return at.run()


def _analyzer_text(at, text: str):
    key = next(t.key for t in at.text_area if t.key.startswith("analyzer_text_"))
    at.text_area(key=key).set_value(text)
    return at.run()


def test_picker_on_the_three_pages(open_page, no_weights):
    for page, key in (("ui/pages/analyzer.py", "analyzer_source"), ("ui/pages/receptive_field.py", "rf_source")):
        at = open_page(page)
        assert not at.exception, at.exception
        assert at.radio(key=key).options[:2] == ["Preset or your own text", "torchvision architecture"]
        assert at.radio(key=key).value == "text"  # the presets and the student's own text first, as before
    at = _dense_page()
    assert not at.exception, at.exception
    assert at.selectbox(key="dm_model").label == "Model (with weights)"


def test_torchvision_resnet18_on_the_analyzer(open_page):
    import torchvision
    expected = sum(p.numel() for p in torchvision.models.resnet18().parameters())
    at = open_page("ui/pages/analyzer.py")
    at.radio(key="analyzer_source").set_value("torchvision").run()
    assert at.selectbox(key="analyzer_tv").value == "resnet18"
    assert not at.exception, at.exception
    assert at.text_input(key="analyzer_tv_input").value == "3x224x224"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["parameters"] == f"{expected:,}" == "11,689,512"
    assert len(at.dataframe[0].value) > 50  # the per-layer table
    assert any("text specs only" in c.value for c in at.caption)
    assert not [t for t in at.text_area if t.key.startswith("analyzer_text_")]  # no editor, quiz or share link
    assert not [t for t in at.toggle if t.key == "analyzer_quiz"]
    at.text_input(key="analyzer_tv_input").set_value("1x224x224").run()  # resnet18 reads 3 channels: a message
    assert not at.exception and at.error
    at.radio(key="analyzer_source").set_value("text").run()  # back to the spec: as it was
    assert not at.exception and at.radio(key="analyzer_source").value == "text"
    assert {m.label: m.value for m in at.metric}["parameters"] != "11,689,512"


def test_torchvision_model_on_the_receptive_field_page(open_page, no_weights):
    at = open_page("ui/pages/receptive_field.py")
    at.radio(key="rf_source").set_value("torchvision").run()
    assert not at.exception, at.exception
    layer = next(s for s in at.selectbox if s.label == "Layer")
    layer.set_value("layer1.0.conv2").run()
    metrics = {m.label.split(" (")[0]: m.value for m in at.metric}
    assert metrics["RF size"] == "27" and metrics["Jump"] == "4"  # 7, s2 → pool 3 s2 → two 3×3 convs
    assert any(h.value == "Theoretical field" for h in at.markdown if h.value.startswith("Theoretical")) or \
        any("Theoretical field" in m.value for m in at.markdown)
    note = " ".join(plain(i.value) for i in at.info)
    assert "needs weights" in note and "download them once with" in note
    assert "get_model('resnet18', weights='DEFAULT')" in note


def test_pasted_pytorch_text_on_the_analyzer(open_page):
    at = _analyzer_text(open_page("ui/pages/analyzer.py"), "nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())")
    assert not at.exception, at.exception
    assert not at.error
    assert {m.label: m.value for m in at.metric}["parameters"] == "224"  # 8·3·3·3 + 8


def test_bad_paste_gives_its_message(open_page):
    from cnncalc import SpecError, analyze
    bad = "nn.Sequential(os.system('x'))"
    with pytest.raises(SpecError) as err:
        analyze(bad, "3x32x32")
    at = _analyzer_text(open_page("ui/pages/analyzer.py"), bad)
    assert not at.exception, at.exception
    assert at.error and str(err.value) in plain(at.error[0].value)
    assert "Traceback" not in " ".join(e.value for e in at.error)


def test_dense_maps_lists_only_models_with_weights(no_weights):
    cache = no_weights / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "resnet18-f37072fd.pth").write_bytes(b"")  # resnet18's weights file name, cached (only listed here)
    at = _dense_page()
    assert not at.exception, at.exception
    options = at.selectbox(key="dm_model").options
    from cnncalc.pytorch.models import SHIPPED
    assert options == (["lab net, CIFAR-10 (shipped)"] if SHIPPED.exists() else []) + [
        "lab net with random weights", "resnet18, ImageNet (torchvision weights)"]
    assert not any("vgg16" in o for o in options)  # its weights are not cached here: listed with how to get them
    how = " ".join(plain(m.value) for m in at.markdown)
    assert "train it on the *Training* page" in how or "Training" in how
    assert "get_model('vgg16', weights='DEFAULT')" in how
