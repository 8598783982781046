"""Network analyzer: a whole network → the per-layer table, charts, comparisons, exports, PyTorch check."""
import pandas as pd
import streamlit as st

from cnncalc import SpecError, analyze, format_shape
from cnncalc.classroom import quiz
from cnncalc.tables import to_csv, to_markdown
from ui import analyzer_sections as sections
from ui import model_picker as picker
from ui import spec_editor as editor
from ui import widgets
from ui.widgets import escape

st.title("📋 Network analyzer")
st.caption("Every layer's output shape, weights, FC-equivalent, MACs, memory and receptive field — "
           "for a preset, your own network (spec or PyTorch code), a torchvision model or a checkpoint.")

choice = picker.pick("analyzer")
if choice.source != picker.TEXT:  # a torchvision model or a checkpoint: the same counts, no editor
    sections.model_section("analyzer", choice)
    st.stop()
spec = editor.init("analyzer")
c1, c2 = st.columns([2, 1])
c1.selectbox("Start from a preset", editor.preset_options("analyzer"), key="analyzer_preset",
             on_change=editor.load_preset, args=("analyzer",), format_func=editor.preset_label("analyzer"),
             help="Loads the preset's layers and the input size it was designed for.")
c2.text_input("Input C×H×W", key="analyzer_input", on_change=editor.sync_url, args=("analyzer",),
              help="Channels × height × width of one image, e.g. 3x32x32 for CIFAR-10.")

# one editor at a time: a data editor first drawn inside a hidden tab did not register its first edits
mode = st.segmented_control("Edit the layers as", ["Text spec", "Table"], key="analyzer_edit_mode",
                            default="Text spec", help="Both edit the same network; switch at any time.")
if mode == "Table":
    st.data_editor(pd.DataFrame({"layer": editor.spec_lines(spec)}), key=editor.table_key("analyzer"), num_rows="dynamic",
                   width="stretch", on_change=editor.table_changed, args=("analyzer",),
                   column_config={"layer": st.column_config.TextColumn("layer", help="one layer of the spec")})
else:
    editor.spec_text("analyzer")
    st.text_area("Layers (one per line or separated by ;)", key=editor.text_key("analyzer"), height=160,
                 on_change=editor.text_changed, args=("analyzer",),
                 help="conv N k= s= p= d= g= bias=0|1 · maxpool/avgpool k= s= p= ceil=1 · gap · flatten · "
                      "fc N · bn · dropout p= · relu/tanh/sigmoid/gelu… · p=same or per axis HxW, before:after")

try:
    result = analyze(spec, st.session_state["analyzer_input"])
except SpecError as err:
    st.error(f"**Cannot read this network:** {escape(err)}")
    st.stop()

sections.issues_section("analyzer", result)

if st.toggle("Quiz: predict, then reveal", key="analyzer_quiz",
             help="Hide the numbers; pick a layer, type your predictions, then reveal each with its formula."):
    names = [r.name for r in result.layers if r.out_shape is not None]
    if not names:
        st.info("No layer has an output to predict yet: apply the suggested fix above first.")
        st.stop()
    pick = st.selectbox("Layer to predict", names, key="analyzer_quiz_layer",
                        format_func=lambda n: f"{n}: {result[n].spec} (input {format_shape(result[n].in_shape)})")
    widgets.quiz_block(quiz.layer_questions(result[pick]), f"analyzer_q_{abs(hash((spec, str(result.input_shape), pick)))}")
    st.stop()  # the table, charts and totals would give the answers away

sections.counts_section("analyzer", result)
sections.larger_input_section("analyzer", result)
sections.exports_section("analyzer", spec, result, to_csv(result), to_markdown(result))
sections.cross_check_section("analyzer", spec, st.session_state["analyzer_input"])
