"""The Layer calculator page, run headless with Streamlit's AppTest. Oracles: PyTorch and numbers worked by hand."""
import json
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def at():
    app = AppTest.from_file(APP, default_timeout=30)
    app.run()
    app.switch_page("ui/pages/calculator.py").run()
    assert not app.exception
    return app


def set_inputs(app, **values):
    if "mode" in values:  # the pooling inputs (ceil_mode) exist once the mode is switched
        app.radio(key="calc_mode").set_value(values.pop("mode")).run()
    for key, value in values.items():
        widget = {"ceil": app.toggle, "mode": app.radio, "per_axis": app.toggle, "asym": app.toggle,
                  "bias": app.toggle, "transposed": app.toggle}.get(key, app.number_input)(key=f"calc_{key}")
        widget.set_value(value)
    app.run()
    assert not app.exception, app.exception
    return app


def metrics(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def click(app, key):
    app.button(key=f"calc_{key}").click().run()
    assert not app.exception, app.exception
    return app


def test_default_is_the_lab_conv(at):
    assert at.title[0].value.endswith("Layer calculator")
    assert not at.error and not at.warning
    shown = metrics(at)
    assert shown["Output size C×H×W"] == "32×32×32"
    assert shown["Weights + biases"] == "2,432"


def test_lab_conv_numbers_match_pytorch_and_hand(at):
    set_inputs(at, in_h=20, k_h=3, n=8)   # move away first, then type the lab's layer in
    set_inputs(at, in_h=32, in_w=32, in_c=3, k_h=5, p_h=2, s_h=1, n=32)
    conv = torch.nn.Conv2d(3, 32, kernel_size=5, stride=1, padding=2)
    out = conv(torch.zeros(1, 3, 32, 32))
    shown = metrics(at)
    assert tuple(out.shape[1:]) == (32, 32, 32) and shown["Output size C×H×W"] == "32×32×32"
    assert conv.weight.numel() == 2400 and shown["Weights (no biases)"] == "2,400"
    assert conv.bias.numel() == 32 and shown["Biases"] == "32"
    assert sum(p.numel() for p in conv.parameters()) == 2432 and shown["Weights + biases"] == "2,432"
    assert shown["FC-equivalent weights"] == f"{3 * 32 * 32 * 32 * 32 * 32:,}" == "100,663,296"
    assert shown["Locally connected"] == "2,490,368"    # 32·32 positions × 2,432
    assert shown["Locally conn. / shared"] == "1,024×"
    assert shown["FC / shared"] == "41,943×"             # 100,663,296 / 2,400 = 41,943.04
    assert shown["MACs"] == "2,457,600"                  # 32·32·32·3·5·5
    latex = " ".join(el.value for el in at.latex)
    assert r"32\cdot 3\cdot 5\cdot 5 = 2{,}400" in latex   # the formula, values substituted


def test_warning_names_the_unread_row(at):
    set_inputs(at, k_h=3, s_h=2, p_h=0)
    # by hand: outputs ⌊(32 − 3)/2⌋ + 1 = 15, the last window covers rows 28…30, so row 31 is never read
    assert torch.nn.Conv2d(3, 1, 3, 2)(torch.zeros(1, 3, 32, 32)).shape[-1] == 15
    assert metrics(at)["Output size C×H×W"] == "32×15×15"
    text = at.warning[0].value
    assert "row (31)" in text and "column (31)" in text and "PyTorch floors the division" in text
    click(at, "fix")
    assert not at.warning and metrics(at)["Output size C×H×W"] == "32×16×16"


def test_error_shows_a_fix_that_works(at):
    set_inputs(at, in_h=10, in_w=10, k_h=15)
    with pytest.raises(RuntimeError):  # PyTorch refuses it too: a 15-pixel window on 10 + 2 + 2 = 14
        torch.nn.Conv2d(3, 32, 15, padding=2)(torch.zeros(1, 3, 10, 10))
    assert at.error and "10 + 2 + 2 = 14" in at.error[0].value
    assert not at.metric
    assert at.button(key="calc_fix").label.startswith("Apply suggested: conv 32 k=15")
    click(at, "fix")
    assert not at.error
    k, p = at.number_input(key="calc_k_h").value, at.number_input(key="calc_p_h").value
    out = torch.nn.Conv2d(3, 32, k, padding=p)(torch.zeros(1, 3, 10, 10)).shape[-1]
    assert metrics(at)["Output size C×H×W"] == f"32×{out}×{out}" and out >= 1


def test_pool_padding_above_half_kernel_is_an_error_with_fix(at):
    set_inputs(at, mode="Max pooling", k_h=3, s_h=2, p_h=2)
    with pytest.raises(RuntimeError):  # PyTorch refuses it too
        torch.nn.MaxPool2d(3, 2, padding=2)(torch.zeros(1, 3, 32, 32))
    assert at.error and "at most 1" in at.error[0].value
    click(at, "fix")
    assert not at.error
    p = at.number_input(key="calc_p_h").value
    out = torch.nn.MaxPool2d(3, 2, padding=p)(torch.zeros(1, 3, 32, 32)).shape[-1]
    assert metrics(at)["Output size C×H×W"] == f"3×{out}×{out}"


@pytest.mark.parametrize("k, before, after", [(5, 2, 2), (4, 1, 2)])
def test_same_button_keeps_the_size(at, k, before, after):
    set_inputs(at, k_h=k, s_h=2, p_h=0)
    click(at, "same")
    assert at.number_input(key="calc_p_h").value == before and at.number_input(key="calc_s_h").value == 1
    assert at.toggle(key="calc_asym").value == (before != after)
    if before != after:
        assert at.number_input(key="calc_pa_h").value == after   # PyTorch's padding='same' puts the extra pixel after
    out = torch.nn.Conv2d(3, 32, k, padding="same")(torch.zeros(1, 3, 32, 32))
    assert metrics(at)["Output size C×H×W"] == "×".join(map(str, out.shape[1:])) == "32×32×32"


@pytest.mark.parametrize("n, k, s, p", [(32, 3, 2, 0), (6, 2, 3, 0), (7, 3, 2, 1)])
def test_pooling_ceil_mode_matches_torch(at, n, k, s, p):
    set_inputs(at, mode="Max pooling", in_h=n, in_w=n, k_h=k, s_h=s, p_h=p, ceil=True)
    out = torch.nn.MaxPool2d(k, s, p, ceil_mode=True)(torch.zeros(1, 3, n, n)).shape[-1]
    assert metrics(at)["Output size C×H×W"] == f"3×{out}×{out}"
    assert metrics(at)["Weights + biases"] == "0"


def test_halve_solver_button(at):
    click(at, "halve_1")
    assert metrics(at)["Output size C×H×W"] == "32×16×16"   # ⌈32/2⌉
    assert at.number_input(key="calc_s_h").value == 2 and not at.warning


def test_per_axis_values(at):
    set_inputs(at, per_axis=True)
    assert at.number_input(key="calc_k_w").value == 5       # starts from the values in use
    set_inputs(at, in_w=28, k_w=3, p_w=1)
    out = torch.nn.Conv2d(3, 32, (5, 3), padding=(2, 1))(torch.zeros(1, 3, 32, 28)).shape
    assert metrics(at)["Output size C×H×W"] == "×".join(map(str, out[1:])) == "32×32×28"
    assert metrics(at)["Weights (no biases)"] == "1,440"  # 32·3·5·3


def test_sliding_window_figure_for_small_inputs(at):
    # the lab's 32×32 input with p = 2 is 36×36 once padded (≤ 40 cells): drawn whole, one step per output,
    # 32·32 = 1,024 steps
    assert at.get("vega_lite_chart") and at.slider(key="calc_step").max == 1024
    set_inputs(at, p_h=5)  # 32 + 2·5 = 42 > 40 cells: not drawn, and a smaller input is offered
    assert not at.get("vega_lite_chart") and "up to 32×32" in at.info[0].value
    click(at, "small")
    assert at.number_input(key="calc_in_h").value + 2 * 5 <= 40
    set_inputs(at, in_h=5, in_w=5, k_h=3, s_h=2, p_h=1)  # Dumoulin & Visin fig. 2.7: 3×3 output
    assert at.slider(key="calc_step").max == 9
    at.slider(key="calc_step").set_value(5).run()
    chart = at.get("vega_lite_chart")[0].proto
    assert "Step 5 of 9: computing output row 1, col 1" in json.loads(chart.spec)["title"]["text"]
    click(at, "next")
    assert at.slider(key="calc_step").value == 6


@pytest.mark.parametrize("inputs", [dict(k_h=32, d_h=8, in_h=2048, in_w=2048), dict(s_h=16, p_h=256),
                                    dict(in_h=1, in_w=1), dict(mode="Average pooling", d_h=2),
                                    dict(mode="Max pooling", k_h=1, s_h=1), dict(mode="Max pooling", k_h=32, d_h=8)])
def test_never_a_traceback(at, inputs):
    set_inputs(at, **inputs)
    assert at.metric or at.error


def test_inputs_survive_a_visit_to_another_page(at):
    set_inputs(at, k_h=3, p_h=1)
    at.switch_page("ui/pages/home.py").run()
    at.switch_page("ui/pages/calculator.py").run()
    assert not at.exception
    assert at.number_input(key="calc_k_h").value == 3 and metrics(at)["Output size C×H×W"] == "32×32×32"


def test_quiz_mode_predict_then_reveal(at):
    at.toggle(key="calc_quiz").set_value(True).run()
    assert not at.exception
    assert not [m for m in at.metric if m.label.startswith("Weights")]  # the numbers are hidden
    box = next(t for t in at.text_input if t.label.startswith("Output size"))
    box.set_value("32 × 32 × 32").run()
    next(b for b in at.button if b.label == "Reveal").click().run()
    assert any("Right: 32×32×32" in s.value for s in at.success)
    assert any("⌊" in x.value or "lfloor" in x.value for x in at.latex)  # the formula comes with the answer


def test_quiz_h_w_c_guess_is_right_numbers_with_a_note(at):
    set_inputs(at, n=16)                            # nn.Conv2d(3, 16, 5, padding=2) on 3×32×32 → 16×32×32
    out = torch.nn.Conv2d(3, 16, 5, padding=2)(torch.zeros(1, 3, 32, 32)).shape[1:]
    at.toggle(key="calc_quiz").set_value(True).run()
    box = next(t for t in at.text_input if t.label == "Output size (C×H×W)")
    box.set_value("32 x 32 x 16").run()             # the lab's order, channels last
    next(b for b in at.button if b.label == "Reveal").click().run()
    assert not at.exception
    note = next(s.value for s in at.success)
    assert "this app writes C×H×W (channels first), as PyTorch does" in note
    assert note.endswith("×".join(map(str, out)) + ".") and "16×32×32" in note


def test_kernel_larger_than_the_input_shows_its_true_ratio(at):
    """3×5×5 input, k=9, p=2, N=32: FC-equivalent (3·5·5)·(32·1·1) = 2,400 over 32·3·9·9 = 7,776 weights."""
    set_inputs(at, in_h=5, in_w=5, k_h=9, p_h=2)
    conv = torch.nn.Conv2d(3, 32, 9, padding=2)
    out = conv(torch.zeros(1, 3, 5, 5))
    shown = metrics(at)
    assert shown["Output size C×H×W"] == "×".join(map(str, out.shape[1:])) == "32×1×1"
    assert shown["Weights (no biases)"] == f"{conv.weight.numel():,}" == "7,776"
    assert shown["FC / shared"] == "0.309×"        # 2,400 / 7,776 = 0.3086…
    assert shown["Locally conn. / shared"] == "1×"  # o_H·o_W = 1


def test_figure_note_names_the_padding_when_the_input_is_small(at):
    """1×1 input, k=3, p=20: 1 + 2·20 = 41 > 24 padded cells — the padding is what is too big, not the input."""
    set_inputs(at, in_h=1, in_w=1, k_h=3, p_h=20)
    note = next(i.value for i in at.info if "figure" in i.value)
    assert "1×1 input is 41×41 once padded. Try less padding" in note


def test_transposed_mode_matches_pytorch_and_shows_the_formula(at):
    """convT 16 k=4 s=2 p=1 on 3×7×7: o = (7 − 1)·2 − 2·1 + (4 − 1) + 0 + 1 = 14; weights 16·3·4·4 = 768;
    MACs = C·H·W·N·k·k = 3·7·7·16·16 = 37,632."""
    set_inputs(at, transposed=True)
    set_inputs(at, in_h=7, in_w=7, in_c=3, k_h=4, s_h=2, p_h=1, n=16)
    conv = torch.nn.ConvTranspose2d(3, 16, 4, stride=2, padding=1)
    out = conv(torch.zeros(1, 3, 7, 7))
    shown = metrics(at)
    assert tuple(out.shape[1:]) == (16, 14, 14) and shown["Output size C×H×W"] == "16×14×14"
    assert conv.weight.numel() == 768 and shown["Weights (no biases)"] == "768"
    assert sum(p.numel() for p in conv.parameters()) == 784 and shown["Weights + biases"] == "784"
    assert shown["MACs"] == "37,632"
    latex = " ".join(x.value for x in at.latex)
    assert r"(n - 1)\cdot s - 2p + (k - 1) + op + 1" in latex                  # the symbols, then the values
    assert r"(7 - 1)\cdot 2 - 2\cdot 1 + (4 - 1) + 0 + 1 = 14" in latex
    at.button(key="calc_halve_1").click().run()        # "k=4 s=2 p=1 → 14×14", the doubling options
    assert not at.exception and metrics(at)["Output size C×H×W"] == "16×14×14"


def test_transposed_output_padding_error_has_a_fix(at):
    set_inputs(at, transposed=True)
    set_inputs(at, in_h=5, in_w=5, k_h=3, s_h=2, p_h=1, op_h=2)
    assert at.error and "output padding 2" in at.error[0].value
    click(at, "fix")
    assert not at.error and metrics(at)["Output size C×H×W"] == "32×10×10"   # op = 1: 8 − 2 + 2 + 1 + 1


# ---- issue #15 item 3: the kernel sliding up to 32×32, autoplay, the transposed view ---------------------------

def test_sliding_figure_for_a_32_by_32_input_and_the_crop_note(at):
    """The default 3×32×32 input, k=5: drawn whole (padded 36×36), one step per output cell; 40×40 is cropped."""
    set_inputs(at, k_h=3, p_h=1)
    out = torch.nn.Conv2d(3, 32, 3, padding=1)(torch.zeros(1, 3, 32, 32)).shape[-2:]
    assert at.slider(key="calc_step").max == out[0] * out[1] == 1024
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["title"]["text"] == "Step 1 of 1024: computing output row 0, col 0"
    assert not [i for i in at.info if "figure" in i.value]
    set_inputs(at, in_h=40, in_w=40)
    note = next(i.value for i in at.info if "top-left" in i.value)
    assert "The input is 40×40: the figure shows its top-left 32×32 region" in note
    assert at.slider(key="calc_step").max == 31 * 31 and at.button(key="calc_small")


def test_play_toggle_sends_the_animation_and_pause_returns_to_the_slider(at):
    assert at.toggle(key="calc_play").value is False and at.select_slider(key="calc_speed").value == 2
    at.slider(key="calc_step").set_value(7).run()
    at.select_slider(key="calc_speed").set_value(8).run()
    at.toggle(key="calc_play").set_value(True).run()
    assert not at.exception and not at.get("vega_lite_chart")
    html = at.get("iframe")[0].proto.srcdoc              # one self-contained SVG/JS animation: no rerun per frame
    assert '"frames":1024' in html and '"step":6' in html and '"fps":8.0' in html and '"playing":true' in html
    at.toggle(key="calc_play").set_value(False).run()
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["title"]["text"].startswith("Step 7 of 1024") and not at.get("iframe")


def test_transposed_mode_draws_the_dilated_padded_input(at):
    """convT k=3 s=2 p=1 op=1 on 5×5 (Dumoulin & Visin fig. 4.6-like): 9×9 dilated, padded by 1 (+1) → 12×12,
    a stride-1 window, 10×10 outputs as nn.ConvTranspose2d gives."""
    set_inputs(at, transposed=True)
    set_inputs(at, in_h=5, in_w=5, k_h=3, s_h=2, p_h=1, op_h=1)
    out = torch.nn.ConvTranspose2d(3, 32, 3, 2, 1, 1)(torch.zeros(1, 3, 5, 5)).shape[-2:]
    assert at.slider(key="calc_step").max == out[0] * out[1] == 100
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert "dilated by s − 1 zeros and padded by d·(k − 1) − p to 12×12" in " ".join(spec["title"]["subtitle"])
    at.toggle(key="calc_play").set_value(True).run()
    html = at.get("iframe")[0].proto.srcdoc
    assert not at.exception and '"frames":100' in html and "inserted zero" in html
