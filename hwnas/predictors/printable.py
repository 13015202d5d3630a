"""Text from outside hwnas (a path, a file's name) as one printed line. Here, in the lowest
package that prints such text (a latency profile's notes, a run's, the CLI's errors), and
light (the standard library only): `hwnas.cli` prints its errors through it, a Ctrl-C's
among them, without importing more."""

from __future__ import annotations

import unicodedata

#: the Unicode categories of the characters escaped: the control characters (Cc: C0, DEL, C1:
#: a newline, a carriage return, a terminal's escape), the format characters (Cf: a
#: right-to-left override or a bidi isolate, which reorder the text shown around them, a
#: zero-width space, unseen) and the line and paragraph separators (Zl, Zp: U+2028, U+2029)
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
#: the zero-width non-joiner and joiner (U+200C, U+200D): format characters, but parts of
#: words (Persian, the Indic scripts) and of emoji sequences (a family), so printed raw
#: between two visible characters, where they part or join them and reorder nothing;
#: elsewhere (at a name's end, beside a space or another format character) they only hide,
#: and are escaped
_JOINERS = frozenset("\u200c\u200d")
#: those with a name of their own in an escape, as in Python's and a shell's $'...'
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """`text` with each control or format character shown as an escape (`\\n`, `\\x1b`,
    `\\u0085`, `\\u202e`, as Python's repr and a shell's $'...' read them), other text,
    non-ASCII included, as it is: a path holding a newline or a terminal's escape (a
    `run_dir`, a file name), printed raw, split a message into lines that read as other
    messages, or sent the terminal a command; one holding a right-to-left override showed
    its name's end reversed (`evil\\u202egpj.exe` read as `evilexe.jpg`). A zero-width
    joiner or non-joiner between two visible characters is part of the text (`_JOINERS`)."""
    if text.isprintable():  # no character of _HIDDEN's categories: the common case, quick
        return text
    return "".join(_shown(text, i) for i in range(len(text)))


def _shown(text: str, i: int) -> str:
    """The character at `i` of `text` as `one_line` prints it: escaped where hidden, but for
    a joiner between two visible characters."""
    char = text[i]
    if unicodedata.category(char) not in _HIDDEN or _joins(text, i):
        return char
    return _escape(char)


def _joins(text: str, i: int) -> bool:
    """Whether the character at `i` of `text` is a zero-width joiner or non-joiner with a
    visible character (printable, not a space) on each side."""
    return (
        text[i] in _JOINERS
        and 0 < i < len(text) - 1
        and all(c.isprintable() and not c.isspace() for c in (text[i - 1], text[i + 1]))
    )


def _escape(char: str) -> str:
    """The escape of the hidden character `char`: by name, else by number, in the digits
    that Python and bash's $'...' read after `\\x` (2), `\\u` (4) and `\\U` (8)."""
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
