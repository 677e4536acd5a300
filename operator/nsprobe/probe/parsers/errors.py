"""The one exception every parser raises on text it cannot read; caught by probe.host and the scanner."""

from __future__ import annotations


class ParseError(ValueError):
    """Kernel text did not have the expected format.

    Parsers raise only this (never IndexError, KeyError, UnicodeError, ...), with a message that names the
    file kind, the line number where there is one, and a shortened copy of the offending text.
    """
