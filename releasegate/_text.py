"""Free text from files, the ledger or the command line, made safe to print on a terminal.

Reviewer names, reasons, notes, summaries and titles are written by whoever can edit a contract,
a ledger row or a CLI argument. Printed raw, an ANSI escape sequence could clear the screen,
recolour a FAIL as OK or rewrite earlier lines, and a bidirectional override could reorder what
the reader sees. `printable` shows such characters as escapes instead (`\\x1b`, `\\u202e`).
"""
from __future__ import annotations

import unicodedata

# Bidirectional embeddings, overrides and isolates (the "Trojan Source" characters), and the
# zero-width marks that change how the text around them is displayed.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object) -> str:
    """`str(text)` with control characters (C0, DEL, C1: ESC, CR, newline, ...), line and paragraph
    separators and
    bidirectional controls replaced by visible escapes; a backslash stays as it is."""
    value = str(text)
    if value.isprintable():  # the common case: nothing to do (isprintable is False for all of them)
        return value
    return "".join(_escape(c) if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI else c for c in value)
