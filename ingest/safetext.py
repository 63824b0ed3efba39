"""The one rule for showing text from the data to people: invisible characters are shown escaped.

Used by `govwh sql` (ingest/analyst.py), the HTML report (ingest/report.py: every `{{ … }}` of the
templates and the charts' JSON) and the CSV and XLSX exports (ingest/exports.py).

A character is shown as its escape (`\\x1b`, `\\u202e`, `\\U000e0001`) when its Unicode category is

    Cc  control codes (terminal escapes, NUL, DEL, C1 controls), except tab and line feed
    Cf  format characters: bidirectional overrides and isolates (U+202A-202E, U+2066-2069), the
        marks U+200E/U+200F, zero-width space/joiners (U+200B-200D), U+FEFF, soft hyphen, tags
    Cs  lone surrogates (text decoded with errors="surrogateescape")
    Zl  U+2028 LINE SEPARATOR
    Zp  U+2029 PARAGRAPH SEPARATOR

so a name cannot reorder what follows it on the screen (U+202E), look like another name while
differing from it (U+200B), or move the cursor. Everything else passes untouched: letters,
Vietnamese combining marks (category Mn, e.g. U+0301 in decomposed text), spaces, tab and line feed.
None of the warehouse's own text holds such a character; the rule is for text that should not.
"""
from __future__ import annotations

import unicodedata

ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
KEPT = frozenset("\t\n")
ELLIPSIS = "…"


def is_hidden(ch: str) -> bool:
    """True for a character the rule shows escaped."""
    return ch not in KEPT and unicodedata.category(ch) in ESCAPED_CATEGORIES


def _escape_char(ch: str) -> str:
    if not is_hidden(ch):
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def has_hidden(text: str) -> bool:
    # str.isprintable() is False for every character of the escaped categories (and for some that
    # are not escaped, such as tab or a no-break space): a fast test for the usual printable text
    return not text.isprintable() and any(is_hidden(ch) for ch in text)


def escape(text: str) -> str:
    """The text with every hidden character shown escaped; printable text comes back as it is."""
    if text.isprintable():
        return text
    return "".join(_escape_char(ch) for ch in text)


def clip(text: str, width: int) -> tuple[str, bool]:
    """escape(text), at most `width` characters long: a longer one is cut and ends with "…".
    The cut never splits an escape, nor a letter from its combining marks. Returns (shown, was_cut).
    Only the start of a long text is looked at, so a 10-million-character value costs no more."""
    width = max(width, 1)
    head = text[:width + 1]
    if len(text) <= width:
        shown = escape(text)
        if len(shown) <= width:
            return shown, False
    pieces: list[tuple[str, str]] = []  # (original character, as shown)
    used = 0
    for ch in head:
        piece = _escape_char(ch)
        if used + len(piece) > width - 1:
            break
        pieces.append((ch, piece))
        used += len(piece)
    following = head[len(pieces)] if len(pieces) < len(head) else ""
    if following and unicodedata.combining(following):  # the letter the next mark belongs to goes too
        while pieces and unicodedata.combining(pieces[-1][0]):
            pieces.pop()
        if pieces:
            pieces.pop()
    return "".join(p for _, p in pieces) + ELLIPSIS, True
