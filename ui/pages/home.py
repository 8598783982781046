"""Home: what cnncalc does, a card per page (from the page registry), and the conventions used everywhere."""
import streamlit as st

from ui.nav import PAGES

st.title("🧮 cnncalc")
st.markdown(
    "Every number of a convolutional network — output sizes, weights, the cost of an equivalent "
    "fully-connected layer, MACs, receptive fields — computed exactly, per axis, with the formula "
    "one click away and checked against PyTorch.")

cols = st.columns(2)
for i, page in enumerate(p for p in PAGES if p.summary):
    with cols[i % 2], st.container(border=True):
        st.page_link(page.script, label=page.title, icon=page.icon)
        st.caption(page.summary)

st.info("Conventions used everywhere: MACs count multiply–accumulates with weights (FLOPs = 2 × MACs, plus "
        "bias adds); receptive fields are in input pixels, with pixel centres at 0, 1, 2, …; output sizes "
        "follow PyTorch, which floors the division.\n\n"
        "Shapes are written C×H×W (channels × height × width, PyTorch's order); the lab sheet's x × y × z "
        "(width × height × depth) is the same volume with the depth z last.")
