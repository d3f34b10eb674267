"""Errors answered as HTTP statuses, with a DAV:error body when a precondition names one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.responses import PlainTextResponse, Response

from plugins.caldav_server.webdav.namespaces import (
    PREFIXES,
    ROOT_NAMESPACES,
    XML_CONTENT_TYPE,
    XML_HEADER,
    escape,
)


class DavError(Exception):
    """An HTTP error: ``status``, a human ``message`` and, where the RFCs define one, a
    ``precondition`` (Clark name) whose element goes in a DAV:error body with ``detail``
    (XML, using the D:/C: prefixes) inside it; ``also`` names more precondition elements
    the same failure violates (empty ones, after the first)."""

    def __init__(
        self,
        status: int,
        message: str = "",
        precondition: str | None = None,
        detail: str = "",
        headers: Mapping[str, str] | None = None,
        also: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.precondition = precondition
        self.detail = detail
        self.headers = dict(headers or {})
        self.also = also

    @property
    def preconditions(self) -> tuple[str, ...]:
        """Every precondition element this error names (the first carries ``detail``)."""
        return (self.precondition, *self.also) if self.precondition else ()

    def response(self) -> Response:
        """The HTTP answer: a DAV:error document, or the message as text."""
        if self.precondition is None:
            return PlainTextResponse(self.message + "\n" if self.message else "", self.status, headers=self.headers)
        body = error_body(self.precondition, self.detail, self.message, self.also)
        return Response(body, self.status, headers=self.headers, media_type=XML_CONTENT_TYPE)


def error_body(precondition: str, detail: str = "", message: str = "", also: Iterable[str] = ()) -> str:
    """A DAV:error document holding a precondition element (with ``detail`` inside), the
    elements ``also`` names, and a readable description."""
    inner = precondition_element(precondition, detail) + "".join(precondition_element(p) for p in also)
    description = f"<D:responsedescription>{escape(message)}</D:responsedescription>" if message else ""
    return f"{XML_HEADER}<D:error{ROOT_NAMESPACES}>{inner}{description}</D:error>\n"


def precondition_element(precondition: str, detail: str = "") -> str:
    """One precondition element (Clark name) as XML, with ``detail`` inside it."""
    ns, _, local = precondition[1:].partition("}")
    prefix = PREFIXES.get(ns)
    if prefix:
        name, extra = f"{prefix}:{local}", ""
    else:
        name, extra = f"x:{local}", f' xmlns:x="{escape(ns)}"'
    return f"<{name}{extra}>{detail}</{name}>" if detail else f"<{name}{extra}/>"


def need_privileges(href: str, privileges: Iterable[str]) -> DavError:
    """403 with DAV:need-privileges naming the resource and the missing DAV privileges (local names)."""
    names = "".join(f"<D:{p}/>" for p in privileges)
    detail = f"<D:resource><D:href>{escape(href)}</D:href><D:privilege>{names}</D:privilege></D:resource>"
    return DavError(403, "You do not have the privilege to do this here.", "{DAV:}need-privileges", detail)
