"""The one page registry: every page's key, title, icon, menu section and one-line summary.

app.py builds the menu from it, the home page its cards, and the companion its "go deeper" links — a page
is added here and in ui/pages/<key>.py, nowhere else. The key is also the page's URL (/analyzer)."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitAPIException


@dataclass(frozen=True)
class Page:
    key: str       # file name in ui/pages/ and URL path
    title: str
    icon: str
    section: str   # menu heading
    summary: str   # the home page's card

    @property
    def script(self) -> str:
        """Path of the page's script, relative to app.py (what st.Page and st.switch_page take)."""
        return f"ui/pages/{self.key}.py"


PAGES: tuple[Page, ...] = (
    Page("home", "Home", "🏠", "Start", ""),
    Page("calculator", "Layer calculator", "🧮", "Arithmetic",
         "One layer: type kernel, stride, padding and read the output size, weights, FC-equivalent and MACs, "
         "with the formula substituted. Watch the kernel slide over the padded input."),
    Page("analyzer", "Network analyzer", "📋", "Arithmetic",
         "A whole network (the CIFAR-10 lab net, LeNet, AlexNet, VGG…): per-layer table, where the parameters "
         "are, how the receptive field grows, PyTorch code, a shareable link and a cross-check with PyTorch."),
    Page("receptive_field", "Receptive fields", "🎯", "Arithmetic",
         "Pick a layer and a unit and see which input pixels it can see, beside the field measured by "
         "gradients — the effective field is smaller and centre-weighted."),
    Page("activations", "What each layer sees", "🔬", "Arithmetic",
         "Run a trained network on a photo and see every layer's activation maps, strongest channels first, "
         "one cell's receptive field on the input, and the class scores at the end."),
    Page("training", "Training", "📈", "Experiments",
         "Run the lab's CIFAR-10 experiments — standardization, augmentation, momentum and a schedule, "
         "dropout, batch norm — with live loss, top-1 and top-5 curves; compare runs side by side."),
    Page("dense_maps", "Dense score maps", "🗺️", "Experiments",
         "Turn the classifier's fully-connected layers into convolutions and run it on a large image: one pass "
         "gives a grid of class scores, checked against a sliding window."),
    Page("demos", "Why convolutions", "🧠", "Classroom",
         "Classroom demos: translation equivariance, pooling invariance, shuffled pixels (MLP vs CNN), and the "
         "parameter blow-up of fully-connected layers on images."),
    Page("companion", "Lab companion", "📝", "Classroom",
         "The lab's 34 questions, each answered by the core or a run — with a link to the page that goes deeper."),
    Page("class_quiz", "Class quiz", "🙋", "Classroom",
         "Predict, then reveal, as a class: the teacher opens a question, everyone predicts, the answers are "
         "grouped by the mistake they come from, then the worked answer is revealed to all."),
)
BY_KEY = {p.key: p for p in PAGES}


@st.cache_resource(show_spinner=False)
def navigation() -> dict[str, list]:
    """The menu for st.navigation: {section: [st.Page, …]}, the home page first and the default. Built once per
    server process and shared: st.Page resolves and checks each script's path on the disk, which cost a fifth
    of every rerun's time with 30 students on one server."""
    menu: dict[str, list] = {}
    for p in PAGES:
        menu.setdefault(p.section, []).append(
            st.Page(p.script, title=p.title, icon=p.icon, url_path=p.key, default=p.key == "home"))
    return menu


def link(key: str, text: str = "{}") -> None:
    """A link to page ``key``; plain text when the running app does not register it (a test's bare page)."""
    page = BY_KEY[key]
    try:
        st.page_link(page.script, label=text.format(page.title), icon=page.icon)
    except StreamlitAPIException:
        st.markdown(f"{page.icon} {text.format(f'*{page.title}*')} (not in this app's menu)")


def switch(key: str) -> bool:
    """Open page ``key``; False (nothing happens) when the running app does not register it."""
    try:
        st.switch_page(BY_KEY[key].script)
    except StreamlitAPIException:
        return False
    return True
