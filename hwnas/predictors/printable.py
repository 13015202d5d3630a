"""Text from outside hwnas (a path, a file's name) as one printed line. Here, in the lowest
package that prints such text (a latency profile's notes, a run's, the CLI's errors), and
light (the standard library only): `hwnas.cli` prints its errors through it, a Ctrl-C's
among them, without importing more."""

from __future__ import annotations

import re

#: the control characters (C0, DEL, C1): a newline, a carriage return, a terminal's escape
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: those with a name of their own in an escape, as in Python's and a shell's $'...'
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """`text` with each control character shown as an escape (`\\n`, `\\x1b`, `\\u0085`, as
    a shell's $'...' reads them), other text, non-ASCII included, as it is: a path holding a
    newline or a terminal's escape (a `run_dir`, a file name), printed raw, split a message
    into lines that read as other messages, or sent the terminal a command."""
    return _CONTROL.sub(lambda m: _escape(m[0]), text)


def _escape(char: str) -> str:
    """The escape of the control character `char`, by name or by number."""
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if char < "\x80" else f"\\u{ord(char):04x}")
