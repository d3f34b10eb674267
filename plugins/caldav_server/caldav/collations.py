"""Text-match collations (RFC 4790, RFC 4791 section 7.5, RFC 5051).

A collation is a *fold* applied to both sides before an octet-wise
comparison: ``i;octet`` leaves the text as it is, ``i;ascii-casemap`` maps
the 26 ASCII letters to upper case, ``i;unicode-casemap`` maps every
character to its (simple) titlecase and decomposes it (RFC 5051's
"titlecased canonicalized UTF-8"). On folded text, RFC 4791's substring
match is Python's ``in``.

RFC 4791 only knows substring matches. The ``match-type`` attribute of
CardDAV (RFC 6352 10.5.4: equals, contains, starts-with, ends-with) is
accepted on CalDAV text-match too, defaulting to contains, because clients
that share code between CardDAV and CalDAV send it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from plugins.caldav_server.caldav.query_error import CALDAV, QueryError, invalid_filter

DEFAULT = "i;ascii-casemap"
#: What CALDAV:supported-collation-set advertises.
SUPPORTED = ("i;ascii-casemap", "i;octet", "i;unicode-casemap")
MATCH_TYPES = ("equals", "contains", "starts-with", "ends-with")

_ASCII_UPPER = {code: code - 32 for code in range(ord("a"), ord("z") + 1)}


def _octet(text: str) -> str:
    return text


def _ascii_casemap(text: str) -> str:
    return text.upper() if text.isascii() else text.translate(_ASCII_UPPER)


@lru_cache(maxsize=4096)
def _titlecase(char: str) -> str:
    """The simple (one-to-one) titlecase mapping of a character, itself when it has none."""
    titled = char.title()
    return titled if len(titled) == 1 else char


def _unicode_casemap(text: str) -> str:
    if text.isascii():  # titlecase of ASCII is upper case, and it has no decompositions
        return text.upper()
    # Titlecase, then decompose, until nothing changes (a decomposition may
    # bring characters that have a titlecase mapping of their own).
    for _ in range(4):
        folded = unicodedata.normalize("NFKD", "".join(_titlecase(c) for c in text))
        if folded == text:
            break
        text = folded
    return text


_FOLDS: dict[str, Callable[[str], str]] = {
    "i;octet": _octet,
    "i;ascii-casemap": _ascii_casemap,
    "i;unicode-casemap": _unicode_casemap,
}


def collation_name(collation: str | None) -> str:
    """The supported collation a text-match names (None or "default": i;ascii-casemap).

    An unknown collation is refused with 403 CALDAV:supported-collation (RFC 4791 7.5).
    """
    name = (collation or "").strip().lower()
    name = DEFAULT if name in ("", "default") else name
    if name not in _FOLDS:
        raise QueryError(
            403, CALDAV + "supported-collation",
            f"The collation {collation!r} is not supported; use one of {', '.join(SUPPORTED)}.",
        )
    return name


def fold_for(collation: str | None) -> Callable[[str], str]:
    """The fold of a collation (see :func:`collation_name`)."""
    return _FOLDS[collation_name(collation)]


@dataclass(frozen=True)
class TextMatch:
    """A CALDAV:text-match: a folded needle, how to compare, and whether to negate."""

    text: str
    collation: str
    match_type: str
    negate: bool

    @classmethod
    def create(cls, text: str, collation: str | None, match_type: str | None, negate: bool) -> TextMatch:
        """Check the collation and match type (403 / 400) and fold the needle once."""
        name = collation_name(collation)
        kind = (match_type or "contains").strip().lower()
        if kind not in MATCH_TYPES:
            raise invalid_filter(f"Unknown text-match match-type {match_type!r}.")
        return cls(_FOLDS[name](text), name, kind, negate)

    def matches(self, values: Iterable[str]) -> bool:
        """Whether the property (or parameter) with these candidate texts matches, negation applied."""
        fold = _FOLDS[self.collation]
        needle, kind = self.text, self.match_type
        found = False
        for value in values:
            folded = fold(value)
            if kind == "contains":
                found = needle in folded
            elif kind == "equals":
                found = folded == needle
            elif kind == "starts-with":
                found = folded.startswith(needle)
            else:
                found = folded.endswith(needle)
            if found:
                break
        return found != self.negate
