"""207 Multi-Status answers, built as strings and streamed when they are big.

``Prefer: return=minimal`` (RFC 8144, and Apple's older ``Brief: t``) drops
the propstat of properties that were not found.

An answer's DAV:response elements may come from a lazy iterable: the first
:data:`CHUNK` characters are built before answering, and an answer that is
still not complete then goes out chunked, each chunk built as the previous one
is sent, so a listing of 100,000 members never holds the whole document in
memory. Each further chunk is built in a worker thread (the parts read the
store), never on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from kernel import turns
from plugins.caldav_server.webdav.xml import (
    ROOT_NAMESPACES,
    XML_CONTENT_TYPE,
    XML_HEADER,
    escape,
)


def status_line(status: int) -> str:
    """``HTTP/1.1 404 Not Found``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}"


_OK = f"<D:status>{status_line(200)}</D:status>"
_NOT_FOUND = f"<D:status>{status_line(404)}</D:status>"


def wants_minimal(request: Request) -> bool:
    """True when the client asked for a minimal answer (RFC 8144 or ``Brief: t``)."""
    prefer = request.headers.get("prefer", "")
    if "return=minimal" in prefer.replace(" ", "").lower():
        return True
    return request.headers.get("brief", "").strip().lower() == "t"


def response(href: str, found: Iterable[str], missing: Iterable[str] = (), *, minimal: bool = False) -> str:
    """One DAV:response with a 200 propstat (always present) and a 404 one for what was not found."""
    parts = [
        f"<D:response><D:href>{escape(href)}</D:href><D:propstat><D:prop>",
        *found,
        "</D:prop>",
        _OK,
        "</D:propstat>",
    ]
    missing = list(missing)
    if missing and not minimal:
        parts += ["<D:propstat><D:prop>", *missing, "</D:prop>", _NOT_FOUND, "</D:propstat>"]
    parts.append("</D:response>")
    return "".join(parts)


def found_response(href: str, found: Iterable[str]) -> str:
    """:func:`response` when every property was found: a listing's usual row, in one join."""
    return f"<D:response><D:href>{escape(href)}</D:href><D:propstat><D:prop>{''.join(found)}</D:prop>{_OK_END}"


_OK_END = f"{_OK}</D:propstat></D:response>"


def propstat_response(href: str, groups: Iterable[tuple[int, list[str]]], description: str = "") -> str:
    """One DAV:response with a propstat per (status, property elements) group."""
    parts = [f"<D:response><D:href>{escape(href)}</D:href>"]
    for status, props in groups:
        if props:
            parts += [
                "<D:propstat><D:prop>",
                *props,
                f"</D:prop><D:status>{status_line(status)}</D:status></D:propstat>",
            ]
    if description:
        parts.append(f"<D:responsedescription>{escape(description)}</D:responsedescription>")
    parts.append("</D:response>")
    return "".join(parts)


def status_response(href: str, status: int, error: str = "") -> str:
    """One DAV:response carrying only a status (and optionally a DAV:error with content)."""
    err = f"<D:error>{error}</D:error>" if error else ""
    return f"<D:response><D:href>{escape(href)}</D:href><D:status>{status_line(status)}</D:status>{err}</D:response>"


def document(root: str, parts: Iterable[str], tail: str = "") -> str:
    """A whole document: ``<D:root namespaces>parts tail</D:root>``; root is a prefixed name."""
    return f"{XML_HEADER}<{root}{ROOT_NAMESPACES}>{''.join(parts)}{tail}</{root}>\n"


def multistatus(parts: Iterable[str], *, tail: str = "", minimal: bool = False, status: int = 207) -> Response:
    """The 207 answer holding these DAV:response elements (``tail`` e.g. a DAV:sync-token).

    Small answers get a Content-Length; one past :data:`CHUNK` characters streams.
    """
    headers = {"Preference-Applied": "return=minimal"} if minimal else None
    head = f"{XML_HEADER}<D:multistatus{ROOT_NAMESPACES}>"
    end = f"{tail}</D:multistatus>\n"
    rest = iter(parts)
    text, done = _take(rest, [head])
    if done:
        return Response(text + end, status, headers=headers, media_type=XML_CONTENT_TYPE)
    return StreamingResponse(_chunks(text, rest, end), status, headers=headers, media_type=XML_CONTENT_TYPE)


#: Characters built before an answer goes out, and per streamed chunk. Each chunk is one
#: worker-thread turn, and on a virtual machine a hop to a worker thread and back costs
#: 0.15 ms or more: at 1 MB a week of 10,000 events (350 KB) is one hop, not two, and a
#: PROPFIND Depth 1 of them (2.9 MB) two, not five. A slow reader holds at most one
#: chunk in the server's send buffer.
CHUNK = 1024 * 1024


def _take(parts: Iterator[str], buffer: list[str]) -> tuple[str, bool]:
    """Join parts until about :data:`CHUNK` characters: (text, whether ``parts`` ran out)."""
    size = sum(map(len, buffer))
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= CHUNK:
            return "".join(buffer), False
    return "".join(buffer), True


async def _chunks(first: str, rest: Iterator[str], end: str) -> AsyncIterator[bytes]:
    yield first.encode("utf-8")
    while True:
        text, done = await turns.run(_take, rest, [])
        if done:
            yield (text + end).encode("utf-8")
            return
        yield text.encode("utf-8")
