"""A class on one server: N websocket clients (no browser) against a real ``streamlit run app.py``.

Half the clients work on the Layer calculator, half on the Network analyzer. Each opens its page, then changes
one input ``--changes`` times as fast as the answers come (closed loop: the next change is sent when the
previous answer has finished), and checks that every answer holds the right number — the calculator's output
size for the padding sent, the analyzer's parameter count for the spec sent (computed here with
``cnncalc.analyze``). Prints per page: answers, wrong answers, p50/p95/max seconds per change.

    .venv/bin/python benchmarks/bench_classroom.py --clients 30 --changes 5
    .venv/bin/python benchmarks/bench_classroom.py --clients 30 --train   # with a CPU training run beside it

The protocol is Streamlit's own: protobuf BackMsg (rerun_script with the changed widget's state) up,
ForwardMsg deltas down until ``script_finished``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

import cnncalc  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, data: str) -> subprocess.Popen:
    env = dict(os.environ, CNNCALC_DATA=data, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(120):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("streamlit did not start")


@dataclass
class Answer:
    widgets: dict = field(default_factory=dict)   # label → widget id
    states: dict = field(default_factory=dict)    # widget id → its WidgetState as the page drew it
    metrics: dict = field(default_factory=dict)   # label → value shown


def _elements(msg: ForwardMsg):
    if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
        yield msg.delta.new_element


async def run_once(ws, page: str, widget_states: list | None = None) -> Answer:
    """One rerun of ``page`` with ``widget_states``; the widgets and metrics of the answer."""
    back = BackMsg()
    back.rerun_script.page_name = page
    back.rerun_script.query_string = ""
    for state in widget_states or []:
        back.rerun_script.widget_states.widgets.append(state)
    await ws.send(back.SerializeToString())
    answer = Answer()
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        for el in _elements(msg):
            kind = el.WhichOneof("type")
            if kind in ("number_input", "text_input", "text_area"):
                widget = getattr(el, kind)
                answer.widgets[widget.label] = widget.id
                if kind != "number_input":  # number boxes of the calculator restore themselves; text is echoed
                    answer.states[widget.id] = _state(kind, widget)
            elif kind == "metric":
                answer.metrics[el.metric.label] = el.metric.body
        if msg.WhichOneof("type") == "script_finished":
            return answer


def _state(kind: str, widget):
    """The text a browser would send back for a text box it shows (a browser sends every widget's state)."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    return WidgetState(id=widget.id, string_value=widget.value if widget.HasField("value") else widget.default)


def calculator_change(i: int, ids: dict):
    """Padding p = 0, 1, 2, 3 … on the default 3×32×32 input with k = 5, s = 1: out = 32 + 2p − 4."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    p = i % 4
    return [WidgetState(id=ids["Padding p"], int_value=p)], ("Output size C×H×W", f"32×{28 + 2 * p}×{28 + 2 * p}")


def analyzer_change(i: int, ids: dict):
    """A small net whose filter count changes: the parameter total must be cnncalc.analyze's."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    spec = f"conv {8 + i} k=5 p=2; relu; maxpool k=2; fc 10"
    key = next(label for label in ids if label.startswith("Layers"))
    expected = f"{cnncalc.analyze(spec, (3, 32, 32)).params:,}"
    return [WidgetState(id=ids[key], string_value=spec)], ("parameters", expected)


async def client(url: str, page: str, changes: int, seconds: list, wrong: list) -> None:
    import websockets
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=2**26) as ws:
        shown = await run_once(ws, page)
        sent = dict(shown.states)  # what the browser holds: its own last values, new boxes as drawn
        change = calculator_change if page == "calculator" else analyzer_change
        for i in range(changes):
            states, (label, expected) = change(i + 1, shown.widgets)
            sent.update({s.id: s for s in states})
            t0 = time.perf_counter()
            got = await run_once(ws, page, list(sent.values()))
            seconds.append(time.perf_counter() - t0)
            sent.update({k: v for k, v in got.states.items() if k not in sent})
            if got.metrics.get(label) != expected:
                wrong.append((page, label, expected, got.metrics.get(label)))


async def main_async(port: int, clients: int, changes: int) -> dict:
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    times = {"calculator": [], "analyzer": []}
    wrong: list = []
    tasks = [client(url, "calculator" if k % 2 == 0 else "analyzer", changes,
                    times["calculator" if k % 2 == 0 else "analyzer"], wrong) for k in range(clients)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [r for r in results if isinstance(r, Exception)]
    return {"times": times, "wrong": wrong, "failed": failed}


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] if len(values) > 1 else \
        (values[0] if values else float("nan"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--train", action="store_true", help="run a CPU training run beside the clients")
    args = ap.parse_args()
    port, data = free_port(), tempfile.mkdtemp(prefix="bench-classroom-")
    server = start_server(port, data)
    trainer = None
    try:
        if args.train:
            trainer = subprocess.Popen([sys.executable, "-m", "cnncalc", "train", "--data", "synthetic", "--limit",
                                        "5000", "--epochs", "50", "--device", "cpu", "--data-dir", data], cwd=ROOT,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(5)  # past data generation: training proper
        asyncio.run(main_async(port, 2, 1))  # warm the pages (imports, caches) before measuring
        t0 = time.perf_counter()
        out = asyncio.run(main_async(port, args.clients, args.changes))
        wall = time.perf_counter() - t0
    finally:
        if trainer:
            trainer.kill()
        server.terminate()
        server.wait(timeout=20)
    print(f"{args.clients} clients × {args.changes} changes{' with a CPU training run beside them' if args.train else ''}"
          f" — {wall:.1f} s wall; {len(out['failed'])} client(s) failed: {out['failed'][:2]}")
    for page, values in out["times"].items():
        print(f"  {page:10} answers {len(values):3}  p50 {quantile(values, .5):.3f} s  p95 {quantile(values, .95):.3f} s"
              f"  max {max(values, default=float('nan')):.3f} s")
    print(f"  wrong answers: {len(out['wrong'])}" + (f" e.g. {out['wrong'][0]}" if out["wrong"] else ""))
    return 0 if not out["wrong"] and not out["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
