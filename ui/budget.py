"""The server-wide budget for heavy computations (PyTorch passes, gradient fields, demos), shared by every
session of this server process: at most ``heavy_slots`` run at once, each with ``torch_threads`` threads; the
others wait in line and the page says how many requests are ahead.

Use :func:`held` inside the cached function that does the work (a cache hit then never waits) and
:func:`waiting_note` around its call (it tells the student when the server is busy)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from cnncalc.server.limits import Budget, Limits, load_limits

WAIT_SECONDS = 120  # a request still queued after this long gives up with a message instead of hanging


@st.cache_resource
def limits() -> Limits:
    """The server's limits, read once per process (a bad config file is reported on the page that asks)."""
    return load_limits()


@st.cache_resource
def _budget(slots: int, threads: int) -> Budget:
    import torch
    torch.set_num_threads(threads)  # per process: every heavy computation then uses at most this many
    return Budget(slots)


def budget() -> Budget:
    lim = limits()
    return _budget(lim.heavy_slots, lim.torch_threads)


@contextmanager
def held() -> Iterator[None]:
    """Hold a heavy-computation slot (waits in line; TimeoutError after WAIT_SECONDS)."""
    with budget().slot(timeout=WAIT_SECONDS):
        yield


@contextmanager
def waiting_note(what: str) -> Iterator[None]:
    """While the block runs: a note when the server's heavy slots are all taken, saying how many are ahead."""
    running, waiting = budget().busy
    note = st.empty()
    if running >= budget().slots:
        note.info(f"⏳ {what}: the server is busy — queued behind {running} running and {waiting} waiting "
                  f"request(s) (it runs {budget().slots} heavy computations at once).")
    try:
        yield
    finally:
        note.empty()
