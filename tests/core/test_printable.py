"""core.printable: free text shown on a terminal can neither run an ANSI escape sequence nor
reorder itself with a bidirectional override; ordinary text (accents, symbols) is unchanged."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from releasegate.core import printable


def test_ansi_escapes_and_controls_become_visible_escapes() -> None:
    assert printable("\x1b[2J\x1b[31mOK") == "\\x1b[2J\\x1b[31mOK"
    assert printable("ok\r\nFAIL\x07\x00\x7f\x9b") == "ok\\x0d\\x0aFAIL\\x07\\x00\\x7f\\x9b"
    assert printable("abc\u202edef\u2066") == "abc\\u202edef\\u2066"  # Trojan Source reordering
    assert printable("line\u2028sep") == "line\\u2028sep"


def test_ordinary_text_is_unchanged() -> None:
    for text in ("héllo wörld", "5 % ✓ → ≥ 0.95", "日本語", "tab-free, no controls", "back\\slash", ""):
        assert printable(text) == text
    assert printable(42) == "42"


@given(st.text())
def test_the_result_never_holds_a_control_character(text: str) -> None:
    out = printable(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                   for c in out)
    if text.isprintable():
        assert out == text
