"""Names have one form (NFC) in every write and lookup; m006's rules for older stored names."""

from __future__ import annotations

import unicodedata

import pytest

from kernel.store.renames import free_name, stored_name_canonical
from kernel.testing import add_user, event_object, make_host

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


def test_writes_store_and_find_names_in_nfc_whatever_form_they_are_given(tmp_path) -> None:
    host = make_host(tmp_path)
    alice = add_user(host, "alice")
    cal = host.writes.create_collection(alice, "équipe-" + NFD, "calendar", principal=alice)
    assert cal.path == unicodedata.normalize("NFC", "équipe-" + NFD)
    assert host.store.collection(alice.id, "équipe-" + NFD) == cal
    resource, created = host.writes.put_object(cal, NFD + ".ics", event_object("c1"), principal=alice)
    assert created and resource.name == NFC + ".ics"
    again, created = host.writes.put_object(cal, NFC + ".ics", event_object("c1", summary="2"), principal=alice)
    assert not created and again.id == resource.id
    assert host.store.resource(cal.id, NFD + ".ics") == again
    assert [r.name for r in host.store.resources(cal.id, [NFD + ".ics", NFC + ".ics"])] == [NFC + ".ics"]
    assert [c.name for c in host.store.changes_since(0, collection_id=cal.id) if c.name] == [NFC + ".ics"] * 2
    host.writes.delete_object(cal, NFD + ".ics", principal=alice)
    assert host.store.resources(cal.id) == []
    host.close()


@pytest.mark.parametrize(
    "stored, canonical",
    [
        ("meeting-42%40example.com.ics", "meeting-42@example.com.ics"),
        ("100%25.ics", "100%.ics"),
        ("%2540.ics", "%40.ics"),  # one decoding pass: an escaped "%" stays a "%"
        ("a%3a%3Fb.ics", "a:?b.ics"),
        ("50%off.ics", "50%off.ics"),  # not an escape
        ("a%41.ics", "a%41.ics"),  # unreserved escapes were decoded before they were stored
        (NFD + ".ics", NFC + ".ics"),
        ("plain.ics", "plain.ics"),
    ],
)
def test_stored_names_canonical_form(stored: str, canonical: str) -> None:
    assert stored_name_canonical(stored) == canonical


def test_free_name_suffixes_before_the_extension() -> None:
    assert free_name("a.ics", set()) == "a.ics"
    assert free_name("a.ics", {"a.ics"}) == "a-2.ics"
    assert free_name("a.ics", {"a.ics", "a-2.ics"}) == "a-3.ics"
    assert free_name("team", {"team"}) == "team-2"
    assert free_name("p/x.y.ics", {"p/x.y.ics"}) == "p/x.y-2.ics"
    assert free_name(".hidden", {".hidden"}) == ".hidden-2"
