"""The network analyzer page under AppTest: numbers shown are the lab's hand-worked ones."""
from .conftest import plain

PAGE = "ui/pages/analyzer.py"


def _table(at):
    """The per-layer table (the table editor above it has only a 'layer' column), read from the Arrow bytes the
    browser receives, int64 kept exact (pandas' default conversion would turn a nullable int column into
    float64 and round counts above 2⁵³ — in the test, not on the page)."""
    import pandas as pd
    import pyarrow as pa
    proto = next(d.proto for d in at.dataframe if "params" in d.value.columns)
    arrow = pa.ipc.open_stream(proto.arrow_data.data or proto.lazy_data.initial_chunk.data).read_all()
    return arrow.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def _text_area(at):
    return next(t for t in at.text_area if t.label.startswith("Layers"))


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_lab_net_table_and_totals(open_page):
    at = open_page(PAGE)
    assert not at.exception
    df = _table(at)
    weighted = df[df["layer"].isin(["conv1", "conv2", "conv3", "fc4", "fc5"])]
    # 3·32·25+32, 32·64·25+64, 64·64·25+64, 1024·1000+1000, 1000·10+10
    assert list(weighted["params"]) == [2_432, 51_264, 102_464, 1_025_000, 10_010]
    assert df[df["layer"] == "pool3"]["output"].item() == "64×4×4"
    assert df[df["layer"] == "pool3"]["rf"].item() == "36"
    assert _metric(at, "parameters") == "1,191,170"


def test_spec_from_url_and_text_edit(open_page):
    at = open_page(PAGE, query={"spec": "conv 8 k=3 p=1; relu; maxpool k=2; fc 10", "input": "1x28x28"})
    assert not at.exception
    df = _table(at)
    assert df[df["layer"] == "conv1"]["params"].item() == 8 * 1 * 9 + 8
    assert df[df["layer"] == "fc2"]["params"].item() == 8 * 14 * 14 * 10 + 10
    _text_area(at).set_value("conv 16 k=5\nrelu\nfc 10").run()
    df = _table(at)
    assert df[df["layer"] == "conv1"]["output"].item() == "16×24×24"  # 28 − 5 + 1


def test_invalid_layer_shows_fix_and_applies_it(open_page):
    at = open_page(PAGE, query={"spec": "conv 8 k=3 s=2; relu; maxpool k=3 p=2", "input": "3x32x32"})
    assert not at.exception
    assert any("more than half the kernel" in plain(e.value) for e in at.error)
    assert any("never read" in w.value for w in at.warning)
    # conv1 = 8·3·3·3 + 8 = 224 params; pool1 is in error, so the total is a lower bound, said as one
    params = lambda: next(m.value for m in at.metric if m.label == "parameters")  # noqa: E731
    assert params() == "≥ 224"
    assert any("leave out pool1" in c.value for c in at.caption)
    assert not any(h.value == "Is that a lot?" for h in at.subheader)
    assert any("Fix pool1 first" in c.value for c in at.caption)           # no larger-image claims either
    assert not any("applies to the larger image" in s.value for s in at.success)
    fix_buttons = [b for b in at.button if b.label.startswith("Apply")]
    assert fix_buttons
    for _ in range(len(fix_buttons)):
        next(b for b in at.button if b.label.startswith("Apply")).click().run()
    assert not at.exception
    assert not at.error and not at.warning
    assert params() == "224" and any(h.value == "Is that a lot?" for h in at.subheader)


def test_unreadable_spec_keeps_text_and_explains(open_page):
    at = open_page(PAGE)
    _text_area(at).set_value("conv 32 k=5 p=2\nwarp 3").run()
    assert not at.exception
    assert any("unknown layer 'warp'" in plain(e.value) for e in at.error)
    assert _text_area(at).value.endswith("warp 3")  # the user's edit is kept


def test_preset_switch_and_cross_check(open_page):
    at = open_page(PAGE)
    at.selectbox(key="analyzer_preset").set_value("lenet5").run()
    assert _metric(at, "parameters") == "61,706"
    at.button(key="analyzer_check").click().run()
    assert not at.exception
    assert any("All layers agree" in s.value for s in at.success)


def test_larger_input_shows_the_real_pytorch_error_as_an_expected_result(open_page):
    """The lab net at 64×64: fc4 gets 64·8·8 = 4,096 inputs for its 1,024 weights per output — PyTorch refuses,
    which is the lesson, so a neutral box frames it; nothing on the page is red."""
    at = open_page(PAGE)
    assert not at.exception and not at.error
    refusal = [plain(i.value) for i in at.info if "mat1 and mat2 shapes cannot be multiplied" in plain(i.value)]
    assert refusal and refusal[0].startswith("**PyTorch refuses, as expected**, at `fc4`")
    assert "converts the fc layers to convolutions" in refusal[0]
    assert any("1,024 inputs" in i.value and "64×8×8 = 4,096" in i.value for i in at.info)


def test_an_unexpected_pytorch_failure_stays_red():
    """Only a refusal at the first fc layer is expected; one anywhere else is an error box."""
    from streamlit.testing.v1 import AppTest

    from ui.analyzer_sections import expected_refusal
    spec = "conv 8 k=3; relu; flatten; fc 10; relu; fc 2"          # conv1 relu1 flatten1 fc2 relu2 fc3
    assert expected_refusal(spec, "fc2") and expected_refusal(spec, "fc2_flatten")
    assert not expected_refusal(spec, "conv1") and not expected_refusal(spec, "fc3")
    assert not expected_refusal(spec, None) and not expected_refusal("warp 3", "fc2")

    def boxes(failed_at):
        from types import SimpleNamespace

        from ui.analyzer_sections import refusal_box
        refusal_box(SimpleNamespace(failed_at=failed_at, error="boom"), "conv 8 k=3; relu; flatten; fc 10; fc 2",
                    "next")
    at = AppTest.from_function(boxes, args=("conv1",)).run()
    assert not at.exception and not at.info and at.error[0].value == "PyTorch, at `conv1`: `boom`"
    at = AppTest.from_function(boxes, args=("fc2",)).run()
    assert not at.error and at.info[0].value.startswith("**PyTorch refuses, as expected**, at `fc2`: `boom` — next")
    at = AppTest.from_function(boxes, args=(None,)).run()                      # it ran: nothing to frame
    assert not at.exception and not at.info and not at.error


TEACHER = ("conv 32 k=3 p=2; relu; maxpool k=2; conv 32 k=3 p=1; relu; maxpool k=2; conv 64 k=3 p=1; relu; "
           "maxpool k=2; flatten; fc 10")


def test_find_the_cause_offers_conv1_and_applies_it(open_page):
    """conv1 p=2 makes 34 → pool1 17 → pool2 drops row 16. The local fix (pool2 p=1) stays offered; the cause
    search, on request, puts conv1 p=1 first (32 → 16 → 8 → 4), and applying it leaves no warning at all."""
    at = open_page(PAGE, query={"spec": TEACHER, "input": "3x32x32"})
    assert not at.exception
    assert any(w.value.startswith("**pool2**") for w in at.warning)
    assert any(b.label == "Apply `maxpool k=2 p=1`" for b in at.button)           # today's local fix, kept
    assert not [b for b in at.button if b.label.startswith("Apply to")]           # only on request
    at.button(key="analyzer_cause_5").click().run()
    assert not at.exception
    lines = [plain(m.value) for m in at.markdown if m.value[:1].isdigit()]
    assert lines[0] == "1. **conv1**: `conv 32 k=3 p=2` → `conv 32 k=3 p=1`", lines
    assert all("maxpool k=2 p=1" not in line for line in lines)
    at.button(key="analyzer_cause_apply_0").click().run()
    assert not at.exception and not at.warning and not at.error
    assert _table(at).set_index("layer")["output"]["pool3"] == "64×4×4"
    assert str(at.query_params["spec"]).startswith("conv 32 k=3 p=1; relu")
    assert not [b for b in at.button if b.label.startswith("Apply to")]           # results gone with the problem


def test_find_the_cause_without_a_single_change_says_so(open_page):
    at = open_page(PAGE, query={"spec": "conv 8 k=40; relu; fc 10", "input": "3x32x32"})
    at.button(key="analyzer_cause_0").click().run()
    assert not at.exception
    assert any("No single change of one layer up to conv1" in i.value for i in at.info)


def _preset_shown(at) -> str:
    """The preset box's label as the browser shows it (format_func needs the session: read the options)."""
    box = at.selectbox(key="analyzer_preset")
    return box.options[box.index]


def test_preset_label_follows_the_spec(open_page):
    at = open_page(PAGE)
    box = lambda: at.selectbox(key="analyzer_preset")
    assert box().value == "lab" and _preset_shown(at) == "CIFAR-10 lab net (32×32)"
    _text_area(at).set_value(_text_area(at).value.replace("conv 32 k=5 p=2", "conv 32 k=3 p=2", 1)).run()
    assert not at.exception
    assert _preset_shown(at) == "custom (from CIFAR-10 lab net (32×32))"
    box().set_value("custom").run()                                              # picking it again keeps the edit
    assert _table(at).set_index("layer")["params"]["conv1"] == 3 * 32 * 9 + 32
    box().set_value("lenet5").run()
    assert _preset_shown(at) == "LeNet-5" and _metric(at, "parameters") == "61,706"


def test_preset_label_of_shared_links(open_page):
    # LeNet-5 written differently (new lines, spaces, a comment, a default stated): still LeNet-5
    lenet = ("conv 6 k=5 s=1 # C1\ntanh;  avgpool k=2; conv 16 k=5; tanh; avgpool k=2; flatten; fc 120; tanh; "
             "fc 84; tanh; fc 10")
    at = open_page(PAGE, query={"spec": lenet, "input": "1x32x32"})
    assert at.selectbox(key="analyzer_preset").value == "lenet5" and _preset_shown(at) == "LeNet-5"
    at = open_page(PAGE, query={"spec": TEACHER, "input": "3x32x32"})
    assert _preset_shown(at) == "custom (from a shared link)"
    assert "custom (from a shared link)" not in at.selectbox(key="analyzer_preset").options[:-1]
    at = open_page(PAGE, query={"spec": lenet, "input": "3x32x32"})   # the layers, not the input it was made for
    assert at.selectbox(key="analyzer_preset").value == "custom"


def test_quiz_hides_the_table_and_reveals_with_the_formula(open_page):
    at = open_page(PAGE)
    at.toggle(key="analyzer_quiz").set_value(True).run()
    assert not at.exception
    assert not [d for d in at.dataframe if "params" in d.value.columns]  # no answers on screen
    at.selectbox(key="analyzer_quiz_layer").set_value("conv2").run()
    out = next(t for t in at.text_input if t.label.startswith("Output size"))
    out.set_value("64x16x16").run()  # C×H×W
    params = next(t for t in at.text_input if t.label.startswith("Parameters"))
    params.set_value("51200").run()  # forgot the 64 biases
    for suffix in ("_out_reveal", "_params_reveal"):
        next(b for b in at.button if b.key and b.key.endswith(suffix)).click().run()
    assert any("Right: 64×16×16" in plain(s.value) for s in at.success)
    assert any("off by the bias terms" in plain(e.value).lower() and "51,264" in plain(e.value) for e in at.error)
    assert any("lfloor" in x.value for x in at.latex)        # the output-size formula, substituted
    assert any("51{,}200 + 64" in x.value for x in at.latex)  # params = weights + biases


def test_huge_input_shows_exact_counts_past_int64(open_page):
    """3×20,000×20,000 through the lab net: fc4's FC-equivalent (64·2,500·2,500)·1,000 = 4·10¹¹ fits int64,
    but conv1's (3·20,000²)·(32·20,000²) = 1.536·10¹⁹ does not — shown as exact text, not an Arrow crash."""
    at = open_page(PAGE)
    at.text_input(key="analyzer_input").set_value("3x20000x20000").run()
    assert not at.exception, at.exception
    fc_eq = _table(at).set_index("layer")["fc_equivalent"]
    assert fc_eq["conv1"] == f"{3 * 20_000**2 * 32 * 20_000**2:,}" == "15,360,000,000,000,000,000"


def test_larger_input_above_4096_and_the_quiz_without_outputs(open_page):
    at = open_page(PAGE)
    _text_area(at).set_value("conv 8 k=3").run()
    at.text_input(key="analyzer_input").set_value("1x3000x3000").run()
    assert not at.exception, at.exception
    assert at.number_input(key="analyzer_larger").value == 6000      # twice the input, past the old 4096 cap
    at.text_input(key="analyzer_input").set_value("3x32x32").run()
    _text_area(at).set_value("conv 8 k=40; relu; fc 10").run()        # 40 > 32: no layer has an output
    at.toggle(key="analyzer_quiz").set_value(True).run()
    assert not at.exception, at.exception
    assert any("No layer has an output to predict" in i.value for i in at.info)


def test_cross_check_too_large_to_run_uses_the_meta_device(open_page):
    """fc 1,000,000 on 1,000,000 inputs: 10¹² weights, 4 TB as float32 — shapes and numel from the meta device."""
    at = open_page(PAGE, query={"spec": "fc 1000000", "input": "1000000"})
    at.button(key="analyzer_check").click().run()
    assert not at.exception, at.exception
    assert any("All layers agree" in s.value and "1,000,001,000,000" in s.value for s in at.success)
    assert any("meta device" in c.value for c in at.caption)


def test_counts_between_2_53_and_int64_keep_every_digit(open_page):
    """1×30,001×30,001 through conv 1 k=1: FC-equivalent = 900,060,001² = 810,108,005,400,120,001 — odd and
    above 2⁵³, so a float64 column would print a rounded neighbour; relu's empty cell must not cause that."""
    at = open_page(PAGE, query={"spec": "conv 1 k=1; relu", "input": "1x30001x30001"})
    assert not at.exception, at.exception
    fc_eq = _table(at).set_index("layer")["fc_equivalent"]
    assert fc_eq["conv1"] == f"{900_060_001**2:,}" == "810,108,005,400,120,001"  # exact text: past 2⁵³
    assert _metric(at, "MACs") == f"{900_060_001:,}"              # 1·1·1·1 per output position


def test_larger_input_box_past_half_a_million_pixels(open_page):
    """A 1×600,000×600,000 input used to crash the larger-input box (it offered 1,200,000, past the grammar's
    1,000,000): the box now stops at 1,000,000, and an input already that large says so."""
    at = open_page(PAGE, query={"spec": "conv 1 k=1; relu", "input": "1x600000x600000"})
    assert not at.exception, at.exception
    box = next(n for n in at.number_input if n.label.startswith("Larger input size"))
    assert box.max == 1_000_000 and box.value == 1_000_000
    at = open_page(PAGE, query={"spec": "conv 1 k=1", "input": "1x1000000x1000000"})
    assert not at.exception and any("largest size cnncalc reads" in c.value for c in at.caption)


def test_a_shared_link_cannot_inject_markdown(open_page):
    """?spec= is any visitor's text: the parser's message quotes it, and the page shows it as text — a Markdown
    image in a link must not make the viewer's browser fetch a URL."""
    at = open_page(PAGE, query={"spec": "![p](http://host/pixel.png)", "input": "3x32x32"})
    assert not at.exception
    (error,) = [e.value for e in at.error]  # the Markdown source the browser receives
    assert "](http://host" not in error and "\\!\\[p\\]" in error
