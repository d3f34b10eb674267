"""The write pipeline: atomicity, preconditions, validation hooks, the change feed."""

from __future__ import annotations

import pytest

from kernel import ABSENT, Rejected, ical, make_etag
from kernel.host import Host
from kernel.testing import add_user

from .conftest import Recorder, event

TABLES = ("principals", "collections", "resources", "properties", "changes", "instances", "grants")


def snapshot(host: Host) -> dict[str, list[tuple]]:
    """Every row of every kernel table."""
    return {t: sorted(map(tuple, host.store.conn.execute(f"SELECT * FROM {t}"))) for t in TABLES}


@pytest.fixture
def cal(host: Host):
    alice = add_user(host, "alice")
    return alice, host.writes.create_collection(alice, "work", "calendar", principal=alice)


def test_put_creates_indexes_and_records(host: Host, cal, recorder: Recorder) -> None:
    alice, work = cal
    resource, created, _ = host.writes.put_object(work, "e1.ics", event(), principal=alice)
    assert created and resource.uid == "e1" and resource.component == "VEVENT"
    assert resource.etag.startswith('"') and host.store.data(resource.id) == event()
    assert len(host.store.instances(resource.id)) == 1
    changes = host.store.changes_since(0, collection_id=work.id)
    assert [(c.name, c.kind) for c in changes] == [(None, "created"), ("e1.ics", "created")]
    assert [c.name for c in recorder.committed] == [None, "e1.ics"]
    assert host.store.collection_by_id(work.id).sync_seq == changes[-1].seq


def test_hook_validate_object_rejection_leaves_no_trace(host: Host, cal, recorder: Recorder) -> None:
    alice, work = cal
    host.writes.put_object(work, "keep.ics", event("keep"), principal=alice)
    before = snapshot(host)
    committed = len(recorder.committed)
    recorder.veto_summary = "forbidden"
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "bad.ics", event("bad", summary="forbidden"), principal=alice)
    assert err.value.precondition == "{urn:teamcal:test}no-forbidden"
    with pytest.raises(Rejected):
        host.writes.put_object(work, "keep.ics", event("keep", summary="forbidden"), principal=alice)
    assert snapshot(host) == before
    assert len(recorder.committed) == committed
    assert recorder.seen_writes[-1].action == "update" and recorder.seen_writes[-1].old.name == "keep.ics"


def test_hook_object_stored_sees_the_new_row_inside_the_transaction(host: Host, cal, recorder: Recorder) -> None:
    alice, work = cal
    first = host.writes.put_object(work, "e.ics", event("e"), principal=alice).resource
    second = host.writes.put_object(work, "e.ics", event("e", summary="again"), principal=alice).resource
    home = host.writes.create_collection(alice, "home", "calendar", principal=alice)
    copied = host.writes.copy_object(work, "e.ics", home, "f.ics", principal=alice).resource
    assert [(name, rid, etag) for name, rid, etag, _ in recorder.stored] == [
        ("e.ics", first.id, first.etag), ("e.ics", second.id, second.etag), ("f.ics", copied.id, copied.etag)]
    assert all(row is not None and (row.id, row.etag) == (rid, etag) for _, rid, etag, row in recorder.stored)
    host.writes.delete_object(home, "f.ics", principal=alice)
    assert len(recorder.stored) == 3  # deletes are not stores
    before = snapshot(host)
    recorder.fail_stored = True  # a failing implementation refuses the write: nothing of it is kept
    with pytest.raises(RuntimeError):
        host.writes.put_object(work, "g.ics", event("g"), principal=alice)
    assert snapshot(host) == before


def test_hook_validate_calendar_rejection(host: Host, recorder: Recorder) -> None:
    alice = add_user(host, "alice")
    before = snapshot(host)
    recorder.veto_calendar = "nope"
    with pytest.raises(Rejected):
        host.writes.create_collection(alice, "nope", "calendar", principal=alice)
    assert snapshot(host) == before


def test_hook_changes_committed_sees_only_committed(host: Host, cal, recorder: Recorder) -> None:
    alice, work = cal
    recorder.committed.clear()
    with host.writes.transaction():
        host.writes.put_object(work, "a.ics", event("a"), principal=alice)
        host.writes.put_object(work, "b.ics", event("b"), principal=alice)
        assert recorder.committed == []  # not before the outer commit
    assert [c.name for c in recorder.committed] == ["a.ics", "b.ics"]
    recorder.committed.clear()
    with pytest.raises(RuntimeError):
        with host.writes.transaction():
            host.writes.put_object(work, "c.ics", event("c"), principal=alice)
            raise RuntimeError("crash mid-transaction")
    assert recorder.committed == [] and host.store.resource(work.id, "c.ics") is None


def test_etag_preconditions(host: Host, cal) -> None:
    alice, work = cal
    r, _, _ = host.writes.put_object(work, "e.ics", event(), principal=alice, if_none_match="*")
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "e.ics", event(), principal=alice, if_none_match="*")
    assert err.value.status == 412
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "e.ics", event(summary="y"), principal=alice, if_match='"stale"')
    assert err.value.status == 412
    r2, created, _ = host.writes.put_object(work, "e.ics", event(summary="y"), principal=alice, if_match=r.etag)
    assert not created and r2.etag != r.etag
    with pytest.raises(Rejected) as err:
        host.writes.delete_object(work, "e.ics", principal=alice, if_match=r.etag)
    assert err.value.status == 412
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "new.ics", event("n"), principal=alice, if_match="*")
    assert err.value.status == 412
    host.writes.delete_object(work, "e.ics", principal=alice, if_match=r2.etag)
    assert host.store.resource(work.id, "e.ics") is None and host.store.instances(r.id) == []


def test_a_row_read_before_the_write_is_trusted_only_while_it_is_current(host: Host, cal, recorder: Recorder) -> None:
    """``expected`` (the row a request read before its transaction): a current one replaces
    the read under the write lock by a check sent with the writes; one another write changed
    meanwhile makes the write run again reading the row, so preconditions hold against what
    is stored, nothing is lost and each write records one change."""
    alice, work = cal
    by_name = "SELECT id, collection_id, name, etag, content_type, size, uid, component, created, modified,"
    statements: list[str] = []
    first = host.writes.put_object(work, "e.ics", event("e"), principal=alice).resource
    host.store.connections.set_tracer(statements.append)
    try:
        current = host.writes.put_object(work, "e.ics", event("e", summary="2"), principal=alice, expected=first).resource
    finally:
        host.store.connections.set_tracer(None)
    assert current.id == first.id and host.store.data(current.id) == event("e", summary="2")
    before = statements[: next(i for i, s in enumerate(statements) if s.startswith("UPDATE resources"))]
    assert [s for s in before if "count(*) FROM resources WHERE id = " in s and " AND etag = " in s]
    assert not [s for s in before if s.startswith(by_name)]  # the row was not read again

    # a stale row whose ETag the client sends: 412, against the stored row
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "e.ics", event("e", summary="3"), principal=alice, if_match=first.etag,
                               expected=first)
    assert err.value.status == 412 and host.store.data(current.id) == event("e", summary="2")
    with pytest.raises(Rejected) as err:
        host.writes.delete_object(work, "e.ics", principal=alice, if_match=first.etag, expected=first)
    assert err.value.status == 412 and host.store.resource(work.id, "e.ics") == current

    # without conditions the write goes through on the stored row: one change each
    committed = len(recorder.committed)
    stored = host.writes.put_object(work, "e.ics", event("e", summary="3"), principal=alice, expected=first)
    assert not stored.created and stored.resource.id == current.id and stored.resource.created == current.created
    assert [(c.name, c.kind, c.etag) for c in recorder.committed[committed:]] == [
        ("e.ics", "modified", stored.resource.etag)]
    assert host.store.changes_since(0, collection_id=work.id)[-1].seq == recorder.committed[-1].seq

    # the row deleted and made again with the first content (same ETag, another id)
    host.writes.delete_object(work, "e.ics", principal=alice, expected=stored.resource)
    again = host.writes.put_object(work, "e.ics", event("e"), principal=alice, expected=current)
    assert again.created and again.resource.etag == first.etag and again.resource.id != first.id
    gone = host.writes.delete_object(work, "e.ics", principal=alice, if_match=first.etag, expected=first)
    assert gone.id == again.resource.id and host.store.resource(work.id, "e.ics") is None
    assert host.store.instances(again.resource.id) == []
    with pytest.raises(Rejected) as err:  # trusting a row that is gone: 404, as without it
        host.writes.delete_object(work, "e.ics", principal=alice, expected=first)
    assert err.value.status == 404
    kinds = [c.kind for c in host.store.changes_since(0, collection_id=work.id) if c.name == "e.ics"]
    assert kinds == ["created", "modified", "modified", "deleted", "created", "deleted"]

    # a row of another name or calendar is not trusted: the write goes to the name it is given
    other = host.writes.put_object(work, "o.ics", event("o"), principal=alice).resource
    home = host.writes.create_collection(alice, "home", "calendar", principal=alice)
    made = host.writes.put_object(work, "p.ics", event("p"), principal=alice, expected=other)
    moved = host.writes.put_object(home, "o.ics", event("o"), principal=alice, expected=other)
    assert made.created and moved.created and made.resource.id != other.id != moved.resource.id
    with pytest.raises(Rejected) as err:
        host.writes.delete_object(home, "q.ics", principal=alice, expected=other)
    assert err.value.status == 404 and host.store.resource(work.id, "o.ics") == other

    # another user with the row in hand still needs write access: refused, nothing changed
    bob = add_user(host, "bob")
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "o.ics", event("o", summary="bob"), principal=bob, expected=other)
    assert err.value.status == 404
    with pytest.raises(Rejected) as err:
        host.writes.delete_object(work, "o.ics", principal=bob, expected=other)
    assert err.value.status == 404 and host.store.resource(work.id, "o.ics") == other


def test_a_name_read_empty_is_trusted_only_while_it_is(host: Host, cal, recorder: Recorder) -> None:
    """``expected=ABSENT`` (a request found nothing at the name): a create trusts the name to be
    free instead of reading it under the write lock, checking with its writes that neither
    the name nor the body's UID was taken meanwhile. When one was, the write runs again
    reading them: a replace (or a 412 under If-None-Match: *), or a UID conflict naming the
    other object, as without the trust; nothing is written twice, one change each."""
    alice, work = cal
    by_name = "SELECT id, collection_id, name, etag, content_type, size, uid, component, created, modified,"
    statements: list[str] = []
    host.store.connections.set_tracer(statements.append)
    try:
        made = host.writes.put_object(work, "a.ics", event("a"), principal=alice, expected=ABSENT)
    finally:
        host.store.connections.set_tracer(None)
    assert made.created and host.store.data(made.resource.id) == event("a")
    before = statements[: next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO resources"))]
    assert not [s for s in before if s.startswith(by_name) and " AND name = " in s]  # the name was not read
    # taken meanwhile: the write runs again on what is stored
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "a.ics", event("a", summary="2"), principal=alice, if_none_match="*",
                               expected=ABSENT)
    assert err.value.status == 412 and host.store.data(made.resource.id) == event("a")
    replaced = host.writes.put_object(work, "a.ics", event("a", summary="2"), principal=alice, expected=ABSENT)
    assert not replaced.created and replaced.resource.id == made.resource.id
    with pytest.raises(Rejected) as err:  # the UID held by another object
        host.writes.put_object(work, "b.ics", event("a"), principal=alice, expected=ABSENT)
    assert err.value.precondition.endswith("no-uid-conflict") and err.value.conflict.name == "a.ics"
    assert host.store.resource(work.id, "b.ics") is None
    kinds = [(c.name, c.kind) for c in host.store.changes_since(0, collection_id=work.id) if c.name]
    assert kinds == [("a.ics", "created"), ("a.ics", "modified")]
    assert [(c.name, c.kind) for c in recorder.committed if c.collection_id == work.id and c.name] == kinds


def test_uid_conflict_names_the_other_resource(host: Host, cal) -> None:
    alice, work = cal
    host.writes.put_object(work, "one.ics", event("same"), principal=alice)
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "two.ics", event("same"), principal=alice)
    assert err.value.precondition.endswith("no-uid-conflict") and err.value.conflict.name == "one.ics"


def test_a_replace_keeping_its_uid_does_not_look_the_uid_up(host: Host, cal) -> None:
    """Replacing an object with one of the same UID skips the by-UID look-up on SQLite (the object
    replaced holds it); on PostgreSQL the look-up goes with the old row's read, in its round trip
    (test_query_counts counts them). One of another UID is refused when another object holds it."""
    alice, work = cal
    host.writes.put_object(work, "one.ics", event("first"), principal=alice)
    host.writes.put_object(work, "two.ics", event("second"), principal=alice)
    statements: list[str] = []
    host.store.connections.set_tracer(statements.append)
    try:
        host.writes.put_object(work, "one.ics", event("first", summary="again"), principal=alice)
        kept = [s for s in statements if "AND uid = " in " ".join(s.split())]
        with pytest.raises(Rejected) as err:
            host.writes.put_object(work, "one.ics", event("second"), principal=alice)
        changed = [s for s in statements if "AND uid = " in " ".join(s.split())]
    finally:
        host.store.connections.set_tracer(None)
    assert (len(kept), len(changed)) == ((0, 1) if host.store.dialect == "sqlite" else (1, 2))
    assert err.value.precondition.endswith("no-uid-conflict") and err.value.conflict.name == "two.ics"
    assert host.store.resource(work.id, "one.ics").uid == "first"


def test_invalid_and_unsupported_objects(host: Host, cal) -> None:
    alice, work = cal
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, "junk.ics", b"not a calendar", principal=alice)
    assert err.value.precondition.endswith("valid-calendar-data")
    tasks = host.writes.create_collection(alice, "tasks", "calendar", principal=alice, attrs={"components": ("VTODO",)})
    with pytest.raises(Rejected) as err:
        host.writes.put_object(tasks, "e.ics", event(), principal=alice)
    assert err.value.precondition.endswith("supported-calendar-component")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "nul\x00", "x" * 256])
def test_bad_resource_names(host: Host, cal, name: str) -> None:
    alice, work = cal
    with pytest.raises(Rejected) as err:
        host.writes.put_object(work, name, event(), principal=alice)
    assert err.value.status == 400


def test_copy_and_move_objects_carry_properties(host: Host, cal) -> None:
    alice, work = cal
    home = host.writes.create_collection(alice, "home", "calendar", principal=alice)
    _r, _, _ = host.writes.put_object(work, "e.ics", event(), principal=alice, properties={"{x:}p": "<p xmlns='x:'>1</p>"})
    copied, created, _ = host.writes.copy_object(work, "e.ics", home, "c.ics", principal=alice)
    assert created and host.store.properties(resource_id=copied.id) == {"{x:}p": "<p xmlns='x:'>1</p>"}
    with pytest.raises(Rejected) as err:
        host.writes.copy_object(work, "e.ics", home, "c.ics", principal=alice, overwrite=False)
    assert err.value.status == 412
    with pytest.raises(Rejected) as err:  # same UID already in home under another name
        host.writes.copy_object(work, "e.ics", home, "d.ics", principal=alice)
    assert err.value.precondition.endswith("no-uid-conflict")
    moved, _, _ = host.writes.copy_object(work, "e.ics", work, "renamed.ics", principal=alice, move=True)
    assert host.store.resource(work.id, "e.ics") is None
    assert host.store.time_range(work.id, None, None) == [moved.id]


def test_collections_nest_move_copy_delete(host: Host, recorder: Recorder) -> None:
    alice = add_user(host, "alice")
    w = host.writes
    a = w.create_collection(alice, "a", "plain", principal=alice)
    w.create_collection(alice, "a/b", "plain", principal=alice, properties={"{x:}p": "<p xmlns='x:'/>"})
    b = host.store.collection(alice.id, "a/b")
    w.put_object(b, "f.txt", b"hello", principal=alice, content_type="text/plain")
    with pytest.raises(Rejected) as err:
        w.create_collection(alice, "missing/c", "plain", principal=alice)
    assert err.value.status == 409
    with pytest.raises(Rejected) as err:
        w.create_collection(alice, "a", "plain", principal=alice)
    assert err.value.status == 405
    _copy, created = w.copy_collection(a, alice, "a2", principal=alice)
    assert created and host.store.resource(host.store.collection(alice.id, "a2/b").id, "f.txt") is not None
    assert host.store.properties(collection_id=host.store.collection(alice.id, "a2/b").id) == {"{x:}p": "<p xmlns='x:'/>"}
    with pytest.raises(Rejected):
        w.move_collection(a, alice, "a/b/inside", principal=alice)
    moved, created = w.move_collection(a, alice, "a2", principal=alice, overwrite=True)
    assert not created and moved.id == a.id and host.store.collection(alice.id, "a2/b") is not None
    assert host.store.collection(alice.id, "a") is None
    recorder.committed.clear()
    w.delete_collection(moved, principal=alice)
    assert host.store.collections(alice.id, parent=None) == []
    kinds = [(c.name, c.kind) for c in recorder.committed]
    assert ("f.txt", "deleted") in kinds and kinds[-1] == (None, "deleted")


def test_calendar_cannot_contain_collections(host: Host, cal) -> None:
    alice, _work = cal
    with pytest.raises(Rejected) as err:
        host.writes.create_collection(alice, "work/sub", "plain", principal=alice)
    assert err.value.status == 403


def test_grants_and_team_calendars(host: Host) -> None:
    alice, bob, carol = (add_user(host, n) for n in ("alice", "bob", "carol"))
    from kernel.testing import add_group

    team = add_group(host, "team", [bob])
    shared = host.writes.create_collection(team, "shared", "calendar", principal=None)
    own = host.writes.create_collection(alice, "own", "calendar", principal=alice)
    assert host.privileges(bob, shared) == {"read", "write"}
    assert host.privileges(carol, shared) == frozenset()
    assert host.privileges(alice, own) == {"read", "write", "admin"}
    assert host.privileges(bob, own) == frozenset()
    host.writes.set_grant(own, carol.id, "read", principal=alice)
    assert host.privileges(carol, own) == {"read"}
    host.writes.set_grant(own, 0, "write", principal=alice)
    assert host.privileges(bob, own) == {"read", "write"}
    assert {c.path for c in host.reachable_collections(bob)} == {"shared", "own"}
    host.writes.set_grant(own, 0, None, principal=alice)
    assert host.privileges(bob, own) == frozenset()


def test_hook_calendar_privileges_only_narrows(tmp_path) -> None:
    from kernel import hookimpl
    from kernel.testing import make_host

    class ReadOnly:
        @hookimpl
        def calendar_privileges(self, host, principal, calendar, privileges):
            """Make 'frozen' calendars read-only; try (and fail) to widen others."""
            return {"read"} if calendar.path == "frozen" else {"read", "write", "admin"}

    h = make_host(tmp_path, plugins=[("ro", ReadOnly())])
    alice, bob = add_user(h, "alice"), add_user(h, "bob")
    frozen = h.writes.create_collection(alice, "frozen", "calendar", principal=alice)
    other = h.writes.create_collection(alice, "other", "calendar", principal=alice)
    h.writes.set_grant(other, bob.id, "read", principal=alice)
    assert h.privileges(alice, frozen) == {"read"}
    assert h.privileges(bob, other) == {"read"}
    h.close()


def test_deleting_a_principal_tells_the_change_feed(host: Host, recorder: Recorder) -> None:
    alice = add_user(host, "alice")
    work = host.writes.create_collection(alice, "work", "calendar", principal=alice)
    host.writes.put_object(work, "e.ics", event(), principal=alice)
    recorder.committed.clear()
    host.writes.delete_principal(alice)
    assert host.store.principal("alice") is None
    assert [(c.collection_id, c.name, c.kind) for c in recorder.committed] == [
        (work.id, "e.ics", "deleted"), (work.id, None, "deleted")
    ]
    assert host.store.conn.execute("SELECT count(*) FROM instances").fetchone()[0] == 0


def test_listing_reads_only_the_fields_asked_for_in_pages(host: Host, cal) -> None:
    """``iter_listing`` (and ``listing_pages``) gives, page by page and by name, the same ids, names
    and asked fields as the whole resources; asking for a column that is not a resource field is refused."""
    owner, work = cal
    for i in range(23):
        host.writes.put_object(work, f"e{i:02d}.ics", event(uid=f"u{i}"), principal=owner)
    whole = list(host.store.iter_resources(work.id))
    for batch in (5, 23, 500):
        listed = list(host.store.iter_listing(work.id, ("etag", "id", "size"), batch=batch))
        assert [(r.id, r.name, r.etag, r.size) for r in listed] == [(r.id, r.name, r.etag, r.size) for r in whole]
        assert listed[0]._fields == ("name", "etag", "id", "size")
    assert len(whole) == 23 and [r.name for r in host.store.iter_listing(work.id, ())] == [r.name for r in whole]
    # pages grow from the first size up to eight times it; a full last page ends with no empty one
    for batch, sizes in ((1, [1, 2, 4, 8, 8]), (5, [5, 10, 8]), (23, [23]), (500, [23])):
        pages = list(host.store.listing_pages(work.id, ("etag",), batch=batch))
        assert [len(page) for page in pages] == sizes
        assert [r.etag for page in pages for r in page] == [r.etag for r in whole]
    by_ids = host.store.resources_by_ids([r.id for r in reversed(whole)], with_data=True, fields=("etag",))
    assert [(r.name, r.etag, data) for r, data in by_ids] == [(r.name, r.etag, host.store.data(r.id)) for r in whole]
    with pytest.raises(ValueError):
        host.store.resources_by_ids([whole[0].id], fields=("data",))
    for bad in (("data",), ("etag; DROP TABLE resources",)):
        with pytest.raises(ValueError):
            list(host.store.iter_listing(work.id, bad))


def test_copy_and_move_check_the_source_conditions_in_their_transaction(host: Host, cal) -> None:
    """If-Match / If-Unmodified-Since on the source are checked where the copy happens: a stale ETag
    (a write in between) is a 412 and neither side changes; the current one copies or moves."""
    alice, work = cal
    first, _, _ = host.writes.put_object(work, "a.ics", event(), principal=alice)
    newer, _, _ = host.writes.put_object(work, "a.ics", event(summary="changed"), principal=alice)
    assert first.etag != newer.etag
    before = snapshot(host)
    for kwargs in ({"if_match": first.etag}, {"if_unmodified_since": newer.modified - 10}):
        for move in (False, True):
            with pytest.raises(Rejected) as refused:
                host.writes.copy_object(work, "a.ics", work, "b.ics", principal=alice, move=move, **kwargs)
            assert refused.value.status == 412
    assert snapshot(host) == before
    host.writes.copy_object(work, "a.ics", work, "b.ics", principal=alice, move=True, if_match=newer.etag)
    assert host.store.resource(work.id, "a.ics") is None and host.store.resource(work.id, "b.ics").etag == newer.etag


def test_resource_properties_check_their_conditions_in_their_transaction(host: Host, cal) -> None:
    alice, work = cal
    first, _, _ = host.writes.put_object(work, "a.ics", event(), principal=alice)
    newer, _, _ = host.writes.put_object(work, "a.ics", event(summary="changed"), principal=alice)
    prop = {"{urn:x}note": '<X:note xmlns:X="urn:x">hi</X:note>'}
    with pytest.raises(Rejected) as refused:
        host.writes.set_resource_properties(work, first, prop, principal=alice, if_match=first.etag)
    assert refused.value.status == 412
    host.writes.set_resource_properties(work, newer, prop, principal=alice, if_match=newer.etag)
    host.writes.delete_object(work, "a.ics", principal=alice)
    with pytest.raises(Rejected) as gone:
        host.writes.set_resource_properties(work, newer, prop, principal=alice, if_match=newer.etag)
    assert gone.value.status == 404


def test_every_stored_etag_is_the_digest_of_its_bytes(host: Host, cal) -> None:
    """``make_etag`` is a public contract: plugins key what they derive from content by ETag."""
    alice, work = cal
    host.writes.put_object(work, "a.ics", event("a"), principal=alice)
    host.writes.put_object(work, "a.ics", event("a", summary="replaced"), principal=alice)
    host.writes.put_object(work, "b.ics", event("b"), principal=alice)
    home = host.writes.create_collection(alice, "home", "calendar", principal=alice)
    host.writes.copy_object(work, "a.ics", home, "a.ics", principal=alice)
    host.writes.copy_object(work, "b.ics", home, "moved.ics", principal=alice, move=True)
    host.writes.copy_collection(home, alice, "home-copy", principal=alice)
    rows = host.store.conn.execute("SELECT etag, data FROM resources").fetchall()
    assert len(rows) == 5
    assert all(etag == make_etag(bytes(data)) for etag, data in rows)
    assert make_etag(b"x") != make_etag(b"y") and make_etag(b"x") == make_etag(b"x")


def test_a_calendar_object_is_parsed_before_the_write_lock_and_refused_in_order(
    host: Host, cal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body is repaired and parsed before the write transaction (the database's write lock
    then covers the database's work alone); what parsing refuses is still raised after access
    and preconditions: a 404 or 403 first, then a failed If-Match's 412, then the body's 403."""
    alice, work = cal
    bob = add_user(host, "bob")
    parsed_in: list[bool] = []
    parse_object = ical.parse_object

    def watched(*args, **kwargs):
        parsed_in.append(host.store.transaction.active)
        return parse_object(*args, **kwargs)

    monkeypatch.setattr(ical, "parse_object", watched)
    host.writes.put_object(work, "e1.ics", event(), principal=alice)
    assert parsed_in == [False]
    broken = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    for principal, if_match, status in ((bob, None, 404), (alice, '"not-it"', 412), (alice, None, 403)):
        with pytest.raises(Rejected) as refused:
            host.writes.put_object(work, "e1.ics", broken, principal=principal, if_match=if_match)
        assert refused.value.status == status
    assert host.store.data(host.store.resource(work.id, "e1.ics").id) == event()


def test_a_body_parsed_ahead_is_written_as_parsed_then_and_refused_in_order(
    host: Host, cal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``writes.parse`` then ``put_object(parsed=...)``: the write takes that parse without
    parsing again; a parse of other bytes is ignored (the bytes given are parsed and stored);
    what the parse refused is raised in its order, after access and preconditions."""
    alice, work = cal
    bob = add_user(host, "bob")
    parses: list[bytes] = []
    parse_object = ical.parse_object

    def watched(data, **kwargs):
        parses.append(data)
        return parse_object(data, **kwargs)

    monkeypatch.setattr(ical, "parse_object", watched)
    ahead = host.writes.parse(event("a"))
    assert parses == [event("a")]
    stored = host.writes.put_object(work, "a.ics", event("a"), principal=alice, parsed=ahead).resource
    assert parses == [event("a")] and stored.uid == "a" and len(host.store.instances(stored.id)) == 1
    other = host.writes.put_object(work, "b.ics", event("b"), principal=alice, parsed=ahead).resource
    assert parses[-1] == event("b") and other.uid == "b" and host.store.data(other.id) == event("b")
    broken = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    refused_ahead = host.writes.parse(broken)
    for principal, if_match, status in ((bob, None, 404), (alice, '"not-it"', 412), (alice, None, 403)):
        with pytest.raises(Rejected) as refused:
            host.writes.put_object(work, "a.ics", broken, principal=principal, if_match=if_match,
                                   parsed=refused_ahead)
        assert refused.value.status == status
    assert len(parses) == 3 and host.store.data(stored.id) == event("a")  # a, b and the broken one, once


def test_racing_writers_trusting_rows_they_read_lose_nothing(host: Host, cal) -> None:
    """Threads read an object's row outside any transaction, then write trusting it
    (``expected=``), with and without If-Match, while the others do the same: every write that
    succeeds records one change, every If-Match one follows the version it named (no lost
    update), and what is stored, its counter and index agree with the feed."""
    import random
    import threading

    alice, work = cal
    names = ("a.ics", "b.ics", "c.ics")
    done: list[tuple[str, str, str | None, str | None]] = []  # (name, kind, If-Match, new ETag)
    refused: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(number: int) -> None:
        rng = random.Random(number)
        start.wait(timeout=30)
        for step in range(40):
            name = rng.choice(names)
            row = host.store.resource(work.id, name)
            summary = f"t{number}-{step}"
            conditional = rng.random() < 0.6
            try:
                if row is not None and rng.random() < 0.25:
                    match = row.etag if conditional else None
                    host.writes.delete_object(work, name, principal=alice, if_match=match, expected=row)
                    outcome = (name, "deleted", match, None)
                else:
                    match = row.etag if conditional and row is not None else None
                    stored = host.writes.put_object(work, name, event(name[0], summary=summary), principal=alice,
                                                    if_match=match, expected=row).resource
                    outcome = (name, "stored", match, stored.etag)
            except Rejected as exc:
                with lock:
                    refused.append(exc.status)
                continue
            except BaseException as exc:  # noqa: BLE001 - reported below
                with lock:
                    failures.append(exc)
                return
            with lock:
                done.append(outcome)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads) and not failures, failures
    assert set(refused) <= {404, 412} and done

    feed = [c for c in host.store.changes_since(0, collection_id=work.id) if c.name in names]
    assert len(feed) == len(done)  # one change per write that succeeded, none for a refused one
    for name in names:
        history = [c for c in feed if c.name == name]
        row = host.store.resource(work.id, name)
        if row is None:
            assert not history or history[-1].kind == "deleted"
        else:
            assert history[-1].kind != "deleted" and history[-1].etag == row.etag
            assert make_etag(host.store.data(row.id)) == row.etag and len(host.store.instances(row.id)) == 1
        for (_, kind, match, etag) in (d for d in done if d[0] == name and d[2] is not None):
            at = next(i for i, c in enumerate(history) if (c.etag == etag if kind == "stored" else
                                                          c.kind == "deleted" and i and history[i - 1].etag == match))
            assert at > 0 and history[at - 1].etag == match and history[at - 1].kind != "deleted"
    count = host.store.execute("SELECT object_count FROM collections WHERE id = ?", (work.id,)).fetchone()[0]
    assert count == len([n for n in names if host.store.resource(work.id, n) is not None])
    orphans = host.store.execute("SELECT count(*) FROM instances WHERE resource_id NOT IN (SELECT id FROM resources)")
    assert orphans.fetchone()[0] == 0


def _series(summary: str = "standup", start: str = "20240102T090000Z", extra: str = "") -> bytes:
    """A daily series of 40 instances with one moved instance."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//teamcal tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT15M\r\n"
        f"RRULE:FREQ=DAILY;COUNT=40\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID:20240105T090000Z\r\n"
        f"DTSTART:20240105T100000Z\r\nDURATION:PT15M\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def _index_rows(host: Host, resource_id: int) -> list[tuple]:
    """The object's rows in the time-range index, with their row ids."""
    return sorted(map(tuple, host.store.conn.execute(
        'SELECT id, start, "end", flags, recurrence_id, component FROM instances WHERE resource_id = ?',
        (resource_id,))))


def test_a_replace_keeping_its_times_leaves_its_index_rows(host: Host, cal) -> None:
    """A replacing write whose instances are those stored (a new summary, description,
    attendee) leaves the index rows as they are: no statement touches them, the rows keep
    their ids. New times, a new override or another component rewrite them, and the index
    answers the new times. So does a trusted row (``expected``) whose ETag is current but
    whose index digest is not: the guard sends the write back to read the row."""
    alice, work = cal
    first = host.writes.put_object(work, "s.ics", _series(), principal=alice).resource
    rows = _index_rows(host, first.id)
    assert len(rows) == 40 and first.index_digest is not None

    with host.store.traced() as seen:
        kept = host.writes.put_object(work, "s.ics", _series("retro"), principal=alice).resource
    assert not [s for s in seen if "INTO instances" in s or "FROM instances" in s]
    assert _index_rows(host, first.id) == rows and kept.index_digest == first.index_digest
    with host.store.traced() as seen:  # trusting the row read before, the same
        kept = host.writes.put_object(work, "s.ics", _series("plan"), principal=alice, expected=kept).resource
    assert not [s for s in seen if "INTO instances" in s or "FROM instances" in s]
    assert _index_rows(host, first.id) == rows

    moved = host.writes.put_object(work, "s.ics", _series("plan", start="20240102T091500Z"), principal=alice,
                                   expected=kept).resource
    assert moved.index_digest != first.index_digest
    new_rows = _index_rows(host, first.id)
    # 41: the override's RECURRENCE-ID (09:00) names no instance of the moved rule, so it is one more
    assert len(new_rows) == 41 and not {r[0] for r in new_rows} & {r[0] for r in rows}
    assert host.store.time_range(work.id, 1704187200, 1704187500) == [first.id]  # 2024-01-02 09:20
    assert host.store.time_range(work.id, 1704186000, 1704186600) == []  # 09:00, the old start

    task = _series("plan", start="20240102T091500Z").replace(b"VEVENT", b"VTODO")
    as_task = host.writes.put_object(work, "s.ics", task, principal=alice).resource
    assert as_task.component == "VTODO" and {r[5] for r in _index_rows(host, first.id)} == {"VTODO"}
    back = host.writes.put_object(work, "s.ics", _series("plan", start="20240102T091500Z"), principal=alice)
    assert {r[5] for r in _index_rows(host, first.id)} == {"VEVENT"}

    # the ETag is current, the index digest not (another write of the same bytes indexed other
    # rows, or one before digests were kept): the write reads the row again and reindexes
    trusted = back.resource
    with host.store.transaction():
        host.store.execute("DELETE FROM instances WHERE resource_id = ?", (first.id,))
        host.store.execute("UPDATE resources SET index_digest = NULL WHERE id = ?", (first.id,))
    again = host.writes.put_object(work, "s.ics", _series("again", start="20240102T091500Z"), principal=alice,
                                   expected=trusted).resource
    assert len(_index_rows(host, first.id)) == 41 and again.index_digest == trusted.index_digest
    assert host.store.resource(work.id, "s.ics").index_digest == trusted.index_digest
