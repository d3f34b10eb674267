"""The live properties of RFC 4918, RFC 3744 (read-only ACL view), RFC 5397 and RFC 6578."""

from __future__ import annotations

import functools
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from kernel import EVERYONE, PRIVILEGES
from plugins.caldav_server.webdav import sync, xml
from plugins.caldav_server.webdav.access import dav_privilege_names
from plugins.caldav_server.webdav.properties import LiveProperty, href_property
from plugins.caldav_server.webdav.xml import Element, d, escape

if TYPE_CHECKING:
    from kernel import Resource
    from plugins.caldav_server.webdav.app import DavApp
    from plugins.caldav_server.webdav.context import DavContext
    from plugins.caldav_server.webdav.resolve import Target

CALSERVER_CTAG = "{" + xml.CALSERVER + "}getctag"

_SUPPORTED_PRIVILEGES = (
    "<D:supported-privilege><D:privilege><D:all/></D:privilege>"
    "<D:supported-privilege><D:privilege><D:read/></D:privilege>"
    "<D:supported-privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege></D:supported-privilege>"
    "</D:supported-privilege>"
    "<D:supported-privilege><D:privilege><D:write/></D:privilege>"
    "<D:supported-privilege><D:privilege><D:write-properties/></D:privilege></D:supported-privilege>"
    "<D:supported-privilege><D:privilege><D:write-content/></D:privilege></D:supported-privilege>"
    "<D:supported-privilege><D:privilege><D:bind/></D:privilege></D:supported-privilege>"
    "<D:supported-privilege><D:privilege><D:unbind/></D:privilege></D:supported-privilege>"
    "</D:supported-privilege>"
    "<D:supported-privilege><D:privilege><D:read-acl/></D:privilege></D:supported-privilege>"
    "<D:supported-privilege><D:privilege><D:write-acl/></D:privilege></D:supported-privilege>"
    "<D:supported-privilege><D:privilege><D:unlock/></D:privilege></D:supported-privilege>"
    "</D:supported-privilege>"
)


def http_date(ts: float) -> str:
    """An RFC 7231 date."""
    return formatdate(ts, usegmt=True)


def iso_date(ts: float) -> str:
    """An RFC 3339 UTC timestamp."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _resourcetype(ctx: DavContext, t: Target) -> str | None:
    if t.kind == "resource":
        return ""
    if t.kind == "principal":
        return "<D:principal/>"
    if t.kind == "unmapped":
        return None
    return "<D:collection/>" + "".join(add(t) for add in ctx.app.resource_types)


def _displayname(ctx: DavContext, t: Target) -> str | None:
    if t.kind == "collection":
        assert t.collection is not None
        return escape(t.collection.display_name or t.collection.name)
    if t.kind in ("principal", "home"):
        assert t.owner is not None
        return escape(t.owner.display_name)
    return None


def _set_displayname(value: Element | None, kind: str | None) -> dict[str, Any] | None:
    if kind is None:
        return None
    return {"display_name": (xml.child_text(value) or None) if value is not None else None}


def _row_etag(r: Resource) -> str:
    return escape(r.etag)


@functools.lru_cache(maxsize=64)
def _row_contenttype_text(content_type: str) -> str:
    return escape(content_type)


def _row_contenttype(r: Resource) -> str:
    return _row_contenttype_text(r.content_type)  # a calendar's objects share one or two


def _row_contentlength(r: Resource) -> str:
    return str(r.size)


def _row_lastmodified(r: Resource) -> str:
    return http_date(r.modified)


def _row_creationdate(r: Resource) -> str:
    return iso_date(r.created)


def _row_resourcetype(r: Resource) -> str:
    return ""


def _getetag(ctx: DavContext, t: Target) -> str | None:
    return _row_etag(t.resource) if t.resource else None


def _getcontenttype(ctx: DavContext, t: Target) -> str | None:
    return _row_contenttype(t.resource) if t.resource else None


def _getcontentlength(ctx: DavContext, t: Target) -> str | None:
    return _row_contentlength(t.resource) if t.resource else None


def _getlastmodified(ctx: DavContext, t: Target) -> str | None:
    if t.resource:
        return _row_lastmodified(t.resource)
    if t.kind == "collection" and t.collection:
        return http_date(t.collection.modified)
    return None


def _creationdate(ctx: DavContext, t: Target) -> str | None:
    if t.resource:
        return _row_creationdate(t.resource)
    if t.kind == "collection" and t.collection:
        return iso_date(t.collection.created)
    return None


def _current_user_principal(ctx: DavContext, t: Target) -> list[str] | None:
    return [ctx.hrefs.principal(ctx.principal)]


def _principal_url(ctx: DavContext, t: Target) -> list[str] | None:
    return [ctx.hrefs.principal(t.owner)] if t.kind == "principal" and t.owner else None


def _principal_collection_set(ctx: DavContext, t: Target) -> list[str] | None:
    return [ctx.hrefs.principals()]


def _owner(ctx: DavContext, t: Target) -> list[str] | None:
    if t.kind in ("collection", "resource", "home") and t.owner is not None:
        return [ctx.hrefs.principal(t.owner)]
    return None


def _group_member_set(ctx: DavContext, t: Target) -> list[str] | None:
    if t.kind != "principal" or t.owner is None:
        return None
    if t.owner.kind != "group":
        return []
    return [ctx.hrefs.principal(m) for m in ctx.store.members(t.owner.id)]


def _group_membership(ctx: DavContext, t: Target) -> list[str] | None:
    if t.kind != "principal" or t.owner is None:
        return None
    return [ctx.hrefs.principal(g) for g in ctx.store.groups_of(t.owner.id)]


def _alternate_uri_set(ctx: DavContext, t: Target) -> list[str] | None:
    if t.kind != "principal" or t.owner is None:
        return None
    return [f"mailto:{t.owner.email}"] if t.owner.email else []


def privilege_xml(ctx: DavContext, privileges: frozenset[str], collection: bool = False) -> str:
    """DAV:privilege elements for a set of kernel privileges on a resource or (``collection``)
    a collection or home, with other layers' extras."""
    parts = [f"<D:privilege><D:{name}/></D:privilege>" for name in dav_privilege_names(privileges, collection)]
    for level in PRIVILEGES:
        if level in privileges:
            parts.extend(f"<D:privilege>{extra}</D:privilege>" for extra in ctx.app.extra_privileges.get(level, ()))
    return "".join(parts)


def _current_user_privilege_set(ctx: DavContext, t: Target) -> str | None:
    if t.kind == "unmapped":
        return None
    return privilege_xml(ctx, ctx.privileges(t), _is_collection(t))


def _is_collection(t: Target) -> bool:
    return t.kind in ("collection", "home")


def _ace(principal_xml: str, privileges: frozenset[str], ctx: DavContext, t: Target, protected: bool) -> str:
    grant = privilege_xml(ctx, privileges, _is_collection(t))
    return (
        f"<D:ace><D:principal>{principal_xml}</D:principal><D:grant>{grant}</D:grant>"
        + ("<D:protected/>" if protected else "")
        + "</D:ace>"
    )


def _acl(ctx: DavContext, t: Target) -> str | None:
    """The ACL as teamcal applies it: the owner (for a group: what members get, and each group
    admin everything), then the grants."""
    if t.kind not in ("collection", "resource", "home") or t.owner is None:
        return None
    everything = frozenset(PRIVILEGES)
    if t.owner.kind != "group":
        aces = [_ace(xml.href(ctx.hrefs.principal(t.owner)), everything, ctx, t, True)]
    else:
        level = PRIVILEGES.index(ctx.host.kernel.team_member_privilege) + 1  # type: ignore[arg-type]
        members = frozenset(PRIVILEGES[:level]) if t.kind != "home" or level == len(PRIVILEGES) else frozenset({"read"})
        aces = [_ace(xml.href(ctx.hrefs.principal(t.owner)), members, ctx, t, True)]
        for member, admin in ctx.store.memberships(t.owner.id):
            if admin:
                aces.append(_ace(xml.href(ctx.hrefs.principal(member)), everything, ctx, t, True))
    if t.collection is not None:
        grants = ctx.store.grants(t.collection.id)
        grantees = ctx.store.principals_by_ids([g for g, _ in grants if g != EVERYONE]) if grants else {}
        for grantee_id, privilege in grants:
            level = PRIVILEGES.index(privilege) + 1
            if grantee_id == EVERYONE:
                who = "<D:authenticated/>"
            else:
                grantee = grantees.get(grantee_id)
                if grantee is None:
                    continue
                who = xml.href(ctx.hrefs.principal(grantee))
            aces.append(_ace(who, frozenset(PRIVILEGES[:level]), ctx, t, False))
    return "".join(aces)


def _supported_privilege_set(ctx: DavContext, t: Target) -> str | None:
    return None if t.kind == "unmapped" else _SUPPORTED_PRIVILEGES


def _supported_report_set(ctx: DavContext, t: Target) -> str | None:
    if t.kind == "unmapped":
        return None
    parts = []
    for name, report in ctx.app.reports.items():
        if report.applies(t):
            parts.append(f"<D:supported-report><D:report>{xml.element(name)}</D:report></D:supported-report>")
    return "".join(parts)


def _sync_token(ctx: DavContext, t: Target) -> str | None:
    if t.kind != "collection" or t.collection is None:
        return None
    return escape(sync.token(t.collection))


def register(app: DavApp) -> None:
    """Add the WebDAV live properties to the registry."""
    for prop in (
        LiveProperty(d("resourcetype"), _resourcetype, row=_row_resourcetype, row_fields=()),
        LiveProperty(d("displayname"), _displayname, setter=_set_displayname),
        LiveProperty(d("getetag"), _getetag, row=_row_etag, row_fields=("etag",)),
        LiveProperty(d("getcontenttype"), _getcontenttype, row=_row_contenttype, row_fields=("content_type",)),
        LiveProperty(d("getcontentlength"), _getcontentlength, row=_row_contentlength, row_fields=("size",)),
        LiveProperty(d("getlastmodified"), _getlastmodified, row=_row_lastmodified, row_fields=("modified",)),
        LiveProperty(d("creationdate"), _creationdate, row=_row_creationdate, row_fields=("created",)),
        href_property(d("current-user-principal"), _current_user_principal),
        href_property(d("principal-URL"), _principal_url, allprop=True),
        href_property(d("principal-collection-set"), _principal_collection_set),
        href_property(d("owner"), _owner, allprop=True),
        href_property(d("group-member-set"), _group_member_set),
        href_property(d("group-membership"), _group_membership),
        href_property(d("alternate-URI-set"), _alternate_uri_set),
        LiveProperty(d("current-user-privilege-set"), _current_user_privilege_set, allprop=False),
        LiveProperty(d("acl"), _acl, allprop=False),
        LiveProperty(d("supported-privilege-set"), _supported_privilege_set, allprop=False),
        LiveProperty(d("supported-report-set"), _supported_report_set, allprop=False),
        LiveProperty(d("sync-token"), _sync_token, allprop=False),
        LiveProperty(CALSERVER_CTAG, _sync_token, allprop=False),
    ):
        app.add_property(prop)
