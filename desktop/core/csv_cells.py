"""CSV cells that a spreadsheet shows as text, never runs as a formula, and that read back exact.

Excel, LibreOffice and Google Sheets treat a cell starting with ``=``, ``+``, ``-`` or ``@`` (and,
in some, tab or carriage return) as a formula, so a class named ``=HYPERLINK(...)`` in a file we
wrote could run when a colleague opens it. As OWASP recommends ("CSV Injection"), every text cell
we write that starts with one of those gets a single quote in front: spreadsheets show the rest as
text and hide the quote.

The rule, so that our own import gives back exactly what was exported:

* writing: a quote is added when the text starts with a formula character, **or with a quote**;
* reading: one leading quote is removed only when what follows starts with a formula character
  or a quote, i.e. only where writing could have added it.

So ``'=1+2`` reads back as ``=1+2``, ``''tis`` as ``'tis`` (a real leading quote round-trips), and
a hand-made ``'abc`` is left as it is. Every writer and reader of CSV cells calls these two.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may take as the start of a formula (OWASP's list)."""
QUOTE = "'"


def neutralise(text: str) -> str:
    """``text`` safe to put in a CSV cell that a spreadsheet will open."""
    if text.startswith(FORMULA_STARTS) or text.startswith(QUOTE):
        return QUOTE + text
    return text


def unneutralise(text: str) -> str:
    """The original text of a cell written by ``neutralise`` (other text is left unchanged)."""
    if text.startswith(QUOTE) and text[1:].startswith((*FORMULA_STARTS, QUOTE)):
        return text[1:]
    return text


def neutralise_row(cells: list[str]) -> list[str]:
    """A row of text cells, each neutralised (numbers we format never start with a sign)."""
    return [neutralise(cell) for cell in cells]
