"""Small helpers shared by the parser modules (strict integer parsing, line splitting); internal only."""

from __future__ import annotations

import re

from nsprobe.probe.parsers import errors

# Kernel numbers are at most 20 decimal digits (u64) and 16 hex digits. A little slack is allowed, but a
# bound keeps int() away from Python's 4300-digit limit and from absurd input.
_DECIMAL = re.compile(r"-?[0-9]{1,30}", re.ASCII)
_UNSIGNED = re.compile(r"[0-9]{1,30}", re.ASCII)
_HEX = re.compile(r"[0-9a-fA-F]{1,32}", re.ASCII)
_BLANKS = re.compile(r"[ \t]+", re.ASCII)


def short(value: str, limit: int = 80) -> str:
    """A repr of value cut to about limit characters, for error messages."""
    if len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} chars)"
    return repr(value)


def to_int(value: str, *, what: str) -> int:
    """Parse a signed ASCII decimal integer, or raise ParseError naming what it was."""
    if value.isascii() and value.isdigit() and len(value) <= 30:  # the common case, without a regex
        return int(value)
    if _DECIMAL.fullmatch(value) is None:
        raise errors.ParseError(f"{what}: expected a decimal integer, got {short(value)}")
    return int(value)


def to_uint(value: str, *, what: str) -> int:
    """Parse an unsigned ASCII decimal integer, or raise ParseError naming what it was."""
    if value.isascii() and value.isdigit() and len(value) <= 30:  # the common case, without a regex
        return int(value)
    if _UNSIGNED.fullmatch(value) is None:
        raise errors.ParseError(f"{what}: expected an unsigned decimal integer, got {short(value)}")
    return int(value)


def to_hex(value: str, *, what: str) -> int:
    """Parse an ASCII hexadecimal integer without 0x, or raise ParseError naming what it was."""
    if _HEX.fullmatch(value) is None:
        raise errors.ParseError(f"{what}: expected a hexadecimal number, got {short(value)}")
    return int(value, 16)


def lines(text: str) -> list[str]:
    """The lines of text: one trailing newline is dropped, an empty text has no lines."""
    if text == "":
        return []
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n")


def fields(line: str) -> list[str]:
    """Split a line on runs of ASCII spaces and tabs only (never on other Unicode whitespace)."""
    if "\t" not in line and "  " not in line and line[:1] != " " and line[-1:] != " " and line:
        return line.split(" ")  # the kernel's usual single-space layout: no regex needed
    stripped = line.strip(" \t")
    if stripped == "":
        return []
    return _BLANKS.split(stripped)


def single_value(text: str, *, what: str) -> str:
    """The one-line content of a cgroup control file, without its trailing newline."""
    parts = lines(text)
    if len(parts) != 1:
        raise errors.ParseError(f"{what}: expected one line, got {len(parts)} lines in {short(text)}")
    value = parts[0].strip(" \t")
    if value == "":
        raise errors.ParseError(f"{what}: the file is empty")
    return value
