"""Repairs of the raw text: line endings and lines broken where they should have been folded."""

from __future__ import annotations

import re

from kernel.icaltext import crlf_lines
from kernel.ingest.rules import text_repair

#: A line starting a property (or BEGIN/END): a name, then parameters or the value.
_CONTENT_LINE = re.compile(rb"[A-Za-z0-9-]+[;:]")
#: A line break not followed by a property, a fold, or the end of the data.
_STRAY = re.compile(rb"\r\n(?![A-Za-z0-9-]+[;:]|[ \t]|$)")
_FOLD = re.compile(rb"\r\n[ \t]")
#: Text properties whose value a stray line break continues as a line break of the text.
_TEXT = (b"SUMMARY", b"DESCRIPTION", b"LOCATION", b"COMMENT", b"CONTACT", b"X-")


@text_repair("line-endings", "Bare CR or LF line breaks are written as CRLF (RFC 5545 3.1).", keeps_form=True)
def line_endings(data: bytes) -> bytes:
    """Every line break as CRLF."""
    return crlf_lines(data)


@text_repair(
    "folds-inside-characters",
    "Data that is UTF-8 only once its folds are undone (a line folded inside a multi-byte character)"
    " is unfolded before it is read.",
)
def folds_inside_characters(data: bytes) -> bytes:
    """Undo the folds of data that is not UTF-8 as it stands but is without them."""
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    unfolded = _FOLD.sub(b"", data)
    try:
        unfolded.decode("utf-8")
    except UnicodeDecodeError:
        return data  # not a folding problem: validation refuses it
    return unfolded


@text_repair(
    "mis-folded-lines",
    "A line that does not start with a property name continues the line before it (a value broken"
    " without folding); in a text property the break is kept as a line break of the text. Blank"
    " lines are dropped.",
)
def mis_folded_lines(data: bytes) -> bytes:
    """Join lines that are neither properties nor folds to the line before them."""
    if _STRAY.search(data) is None:
        return data
    lines: list[list[bytes]] = []  # each line as its parts, joined once (linear in the data)
    head = b""  # the property the current logical line belongs to
    for line in data.split(b"\r\n"):
        if not lines or _CONTENT_LINE.match(line):
            lines.append([line])
            head = line.split(b":", 1)[0].split(b";", 1)[0].upper()
        elif line[:1] in (b" ", b"\t"):
            lines.append([line])
        elif line:
            lines[-1] += [b"\\n" if head.startswith(_TEXT) else b"", line]
    joined = b"\r\n".join(b"".join(parts) for parts in lines)
    return joined + (b"\r\n" if data.endswith(b"\r\n") else b"")
