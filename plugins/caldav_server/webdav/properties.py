"""The live-property registry and how a target's properties are computed.

A :class:`LiveProperty` computes its value as XML content (using the answer's
fixed prefixes) from the request context and a target, or None where it is
not defined. Live properties with a ``setter`` are writable (PROPPATCH, MKCOL,
MKCALENDAR): the setter turns the requested value into collection attributes
for ``host.writes.update_collection``, or returns None where the property is
not live (it is then kept as a dead property); a bad value raises DavError.
Everything else is protected.
Dead properties are stored XML elements in any namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kernel import Resource
from plugins.caldav_server.webdav import multistatus, xml
from plugins.caldav_server.webdav.resolve import member_target, quote_segment
from plugins.caldav_server.webdav.xml import Element

if TYPE_CHECKING:
    from plugins.caldav_server.webdav.context import DavContext
    from plugins.caldav_server.webdav.deadprops import ResourceProperties
    from plugins.caldav_server.webdav.resolve import Target

Getter = Callable[["DavContext", "Target"], "str | None"]
#: (requested value or None to remove, kind of the collection or None for other targets) ->
#: collection attributes, or None where the property is not live (it is kept as a dead property).
Setter = Callable[["Element | None", "str | None"], "dict[str, Any] | None"]
HrefGetter = Callable[["DavContext", "Target"], "list[str] | None"]
RowGetter = Callable[["Resource"], "str | None"]


@dataclass(frozen=True)
class LiveProperty:
    """A computed property: ``get`` returns XML content or None where it does not apply.

    ``allprop`` says whether DAV:allprop includes it; ``hrefs`` (for
    href-valued properties) lets DAV:expand-property follow it;
    ``create_only`` properties may be set when a collection is made, never
    changed afterwards.
    """

    name: str
    get: Getter
    allprop: bool = True
    setter: Setter | None = None
    hrefs: HrefGetter | None = None
    create_only: bool = False
    #: For a resource: the value from its stored row alone (the same as ``get`` gives), so
    #: listings of many resources skip building a target for each.
    row: RowGetter | None = None
    #: The :class:`Resource` fields ``row`` reads (None: any of them), so a listing reads
    #: only the columns its properties need (``Store.iter_listing``).
    row_fields: tuple[str, ...] | None = None


def href_property(name: str, hrefs: HrefGetter, *, allprop: bool = False) -> LiveProperty:
    """A property whose value is a list of DAV:href elements."""

    def get(ctx: DavContext, target: Target) -> str | None:
        found = hrefs(ctx, target)
        return None if found is None else "".join(xml.href(h) for h in found)

    return LiveProperty(name, get, allprop=allprop, hrefs=hrefs)


@dataclass
class PropRequest:
    """What a PROPFIND (or a report's DAV:prop) asks for."""

    kind: str  # "prop", "allprop" or "propname"
    names: list[str]

    @classmethod
    def from_element(cls, elem: Element | None) -> PropRequest:
        """Read DAV:propfind (or DAV:prop / DAV:allprop / DAV:propname directly); empty means allprop."""
        if elem is None:
            return cls("allprop", [])
        if elem.tag == xml.d("prop"):
            return cls("prop", [child.tag for child in elem])
        if elem.tag == xml.d("allprop"):
            return cls("allprop", [])
        if elem.tag == xml.d("propname"):
            return cls("propname", [])
        prop = elem.find(xml.d("prop"))
        if prop is not None:
            return cls("prop", [child.tag for child in prop])
        if elem.find(xml.d("propname")) is not None:
            return cls("propname", [])
        include = elem.find(xml.d("include"))
        return cls("allprop", [child.tag for child in include] if include is not None else [])


class Evaluator:
    """Computes the properties one request asks for, target after target.

    ``dead`` (a callable returning a target's dead properties) is consulted
    only when a name is not live or for allprop/propname, so plain listings
    never touch the properties table.
    """

    def __init__(self, ctx: DavContext, request: PropRequest, computed: frozenset[str] = frozenset()) -> None:
        """``computed``: the names a report computes itself for each resource (CALDAV:calendar-data),
        given to :meth:`resource_response` with each one."""
        self.ctx = ctx
        self.request = request
        self.registry = ctx.app.properties
        self.wanted = [(name, self.registry.get(name), *xml.tags(name)) for name in request.names]
        self.computed = computed
        self.rows = self._row_plan()
        self.row_fields = self._row_fields()

    def _row_plan(self) -> list[tuple[str, str, str, RowGetter | None]] | None:
        """(name, open tag, close tag, row getter or None for a computed one) per property asked
        for, when each one is computed by the report or from a resource's row alone; else None."""
        if self.request.kind != "prop":
            return None
        plan: list[tuple[str, str, str, RowGetter | None]] = []
        for name, live, open_tag, close_tag in self.wanted:
            if name in self.computed:
                plan.append((name, open_tag, close_tag, None))
                continue
            if live is None or live.row is None:
                return None
            plan.append((name, open_tag, close_tag, live.row))
        return plan

    def _row_fields(self) -> tuple[str, ...] | None:
        """The resource fields every row getter of the plan reads, when each says; else None."""
        if self.rows is None:
            return None
        fields: dict[str, None] = {}
        for name, live, _, _ in self.wanted:
            if name in self.computed:
                continue
            assert live is not None  # a row plan has a live property for every other name
            if live.row_fields is None:
                return None
            fields.update(dict.fromkeys(live.row_fields))
        return tuple(fields)

    def listing(self, collection_id: int) -> Iterator[Any]:
        """A collection's resources by name for :meth:`resource_response`: only the columns the
        properties asked for need when the row plan says which, else whole resources."""
        if self.row_fields is not None:
            return self.ctx.store.iter_listing(collection_id, self.row_fields)
        return self.ctx.store.iter_resources(collection_id)

    def listing_responses(self, parent: Target, dead: ResourceProperties) -> Iterator[str]:
        """The DAV:response of every resource of the collection ``parent``, by name, one string
        per page of the listing (see :meth:`page_responses`)."""
        assert parent.collection is not None
        if self.row_fields is None:
            for resource in self.listing(parent.collection.id):
                yield self.resource_response(parent, resource, dead)
            return
        for page in self.ctx.store.listing_pages(parent.collection.id, self.row_fields):
            yield self.page_responses(parent, page, dead)

    def page_responses(self, parent: Target, resources: list[Any], dead: ResourceProperties,
                       computed: Sequence[dict[str, str] | None] | None = None) -> str:
        """:meth:`resource_response` of each of these resources of ``parent`` (with ``computed``,
        their report's own elements, one per resource) as one string. When every property
        asked for comes from the row or the report, the values are computed a property at a
        time over the page; a resource missing one takes :meth:`resource_response`'s path."""
        each = computed if computed is not None else [None] * len(resources)
        plan = self.rows
        if not plan:
            return "".join([self.resource_response(parent, r, dead, c) for r, c in zip(resources, each)])
        columns = [
            [c.get(name) if c else None for c in each] if row is None
            else [None if v is None else f"{open_tag}>{v}{close_tag}" if v else open_tag + "/>"
                  for v in map(row, resources)]
            for name, open_tag, close_tag, row in plan
        ]
        base, respond = parent.href, multistatus.found_response
        return "".join([
            respond(base + quote_segment(r.name), found) if None not in found
            else self.resource_response(parent, r, dead, c)
            for r, found, c in zip(resources, zip(*columns), each)
        ])

    def resource_response(self, parent: Target, resource: Resource, dead: ResourceProperties,
                          computed: dict[str, str] | None = None) -> str:
        """The DAV:response of one resource of the collection ``parent``: straight from its row
        (and ``computed``, the report's own elements) when every property asked for allows,
        else through its target (``dead``: the collection's dead properties, read once if needed)."""
        if self.rows is not None:
            found: list[str] = []
            for name, open_tag, close_tag, row in self.rows:
                if row is None:
                    element = computed.get(name) if computed else None
                    if element is None:
                        break
                    found.append(element)
                    continue
                value = row(resource)
                if value is None:
                    break
                found.append(f"{open_tag}>{value}{close_tag}" if value else open_tag + "/>")
            else:
                return multistatus.found_response(parent.href + quote_segment(resource.name), found)
        if not isinstance(resource, Resource):  # a listing record (``listing``): the whole row
            assert parent.collection is not None
            whole = self.ctx.store.resource(parent.collection.id, resource.name)
            assert whole is not None, resource.name
            resource = whole
        child = member_target(parent, resource)
        found, missing = self.evaluate(child, dead.getter(resource.id), computed)
        return multistatus.response(child.href, found, missing, minimal=self.ctx.minimal)

    def evaluate(
        self,
        target: Target,
        dead: Callable[[], dict[str, str]] | None = None,
        computed: dict[str, str] | None = None,
    ) -> tuple[list[str], list[str]]:
        """(found property elements, empty elements of the properties not found).

        ``computed`` holds values a report computes itself (CALDAV:calendar-data).
        """
        ctx = self.ctx
        request = self.request
        if request.kind == "prop":
            found: list[str] = []
            missing: list[str] = []
            dead_props: dict[str, str] | None = None
            extras: dict[str, str] | None = None
            for name, live, open_tag, close_tag in self.wanted:
                if computed is not None and name in computed:
                    found.append(computed[name])
                    continue
                if live is not None:
                    value = live.get(ctx, target)
                    if value is not None:
                        found.append(f"{open_tag}>{value}{close_tag}" if value else open_tag + "/>")
                        continue
                if dead_props is None:
                    dead_props = dead() if dead else ctx.dead_properties(target)
                if name in dead_props:
                    found.append(dead_props[name])
                    continue
                if extras is None:
                    extras = ctx.extra_properties(target)
                if name in extras:
                    found.append(extras[name])
                else:
                    missing.append(xml.element(name))
            return found, missing
        dead_props = dead() if dead else ctx.dead_properties(target)
        extras = ctx.extra_properties(target)
        found = []
        if request.kind == "propname":
            for name, live in self.registry.items():
                if live.get(ctx, target) is not None:
                    found.append(xml.element(name))
            found.extend(xml.element(n) for n in dead_props)
            found.extend(xml.element(n) for n in extras if n not in self.registry)
            return found, []
        wanted = set(request.names)
        for name, live in self.registry.items():
            if live.allprop or name in wanted:
                value = live.get(ctx, target)
                if value is not None:
                    found.append(xml.element(name, value))
        found.extend(dead_props.values())
        found.extend(v for n, v in extras.items() if n not in self.registry)
        return found, []
