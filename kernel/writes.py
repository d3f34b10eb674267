"""The write pipeline: every write, from any plugin, goes through here.

One write is one transaction holding the resource, its index rows and its
change row, or nothing: ``validate_*`` hooks run inside it and may raise
:class:`Rejected`; ``changes_committed`` runs after the commit.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from kernel import ical, ingest
from kernel.budget import OverBudget
from kernel.names import canonical_name, check_segment
from kernel.store.collections import inside_calendar
from kernel.store.instances import index_digest
from kernel.store.resources import StaleRow, WriteTarget, make_etag
from kernel.types import (
    CalendarOp,
    Change,
    Collection,
    CollectionKind,
    ObjectInfo,
    ObjectWrite,
    Principal,
    PropertyWrite,
    Rejected,
    Resource,
)

if TYPE_CHECKING:
    import icalendar

    from kernel.host import Host
    from kernel.store import Store

log = logging.getLogger("teamcal.ingest")

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
#: The media type of every calendar object resource, whatever Content-Type the client sent;
#: stored with the RFC 5545 8.1 ``component`` parameter (``; component=VEVENT``).
CALENDAR_CONTENT_TYPE = "text/calendar; charset=utf-8"
NEED_PRIVILEGES = "{DAV:}need-privileges"

#: Why a write is refused to a principal lacking each privilege (who may read).
_REFUSALS = {
    "write": "Changing the objects of this collection needs write access to it.",
    "admin": "Changing the collection itself (its name, colour, properties or grants) needs admin rights:"
    " its owner, an admin of the group that owns it, or a server admin.",
}
_CONTAINER_REFUSAL = (
    "Creating, deleting or moving a collection here needs admin rights where it lives:"
    " the home's owner, an admin of the group that owns it, or a server admin."
)


_T = TypeVar("_T")

#: A calendar object's body as it will be stored (the ingest repairs applied), its parse
#: and what the index needs of it; or why it is not one to store.
_Outcome = tuple[bytes, "icalendar.Calendar", ObjectInfo] | Rejected | OverBudget


class Parsed(NamedTuple):
    """A body parsed for a calendar collection ahead of its write (:meth:`Writes.parse`), for
    ``put_object(parsed=...)``; what is in it is the kernel's."""

    data: bytes
    outcome: _Outcome
    repairs: tuple[str, ...]


class _Guard:
    """Around a write's transaction: the check that a row read before it is unchanged
    (``Store.guard_row``), sent by :meth:`send` in the write's deferred block, and a failure
    of the transaction that the check explains raised as StaleRow."""

    def __init__(self, store: Store, trusted: Resource | None) -> None:
        self.store = store
        self.trusted = trusted
        self.stale: Callable[[], bool] = lambda: False

    def send(self) -> None:
        """Send the check (nothing when no row is trusted)."""
        if self.trusted is not None:
            self.stale = self.store.guard_row(self.trusted)

    def __enter__(self) -> _Guard:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> None:
        if isinstance(error, Exception) and self.stale():
            raise StaleRow("the row trusted has changed") from error


class Absent:
    """What a caller read at a name before a write when it found no row there
    (``put_object(expected=ABSENT)``)."""

    def __repr__(self) -> str:
        return "ABSENT"


#: ``put_object``'s ``expected`` when the caller read the name and found nothing there.
ABSENT = Absent()


class Stored(NamedTuple):
    """What ``put_object`` stored: the resource, whether it was created, and whether the
    stored bytes differ from the data given (repaired by ``kernel.ingest``)."""

    resource: Resource
    created: bool
    rewritten: bool


def etag_matches(header: str, etag: str | None) -> bool:
    """Does an If-Match / If-None-Match header value match ``etag`` (strong comparison)?

    ``*`` matches any existing resource; weak tags never match.
    """
    header = header.strip()
    if header == "*":
        return etag is not None
    if etag is None:
        return False
    return any(tag.strip() == etag for tag in header.split(",") if not tag.strip().startswith("W/"))


class Writes:
    """The pipeline's entry points, reached as ``host.writes``.

    Each takes the ``principal`` writing (None for the system itself: the CLI, jobs,
    a subscription's sync) and refuses it with 403 DAV:need-privileges unless it holds
    what the change needs (see ``Host.privileges``): "write" on a collection for its
    objects and their properties; "admin" on a collection for the collection itself
    (attributes, dead properties, grants); "admin" where a collection lives (its parent
    collection or its owner's home, ``Host.container_privileges``) to create, delete,
    move or copy one there.
    """

    def __init__(self, host: Host) -> None:
        self.host = host
        self.store = host.store
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: nested calls join the outer one; changes are announced after commit.

        Each thread has its own transaction (and its own pending changes).
        """
        outer = not self.store.transaction.active
        if outer:
            self._local.pending = []
        pending: list[Callable[[], Change]] = self._local.__dict__.setdefault("pending", [])
        mark = len(pending)
        with self.store.transaction():
            try:
                yield
            except BaseException:
                del pending[mark:]
                raise
        if outer:
            changes, self._local.pending = pending, []
            self.host.notify([change() for change in changes])

    def _record(self, collection_id: int, name: str | None, kind: Any, **kw: Any) -> None:
        """Record a change in the open transaction; its number is read after the COMMIT."""
        self._local.__dict__.setdefault("pending", []).append(self.store.send_change(collection_id, name, kind, **kw))

    # -- who may write --------------------------------------------------------------

    def _require(self, principal: Principal | None, privilege: str, collection: Collection) -> None:
        """Refuse a principal without ``privilege`` on ``collection`` (404 without read, which
        reveals nothing, else 403); None (the system) passes.

        Every front end (CalDAV, the CLI, other plugins) writes through here, so the rule
        "object changes need write, collection changes need admin" holds for all of them.
        """
        if principal is not None:
            _refuse_without(privilege, self.host.privileges(principal, collection), _REFUSALS.get(privilege, ""))

    def _require_container(self, principal: Principal | None, owner: Principal, path: str) -> None:
        """Refuse (404 or 403) binding or unbinding a collection at ``path`` without admin where it lives.

        A missing parent is left to the write itself (409).
        """
        if principal is None:
            return
        parent_path = path.rpartition("/")[0]
        if parent_path and self.store.collection(owner.id, parent_path) is None:
            return
        _refuse_without("admin", self.host.container_privileges(principal, owner, path), _CONTAINER_REFUSAL)

    # -- objects ---------------------------------------------------------------------

    def put_object(
        self,
        collection: Collection,
        name: str,
        data: bytes,
        *,
        principal: Principal | None,
        content_type: str | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        if_unmodified_since: float | None = None,
        source: str = "api",
        properties: dict[str, str | None] | None = None,
        keep_uid: bool = False,
        expected: Resource | Absent | None = None,
        parsed: Parsed | None = None,
    ) -> Stored:
        """Create or replace a resource; returns (resource, created, rewritten).

        Calendar collections take only valid calendar object resources (RFC
        4791 4.1) of a supported component with a UID unused by another
        resource; they pass the repairs of ``kernel.ingest`` before validation,
        so what is validated is byte for byte what is stored (``rewritten``
        says the stored bytes differ from ``data``). ``if_match`` /
        ``if_none_match`` are the raw header values, ``if_unmodified_since``
        the If-Unmodified-Since date in epoch seconds (RFC 9110 13.1.4: ignored
        with ``if_match``); a failed precondition is a 412 and nothing is written. ``name`` is stored in its canonical form
        (:func:`kernel.names.canonical_name`). With ``keep_uid`` a calendar object is not
        replaced by one of another UID (409 CALDAV:no-uid-conflict naming the resource, as
        RFC 4791 5.3.2.1 asks of CalDAV clients); mirrors of another store leave it off.

        ``expected``: the row the caller read at ``name`` before the call (a request's resolving
        read), if any, or :data:`ABSENT` when it found none there. A replace that keeps the
        row's UID then trusts it instead of reading the row again under the write lock, and a
        check sent with its writes makes sure it has not changed (``store.guard_row``); a
        create trusts the name to be free, checked with its writes as the UID's being unused
        is (``store.guard_absent``), and takes a new row's id before its transaction
        (``store.new_resource_id``, named ahead by a request). On PostgreSQL either
        transaction is then one round trip. When what was trusted has changed, the write runs
        again, reading the row.

        ``parsed``: :meth:`parse` of ``data``, made before (while a request's reads were on
        their way, say); ignored for other data.
        """
        name = canonical_name(name)
        check_segment(name)
        # parsed before the write lock is taken, which then covers the database's work alone;
        # what parsing refuses is raised where it was before, after access and preconditions
        outcome: _Outcome | None = None
        if collection.kind == "calendar":
            if parsed is None or parsed.data != data:
                parsed = self.parse(data)
            outcome = parsed.outcome
            if parsed.repairs:
                log.debug("repaired %s/%s: %s", collection.path, name, ", ".join(parsed.repairs))
        put = functools.partial(
            self._put_object, collection, name, data, outcome, principal=principal, content_type=content_type,
            if_match=if_match, if_none_match=if_none_match, if_unmodified_since=if_unmodified_since,
            source=source, properties=properties, keep_uid=keep_uid,
        )
        same_uid = outcome is None or isinstance(expected, Absent) or (
            isinstance(outcome, tuple) and expected is not None and outcome[2].uid == expected.uid)
        return self._trusting(put, expected if same_uid else None, collection, name)

    def _trusting(self, write: Callable[[Resource | Absent | None], _T], expected: Resource | Absent | None,
                  collection: Collection, name: str) -> _T:
        """``write(trusted)`` (``put_object``, ``delete_object``) with ``expected`` trusted as what
        is at ``name`` (the collection's row of that name, or none) when no transaction is open
        (one that is holds the write lock already, and may have changed the row); again with
        nothing trusted when that had changed (StaleRow)."""
        fits = isinstance(expected, Absent) or (
            expected is not None and expected.collection_id == collection.id and expected.name == name)
        if fits and not self.store.transaction.active:
            try:
                return write(expected)
            except StaleRow:
                log.debug("%s/%s changed since it was read; writing again", collection.path, name)
        return write(None)

    def _put_object(
        self,
        collection: Collection,
        name: str,
        data: bytes,
        parsed: _Outcome | None,
        trusted: Resource | Absent | None,
        *,
        principal: Principal | None,
        content_type: str | None,
        if_match: str | None,
        if_none_match: str | None,
        if_unmodified_since: float | None,
        source: str,
        properties: dict[str, str | None] | None,
        keep_uid: bool,
    ) -> Stored:
        """:meth:`put_object` of a parsed body; with ``trusted``, what is at the name as read
        before (StaleRow when it has changed since: nothing is written)."""
        given = data
        guard = _Guard(self.store, trusted if isinstance(trusted, Resource) else None)
        new_id = self.store.new_resource_id() if isinstance(trusted, Absent) else None
        # what validate_object implementations will read rides with the write's first round
        # trip (a write forgets it: the deferred block below sends nothing ahead)
        with guard, self.transaction(), self.store.expecting(lambda: self._reads_ahead(collection)):
            self._require(principal, "write", collection)
            uid = parsed[2].uid if isinstance(parsed, tuple) else None
            if isinstance(trusted, Absent):
                target = WriteTarget(None, None, new_id)
                self.store.guard_absent(collection.id, name, uid)
            else:
                target = WriteTarget(trusted, None, None) if trusted else self.store.resource_for_write(
                    collection.id, name, uid)
            old = target.old
            _check_conditions(old, if_match, if_none_match, if_unmodified_since)
            calendar = info = None
            if isinstance(parsed, (Rejected, OverBudget)):
                raise parsed
            if parsed is not None:
                data, calendar, info = parsed
                if collection.components and info.component not in collection.components:
                    raise Rejected(
                        403,
                        CALDAV + "supported-calendar-component",
                        f"This calendar does not accept {info.component} components.",
                    )
                if keep_uid and old is not None and old.uid and old.uid != info.uid:
                    raise Rejected(
                        409,
                        CALDAV + "no-uid-conflict",
                        f"This resource holds the UID {old.uid!r}; it cannot be replaced by one with the UID"
                        f" {info.uid!r}.",
                        conflict=old,
                    )
                other = target.holder  # read with the old row, unless it is the old row
                if other is not None and other.name != name:
                    raise Rejected(
                        409,
                        CALDAV + "no-uid-conflict",
                        f"Another object in this calendar already has the UID {info.uid!r}.",
                        conflict=other,
                    )
                content_type = f"{CALENDAR_CONTENT_TYPE}; component={info.component}"
            write = ObjectWrite(
                action="update" if old else "create",
                collection=collection,
                name=name,
                principal=principal,
                source=source,
                data=data,
                content_type=content_type or "application/octet-stream",
                calendar=calendar,
                info=info,
                old=old,
            )
            self.host.hook.validate_object(host=self.host, tx=self.store, write=write)
            digest = index_digest(info.component, info.instances) if info is not None else None
            # the index rows stay when the old row's are the same (the guard checks its digest)
            reindex = info is not None and (old is None or old.index_digest != digest)
            with self.store.deferred():  # the row, its index, plan and change: one round trip
                guard.send()
                resource = self.store.save_resource_row(
                    collection.id,
                    name,
                    data,
                    write.content_type or "application/octet-stream",
                    uid=info.uid if info else None,
                    component=info.component if info else None,
                    indexed_until=info.indexed_until if info else None,
                    principal_id=principal.id if principal else None,
                    old=old,
                    new_id=target.new_id,
                    index_digest=digest,
                )
                if reindex:
                    assert info is not None
                    self.store.index_instances(resource, info.instances)
                self.host.hook.object_stored(host=self.host, tx=self.store, write=write, resource=resource)
                if properties:
                    self._save_properties(
                        properties, principal=principal, source=source, collection=collection, resource=resource
                    )
                self._record(
                    collection.id,
                    name,
                    "modified" if old else "created",
                    etag=resource.etag,
                    uid=resource.uid,
                    principal_id=principal.id if principal else None,
                )
        return Stored(resource, old is None, data != given)

    def _reads_ahead(self, collection: Collection, deleting: bool = False) -> list[tuple[str, Any]]:
        """The reads plugins name for an object write in ``collection`` (``object_reads_ahead``)."""
        answers = self.host.hook.object_reads_ahead(host=self.host, collection=collection, deleting=deleting)
        return [read for answer in answers for read in answer or ()]

    def parse(self, data: bytes) -> Parsed:
        """A body as a calendar collection would take it (repaired, parsed, indexed), or why it
        would refuse it, for :meth:`put_object` to store without parsing it again. CPU alone,
        no store: a caller may do it while the database answers (``store.meanwhile``)."""
        budget = self.host.budget()
        try:
            ingested = ingest.repair(data, budget)
        except OverBudget as exc:
            return Parsed(data, Rejected(403, ical.MAX_INSTANCES, exc.message), ())
        except Rejected as exc:
            return Parsed(data, exc, ())
        try:
            calendar, info = ical.parse_object(
                ingested.data,
                max_index_instances=self.host.kernel.index_max_instances,
                horizon=int(time.time()) + self.host.kernel.index_horizon_years * 366 * 86400,
                budget=budget,
                calendar=ingested.calendar,
            )
        except (Rejected, OverBudget) as exc:
            return Parsed(data, exc, tuple(ingested.repairs))
        return Parsed(data, (ingested.data, calendar, info), tuple(ingested.repairs))

    def delete_object(
        self,
        collection: Collection,
        name: str,
        *,
        principal: Principal | None,
        if_match: str | None = None,
        if_unmodified_since: float | None = None,
        source: str = "api",
        expected: Resource | None = None,
    ) -> Resource:
        """Delete a resource; 404 when absent, 412 when ``if_match`` or ``if_unmodified_since`` fails.
        ``expected``: the row the caller read at ``name`` before the call, trusted as
        :meth:`put_object` trusts it."""
        name = canonical_name(name)
        delete = functools.partial(self._delete_object, collection, name, principal=principal, if_match=if_match,
                                   if_unmodified_since=if_unmodified_since, source=source)
        return self._trusting(delete, expected, collection, name)

    def _delete_object(
        self,
        collection: Collection,
        name: str,
        trusted: Resource | None,
        *,
        principal: Principal | None,
        if_match: str | None,
        if_unmodified_since: float | None,
        source: str,
    ) -> Resource:
        """:meth:`delete_object`; with ``trusted``, the row as read before (StaleRow when it has
        changed since: nothing is deleted)."""
        guard = _Guard(self.store, trusted)
        reads = functools.partial(self._reads_ahead, collection, True)
        with guard, self.transaction(), self.store.expecting(reads):
            self._require(principal, "write", collection)
            old = trusted or self.store.resource_for_write(collection.id, name).old
            if old is None:
                raise Rejected(404, None, "No such resource.")
            _check_conditions(old, if_match, None, if_unmodified_since)
            write = ObjectWrite("delete", collection, name, principal, source, old=old)
            self.host.hook.validate_object(host=self.host, tx=self.store, write=write)
            with self.store.deferred():  # the row, the counters and the change: one round trip with COMMIT
                guard.send()
                self.store.delete_resource_row(old.id)
                self._record(
                    collection.id, name, "deleted", uid=old.uid, principal_id=principal.id if principal else None,
                )
        return old

    def copy_object(
        self,
        source_collection: Collection,
        name: str,
        target: Collection,
        target_name: str,
        *,
        principal: Principal | None,
        overwrite: bool = True,
        move: bool = False,
        source: str = "api",
        keep_uid: bool = False,
        if_match: str | None = None,
        if_unmodified_since: float | None = None,
    ) -> Stored:
        """Copy (or move) a resource with its dead properties; returns what ``put_object`` stored.

        The target goes through the whole pipeline (validation, UID check,
        hooks, ``keep_uid`` as there); ``overwrite=False`` with an existing target is a 412.
        ``if_match`` / ``if_unmodified_since`` are conditions on the source, checked in the
        same transaction (a 412 when a write changed it since the client read it).
        """
        name, target_name = canonical_name(name), canonical_name(target_name)
        with self.transaction():
            self._require(principal, "read", source_collection)
            old, data, props, existing = self.store.resource_for_copy(source_collection.id, name, target.id, target_name)
            if old is None:
                raise Rejected(404, None, "No such resource.")
            _check_conditions(old, if_match, None, if_unmodified_since)
            if source_collection.id == target.id and name == target_name:
                raise Rejected(403, None, "Source and destination are the same resource.")
            if existing is not None and not overwrite:
                raise Rejected(412, None, "The destination exists and Overwrite is F.")
            if target.kind == "plain" and self.store.collection(target.owner.id, _join(target.path, target_name)):
                if not overwrite:
                    raise Rejected(412, None, "The destination exists and Overwrite is F.")
                self.delete_collection(
                    self.store.collection(target.owner.id, _join(target.path, target_name)),  # type: ignore[arg-type]
                    principal=principal,
                    source=source,
                )
            if move:
                self.delete_object(source_collection, name, principal=principal, source=source)
            if existing is not None:
                self.store.set_properties(
                    dict.fromkeys(self.store.properties(resource_id=existing.id)), resource_id=existing.id
                )
            stored = self.put_object(
                target,
                target_name,
                data,
                principal=principal,
                content_type=old.content_type,
                source=source,
                properties=dict(props),
                keep_uid=keep_uid,
            )
        return stored

    # -- dead properties -------------------------------------------------------------

    def set_resource_properties(
        self,
        collection: Collection,
        resource: Resource,
        changes: dict[str, str | None],
        *,
        principal: Principal | None,
        source: str = "api",
        if_match: str | None = None,
        if_unmodified_since: float | None = None,
    ) -> None:
        """Set (XML) or remove (None) dead properties of a resource of ``collection``; needs write.
        ``if_match`` / ``if_unmodified_since`` are checked on the stored resource in the same
        transaction (412; 404 when it was deleted meanwhile)."""
        with self.transaction():
            self._require(principal, "write", collection)
            if if_match is not None or if_unmodified_since is not None:
                current = self.store.resource(collection.id, resource.name)
                if current is None:
                    raise Rejected(404, None, "No such resource.")
                _check_conditions(current, if_match, None, if_unmodified_since)
            self._save_properties(changes, principal=principal, source=source, collection=collection, resource=resource)

    def validate_properties(
        self,
        scope: str,
        owner: Principal,
        changes: dict[str, str | None],
        previous: dict[str, int],
        *,
        principal: Principal | None,
        source: str,
        collection: Collection | None = None,
        resource: Resource | None = None,
    ) -> None:
        """Run the ``validate_properties`` hooks on dead-property changes of a target whose
        properties now have the sizes ``previous`` (name -> bytes).

        The kernel calls it for collections and resources; a plugin that keeps dead
        properties of its own targets calls it inside its write transaction, before writing.
        """
        sizes = dict(previous)
        for name, value in changes.items():
            if value is None:
                sizes.pop(name, None)
            else:
                sizes[name] = len(value.encode("utf-8"))
        write = PropertyWrite(
            scope, owner, principal, source, dict(changes), dict(previous), sizes, collection, resource
        )
        self.host.hook.validate_properties(host=self.host, tx=self.store, write=write)

    def _save_properties(
        self,
        changes: dict[str, str | None],
        *,
        principal: Principal | None,
        source: str,
        collection: Collection,
        resource: Resource | None = None,
    ) -> None:
        """Validate and store dead-property changes of a collection or (``resource``) one of its resources."""
        if not changes:
            return
        key = {"collection_id": collection.id} if resource is None else {"resource_id": resource.id}
        self.validate_properties(
            "collection" if resource is None else "resource",
            collection.owner,
            changes,
            self.store.property_sizes(**key),
            principal=principal,
            source=source,
            collection=collection,
            resource=resource,
        )
        with self.store.deferred():  # the writes ride with the transaction's next statement
            self.store.set_properties(changes, **key)

    def delete_principal(self, principal: Principal, *, by: Principal | None = None, source: str = "api") -> None:
        """Delete a user or group with everything in its home.

        Its collections go through :meth:`delete_collection`, so feed consumers
        see every object leave; then its grants, memberships and the principal.
        """
        if by is not None and not by.is_admin and by.id != principal.id:
            raise Rejected(403, NEED_PRIVILEGES, "Only a server admin may remove another user or a group.")
        with self.transaction():
            for collection in self.store.collections(principal.id):
                self.delete_collection(collection, principal=by, source=source)
            self.store.delete_principal(principal.id)

    def set_grant(
        self, collection: Collection, grantee_id: int, privilege: str | None, *, principal: Principal | None
    ) -> None:
        """Give (or with None take back) a grant; recorded as a change of the collection."""
        with self.transaction():
            self._require(principal, "admin", collection)
            if privilege is None:
                self.store.revoke(collection.id, grantee_id)
            else:
                self.store.grant(collection.id, grantee_id, privilege)  # type: ignore[arg-type]
            self._record(collection.id, None, "modified", principal_id=principal.id if principal else None)

    # -- collections --------------------------------------------------------------

    def create_collection(
        self,
        owner: Principal,
        path: str,
        kind: CollectionKind,
        *,
        principal: Principal | None,
        attrs: dict[str, Any] | None = None,
        properties: dict[str, str | None] | None = None,
        source: str = "api",
    ) -> Collection:
        """Create a calendar or plain collection; 405 when the path is taken, 409 without a parent.

        A calendar created without ``components`` accepts every component type the server
        supports (``kernel.ical.COMPONENTS``; RFC 4791 5.2.3), also those added later.
        """
        path = canonical_name(path)
        attrs = dict(attrs or {})
        with self.transaction():
            self._require_container(principal, owner, path)
            op = CalendarOp("create", owner, path, kind, principal, source, changes=attrs)
            self.host.hook.validate_calendar(host=self.host, tx=self.store, op=op)
            collection = self.store.insert_collection(owner, path, kind, attrs)
            if properties:
                self._save_properties(properties, principal=principal, source=source, collection=collection)
            self._record(collection.id, None, "created", principal_id=principal.id if principal else None)
            fresh = self.store.collection_by_id(collection.id)
        assert fresh is not None
        return fresh

    def update_collection(
        self,
        collection: Collection,
        *,
        principal: Principal | None,
        attrs: dict[str, Any] | None = None,
        properties: dict[str, str | None] | None = None,
        source: str = "api",
    ) -> Collection:
        """Change attributes and dead properties of a collection, all or nothing."""
        attrs = dict(attrs or {})
        with self.transaction():
            self._require(principal, "admin", collection)
            op = CalendarOp(
                "update", collection.owner, collection.path, collection.kind, principal, source,
                collection=collection, changes=attrs,
            )
            self.host.hook.validate_calendar(host=self.host, tx=self.store, op=op)
            with self.store.deferred():  # rides with the next statement
                self.store.update_collection_row(collection.id, attrs)
            if properties:
                self._save_properties(properties, principal=principal, source=source, collection=collection)
            self._record(collection.id, None, "modified", principal_id=principal.id if principal else None)
            fresh = self.store.collection_by_id(collection.id)
        assert fresh is not None
        return fresh

    def delete_collection(self, collection: Collection, *, principal: Principal | None, source: str = "api") -> None:
        """Delete a collection, everything below it, and their resources.

        Every deleted resource gets a "deleted" change row so that feed
        consumers see it go; then the collection does.
        """
        with self.transaction():
            self._require_container(principal, collection.owner, collection.path)
            tree = [collection, *self.store.descendants(collection)]
            for c in tree:
                op = CalendarOp("delete", c.owner, c.path, c.kind, principal, source, collection=c)
                self.host.hook.validate_calendar(host=self.host, tx=self.store, op=op)
            pid = principal.id if principal else None
            for c in reversed(tree):
                for r in self.store.resources(c.id):
                    self._record(c.id, r.name, "deleted", uid=r.uid, principal_id=pid)
                self._record(c.id, None, "deleted", principal_id=pid)
                self.store.delete_collection_row(c.id)

    def move_collection(
        self,
        collection: Collection,
        owner: Principal,
        path: str,
        *,
        principal: Principal | None,
        overwrite: bool = True,
        source: str = "api",
    ) -> tuple[Collection, bool]:
        """Move (rename) a collection tree within or across homes; returns (moved, created)."""
        path = canonical_name(path)
        with self.transaction():
            self._require_container(principal, collection.owner, collection.path)
            self._require_container(principal, owner, path)
            existed = self._clear_target(owner, path, overwrite, principal, source)
            if path == collection.path and owner.id == collection.owner.id:
                raise Rejected(403, None, "Source and destination are the same collection.")
            if owner.id == collection.owner.id and path.startswith(collection.path + "/"):
                raise Rejected(409, None, "A collection cannot be moved into itself.")
            if "/" in path:
                parent = self.store.collection(owner.id, path.rsplit("/", 1)[0])
                if parent is None:
                    raise Rejected(409, None, "The destination's parent collection does not exist.")
                if parent.kind != "plain":
                    raise inside_calendar(collection.kind)
            op = CalendarOp(
                "update", collection.owner, collection.path, collection.kind, principal, source,
                collection=collection, changes={"owner": owner.name, "path": path},
            )
            self.host.hook.validate_calendar(host=self.host, tx=self.store, op=op)
            self.store.rename_collection_tree(collection, owner, path)
            self._record(collection.id, None, "modified", principal_id=principal.id if principal else None)
            moved = self.store.collection_by_id(collection.id)
        assert moved is not None
        return moved, not existed

    def copy_collection(
        self,
        collection: Collection,
        owner: Principal,
        path: str,
        *,
        principal: Principal | None,
        overwrite: bool = True,
        depth_infinity: bool = True,
        source: str = "api",
    ) -> tuple[Collection, bool]:
        """Copy a collection (its properties, resources and, at depth infinity, sub-collections)."""
        path = canonical_name(path)
        with self.transaction():
            self._require(principal, "read", collection)
            self._require_container(principal, owner, path)
            if owner.id == collection.owner.id and (path == collection.path or path.startswith(collection.path + "/")):
                raise Rejected(403, None, "A collection cannot be copied onto or into itself.")
            existed = self._clear_target(owner, path, overwrite, principal, source)
            self._copy_tree(collection, owner, path, principal, depth_infinity, source)
            copied = self.store.collection(owner.id, path)
        assert copied is not None
        return copied, not existed

    def _copy_tree(
        self, src: Collection, owner: Principal, path: str, principal: Principal | None, deep: bool, source: str
    ) -> None:
        attrs = {
            "display_name": src.display_name, "description": src.description, "color": src.color,
            "sort_order": src.sort_order, "timezone": src.timezone, "components": src.components,
            "transparent": src.transparent,
        }
        target = self.create_collection(
            owner, path, src.kind, principal=principal, attrs=attrs,
            properties=dict(self.store.properties(collection_id=src.id)), source=source,
        )
        if not deep:
            return
        for r in self.store.resources(src.id):
            self.copy_object(src, r.name, target, r.name, principal=principal, source=source)
        for child in self.store.collections(src.owner.id, parent=src.path):
            self._copy_tree(child, owner, _join(path, child.name), principal, deep, source)

    def _clear_target(
        self, owner: Principal, path: str, overwrite: bool, principal: Principal | None, source: str
    ) -> bool:
        """Make room at a collection destination; True when something was there."""
        existing = self.store.collection(owner.id, path)
        parent_path, _, leaf = path.rpartition("/")
        parent = self.store.collection(owner.id, parent_path) if parent_path else None
        existing_resource = self.store.resource(parent.id, leaf) if parent else None
        if existing is None and existing_resource is None:
            return False
        if not overwrite:
            raise Rejected(412, None, "The destination exists and Overwrite is F.")
        if existing is not None:
            self.delete_collection(existing, principal=principal, source=source)
        if existing_resource is not None and parent is not None:
            self.delete_object(parent, leaf, principal=principal, source=source)
        return True


def _refuse_without(privilege: str, held: frozenset[str], message: str) -> None:
    """404 when ``held`` lacks read (nothing is revealed), 403 need-privileges when it lacks ``privilege``."""
    if "read" not in held:
        raise Rejected(404, None, "No such collection.")
    if privilege not in held:
        raise Rejected(403, NEED_PRIVILEGES, message)


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _check_conditions(
    old: Resource | None, if_match: str | None, if_none_match: str | None, unmodified_since: float | None = None
) -> None:
    """RFC 9110 13.2.2 for a write: If-Match, else If-Unmodified-Since (dates by the second), then
    If-None-Match; a failure is a 412."""
    etag = old.etag if old else None
    if if_match is not None and not etag_matches(if_match, etag):
        raise Rejected(412, None, "The resource changed (If-Match failed).")
    if if_match is None and unmodified_since is not None and old is not None and int(old.modified) > unmodified_since:
        raise Rejected(412, None, "The resource changed after the If-Unmodified-Since date.")
    if if_none_match is not None and (
        etag_matches(if_none_match, etag) if if_none_match.strip() != "*" else old is not None
    ):
        raise Rejected(412, None, "The resource already exists (If-None-Match failed).")


__all__ = ["CALENDAR_CONTENT_TYPE", "Stored", "Writes", "etag_matches", "make_etag"]
