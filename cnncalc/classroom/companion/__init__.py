"""The lab companion: the CIFAR-10 lab's questions, each answered by a call into cnncalc or by a run in the store.

No Streamlit here; torch is imported inside the functions that need it. Every number an answer shows comes
from a function call. The one exception is :data:`REFERENCE`: results obtained elsewhere (the lab students'
published logs and one measurement of the lab net on a JPEG copy of CIFAR-10; docs/REFERENCES.md), kept as
data with their source and always shown as such — never as computed by the app.

One module per part of the lab (imported by name, e.g. ``from cnncalc.classroom.companion import runs``):

- :mod:`.questions` — the 34 questions, the keys of the pages that go deeper, the filter;
- the quoted reference results live in :mod:`cnncalc.train.references` (the ladder compares with them too);
- :mod:`.arithmetic` — Part 1, the arithmetic of a convolutional network;
- :mod:`.training` — Part 2, training the lab's network;
- :mod:`.runs` — the runs of the run store, by step of the lab's ladder and by sweep;
- :mod:`.improvements` — Part 3, improving the results.
"""
