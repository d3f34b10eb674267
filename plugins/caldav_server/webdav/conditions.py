"""Conditional requests (RFC 9110 13): ETags and modification dates, in RFC 9110's order.

13.2.2: If-Match (strong comparison), else If-Unmodified-Since, decides 412; then
If-None-Match (weak comparison), else, for GET and HEAD only, If-Modified-Since
decides 304 (412 for other methods). A date that does not parse is ignored, as
is a date condition on a target without a modification date (13.1.3, 13.1.4).
Dates have whole seconds, so a modification time counts by its second.

:func:`require` applies them to every other method on its target (PROPPATCH,
DELETE, COPY and MOVE on the source, MKCOL and MKCALENDAR on the URL to make):
``*`` in If-Match holds for anything that exists, in If-None-Match for nothing
that does. A resource's ETag is its own; a collection's is the ETag GET of the
collection answers (:func:`collection_etag`).
"""

from __future__ import annotations

from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Mapping

from kernel.writes import etag_matches
from plugins.caldav_server.webdav.errors import DavError

if TYPE_CHECKING:
    from kernel import Collection
    from plugins.caldav_server.webdav.context import DavContext
    from plugins.caldav_server.webdav.resolve import Target


def http_time(value: str | None) -> float | None:
    """An HTTP date as epoch seconds (None when absent or not a date)."""
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def none_match(header: str, etag: str | None) -> bool:
    """Whether an If-None-Match value names ``etag`` (weak comparison; ``*``: any current one)."""
    if etag is None:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def evaluate(
    headers: Mapping[str, str],
    etag: str | None,
    modified: float | None,
    *,
    read: bool,
    exists: bool | None = None,
) -> int | None:
    """The status the request's preconditions call for: 412, 304 (``read``: GET or HEAD), or None.

    ``exists`` says whether the target has a current representation (default: it has an
    ETag); ``*`` conditions ask only that.
    """
    exists = etag is not None if exists is None else exists
    if_match = headers.get("if-match")
    if if_match is not None:
        if not (exists if if_match.strip() == "*" else etag_matches(if_match, etag)):
            return 412
    else:
        since = http_time(headers.get("if-unmodified-since"))
        if since is not None and modified is not None and int(modified) > since:
            return 412
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if exists if if_none_match.strip() == "*" else none_match(if_none_match, etag):
            return 304 if read else 412
    elif read:
        since = http_time(headers.get("if-modified-since"))
        if since is not None and modified is not None and int(modified) <= since:
            return 304
    return None


def collection_etag(collection: Collection) -> str:
    """The ETag of a collection: the one GET of it answers, changing with its members."""
    return f'"{collection.id}-{collection.sync_seq}"'


def state(target: Target) -> tuple[bool, str | None, float | None]:
    """(exists, ETag, modification time) of a target, what conditional headers are checked on."""
    if target.resource is not None:
        return True, target.resource.etag, target.resource.modified
    if target.kind == "unmapped":
        return False, None, None
    if target.kind == "collection" and target.collection is not None:
        return True, collection_etag(target.collection), target.collection.modified
    return True, None, None


def require(ctx: DavContext, target: Target | None = None) -> None:
    """412 when the request's If-Match, If-Unmodified-Since or If-None-Match fail on ``target``
    (default: the request's), for methods other than GET and HEAD."""
    exists, etag, modified = state(target or ctx.target)
    if evaluate(ctx.request.headers, etag, modified, read=False, exists=exists) == 412:
        raise DavError(412, "A condition of the request does not hold (If-Match, If-None-Match or If-Unmodified-Since).")
