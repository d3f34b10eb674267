"""The wild corpus (tests/data/wild/): real-world-shaped objects from Outlook, Exchange, Google,
Apple, Thunderbird, Nextcloud and ICS feeds, each PUT through a live server: accepted, repaired
as documented (kernel/ingest), and found by the time ranges of the times they intend."""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from pathlib import Path

import httpx
import icalendar
import pytest

from kernel.testing.dav import CALDAV, mkcalendar, parse_multistatus

WILD = Path(__file__).resolve().parents[1] / "data" / "wild"
CORPUS = tomllib.loads((WILD / "corpus.toml").read_text())
DECL = f'xmlns:D="DAV:" xmlns:C="{CALDAV}"'


def test_every_file_is_described() -> None:
    assert sorted(p.stem for p in WILD.glob("*.ics")) == sorted(CORPUS)
    for name, spec in CORPUS.items():
        assert spec["source"].strip() and spec["match"] and spec["miss"], name


def found(client: httpx.Client, cal: str, component: str, start: str, end: str) -> set[str]:
    """The resource names a calendar-query with one time range answers."""
    body = (f"<C:calendar-query {DECL}><D:prop><D:getetag/></D:prop><C:filter>"
            f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="{component}">'
            f'<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter>'
            "</C:filter></C:calendar-query>")
    r = client.request("REPORT", cal, content=body.encode(), headers={"Depth": "1"})
    return {href.rsplit("/", 1)[-1] for href in parse_multistatus(r)}


@pytest.mark.parametrize("name", sorted(CORPUS))
@pytest.mark.filterwarnings("ignore:Timezone .* is a globally unique TZID")  # icalendar reading Thunderbird's TZID
def test_wild_object(alice: httpx.Client, caplog: pytest.LogCaptureFixture, name: str) -> None:
    spec = CORPUS[name]
    body = (WILD / f"{name}.ics").read_bytes()
    cal = mkcalendar(alice)
    resource = f"{name}.ics"
    with caplog.at_level(logging.DEBUG, logger="teamcal.ingest"):
        put = alice.put(cal + resource, content=body, headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert put.status_code == 201, put.text
    logged = [r.getMessage() for r in caplog.records if r.name == "teamcal.ingest" and resource in r.getMessage()]
    if spec["repairs"]:
        assert logged == [f"repaired {cal.split('/')[-2]}/{resource}: {', '.join(spec['repairs'])}"], logged
        assert "ETag" not in put.headers  # RFC 4791 5.3.4
    else:
        assert logged == [] and put.headers["ETag"].startswith('"')

    got = alice.get(cal + resource)
    assert got.status_code == 200
    text = got.content.decode()
    assert (got.content == body) == (not spec["repairs"])
    for piece in spec["contains"]:
        assert piece in text.replace("\r\n ", ""), piece
    for piece in spec["absent"]:
        assert piece not in text, piece
    stored = icalendar.Calendar.from_ical(got.content)  # icalendar alone, as another client reads it
    first = next(c for c in stored.subcomponents if c.name == spec["component"] and "RECURRENCE-ID" not in c)
    start = first["DTSTART"].dt.astimezone(dt.UTC)
    assert start.strftime("%Y-%m-%dT%H:%M:%SZ") == spec["start"]
    for prop, value in spec.get("values", {}).items():
        assert str(first[prop]) == value, prop

    for window in spec["match"]:
        assert resource in found(alice, cal, spec["component"], *window), window
    for window in spec["miss"]:
        assert resource not in found(alice, cal, spec["component"], *window), window

    # what was stored needs no further repair: written back, it is kept byte for byte
    again = alice.put(cal + resource, content=got.content, headers={"If-Match": got.headers["ETag"]})
    assert again.status_code == 204 and again.headers["ETag"] == got.headers["ETag"]
