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


def test_larger_input_shows_the_real_pytorch_error(open_page):
    at = open_page(PAGE)
    assert any("mat1 and mat2 shapes cannot be multiplied" in plain(e.value) for e in at.error)
    assert any("1,024 inputs" in i.value and "64×8×8 = 4,096" in i.value for i in at.info)


def test_quiz_hides_the_table_and_reveals_with_the_formula(open_page):
    at = open_page(PAGE)
    at.toggle(key="analyzer_quiz").set_value(True).run()
    assert not at.exception
    assert not [d for d in at.dataframe if "params" in d.value.columns]  # no answers on screen
    at.selectbox(key="analyzer_quiz_layer").set_value("conv2").run()
    out = next(t for t in at.text_input if t.label.startswith("Output size"))
    out.set_value("16x16x64").run()
    params = next(t for t in at.text_input if t.label.startswith("Parameters"))
    params.set_value("51200").run()  # forgot the 64 biases
    for suffix in ("_out_reveal", "_params_reveal"):
        next(b for b in at.button if b.key and b.key.endswith(suffix)).click().run()
    assert any("Right: 16×16×64" in s.value for s in at.success)
    assert any("off by the bias terms" in e.value and "51,264" in plain(e.value) for e in at.error)
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
