"""A network spec shared by the analyzer's text area, its table editor, the presets, the fix buttons and the
URL (``?spec=…&input=…``, so a teacher can share a link). Session keys: ``<prefix>_spec``, ``_input``,
``_preset`` (the preset box: the preset equal to the spec and input, else "custom"), ``_preset_base`` (the preset
last loaded, named in "custom (from …)"; None for a shared link that matches none), and ``_text_v`` / ``_table_v``, bumped when the spec changes outside that editor so that the
editor is redrawn from the spec (an editor hidden meanwhile would otherwise come back with its old content)."""
from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from cnncalc import PRESETS, format_layer, format_shape, parse_shape, parse_spec, split_spec
from cnncalc.parse import spec_limit

CUSTOM = "custom"  # the preset box's entry for a network that is no preset


def spec_lines(spec: str) -> list[str]:
    """One layer per line: canonical when the spec reads, else as typed (the page explains the error)."""
    try:
        return [format_layer(layer) for layer in parse_spec(spec)]
    except ValueError:
        return split_spec(spec[:spec_limit()])


def init(prefix: str, default: str = "lab") -> str:
    """Set the page's spec up once — from the URL (?spec=…&input=…) when present, else a preset — and return
    the current spec."""
    ss = st.session_state
    if f"{prefix}_spec" not in ss:
        preset = PRESETS[default]
        spec = st.query_params.get("spec", preset.spec)
        ss[f"{prefix}_spec"] = spec
        ss[f"{prefix}_input"] = st.query_params.get("input", format_shape(preset.input_shape, "x"))
        ss[f"{prefix}_text_v"] = ss[f"{prefix}_table_v"] = 0
        match = matching_preset(spec, ss[f"{prefix}_input"])
        ss[f"{prefix}_preset"] = match or CUSTOM
        ss[f"{prefix}_preset_base"] = match if "spec" in st.query_params else default
    return ss[f"{prefix}_spec"]


def matching_preset(spec: str, input_text: str) -> str | None:
    """The preset with these layers and this input, compared after parsing (spacing, ';' or new lines, comments,
    default settings written or not make no difference); None when none matches or the text does not read."""
    try:
        layers, shape = parse_spec(spec), parse_shape(input_text)
    except (ValueError, TypeError):
        return None
    return next((k for k, p in PRESETS.items() if p.layers == layers and p.input_shape == shape), None)


def preset_options(prefix: str) -> list[str]:
    """The preset box's entries, "custom" last while the network is no preset; selects the entry that is shown."""
    ss = st.session_state
    match = matching_preset(ss[f"{prefix}_spec"], ss[f"{prefix}_input"])
    ss[f"{prefix}_preset"] = match or CUSTOM
    return list(PRESETS) + ([] if match else [CUSTOM])


def preset_label(prefix: str):
    """The preset box's format_func: a preset's title, or "custom (from <the preset it was edited from>)" — fixed
    when the box is drawn, so that the labels the browser sends back map to the same entries."""
    base = st.session_state.get(f"{prefix}_preset_base")
    custom = f"custom (from {PRESETS[base].title})" if base in PRESETS else "custom (from a shared link)"
    return lambda key: PRESETS[key].title if key in PRESETS else custom


def _set_spec(prefix: str, spec: str) -> None:
    """A spec change made outside the text editor: the editors are redrawn from it."""
    ss = st.session_state
    ss[f"{prefix}_spec"] = spec
    ss[f"{prefix}_table_v"] += 1
    ss[f"{prefix}_text_v"] += 1
    sync_url(prefix)


def sync_url(prefix: str) -> None:
    """Keep the network and input size in the URL so a teacher can share the link (not for a spec over the
    length limit: the page refuses it anyway, and it would not fit in a URL)."""
    if len(st.session_state[f"{prefix}_spec"]) <= spec_limit():
        st.query_params.update(share_query(prefix))


def share_query(prefix: str) -> dict[str, str]:
    ss = st.session_state
    return {"spec": "; ".join(split_spec(ss[f"{prefix}_spec"])), "input": ss[f"{prefix}_input"]}


def share_link(prefix: str) -> str:
    """This page's address with the network and input size in its query: the link opens the same network."""
    return f"{(st.context.url or '').split('?')[0]}?{urlencode(share_query(prefix))}"


def load_preset(prefix: str) -> None:
    key = st.session_state[f"{prefix}_preset"]
    if key not in PRESETS:  # "custom" picked again: keep the network
        return
    preset = PRESETS[key]
    st.session_state[f"{prefix}_preset_base"] = key
    st.session_state[f"{prefix}_input"] = format_shape(preset.input_shape, "x")
    _set_spec(prefix, preset.spec)


def text_changed(prefix: str) -> None:
    """The text editor's content is the spec; the editor keeps it as typed (comments included)."""
    ss = st.session_state
    ss[f"{prefix}_spec"] = ss[text_key(prefix)]
    ss[f"{prefix}_table_v"] += 1
    sync_url(prefix)


def text_key(prefix: str) -> str:
    return f"{prefix}_text_{st.session_state[f'{prefix}_text_v']}"


def spec_text(prefix: str) -> str:
    """The text editor's current content (set up from the spec when the editor is new)."""
    return st.session_state.setdefault(text_key(prefix), "\n".join(split_spec(st.session_state[f"{prefix}_spec"])))


def table_key(prefix: str) -> str:
    return f"{prefix}_table_{st.session_state[f'{prefix}_table_v']}"


def table_changed(prefix: str) -> None:
    """Apply the data editor's edits (edited/added/deleted rows) to the spec's lines."""
    edits = st.session_state[table_key(prefix)]
    lines = spec_lines(st.session_state[f"{prefix}_spec"])
    for index, change in edits.get("edited_rows", {}).items():
        lines[int(index)] = change.get("layer", lines[int(index)]) or ""
    lines = [line for i, line in enumerate(lines) if i not in set(edits.get("deleted_rows", []))]
    lines += [row.get("layer") or "" for row in edits.get("added_rows", [])]
    _set_spec(prefix, "\n".join(line for line in lines if line.strip()))


def replace_layer(prefix: str, index: int, new_layer: str) -> None:
    lines = spec_lines(st.session_state[f"{prefix}_spec"])
    lines[index] = new_layer
    _set_spec(prefix, "\n".join(lines))
