"""cnncalc — the Streamlit app. A router only: the pages are listed in ui/nav.py and live in ui/pages/.

They are not in a top-level pages/ folder: Streamlit treats a folder of that name as its older multipage
layout and serves a direct link such as /analyzer from it, without this router (no wide layout, a bare
page list)."""
import streamlit as st

from ui.nav import navigation
from ui.widgets import page_style

st.set_page_config(page_title="cnncalc — CNN calculator", page_icon="🧮", layout="wide")
page_style()  # one stylesheet for every page: visible scrollbars on formulas and tables (phones, projectors)
st.navigation(navigation()).run()
