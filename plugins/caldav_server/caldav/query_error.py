"""The error a calendaring REPORT request is refused with (RFC 4791 sections 7.8 to 7.10)."""

from __future__ import annotations

CALDAV = "{urn:ietf:params:xml:ns:caldav}"


class QueryError(Exception):
    """A REPORT request the query engine refuses.

    ``status`` is the HTTP status to answer with, ``precondition`` the Clark
    name of the RFC 4791 precondition element (``CALDAV + "valid-filter"``,
    ``CALDAV + "supported-collation"``, ``CALDAV + "max-instances"`` ...) or
    None when the RFC names none, ``message`` one human sentence and ``detail``
    XML (C: prefix) to put inside the precondition element.
    """

    def __init__(self, status: int, precondition: str | None, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.precondition = precondition
        self.message = message
        #: XML inside the precondition element (the unsupported filter element, say).
        self.detail = detail


def invalid_filter(message: str) -> QueryError:
    """400 with CALDAV:valid-filter: the CALDAV:filter element is not valid."""
    return QueryError(400, CALDAV + "valid-filter", message)


def unsupported_filter(message: str, element: str) -> QueryError:
    """403 CALDAV:supported-filter naming the filter element (XML) the server cannot evaluate."""
    return QueryError(403, CALDAV + "supported-filter", message, element)
