import streamlit as st

st.title("🧮 cnncalc")
st.markdown(
    "Every number of a convolutional network — output sizes, weights, the cost of an equivalent "
    "fully-connected layer, MACs, receptive fields — computed exactly, per axis, with the formula "
    "one click away and checked against PyTorch.")

CARDS = [
    ("app_pages/calculator.py", "Layer calculator", "🧮",
     "One layer: type kernel, stride, padding and read the output size, weights, FC-equivalent and MACs, "
     "with the formula substituted. Watch the kernel slide over the padded input."),
    ("app_pages/analyzer.py", "Network analyzer", "📋",
     "A whole network (the CIFAR-10 lab net, LeNet, AlexNet, VGG…): per-layer table, where the parameters "
     "are, how the receptive field grows, PyTorch code, a shareable link and a cross-check with PyTorch."),
    ("app_pages/receptive_field.py", "Receptive fields", "🎯",
     "Pick a layer and a unit and see which input pixels it can see, beside the field measured by "
     "gradients — the effective field is smaller and centre-weighted."),
    ("app_pages/training.py", "Training", "📈",
     "Run the lab's CIFAR-10 experiments — standardization, augmentation, momentum and a schedule, "
     "dropout, batch norm — with live loss, top-1 and top-5 curves; compare runs side by side."),
    ("app_pages/dense_maps.py", "Dense score maps", "🗺️",
     "Turn the classifier's fully-connected layers into convolutions and run it on a large image: one pass "
     "gives a grid of class scores, checked against a sliding window."),
    ("app_pages/demos.py", "Why convolutions", "🧠",
     "Classroom demos: translation equivariance, pooling invariance, shuffled pixels (MLP vs CNN), and the "
     "parameter blow-up of fully-connected layers on images."),
    ("app_pages/companion.py", "Lab companion", "📝",
     "The lab's 34 questions, each answered by the core or a run — with a link to the page that goes deeper."),
]
cols = st.columns(2)
for i, (path, title, icon, text) in enumerate(CARDS):
    col = cols[i % 2]
    with col, st.container(border=True):
        st.page_link(path, label=title, icon=icon)
        st.caption(text)

st.info("Conventions used everywhere: MACs count multiply–accumulates with weights (FLOPs = 2 × MACs, plus "
        "bias adds); receptive fields are in input pixels, with pixel centres at 0, 1, 2, …; output sizes "
        "follow PyTorch, which floors the division.")
