"""Passwords kept out of every message: URLs shown with ``***``, drivers' errors scrubbed.

README, "Running studies": layerlr shows a storage URL's password as ``***`` (all of it,
``@`` included) and removes it from the errors of database drivers. A URL that cannot be
parsed is never quoted by its parser's message (which can hold a piece of the password);
:mod:`layerlr.study.storage.spec` says what is wrong in its own words.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>.*)@(?P<rest>[^@]*)$",
                       re.DOTALL)
_SEPARATORS = re.compile(r"[@:/#?%&=;\s]")
PIECE = 3  # a piece of a password between separators this long is scrubbed
RUN = 4  # so is any run of characters this long that occurs in the password


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs.

    The password is everything between the first ':' of the user part and the *last*
    '@', so a password with an unescaped '@', '/' or '#' is hidden whole. Text that is
    not a URL but holds ':' before an '@' (``redis:/:pw@host``) is hidden up to its last
    '@'.
    """
    match = _USERINFO.match(url)
    if match is None:
        head, at, rest = url.rpartition("@")
        return f"***@{rest}" if at and ":" in head else url
    user = match["info"].split(":", 1)[0]
    shown = f"{user}:***" if ":" in match["info"] else user
    return f"{match['scheme']}{shown}@{match['rest']}"


def secret(url: str) -> str | None:
    """The password part of ``url`` (what :func:`redact` hides), or None."""
    match = _USERINFO.match(url)
    if match is None:
        head, at, _ = url.rpartition("@")
        return head if at and ":" in head else None
    return match["info"].split(":", 1)[1] if ":" in match["info"] else None


def scrub(message: str, url: str) -> str:
    """``message`` with every fragment of ``url``'s password replaced by ***.

    Drivers quote what they parsed of a URL in their errors; with an unescaped '@' or
    '#' in a password that can be a piece of the password (as a host name or a port,
    say). Scrubbed: the password, its pieces between separators of at least ``PIECE``
    characters, and every run of at least ``RUN`` characters that occurs in it.
    """
    hidden = secret(url)
    if not hidden:
        return message
    message = _scrub_runs(message, hidden)
    for piece in sorted({p for p in _SEPARATORS.split(hidden) if len(p) >= PIECE}, key=len,
                        reverse=True):
        message = message.replace(piece, "***")
    return message


def _scrub_runs(message: str, hidden: str) -> str:
    out, i = [], 0
    while i < len(message):
        length = 0
        while i + length < len(message) and message[i:i + length + 1] in hidden:
            length += 1
        if length >= RUN:
            out.append("***")
            i += length
        else:
            out.append(message[i])
            i += 1
    return "".join(out)
