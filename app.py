"""cnncalc — the Streamlit app. A router only: each page lives in app_pages/ and calls the core once.

The folder is not called pages/: Streamlit treats a folder of that name as its older multipage layout and
serves a direct link such as /analyzer from it, without this router (no wide layout, a bare page list)."""
import streamlit as st

st.set_page_config(page_title="cnncalc — CNN calculator", page_icon="🧮", layout="wide")

PAGES = {
    "Start": [st.Page("app_pages/home.py", title="Home", icon="🏠", default=True)],
    "Arithmetic": [
        st.Page("app_pages/calculator.py", title="Layer calculator", icon="🧮"),
        st.Page("app_pages/analyzer.py", title="Network analyzer", icon="📋"),
        st.Page("app_pages/receptive_field.py", title="Receptive fields", icon="🎯"),
    ],
    "Experiments": [
        st.Page("app_pages/training.py", title="Training", icon="📈"),
        st.Page("app_pages/dense_maps.py", title="Dense score maps", icon="🗺️"),
    ],
    "Classroom": [
        st.Page("app_pages/demos.py", title="Why convolutions", icon="🧠"),
        st.Page("app_pages/companion.py", title="Lab companion", icon="📝"),
    ],
}

st.navigation(PAGES).run()
