"""cnncalc — the Streamlit app. A router only: each page lives in pages/ and calls the core once."""
import streamlit as st

st.set_page_config(page_title="cnncalc — CNN calculator", page_icon="🧮", layout="wide")

PAGES = {
    "Start": [st.Page("pages/home.py", title="Home", icon="🏠", default=True)],
    "Arithmetic": [
        st.Page("pages/calculator.py", title="Layer calculator", icon="🧮"),
        st.Page("pages/analyzer.py", title="Network analyzer", icon="📋"),
        st.Page("pages/receptive_field.py", title="Receptive fields", icon="🎯"),
    ],
    "Experiments": [
        st.Page("pages/training.py", title="Training", icon="📈"),
        st.Page("pages/dense_maps.py", title="Dense score maps", icon="🗺️"),
    ],
    "Classroom": [
        st.Page("pages/demos.py", title="Why convolutions", icon="🧠"),
        st.Page("pages/companion.py", title="Lab companion", icon="📝"),
    ],
}

st.navigation(PAGES).run()
