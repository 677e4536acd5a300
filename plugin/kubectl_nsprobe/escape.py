"""Escapes terminal control characters in cluster-supplied strings; every renderer in the plugin calls it."""

from __future__ import annotations

import re
import typing

# C0 controls (incl. ESC, CR, LF, TAB), DEL, C1 controls (incl. the 8-bit CSI 0x9b), and the Unicode
# bidirectional controls that can reorder what a terminal shows: LRM/RLM/ALM, the embeddings and overrides
# U+202A-U+202E and the isolates U+2066-U+2069. Also the line/paragraph separators, which some terminals
# treat as newlines.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _replace(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def text(value: object) -> str:
    """`value` as a string that cannot move the cursor, recolour or reorder the screen.

    The result contains only characters that print as themselves, and escaping is idempotent
    (escaping an escaped string changes nothing), so a caller may escape twice without harm.
    """
    return _UNSAFE.sub(_replace, str(value))


def deep(value: typing.Any) -> typing.Any:
    """A copy of a JSON-like value (dicts, lists, scalars) with every string, keys included, escaped."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {text(k) if isinstance(k, str) else k: deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [deep(item) for item in value]
    return value


def is_safe(value: str) -> bool:
    """True when `value` holds no character that `text` would escape (used by tests and assertions)."""
    return _UNSAFE.search(value) is None
