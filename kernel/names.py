"""Rules for names that become URL path segments (principals, collections, resources).

Collection and resource names have one form: Unicode NFC
(:func:`canonical_name`), so ``café.ics`` typed on a Mac (NFD) and on
Windows (NFC) is one resource. Every write and lookup by name goes through it;
the store holds only canonical names (migration m006 renamed older ones).
"""

from __future__ import annotations

import re
import unicodedata

from kernel.types import Rejected

_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
MAX_SEGMENT = 255
#: Control characters (NUL included), which no path holds.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: What a segment never holds: slashes, backslashes, and control characters.
FORBIDDEN_IN_SEGMENT = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_principal_name(name: str) -> None:
    """Refuse principal names that would not be a safe single path segment."""
    if not _PRINCIPAL.match(name or ""):
        raise Rejected(
            400, None, f"{name!r} is not a valid name: use letters, digits and . _ @ + - (at most 64)."
        )


def check_segment(name: str) -> None:
    """Refuse a collection or resource name that is not one safe path segment.

    Empty names, "." and "..", slashes, backslashes, NUL and other control
    characters, and names over 255 characters get a 400.
    """
    if (
        not name
        or name in (".", "..")
        or len(name) > MAX_SEGMENT
        or FORBIDDEN_IN_SEGMENT.search(name)
    ):
        raise Rejected(400, None, f"{name!r} is not a valid resource name.")


def check_path(path: str) -> None:
    """Check every segment of a collection path ("a/b/c")."""
    if not path:
        raise Rejected(400, None, "A collection needs a name.")
    for segment in path.split("/"):
        check_segment(segment)


def canonical_name(name: str) -> str:
    """The one stored form of a collection or resource name, or of a collection path: NFC."""
    return name if name.isascii() else unicodedata.normalize("NFC", name)
