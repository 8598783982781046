"""The classroom server's limits, in one place, with classroom defaults (standard library only).

One server serves a whole class, so every input has a stated budget. The defaults suit 30 students sharing a
2-core, 24 GiB machine; a teacher changes them in one TOML file — ``$CNNCALC_CONFIG``, else
``classroom.toml`` in the data folder (beside the run store) — under ``[limits]``, or one at a time with an
environment variable ``CNNCALC_<NAME>`` (e.g. ``CNNCALC_RUN_MINUTES=60``). docs/TEACHING.md lists them all.
Every refusal names the limit and how to change it (:func:`Limits.how_to_change`).

:class:`Budget` is the server-wide bound on heavy computations (PyTorch passes, gradient fields, demos): at
most ``heavy_slots`` at once, the others wait in line and can say how many are ahead of them.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator


@dataclass(frozen=True)
class Limits:
    # training runs (the run store's queue)
    queued_runs_per_owner: int = 3          # runs one student may have waiting or running at once
    run_epoch_examples: int = 5_000_000     # epochs × training examples of one run (100 epochs of CIFAR-10)
    run_minutes: float = 30.0               # wall-clock time of one run; then it stops, its epochs kept
    synthetic_examples: int = 20_000        # training + test images of the synthetic data set
    data_folders: tuple[str, ...] = ()      # ImageFolder trees students may train on, beside the built-in
                                            # sets and the local CIFAR-10 copy (server paths, never shown)
    # interactive pages
    heavy_slots: int = 2                    # heavy computations (PyTorch passes) running at once, server-wide
    torch_threads: int = 1                  # PyTorch threads each of them uses
    memory_mb: int = 1024                   # float32 memory of one PyTorch pass a page may run (weights +
                                            # activations); above it: the meta device, or a refusal
    spec_chars: int = 65_536                # a network spec or a pasted model, in characters
    upload_mb: int = 50                     # an uploaded image file

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 2**20

    @staticmethod
    def how_to_change(name: str) -> str:
        return (f"the teacher can change it: `{name} = …` under [limits] in classroom.toml, or the environment "
                f"variable CNNCALC_{name.upper()}")


def _coerce(field: dataclasses.Field, value):
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    if kind.startswith("tuple"):
        items = value.split(os.pathsep) if isinstance(value, str) else list(value)
        return tuple(str(x) for x in items if str(x).strip())
    caster = {"int": int, "float": float}[kind]
    out = caster(value)
    if not out > 0:
        raise ValueError(f"{field.name} must be positive, got {value!r}")
    return out


def config_path(data_root: str | Path | None = None) -> Path:
    if os.environ.get("CNNCALC_CONFIG"):
        return Path(os.environ["CNNCALC_CONFIG"])
    if data_root is None:
        from ..train.store import default_root  # no torch: the store module is plain sqlite
        data_root = default_root()
    return Path(data_root) / "classroom.toml"


def load_limits(data_root: str | Path | None = None) -> Limits:
    """The defaults, then ``[limits]`` of the config file, then ``CNNCALC_<NAME>`` variables. Raises ValueError
    naming the setting for an unknown name or a bad value (a server should not start half-configured)."""
    fields = {f.name: f for f in dataclasses.fields(Limits)}
    values: dict = {}
    path = config_path(data_root)
    if path.is_file():
        table = tomllib.loads(path.read_text()).get("limits", {})
        unknown = sorted(set(table) - set(fields))
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)} under [limits]; known: "
                             + ", ".join(fields))
        values.update(table)
    for name in fields:
        if f"CNNCALC_{name.upper()}" in os.environ:
            values[name] = os.environ[f"CNNCALC_{name.upper()}"]
    try:
        return Limits(**{name: _coerce(fields[name], v) for name, v in values.items()})
    except (TypeError, ValueError) as err:
        raise ValueError(f"classroom limits ({path}): {err}") from None


BACKENDS = ("embedded", "ray")  # what executes the queued training runs (queue_backend)


def queue_backend(data_root: str | Path | None = None) -> str:
    """Which backend executes the queued training runs — one server setting: ``backend = "ray"`` under
    ``[server]`` in the classroom config, or ``CNNCALC_BACKEND=ray``. "embedded" (the default, nothing to set
    up): the app starts one worker process per device on its own machine when runs wait. "ray": the teacher runs
    ``python -m cnncalc worker --backend ray``, which trains them on the GPUs of a Ray cluster, and the app starts
    no worker of its own. ValueError naming the setting for anything else."""
    path = config_path(data_root)
    value = "embedded"
    if path.is_file():
        value = tomllib.loads(path.read_text()).get("server", {}).get("backend", value)
    value = os.environ.get("CNNCALC_BACKEND", value)
    if value not in BACKENDS:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
        raise ValueError(f"backend {shown} ({path} [server] or CNNCALC_BACKEND): choose one of "
                         + ", ".join(BACKENDS))
    return value


def mib(nbytes: float) -> str:
    """Bytes as MB or GB for a sentence (binary units, as ``memory_mb`` is)."""
    gb = nbytes / 2**30
    return f"{gb:,.1f} GB" if 1 <= gb < 100 else f"{gb:,.0f} GB" if gb >= 100 else f"{nbytes / 2**20:,.0f} MB"


class TooLarge(ValueError):
    """A PyTorch pass refused before it starts: its estimated memory is above the server's limit
    (``memory_mb``). One server runs the app for a whole class, so a refusal costs nothing and says what to
    do, where running would take memory from everyone. ``estimate`` and ``limit`` are in bytes."""

    def __init__(self, what: str, estimate: int, limit: int, advice: str):
        self.estimate, self.limit = int(estimate), int(limit)
        super().__init__(f"{what} would need about {mib(estimate)} of memory, more than the {mib(limit)} one "
                         f"PyTorch pass may use on this server. {advice} The limit is the server's `memory_mb`; "
                         f"{Limits.how_to_change('memory_mb')}.")


def memory_limit(max_bytes: int | None = None) -> int:
    """``max_bytes``, or the server's ``memory_mb`` (:func:`cnncalc.server.limits.load_limits`)."""
    return int(max_bytes) if max_bytes is not None else load_limits().memory_bytes


class Budget:
    """At most ``slots`` heavy computations at once in this process; the others queue in arrival order."""

    def __init__(self, slots: int):
        self.slots = slots
        self._lock = threading.Condition()
        self._running = 0
        self._waiting: list[object] = []

    @property
    def busy(self) -> tuple[int, int]:
        """(running, waiting) right now."""
        with self._lock:
            return self._running, len(self._waiting)

    @contextmanager
    def slot(self, on_wait: Callable[[int, int], None] | None = None,
             timeout: float | None = None) -> Iterator[None]:
        """Hold one slot for the ``with`` block. When none is free, ``on_wait(waiting_ahead, running)`` is called
        (again whenever the line moves); after ``timeout`` seconds of waiting, TimeoutError."""
        ticket = object()
        with self._lock:
            self._waiting.append(ticket)
            told = None
            while self._running >= self.slots or self._waiting[0] is not ticket:
                state = (self._waiting.index(ticket), self._running)
                if on_wait and state != told:
                    told = state
                    on_wait(*state)
                if not self._lock.wait(timeout=timeout):
                    self._waiting.remove(ticket)
                    self._lock.notify_all()
                    raise TimeoutError(f"still {state[0] + state[1]} heavy computation(s) ahead after {timeout:g} s")
            self._waiting.pop(0)
            self._running += 1
            self._lock.notify_all()  # the line moved: the others' messages change
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()
