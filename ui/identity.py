"""Who is using this browser: a display name chosen once, kept in a signed cookie (see
cnncalc/server/identity.py for the token). The same student is the same owner after a reload or in a new tab;
the token never appears in a URL, so ``?spec=`` links stay safe to share.

Why a cookie written by a tiny script and not ``st.login``: a classroom server usually has no identity
provider, and a class needs no passwords for its runs — only that nobody can act on somebody else's. Where the
server has one, ``st.login`` can replace :func:`sign_in` without touching the run store (it stores an owner id).
"""
from __future__ import annotations

import json
import os

import streamlit as st

from cnncalc.server import identity as ident
from cnncalc.train.store import default_root
from ui.widgets import escape

COOKIE = "cnncalc_id"
KEY = "identity"  # session key: the Identity of this browser session (None: not signed in)
ss = st.session_state


@st.cache_resource
def _server_key(root: str) -> bytes:
    return ident.server_key(root)


def _key() -> bytes:
    return _server_key(str(default_root()))


def _cookie_token() -> str | None:
    """The token the browser sent with this session's first request (None without one)."""
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # no browser (a bare script run): no cookie
        return None


def teacher_secret() -> str | None:
    """The teacher secret: $CNNCALC_TEACHER_KEY, else ``teacher_key`` in .streamlit/secrets.toml."""
    if os.environ.get("CNNCALC_TEACHER_KEY"):
        return os.environ["CNNCALC_TEACHER_KEY"]
    try:
        return st.secrets.get("teacher_key")
    except Exception:  # no secrets file: no teacher on this server
        return None


def current() -> ident.Identity | None:
    """This browser's identity: signed in during this session, or carried by its cookie."""
    if KEY not in ss:
        ss[KEY] = ident.verify(_cookie_token(), _key())
    return ss[KEY]


def _write_cookie(token: str | None) -> None:
    """Store (or, with None, forget) the token in the browser with a one-line script of ours (the token is
    base64url text the server signed: nothing of the user's reaches the script)."""
    value = json.dumps(f"{COOKIE}={token}; path=/; max-age={ident.TOKEN_DAYS * 86400}; SameSite=Strict" if token
                       else f"{COOKIE}=; path=/; max-age=0; SameSite=Strict")
    st.html(f"<script>document.cookie = {value} + (location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True)


def sign_in(name: str, teacher: bool = False) -> ident.Identity:
    """Become ``name`` in this browser (keeping the owner id when only the display name changes)."""
    me = current()
    keep = me.id if me is not None and me.teacher == teacher else None
    token = ident.issue(name, _key(), teacher=teacher, owner_id="teacher" if teacher else keep)
    ss[KEY] = ident.verify(token, _key())
    ss["identity_cookie"] = token
    return ss[KEY]


def sign_out() -> None:
    ss[KEY] = None
    ss["identity_cookie"] = ""


def sync_cookie() -> None:
    """Write the pending cookie change of this session (once, after a sign-in or sign-out)."""
    if "identity_cookie" in ss:
        _write_cookie(ss.pop("identity_cookie") or None)


def _signed_in(name: str, teacher: bool) -> None:
    try:
        sign_in(name, teacher)
    except ValueError as err:
        ss["identity_error"] = str(err)


def box(purpose: str) -> ident.Identity | None:
    """The identity widget: who you are (and a way to change it), or a display-name form; returns the identity."""
    sync_cookie()
    me = current()
    if me is not None:
        role = " (teacher: you can cancel or delete any run)" if me.teacher else ""
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.markdown(f"👤 Signed in as **{escape(me.name)}**{role}.")
        c2.button("Sign out", key="identity_out", on_click=sign_out,
                  help="Forget this name in this browser; your runs stay in the store.")
        return me
    with st.form("identity_form", border=True):
        st.markdown(f"**Your name for this class** — {purpose}")
        name = st.text_input("Display name", key="identity_name", max_chars=ident.NAME_CHARS,
                             placeholder="first name or nickname",
                             help="Shown to the teacher beside your runs; kept in this browser (a cookie).")
        if st.form_submit_button("Use this name"):
            _signed_in(name, False)
            st.rerun()
    if err := ss.pop("identity_error", None):
        st.error(err)
    return None


def teacher_box() -> None:
    """Teacher sign-in, folded away at the bottom of a page; only where a teacher secret is configured."""
    secret = teacher_secret()
    if not secret or (current() and current().teacher):
        return
    with st.expander("Teacher"):
        typed = st.text_input("Teacher secret", type="password", key="identity_teacher",
                              help="Set by the server's teacher ($CNNCALC_TEACHER_KEY or .streamlit/secrets.toml).")
        if st.button("Sign in as the teacher", key="identity_teacher_go"):
            if ident.teacher_secret_matches(typed, secret):
                sign_in("teacher", teacher=True)
                st.rerun()
            st.error("That is not the teacher secret.")
