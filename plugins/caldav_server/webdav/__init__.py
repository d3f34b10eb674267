"""The generic WebDAV layer (RFC 4918 classes 1, 2 and 3; RFC 3744, 5397, 5689, 6578, 8144).

:func:`install` fills a :class:`~plugins.caldav_server.webdav.app.DavApp`'s
registries with the WebDAV methods, live properties and reports. Nothing
here knows about calendars: the CalDAV layer adds to the registries.
"""

from __future__ import annotations

from plugins.caldav_server.webdav import core_properties, principal_reports, sync
from plugins.caldav_server.webdav.app import DavApp, Method, Report
from plugins.caldav_server.webdav.copymove import copy, move
from plugins.caldav_server.webdav.delete import delete
from plugins.caldav_server.webdav.get import get
from plugins.caldav_server.webdav.lock import (
    lock,
    lockable,
    lockdiscovery,
    supportedlock,
    unlock,
)
from plugins.caldav_server.webdav.mkcol import mkcol
from plugins.caldav_server.webdav.options import options
from plugins.caldav_server.webdav.properties import LiveProperty
from plugins.caldav_server.webdav.propfind import propfind
from plugins.caldav_server.webdav.proppatch import proppatch
from plugins.caldav_server.webdav.put import parse_body, prepare_put, put
from plugins.caldav_server.webdav.report import report
from plugins.caldav_server.webdav.resolve import Target
from plugins.caldav_server.webdav.xml import d

__all__ = ["DavApp", "install"]


def _existing(t: Target) -> bool:
    return t.kind != "unmapped"


def _member(t: Target) -> bool:
    return t.kind in ("collection", "resource")


def _writable_props(t: Target) -> bool:
    return t.kind in ("principal", "home", "collection", "resource")


def _unmapped(t: Target) -> bool:
    return t.kind == "unmapped"


def _putable(t: Target) -> bool:
    return t.kind in ("resource", "unmapped")


def _collection(t: Target) -> bool:
    return t.kind == "collection"


def install(app: DavApp) -> None:
    """Register the WebDAV methods, properties and reports."""
    for name, method in (
        ("OPTIONS", Method(options)),
        ("GET", Method(get, _existing, reads_content=True)),
        ("HEAD", Method(get, _existing, reads_content=True)),
        ("PROPFIND", Method(propfind, _existing)),
        ("PROPPATCH", Method(proppatch, _writable_props, checks_locks=True)),
        ("PUT", Method(put, _putable, prepare_put, checks_locks=True, meanwhile=parse_body)),
        ("DELETE", Method(delete, _member, checks_locks=True)),
        ("MKCOL", Method(mkcol, _unmapped, checks_locks=True)),
        ("COPY", Method(copy, _member, to_destination=True)),
        ("MOVE", Method(move, _member, checks_locks=True, to_destination=True)),
        ("REPORT", Method(report, _existing)),
        ("LOCK", Method(lock, lockable)),
        ("UNLOCK", Method(unlock, _member)),
    ):
        app.methods[name] = method
    core_properties.register(app)
    app.add_property(LiveProperty(d("lockdiscovery"), lockdiscovery))
    app.add_property(LiveProperty(d("supportedlock"), supportedlock))
    app.reports[d("sync-collection")] = Report(sync.sync_collection, _collection)
    app.reports[d("expand-property")] = Report(principal_reports.expand_property, _existing)
    app.reports[d("principal-property-search")] = Report(principal_reports.principal_property_search, _existing)
    app.reports[d("principal-search-property-set")] = Report(principal_reports.principal_search_property_set, _existing)
    app.searchable[d("displayname")] = "Display name"
    app.dav_classes.append("extended-mkcol")
