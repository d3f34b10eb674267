"""Conditional requests (RFC 9110 13): ETags and modification dates, in RFC 9110's order.

13.2.2: If-Match (strong comparison), else If-Unmodified-Since, decides 412; then
If-None-Match (weak comparison), else, for GET and HEAD only, If-Modified-Since
decides 304 (412 for other methods). A date that does not parse is ignored, as
is a date condition on a target without a modification date (13.1.3, 13.1.4).
Dates have whole seconds, so a modification time counts by its second.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

from kernel import etag_matches


def http_time(value: str | None) -> float | None:
    """An HTTP date as epoch seconds (None when absent or not a date)."""
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def none_match(header: str, etag: str | None) -> bool:
    """Whether an If-None-Match value names ``etag`` (weak comparison; ``*``: any current one)."""
    if etag is None:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def evaluate(headers: Mapping[str, str], etag: str | None, modified: float | None, *, read: bool) -> int | None:
    """The status the request's preconditions call for: 412, 304 (``read``: GET or HEAD), or None."""
    if_match = headers.get("if-match")
    if if_match is not None:
        if not etag_matches(if_match, etag):
            return 412
    else:
        since = http_time(headers.get("if-unmodified-since"))
        if since is not None and modified is not None and int(modified) > since:
            return 412
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if none_match(if_none_match, etag):
            return 304 if read else 412
    elif read:
        since = http_time(headers.get("if-modified-since"))
        if since is not None and modified is not None and int(modified) <= since:
            return 304
    return None
