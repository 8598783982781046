"""Lab companion: the CIFAR-10 lab's questions, one box each, answered by cnncalc or by a run in the store.

The page only lists the questions; each answer is rendered by ui/companion/ (one module per part)."""
import streamlit as st

from cnncalc.classroom import predict
from cnncalc.classroom.companion import questions as cq
from ui import companion as views
from ui import predict_widget
from ui.companion import COMPUTED, QUOTED, STORED

st.title("📝 Lab companion")
st.caption("The CIFAR-10 lab's questions, one box each: open a question for a short answer computed by cnncalc "
           "or read from your training runs, then follow its link to the page that goes deeper.")
query = st.text_input("Filter the questions", key="lc_filter", placeholder="a word of the question, e.g. dropout, "
                      "padding, receptive, epoch — or its number")
predicting = st.toggle("Predict first", key="lc_predict", value=False,
                       help="For the questions with a number to find (sizes, counts, the chance level, momentum, "
                       "dropout…): type your prediction first; the worked answer appears once you check it or click "
                       "“Show the answer”, and a wrong prediction is explained by the mistake it most likely comes from.")
st.caption(f"{COMPUTED} computed here, by cnncalc or PyTorch · {STORED} read from a run in the run store · "
           f"{QUOTED} reference result obtained elsewhere, quoted with its source")

ctx = views.context()  # the run store's results, read once per run, and the lab net's analysis
if ctx.store_note:
    st.warning(ctx.store_note)
shown = cq.matching(query)
if not shown:
    st.info(f"No question matches “{query}”. Clear the filter to see all {len(cq.QUESTIONS)}.")
elif query.strip():
    st.caption(f"{len(shown)} of {len(cq.QUESTIONS)} questions match.")
for part, title in cq.PARTS.items():
    questions = [q for q in shown if q.part == part]
    if not questions:
        continue
    st.subheader(title)
    for q in questions:
        to_predict = predict.for_question(q.number) if predicting else []
        with st.expander(f"🎯 {q.label} — predict first" if to_predict else q.label):
            if to_predict and not predict_widget.ask_all(to_predict):
                st.caption("The full answer appears once each number above is predicted or shown.")
            else:
                try:
                    views.render(q.number, ctx)
                except (RuntimeError, ValueError, OSError, ImportError) as err:  # one answer must not break the page
                    st.warning(f"This answer could not be computed here: {err}")
            for key in q.pages:
                views.link(key)
