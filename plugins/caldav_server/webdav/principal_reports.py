"""The principal reports clients use: principal-property-search and
principal-search-property-set (RFC 3744 9.4, 9.5) and expand-property (RFC 3253 3.8).

The principal directory is readable by every authenticated user (a team
server's address book); a search matches, case-insensitively, a substring
of the text of each searched property.

expand-property is bounded, since alternating group-member-set and
group-membership would otherwise double the answer every two levels: a
request asking for more levels of expansion (DAV:property within
DAV:property) than ``[caldav_server] max_expand_depth`` is refused, each resource is expanded once per report (where it comes again,
its DAV:href stays as it is), and a report that would expand more than
``max_expand_responses`` resources is refused. Both refusals are
507 Insufficient Storage with DAV:number-of-matches-within-limits (as
sync-collection answers a limit, RFC 6578) and a sentence saying which bound.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.responses import Response

from plugins.caldav_server.webdav import multistatus, xml
from plugins.caldav_server.webdav.errors import DavError
from plugins.caldav_server.webdav.properties import Evaluator, PropRequest
from plugins.caldav_server.webdav.resolve import Target
from plugins.caldav_server.webdav.xml import Element, d

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext

_TAG = re.compile(r"<[^>]*>")


def _text(found: list[str]) -> str:
    """The text of rendered property elements, tags dropped."""
    return html.unescape(_TAG.sub(" ", "".join(found))).lower()


def _principal_targets(ctx: DavContext) -> list[Target]:
    return [Target("principal", ctx.hrefs.principal(p), owner=p) for p in ctx.store.principals()]


def _asked(body: Element) -> list[str]:
    """The properties to return: DAV:prop's children, and (for the ``caldav`` library, which
    puts them beside an empty DAV:prop) property elements directly in the report."""
    prop = body.find(d("prop"))
    names = [child.tag for child in prop] if prop is not None else []
    skip = {d("property-search"), d("prop"), d("apply-to-principal-collection-set")}
    return names + [child.tag for child in body if child.tag not in skip and child.tag not in names]


def principal_property_search(ctx: DavContext, body: Element) -> Response:
    """Principals whose properties contain the searched strings (test="anyof" or "allof")."""
    searches: list[tuple[list[str], str]] = []
    for search in body.findall(d("property-search")):
        prop = search.find(d("prop"))
        if prop is None or len(prop) == 0:
            raise DavError(400, "DAV:property-search needs a DAV:prop.")
        searches.append(([child.tag for child in prop], xml.child_text(search.find(d("match"))).strip().lower()))
    any_of = body.get("test", "allof") == "anyof"
    evaluator = Evaluator(ctx, PropRequest("prop", _asked(body)))
    parts = []
    for target in _principal_targets(ctx):
        results = []
        for names, match in searches:
            found, _ = Evaluator(ctx, PropRequest("prop", names)).evaluate(target)
            results.append(match in _text(found))
        if searches and not (any(results) if any_of else all(results)):
            continue
        found, missing = evaluator.evaluate(target)
        parts.append(multistatus.response(target.href, found, missing, minimal=ctx.minimal))
    return multistatus.multistatus(parts, minimal=ctx.minimal)


def principal_search_property_set(ctx: DavContext, body: Element) -> Response:
    """The properties principal-property-search can match."""
    items = "".join(
        f"<D:principal-search-property><D:prop>{xml.element(name)}</D:prop>"
        f'<D:description xml:lang="en">{xml.escape(text)}</D:description></D:principal-search-property>'
        for name, text in ctx.app.searchable.items()
    )
    document = multistatus.document("D:principal-search-property-set", [items])
    return Response(document, 200, media_type=xml.XML_CONTENT_TYPE)


def _requested(elem: Element) -> list[tuple[str, Element]]:
    """(Clark name, DAV:property element) for each DAV:property child."""
    out = []
    for child in elem.findall(d("property")):
        name = child.get("name")
        if not name:
            raise DavError(400, "DAV:property needs a name attribute.")
        out.append(("{" + child.get("namespace", "DAV:") + "}" + name, child))
    return out


@dataclass
class _Budget:
    """What is left of one expand-property report's bounds, and what it already expanded."""

    responses: int
    expanded: set[str] = field(default_factory=set)

    def take(self, href: str) -> bool:
        """Claim the expansion of ``href``: False when it was expanded already; 507 past the budget."""
        if href in self.expanded:
            return False
        if self.responses <= 0:
            raise _over_budget("The expand-property report would expand more resources than this server answers.")
        self.responses -= 1
        self.expanded.add(href)
        return True


def _over_budget(message: str) -> DavError:
    return DavError(507, message, d("number-of-matches-within-limits"))


def _depth(spec: Element) -> int:
    """How many levels of expansion a request asks for: DAV:property elements nested in
    DAV:property elements (0 when nothing is expanded)."""
    return max(
        (1 + _depth(child) for child in spec.findall(d("property")) if child.find(d("property")) is not None),
        default=0,
    )


def _expand(ctx: DavContext, target: Target, spec: Element, budget: _Budget) -> tuple[list[str], list[str]]:
    """Properties of ``target`` as ``spec`` asks, with href values replaced by nested responses."""
    found: list[str] = []
    missing: list[str] = []
    for name, child in _requested(spec):
        live = ctx.app.properties.get(name)
        if live is not None and live.hrefs is not None and len(child):
            hrefs = live.hrefs(ctx, target)
            if hrefs is None:
                missing.append(xml.element(name))
                continue
            found.append(xml.element(name, "".join(_nested(ctx, h, child, budget) for h in hrefs)))
            continue
        f, m = Evaluator(ctx, PropRequest("prop", [name])).evaluate(target)
        found += f
        missing += m
    return found, missing


def _nested(ctx: DavContext, href: str, spec: Element, budget: _Budget) -> str:
    try:
        target = ctx.resolve_href(href)
    except DavError:
        target = None
    if target is None or target.kind == "unmapped" or "read" not in ctx.privileges(target):
        return multistatus.status_response(href, 404)
    if not budget.take(target.href):
        return xml.href(href)
    found, missing = _expand(ctx, target, spec, budget)
    return multistatus.response(target.href, found, missing, minimal=ctx.minimal)


def expand_property(ctx: DavContext, body: Element) -> Response:
    """DAV:expand-property on the request's target, within the report's bounds."""
    settings = ctx.host.settings("caldav_server")
    depth = _depth(body)
    if depth > settings.max_expand_depth:
        raise _over_budget(
            f"The expand-property report asks for {depth} levels of expansion; this server expands at most"
            f" {settings.max_expand_depth}."
        )
    budget = _Budget(int(settings.max_expand_responses), {ctx.target.href})
    found, missing = _expand(ctx, ctx.target, body, budget)
    return multistatus.multistatus([multistatus.response(ctx.target.href, found, missing, minimal=ctx.minimal)])
