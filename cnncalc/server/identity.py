"""Who is who on a classroom server: a display name chosen once, carried by a signed token (standard library).

A student types a display name; the server issues a token ``payload.signature`` — the payload is the
owner id (random, 16 hex digits), the display name and the role, base64url-encoded JSON; the signature is an
HMAC-SHA256 with the server's secret key. The app keeps the token in a cookie (never in a URL), so the same
student is the same owner after a reload or in a new tab. Anyone can read a token, nobody can forge or alter
one without the key: ownership checks trust only what :func:`verify` returns.

The teacher is whoever knows the teacher secret (``CNNCALC_TEACHER_KEY`` or ``teacher_key`` in
.streamlit/secrets.toml); a teacher token carries role ``teacher``. The CLI acts as :data:`TEACHER` unless
``--owner NAME`` names a student.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

NAME_CHARS = 40
TOKEN_DAYS = 180


@dataclass(frozen=True)
class Identity:
    id: str            # the owner id stored with each run
    name: str          # the display name (user text: always shown escaped)
    teacher: bool = False

    def may_change(self, owner: str) -> bool:
        """Cancel, delete or resume a run of ``owner``: its owner or a teacher."""
        return self.teacher or (bool(owner) and owner == self.id)


TEACHER = Identity("teacher", "teacher", True)


def clean_name(text: str) -> str:
    """A display name: trimmed, inner whitespace collapsed, control and format characters dropped, at most
    40 characters. Raises ValueError for an empty name."""
    text = "".join(ch for ch in unicodedata.normalize("NFC", str(text))
                   if unicodedata.category(ch)[0] != "C")
    name = " ".join(text.split())[:NAME_CHARS].strip()
    if not name:
        raise ValueError("type a display name (your first name or a nickname), up to 40 characters")
    return name


def cli_owner(name: str | None) -> Identity:
    """The CLI's owner: the teacher by default, else a named student (id derived from the name, so the same
    --owner reaches the same runs)."""
    if not name:
        return TEACHER
    name = clean_name(name)
    return Identity("cli-" + hashlib.sha256(name.lower().encode()).hexdigest()[:12], name)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(name: str, key: bytes, teacher: bool = False, owner_id: str | None = None,
          now: float | None = None) -> str:
    """A signed token for ``name`` (a new owner id unless ``owner_id`` keeps an existing one)."""
    payload = {"id": owner_id or secrets.token_hex(8), "name": clean_name(name), "teacher": bool(teacher),
               "iat": int(time.time() if now is None else now)}
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    return body + "." + _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def verify(token: str | None, key: bytes, now: float | None = None) -> Identity | None:
    """The identity in a token signed with ``key`` and not older than 180 days; None for anything else."""
    if not token or not isinstance(token, str) or len(token) > 1024 or token.count(".") != 1:
        return None
    body, sig = token.split(".")
    try:
        if not hmac.compare_digest(_unb64(sig), hmac.new(key, body.encode(), hashlib.sha256).digest()):
            return None
        payload = json.loads(_unb64(body))
        age = (time.time() if now is None else now) - float(payload["iat"])
        if not 0 <= age <= TOKEN_DAYS * 86400 + 60:
            return None
        return Identity(str(payload["id"]), clean_name(payload["name"]), bool(payload["teacher"]))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None


def server_key(root: str | Path) -> bytes:
    """The server's signing key, kept in ``identity.key`` in the data folder (created once, mode 0600), so
    tokens stay valid across restarts; deleting the file signs everyone out."""
    Path(root).mkdir(parents=True, exist_ok=True)
    path = Path(root) / "identity.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    try:
        os.link(tmp, path)  # atomic, and loses to a key another process wrote first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


def teacher_secret_matches(typed: str, secret: str | None) -> bool:
    """Constant-time comparison; no secret configured → nobody is the teacher."""
    return bool(secret) and hmac.compare_digest(str(typed).encode(), str(secret).encode())
