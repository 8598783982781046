"""Why convolutions: four classroom demos — shift equivariance, pooling invariance, shuffled pixels, and the
parameter blow-up of fully-connected layers. Widgets → one core call per demo (cnncalc.classroom.demos) →
render; each tab is a function of ui/demos_view.py."""
import streamlit as st

from ui import demos_view as view
from ui.widgets import compact_page

compact_page()  # projected at 1280×720: each tab's result in the first screen
st.title("🧠 Why convolutions")
st.caption("Four demos to project in class. Every number is computed live from the images and networks shown.")
tab1, tab2, tab3, tab4 = st.tabs(["① Shift the input", "② Pooling", "③ Shuffled pixels", "④ Parameter blow-up"])
with tab1:
    view.shift_tab()
with tab2:
    view.pooling_tab()
with tab3:
    settings, go = view.shuffled_settings()
    results = st.container()  # filled at the end of the script: training never holds up tab ④
with tab4:
    view.blowup_tab()
with results:
    view.shuffled_results(settings, go)
