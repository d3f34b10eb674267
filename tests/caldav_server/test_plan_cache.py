"""The in-memory plan cache of expansion: keyed by ETag (a digest of the content), each
content looked at and planned once, bounded in size, and answering the same after eviction."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kernel import make_etag
from plugins.caldav_server.caldav import expansion
from tests.caldav_server.ical_samples import component, ics, parsed


def series(n: int) -> bytes:
    """A weekly series whose summary makes its content differ from the others'."""
    return ics(component("DTSTART:20240101T090000Z", "DTEND:20240101T100000Z", "RRULE:FREQ=WEEKLY;COUNT=10",
                         f"SUMMARY:series {n}", uid=f"s{n}"))


SINGLE = ics(component("DTSTART:20240104T100000Z", "DTEND:20240104T110000Z", "SUMMARY:single", uid="single"))


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    expansion.forget_all()
    yield
    expansion.forget_all()


def counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[bytes]:
    """Record each call of ``expansion.<name>`` (its first argument) and let it run."""
    calls: list[bytes] = []
    real: Callable[..., object] = getattr(expansion, name)

    def counted(data: bytes, *rest: object) -> object:
        calls.append(data)
        return real(data, *rest)

    monkeypatch.setattr(expansion, name, counted)
    return calls


def test_content_is_planned_once_whichever_object_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = counting(monkeypatch, "_text_plan")
    data = series(1)
    first = expansion.plan_for(data, lambda: parsed(data), make_etag(data))
    again = expansion.plan_for(bytes(data), lambda: parsed(data))  # another object of the same content
    assert first is again and len(planned) == 1
    changed = series(2)
    assert expansion.plan_for(changed, lambda: parsed(changed)) != first and len(planned) == 2


def test_what_expands_to_itself_is_looked_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    looked = counting(monkeypatch, "expands_to_itself")
    assert expansion.is_itself(SINGLE) and expansion.is_itself(SINGLE, make_etag(SINGLE))
    assert not expansion.is_itself(series(1)) and not expansion.is_itself(series(1))
    assert looked == [SINGLE, series(1)]


def test_a_stored_plan_is_wanted_only_for_content_not_known() -> None:
    data, etag = series(1), make_etag(series(1))
    assert expansion.plans_wanted([etag]) == {etag}
    assert not expansion.is_itself(data, etag) and expansion.plans_wanted([etag]) == {etag}  # looked at, not planned
    expansion.remember(etag, expansion.plan_for(data, lambda: parsed(data)))
    single, other = make_etag(SINGLE), make_etag(series(2))
    assert expansion.is_itself(SINGLE)
    assert expansion.plans_wanted([etag, single, other, other]) == {other}


def test_the_cache_stays_within_its_size_and_answers_the_same_after_eviction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(expansion, "PLAN_CACHE_BYTES", 6_000)
    contents = [series(n) for n in range(40)]
    plans = [expansion.plan_for(data, lambda data=data: parsed(data)) for data in contents]
    assert 0 < expansion._known_bytes <= 6_000 and len(expansion._known) < 40
    assert make_etag(contents[-1]) in expansion._known and make_etag(contents[0]) not in expansion._known
    planned = counting(monkeypatch, "_text_plan")
    assert [expansion.plan_for(data, lambda data=data: parsed(data)) for data in contents] == plans
    assert len(planned) == 40  # each was evicted before it was asked for again
    assert expansion._known_bytes <= 6_000
