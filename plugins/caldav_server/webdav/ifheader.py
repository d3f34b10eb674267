"""The WebDAV If header (RFC 4918 10.4): parsing and evaluation.

The header is a disjunction of lists, each a conjunction of conditions on a
resource (the request URI, or the one a resource tag names): a state token
(a lock token, or ``DAV:no-lock`` which never matches) or an entity tag,
either possibly negated with ``Not``. A header whose lists all fail answers
412. The lock tokens of the lists that hold are the ones the request
*submits*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from plugins.caldav_server.webdav.errors import DavError


@dataclass(frozen=True)
class Condition:
    """One condition: a state token (``<...>``) or an entity tag (``[...]``), maybe negated."""

    negated: bool
    token: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class IfList:
    """Conditions that must all hold, on the tagged resource (None: the request URI)."""

    resource: str | None
    conditions: tuple[Condition, ...]


def _bad() -> DavError:
    return DavError(400, "The If header is malformed.")


def parse(header: str) -> list[IfList]:
    """Parse an If header value; 400 when malformed (a resource tag must be followed by a list)."""
    lists: list[IfList] = []
    resource: str | None = None
    i, n = 0, len(header)
    tagged: bool | None = None
    dangling = False
    while i < n:
        ch = header[i]
        if ch.isspace():
            i += 1
        elif ch == "<":
            end = header.find(">", i)
            if end < 0 or tagged is False or dangling:
                raise _bad()
            resource, tagged, dangling = header[i + 1 : end].strip(), True, True
            i = end + 1
        elif ch == "(":
            if tagged is None:
                tagged = False
            conditions, i = _conditions(header, i + 1)
            lists.append(IfList(resource, tuple(conditions)))
            dangling = False
        else:
            raise _bad()
    if not lists or dangling:
        raise _bad()
    return lists


def _conditions(header: str, i: int) -> tuple[list[Condition], int]:
    conditions: list[Condition] = []
    negated = False
    n = len(header)
    while i < n:
        ch = header[i]
        if ch.isspace():
            i += 1
        elif ch == ")":
            if not conditions or negated:
                raise _bad()
            return conditions, i + 1
        elif header[i : i + 3].lower() == "not" and not negated:
            negated, i = True, i + 3
        elif ch == "<":
            end = header.find(">", i)
            if end < 0:
                raise _bad()
            conditions.append(Condition(negated, token=header[i + 1 : end].strip()))
            negated, i = False, end + 1
        elif ch == "[":
            end = header.find("]", i)
            if end < 0:
                raise _bad()
            conditions.append(Condition(negated, etag=header[i + 1 : end].strip()))
            negated, i = False, end + 1
        else:
            raise _bad()
    raise _bad()


@dataclass(frozen=True)
class State:
    """What the conditions are checked against: a resource's ETag and its lock tokens."""

    etag: str | None
    tokens: frozenset[str]


def evaluate(lists: list[IfList], state_of: Callable[[str | None], State]) -> tuple[bool, set[str]]:
    """(does any list hold, the lock tokens of the lists that hold)."""
    holds = False
    submitted: set[str] = set()
    for if_list in lists:
        state = state_of(if_list.resource)
        if all(_check(c, state) for c in if_list.conditions):
            holds = True
            submitted.update(c.token for c in if_list.conditions if c.token and not c.negated)
    return holds, submitted


def _check(condition: Condition, state: State) -> bool:
    if condition.token is not None:
        result = condition.token in state.tokens
    else:
        etag = condition.etag or ""
        result = state.etag is not None and not etag.startswith("W/") and etag == state.etag
    return result != condition.negated
