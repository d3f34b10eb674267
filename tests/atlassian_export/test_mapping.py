"""The Atlassian export's mapping layer: iCalendar objects -> Teamwork Graph `atlassian:calendar-event` objects.

Every object produced from every invitation in ``invitations/`` is validated
against ``calendar_event.schema.json``; each invitation style then has its fields
checked one by one. ``NOW`` is fixed, so the default window is
2025-02-08T12:00Z .. 2025-09-06T12:00Z.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import jsonschema
import pytest

from plugins.atlassian_export import video
from plugins.atlassian_export.event_type import event_type
from plugins.atlassian_export.mapping import (
    EventContext,
    MappingError,
    MappingSettings,
    external_id,
    map_object,
    object_ids,
    recurrence_key,
    rfc3339,
)

HERE = Path(__file__).parent
INVITATIONS = sorted((HERE / "invitations").glob("*.ics"))
SCHEMA = json.loads((HERE / "calendar_event.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
SETTINGS = MappingSettings()
EVENT = "atlassian:calendar-event"
PERMISSIONS = [
    {"accessControls": [{"principals": [{"type": "USER", "id": "alice"}, {"type": "GROUP", "id": "team-platform"}]}]}
]
CTX = EventContext(
    calendar_key="alice/work",
    calendar_name="Work",
    event_url="https://cal.example.com/dav/calendars/alice/work/event.ics",
    created_at=1740000000.0,  # 2025-02-19T21:20:00Z
    modified_at=1741000000.0,  # 2025-03-03T11:06:40Z
    created_by="alice",
    modified_by="bob",
    sequence=1042,
    permissions=PERMISSIONS,
    max_attendees=None,
)
STORE_CREATED = "2025-02-19T21:20:00+00:00"
STORE_MODIFIED = "2025-03-03T11:06:40+00:00"


def load(name: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical((HERE / "invitations" / name).read_bytes())


def export(name: str, settings: MappingSettings = SETTINGS, **changes) -> list[dict]:
    return map_object(load(name), dataclasses.replace(CTX, **changes), settings, NOW)


def vevent(*lines: str, extra: str = "") -> icalendar.Calendar:
    """A calendar with one VEVENT made of `lines` (and other components in `extra`)."""
    body = "\r\n".join(lines)
    text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n{body}\r\nEND:VEVENT\r\n{extra}END:VCALENDAR\r\n"
    return icalendar.Calendar.from_ical(text)


def validate(objects: list[dict]) -> None:
    for obj in objects:
        errors = sorted(VALIDATOR.iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
        assert sum(len(ac["principals"]) for p in obj["permissions"] for ac in p["accessControls"]) <= 500


# ---------------------------------------------------------------- the schema


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_schema_accepts_the_reference_example_object():
    """Atlassian's example payload object, with the two fields its own tree requires and the example omits."""
    example = {
        "schemaVersion": "1.0",  # required by the tree, missing from the example
        "id": "calendar-event-1",
        "updateSequenceNumber": 1,
        "description": "Team meeting",
        "url": "https://calendar.example.com/event/1",
        "displayName": "Event Name",
        "createdAt": "2024-04-16T09:31:32+00:00",
        "createdBy": {"externalId": "external-id-1"},
        "lastUpdatedAt": "2024-04-16T09:31:32+00:00",
        "lastUpdatedBy": {"externalId": "external-id-1"},
        "permissions": [{"action": "read", "accessControls": [{"principals": [{"type": "EVERYONE"}]}]}],
        EVENT: {
            "eventStartTime": "2024-04-16T09:31:32+00:00",
            "eventEndTime": "2024-04-16T09:31:32+00:00",
            "attendees": [
                {"user": {"externalId": "external-id-1"}, "isOptional": False, "rsvpStatus": "accepted"},
                {"user": {"externalId": "external-id-2"}, "isOptional": True, "rsvpStatus": "tentatively_accepted"},
            ],
            "location": {"name": "location name", "address": "location address",
                         "url": "https://calendar.example.com/location-url", "coordinates": "1.5,2.5"},
            "videoMeetingUrl": "https://calendar.example.com/video-meeting-url",
            "recordingUrl": "https://calendar.example.com/video-recording-url",
            "isAllDayEvent": False,
            "attendeeCount": 2,
            "exceedsMaxAttendees": False,
            "videoMeetingProvider": "other",
            "isRecurringEvent": False,
            "recurringEventId": "recurringEventId",
            "eventType": "out_of_office",
            "attachments": [{"name": "attachment1.png",  # required by the tree, missing from the example
                             "url": "https://calendar.example.com/files/attachment1.png",
                             "mimeType": "image/png", "byteSize": 140288}],
        },
    }
    validate([example])


@pytest.mark.parametrize("breakage", [
    lambda o: o.update(unknown=1),
    lambda o: o[EVENT].update(eventType=None),
    lambda o: o[EVENT].update(eventStartTime="2025-03-05 10:00"),
    lambda o: o[EVENT].update(eventStartTime="2025-03-05T10:00:00"),
    lambda o: o[EVENT].update(attendees=[{"email": "flat@example.com"}]),
    lambda o: o[EVENT].update(videoMeetingProvider="skype"),
    lambda o: o.pop("permissions"),
    lambda o: o.update(permissions=[{"accessControls": [{"principals": [{"type": "USER"}]}]}]),
    lambda o: o.update(description=""),
], ids=["extra field", "null", "no T", "no offset", "flat attendee", "provider", "no permissions", "user without id", "empty"])
def test_schema_is_strict(breakage):
    obj = copy.deepcopy(export("google_meet.ics")[0])
    breakage(obj)
    assert list(VALIDATOR.iter_errors(obj))


# ---------------------------------------------------------------- every invitation


@pytest.mark.parametrize("path", INVITATIONS, ids=lambda p: p.name)
def test_every_object_from_every_invitation_validates(path):
    objects = map_object(icalendar.Calendar.from_ical(path.read_bytes()), CTX, SETTINGS, NOW)
    assert bool(objects) == (b"BEGIN:VEVENT" in path.read_bytes())  # events are exported, tasks are not
    validate(objects)
    limited = map_object(icalendar.Calendar.from_ical(path.read_bytes()), dataclasses.replace(CTX, max_attendees=2),
                         MappingSettings(category_event_types={"meetings": "meeting"}), NOW)
    assert len(limited) == len(objects)
    for obj in limited:
        assert obj[EVENT]["exceedsMaxAttendees"] == (obj[EVENT].get("attendeeCount", 0) > 2)
    validate(limited)


@pytest.mark.parametrize("path", INVITATIONS, ids=lambda p: p.name)
def test_ids_are_stable_distinct_and_match_object_ids(path):
    first = map_object(icalendar.Calendar.from_ical(path.read_bytes()), CTX, SETTINGS, NOW)
    again = map_object(icalendar.Calendar.from_ical(path.read_bytes()), CTX, SETTINGS, NOW)
    assert first == again
    ids = [obj["id"] for obj in first]
    assert len(ids) == len(set(ids))
    assert object_ids(icalendar.Calendar.from_ical(path.read_bytes()), CTX, SETTINGS, NOW) == ids
    assert all(obj["updateSequenceNumber"] == 1042 for obj in first)


@pytest.mark.parametrize("path", INVITATIONS, ids=lambda p: p.name)
def test_invitations_survive_random_damage(path):
    """Dropped, doubled and truncated lines: valid objects or MappingError, never another exception."""
    lines = path.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\n ", "").splitlines()
    rng = random.Random(path.name)
    mapped = 0
    for _ in range(60):
        damaged = list(lines)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(damaged))
            action = rng.choice(["drop", "double", "truncate"])
            if action == "drop":
                del damaged[i]
            elif action == "double":
                damaged.insert(i, damaged[i])
            else:
                damaged[i] = damaged[i][: rng.randrange(1, len(damaged[i]) + 1)]
        try:
            calendar = icalendar.Calendar.from_ical("\r\n".join(damaged) + "\r\n")
        except Exception:  # noqa: BLE001 - icalendar's parser has its own failure modes; the kernel rejects such text on write
            continue
        try:
            validate(map_object(calendar, CTX, SETTINGS, NOW))
        except MappingError:
            continue
        mapped += 1
    assert mapped, "some damaged invitations still parse and map"


# ---------------------------------------------------------------- Google Calendar


def test_google_meet_invitation_field_by_field():
    [obj] = export("google_meet.ics")
    assert obj["schemaVersion"] == "1.0"
    assert obj["id"] == "alice/work:7kq2c9v1m4h0s8d3r6t5b2n1xa@google.com"
    assert obj["displayName"] == "Q2 planning"
    assert obj["description"].startswith("Agenda:\n1. Q1 review\n2. Q2 goals")
    assert obj["url"] == CTX.event_url
    assert obj["createdAt"] == "2025-02-26T15:04:12+00:00"
    assert obj["lastUpdatedAt"] == "2025-02-27T09:15:30+00:00"
    assert obj["createdBy"] == {"externalId": "alice"}
    assert obj["lastUpdatedBy"] == {"externalId": "bob"}
    assert obj["owners"] == [{"email": "priya.raman@example.com"}]  # ORGANIZER
    assert obj["permissions"] == PERMISSIONS
    assert obj["containerKey"] == {"type": "atlassian:space", "value": {"entityId": "alice/work"}}
    assert "associations" not in obj
    event = obj[EVENT]
    assert event["eventStartTime"] == "2025-03-05T10:00:00-05:00"
    assert event["eventEndTime"] == "2025-03-05T11:00:00-05:00"
    assert event["isAllDayEvent"] is False
    assert event["isRecurringEvent"] is False
    assert "recurringEventId" not in event
    assert event["attendees"] == [
        {"user": {"email": "priya.raman@example.com", "name": "Priya Raman"}, "isOptional": False, "rsvpStatus": "accepted"},
        {"user": {"email": "marco.bianchi@example.com", "name": "Marco Bianchi"}, "isOptional": False, "rsvpStatus": "not_responded"},
        {"user": {"email": "lena@partner.example.org", "name": "Lena Vogel"}, "isOptional": True, "rsvpStatus": "tentatively_accepted"},
        {"user": {"email": "omar@example.com", "name": "omar@example.com"}, "isOptional": False, "rsvpStatus": "declined"},
    ]  # the room (CUTYPE=RESOURCE) is not a person
    assert event["attendeeCount"] == 4
    assert "exceedsMaxAttendees" not in event  # the limits plugin is off
    assert event["location"] == {"name": "NYC-5-Conference Room B (12)"}
    assert event["videoMeetingUrl"] == "https://meet.google.com/xqv-pmzr-hdw"
    assert event["videoMeetingProvider"] == "google_meet"
    assert event["recordingUrl"] == "https://drive.google.com/file/d/1RcDqW3eRt5yU7iO9pA2sD4fG6hJ8kL0z/view?usp=drive_web"
    assert event["eventType"] == "default"
    assert event["attachments"] == [
        {"name": "Q2 plan draft", "url": "https://docs.google.com/document/d/1Xb9kQ2mYvN0pLr7sTz4aW8cE5fG6hJ3k/edit",
         "mimeType": "application/vnd.google-apps.document"},
        {"name": "Q2 planning (2025-03-05 10:00 GMT-5) – Recording",
         "url": "https://drive.google.com/file/d/1RcDqW3eRt5yU7iO9pA2sD4fG6hJ8kL0z/view?usp=drive_web", "mimeType": "video/mp4"},
    ]


def test_google_weekly_series_with_a_cancelled_and_a_moved_instance():
    objects = export("google_weekly_1on1.ics")
    series, occurrences = objects[0], objects[1:]
    series_id = "alice/work:0d8f3a6b1c2e4f5a9b7c6d5e4f3a2b1c@google.com"
    assert series["id"] == series_id
    assert series[EVENT]["isRecurringEvent"] is True and series[EVENT]["recurringEventId"] == series_id
    assert series[EVENT]["eventStartTime"] == "2025-02-24T15:30:00+00:00"
    starts = [o[EVENT]["eventStartTime"] for o in occurrences]
    assert starts == [  # COUNT=8; 17 March cancelled; 24 March moved to Wednesday 26th; BST from 30 March
        "2025-02-24T15:30:00+00:00", "2025-03-03T15:30:00+00:00", "2025-03-10T15:30:00+00:00",
        "2025-03-26T09:00:00+00:00", "2025-03-31T15:30:00+01:00", "2025-04-07T15:30:00+01:00", "2025-04-14T15:30:00+01:00",
    ]
    assert f"{series_id}:20250317T153000Z" not in [o["id"] for o in objects]
    moved = occurrences[3]
    assert moved["id"] == f"{series_id}:20250324T153000Z"  # keyed by RECURRENCE-ID, not by its new start
    assert moved["url"] == f"{CTX.event_url}#20250324T153000Z"
    assert moved["displayName"] == "Priya / Sam 1:1 (moved)"
    assert moved["description"] == "Moved: Priya travels on Monday"
    assert moved["lastUpdatedAt"] == "2025-03-01T10:12:00+00:00"
    assert moved[EVENT]["eventEndTime"] == "2025-03-26T09:30:00+00:00"
    assert moved[EVENT]["attendees"][1]["rsvpStatus"] == "tentatively_accepted"
    for occurrence in occurrences:
        assert occurrence[EVENT]["isRecurringEvent"] is True
        assert occurrence[EVENT]["recurringEventId"] == series_id
        assert occurrence[EVENT]["videoMeetingUrl"] == "https://meet.google.com/fju-wkbt-qrs"
        assert "associations" not in occurrence
    assert series["associations"] == [{"associationType": "ExternalCalendarEventHasChildExternalCalendarEvent",
                                       "values": [o["id"] for o in occurrences]}]


# ---------------------------------------------------------------- Outlook / Exchange


def test_outlook_teams_invitation_field_by_field():
    [obj] = export("outlook_teams.ics", max_attendees=3)
    assert obj["id"] == ("alice/work:040000008200E00074C5B7101A82E00800000000D0F5C7A1C88EDB0100000000000000001"
                         "0000000A1B2C3D4E5F60718293A4B5C6D7E8F90")
    assert obj["displayName"] == "Incident 4711 post-mortem"
    assert obj["description"].startswith("Let's go through the incident timeline.")
    assert obj["createdAt"] == STORE_CREATED  # no CREATED in Exchange's invitation
    assert obj["lastUpdatedAt"] == "2025-03-04T08:15:00+00:00"
    assert obj["owners"] == [{"email": "jonas.becker@contoso.example"}]
    event = obj[EVENT]
    assert event["eventStartTime"] == "2025-03-11T14:00:00+01:00"  # "W. Europe Standard Time"
    assert event["eventEndTime"] == "2025-03-11T15:00:00+01:00"
    assert event["attendees"] == [  # Alice twice (in other case): once; emails lower-cased
        {"user": {"email": "alice@contoso.example", "name": "Alice Martin"}, "isOptional": False, "rsvpStatus": "not_responded"},
        {"user": {"email": "bob@contoso.example", "name": "Bob Nguyen"}, "isOptional": False, "rsvpStatus": "not_responded"},
        {"user": {"email": "chen.wei@fabrikam.example", "name": "Chen Wei"}, "isOptional": True, "rsvpStatus": "not_responded"},
    ]
    assert event["attendeeCount"] == 3
    assert event["exceedsMaxAttendees"] is False
    assert event["location"] == {"name": "Microsoft Teams Meeting"}
    assert event["videoMeetingUrl"].startswith("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ1ZTVh")
    assert event["videoMeetingUrl"].endswith("%7d")
    assert event["videoMeetingProvider"] == "microsoft_teams"
    assert "recordingUrl" not in event
    assert event["eventType"] == "default"  # BUSYSTATUS:TENTATIVE, INTENDEDSTATUS:BUSY
    assert "attachments" not in event  # the only ATTACH is inline binary


def test_outlook_out_of_office_all_day():
    [obj] = export("outlook_oof.ics")
    event = obj[EVENT]
    assert obj["displayName"] == "Away - conference travel"
    assert "description" not in obj  # DESCRIPTION is only a line break
    assert obj["createdAt"] == STORE_CREATED and obj["lastUpdatedAt"] == STORE_MODIFIED
    assert event["eventType"] == "out_of_office"
    assert event["isAllDayEvent"] is True
    assert event["eventStartTime"] == "2025-03-17T00:00:00+00:00"
    assert event["eventEndTime"] == "2025-03-20T00:00:00+00:00"  # DTEND is exclusive: 17, 18, 19 March
    assert "location" not in event and "attendees" not in event and "attendeeCount" not in event


def test_exceeds_max_attendees():
    [obj] = export("google_meet.ics", max_attendees=3)
    assert obj[EVENT]["exceedsMaxAttendees"] is True
    [obj] = export("outlook_oof.ics", max_attendees=3)
    assert obj[EVENT]["exceedsMaxAttendees"] is False


# ---------------------------------------------------------------- Zoom


def test_zoom_weekly_with_exdate_and_moved_instance():
    objects = export("zoom_weekly.ics")
    series, occurrences = objects[0], objects[1:]
    series_id = "alice/work:ZOOM85512345678-20250204T170000Z"
    assert series["id"] == series_id
    join = "https://us06web.zoom.us/j/85512345678?pwd=Z3dEaXNzQkVhTm5xY1N1RmFvQT09"
    for obj in objects:
        assert obj[EVENT]["location"] == {"url": join}
        assert obj[EVENT]["videoMeetingUrl"] == join  # not the "find your local number" link
        assert obj[EVENT]["videoMeetingProvider"] == "zoom"
        assert "attendees" not in obj[EVENT]
        assert obj["createdAt"] == STORE_CREATED and obj["lastUpdatedAt"] == STORE_MODIFIED
    keys = [o["id"].rsplit(":", 1)[1] for o in occurrences]
    assert keys == [  # 4 Feb ended before the window; 18 March is EXDATE'd; UNTIL includes 29 April
        "20250211T170000Z", "20250218T170000Z", "20250225T170000Z", "20250304T170000Z", "20250311T160000Z",
        "20250325T160000Z", "20250401T160000Z", "20250408T160000Z", "20250415T160000Z", "20250422T160000Z",
        "20250429T160000Z",
    ]
    assert occurrences[0][EVENT]["eventStartTime"] == "2025-02-11T09:00:00-08:00"
    assert occurrences[4][EVENT]["eventStartTime"] == "2025-03-11T09:00:00-07:00"
    moved = occurrences[5]
    assert moved["displayName"] == "Design review (moved to Wednesday)"
    assert moved["description"].startswith("Moved one day for the offsite.")
    assert (moved[EVENT]["eventStartTime"], moved[EVENT]["eventEndTime"]) == ("2025-03-26T10:00:00-07:00", "2025-03-26T10:45:00-07:00")


def test_exdate_removes_exactly_one_id():
    calendar = load("zoom_weekly.ics")
    master = calendar.walk("VEVENT")[0]
    with_exdate = object_ids(calendar, CTX, SETTINGS, NOW)
    del master["EXDATE"]
    without = object_ids(calendar, CTX, SETTINGS, NOW)
    assert set(without) - set(with_exdate) == {"alice/work:ZOOM85512345678-20250204T170000Z:20250318T160000Z"}
    assert set(with_exdate) <= set(without)


# ---------------------------------------------------------------- Apple Calendar


def test_apple_all_day_with_structured_location_and_managed_attachments():
    [obj] = export("apple_offsite.ics")
    assert obj["displayName"] == "Team offsite"
    assert obj["createdAt"] == "2025-02-10T17:44:02+00:00"
    assert obj["lastUpdatedAt"] == "2025-02-28T09:01:12+00:00"
    event = obj[EVENT]
    assert event["isAllDayEvent"] is True
    assert (event["eventStartTime"], event["eventEndTime"]) == ("2025-04-02T00:00:00+00:00", "2025-04-04T00:00:00+00:00")
    assert event["location"] == {"name": "Cavallo Point", "address": "601 Murray Circle, Sausalito CA 94965, United States",
                                 "coordinates": "37.832157,-122.477689"}
    assert event["attendees"] == [
        {"user": {"email": "alice@example.com", "name": "Alice Martin"}, "isOptional": False, "rsvpStatus": "accepted"},
        {"user": {"email": "ben.carter@example.com", "name": "Ben Carter"}, "isOptional": False, "rsvpStatus": "accepted"},
        {"user": {"externalId": "urn:uuid:0F9E8D7C-6B5A-4938-2716-05F4E3D2C1B0", "name": "Guest Speaker"},
         "isOptional": False, "rsvpStatus": "not_responded"},
    ]
    assert event["attachments"] == [  # the alarm's ATTACH (a sound name) is not the event's
        {"name": "agenda.pdf", "url": "https://p42-caldav.icloud.com/1234567/calendars/ABC/attachments/agenda.pdf",
         "mimeType": "application/pdf", "byteSize": 48213},
        {"name": "Packing list.pdf", "url": "https://files.example.com/offsite/Packing%20list.pdf"},
    ]
    assert "videoMeetingUrl" not in event  # the URL property is a wiki page, not a meeting
    assert event["eventType"] == "default"


# ---------------------------------------------------------------- Thunderbird


def test_thunderbird_biweekly_retro_with_exdate_and_override():
    objects = export("thunderbird_retro.ics")
    series, occurrences = objects[0], objects[1:]
    event = series[EVENT]
    assert series["displayName"] == "Sprint retro"
    assert event["location"] == {"name": "Room Amstel", "coordinates": "52.3676,4.9041"}
    assert (event["videoMeetingUrl"], event["videoMeetingProvider"]) == ("https://meet.jit.si/TeamcalSprintRetro", "other")
    assert [(a["user"]["email"], a["isOptional"], a["rsvpStatus"]) for a in event["attendees"]] == [
        ("femke@example.nl", False, "accepted"),
        ("pieter@example.nl", False, "not_responded"),
        ("ruud@example.nl", False, "declined"),  # DELEGATED: will not attend
        ("anouk@example.nl", True, "not_responded"),  # NON-PARTICIPANT
    ]  # CUTYPE=ROOM left out
    assert event["eventType"] == "default"
    starts = [o[EVENT]["eventStartTime"][:10] for o in occurrences]
    assert starts == ["2025-03-03", "2025-03-17", "2025-03-31", "2025-04-28", "2025-05-12", "2025-05-26", "2025-06-09",
                      "2025-06-23", "2025-07-07", "2025-07-21", "2025-08-04", "2025-08-18", "2025-09-01"]
    # 14 April is EXDATE'd (given in UTC); 15 September is past the window
    override = occurrences[2]
    assert override["id"] == "alice/work:b3e1f0d2-7c4a-4e8b-9a61-5d2c3b4a1f09:20250331T140000Z"
    assert override["displayName"] == "Sprint retro (extended: quarter review)"
    assert override["description"] == "Quarter review after the retro."
    assert override["lastUpdatedAt"] == "2025-03-07T13:30:00+00:00"
    assert override[EVENT]["eventStartTime"] == "2025-03-31T16:00:00+02:00"
    assert override[EVENT]["eventEndTime"] == "2025-03-31T17:30:00+02:00"
    assert override[EVENT]["location"] == {"name": "Room Rijn"}
    assert [a["rsvpStatus"] for a in override[EVENT]["attendees"]] == ["accepted", "declined"]
    assert "videoMeetingUrl" not in override[EVENT]  # the override's own description has no link
    assert occurrences[1][EVENT]["eventStartTime"] == "2025-03-17T16:00:00+01:00"
    assert occurrences[3][EVENT]["eventStartTime"] == "2025-04-28T16:00:00+02:00"


def test_thunderbird_vacation_is_out_of_office():
    [obj] = export("thunderbird_vacation.ics")
    assert obj[EVENT]["eventType"] == "out_of_office"
    assert obj[EVENT]["isAllDayEvent"] is True
    assert (obj[EVENT]["eventStartTime"], obj[EVENT]["eventEndTime"]) == ("2025-06-02T00:00:00+00:00", "2025-06-14T00:00:00+00:00")


def test_thunderbird_task_is_not_an_event():
    assert export("thunderbird_task.ics") == []
    assert object_ids(load("thunderbird_task.ics"), CTX, SETTINGS, NOW) == []


# ---------------------------------------------------------------- other clients


def test_nextcloud_leave_category_and_admin_mapping():
    [obj] = export("nextcloud_leave.ics")
    assert obj[EVENT]["eventType"] == "out_of_office"
    assert (obj[EVENT]["eventStartTime"], obj[EVENT]["eventEndTime"]) == ("2025-03-21T13:00:00+00:00", "2025-03-21T17:30:00+00:00")
    [obj] = export("nextcloud_leave.ics", settings=MappingSettings(category_event_types={" LEAVE ": "time_off"}))
    assert obj[EVENT]["eventType"] == "time_off"


def test_rfc7986_conference_webex_and_recording():
    [obj] = export("rfc7986_webex.ics")
    event = obj[EVENT]
    assert (event["eventStartTime"], event["eventEndTime"]) == ("2025-03-06T16:00:00+00:00", "2025-03-06T17:30:00+00:00")
    assert event["videoMeetingUrl"] == "https://acme.webex.com/acme/j.php?MTID=m4f0c9e8d7b6a5f4e3d2c1b0a9f8e7d6c"
    assert event["videoMeetingProvider"] == "webex"
    assert event["recordingUrl"] == "https://acme.webex.com/recordingservice/sites/acme/recording/playback/8d2f6a1b3c4e"
    assert event["location"] == {"name": "Globex HQ, Springfield", "url": "https://maps.example.com/?q=Globex+HQ"}
    assert event["attachments"] == [{"name": "checklist.pdf", "url": "https://acme.example.com/onboarding/checklist.pdf",
                                     "mimeType": "application/pdf"}]  # the CID: attachment is skipped
    assert [a["user"]["email"] for a in event["attendees"]] == ["hank@globex.example.com", "support@acme.example.com"]


def test_untitled_floating_event_falls_back():
    [obj] = export("untitled_floating.ics")
    assert obj["displayName"] == "(no title) – Work"
    assert "owners" not in obj  # no ORGANIZER
    [obj] = export("untitled_floating.ics", calendar_name=" ")
    assert obj["displayName"] == "(no title)"
    assert "description" not in obj
    assert (obj[EVENT]["eventStartTime"], obj[EVENT]["eventEndTime"]) == ("2025-03-12T09:00:00+00:00", "2025-03-12T09:45:00+00:00")


def test_created_by_and_updated_by_are_left_out_when_unknown():
    [obj] = export("google_meet.ics", created_by=None, modified_by=None)
    assert "createdBy" not in obj and "lastUpdatedBy" not in obj
    validate([obj])


def test_permissions_are_copied_not_shared():
    [obj] = export("google_meet.ics")
    obj["permissions"][0]["accessControls"].clear()
    assert CTX.permissions[0]["accessControls"]


# ---------------------------------------------------------------- windows, bounds, ids


def test_max_occurrences_bounds_the_export():
    objects = export("thunderbird_retro.ics", settings=MappingSettings(max_occurrences=3))
    assert len(objects) == 4
    assert objects[0]["associations"][0]["values"] == [o["id"] for o in objects[1:]]
    assert len(export("thunderbird_retro.ics", settings=MappingSettings(max_occurrences=0))) == 1
    assert "associations" not in export("thunderbird_retro.ics", settings=MappingSettings(max_occurrences=0))[0]


def test_window_is_configurable_and_includes_events_overlapping_its_start():
    calendar = vevent("UID:daily", "DTSTART:20250301T230000Z", "DURATION:PT2H", "RRULE:FREQ=DAILY", "SUMMARY:Night shift")
    settings = MappingSettings(window_past_days=0, window_future_days=1)
    now = datetime(2025, 3, 10, 0, 30, tzinfo=UTC)
    ids = object_ids(calendar, CTX, settings, now)
    assert ids == ["alice/work:daily", "alice/work:daily:20250309T230000Z", "alice/work:daily:20250310T230000Z"]


def test_unbounded_rule_stops_at_the_window():
    calendar = vevent("UID:forever", "DTSTART;VALUE=DATE:20200101", "RRULE:FREQ=DAILY", "SUMMARY:Stand-up")
    objects = map_object(calendar, CTX, SETTINGS, NOW)
    assert len(objects) == 1 + 211  # 8 February (ends after 12:00Z) to 6 September (starts before 12:00Z)
    assert objects[1]["id"] == "alice/work:forever:20250208"
    assert objects[1][EVENT]["isAllDayEvent"] is True


def test_external_id_is_unambiguous():
    assert external_id("a:b", "c") != external_id("a", "b:c")
    assert external_id("alice/work", "x y%z") == "alice/work:x%20y%25z"
    assert external_id("alice/work", "uid", "20250311T090000Z") == "alice/work:uid:20250311T090000Z"


def test_recurrence_key_is_utc_basic_format():
    assert recurrence_key(datetime(2025, 3, 11, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))) == "20250311T090000Z"
    assert recurrence_key(datetime(2025, 3, 11, 10, 0)) == "20250311T100000Z"
    assert recurrence_key(datetime(2025, 3, 11).date()) == "20250311"


def test_rfc3339_keeps_offsets_and_normalises_odd_ones():
    assert rfc3339(datetime(2025, 3, 11, 10, 0, 5, 123456, tzinfo=ZoneInfo("Asia/Kolkata"))) == "2025-03-11T10:00:05+05:30"
    assert rfc3339(datetime(1880, 1, 1, 12, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))) == "1880-01-01T11:40:28+00:00"


def test_cancelled_event_exports_nothing():
    calendar = vevent("UID:gone", "DTSTART:20250312T090000Z", "STATUS:CANCELLED", "SUMMARY:Cancelled: sync")
    assert map_object(calendar, CTX, SETTINGS, NOW) == []


def test_instances_without_their_master_are_exported_as_occurrences():
    calendar = vevent("UID:series-elsewhere", "RECURRENCE-ID:20250901T090000Z", "DTSTART:20250901T100000Z",
                      "DTEND:20250901T110000Z", "SUMMARY:Only this one")
    [obj] = map_object(calendar, CTX, SETTINGS, NOW)
    assert obj["id"] == "alice/work:series-elsewhere:20250901T090000Z"
    assert obj[EVENT]["recurringEventId"] == "alice/work:series-elsewhere"
    assert obj[EVENT]["isRecurringEvent"] is True
    assert "associations" not in obj
    validate([obj])
    assert map_object(calendar, CTX, MappingSettings(max_occurrences=0), NOW) == []


# ---------------------------------------------------------------- hostile data


@pytest.mark.parametrize("lines", [
    ["UID:x", "SUMMARY:no start"],
    ["UID:x", "DTSTART:2025"],
    ["UID:x", "DTSTART;VALUE=DATE:20250312", "DTEND:20250313T090000Z"],
    ["UID:x", "DTSTART:20250312T090000Z", "DTEND:20250312T080000Z"],
    ["UID:x", "DTSTART:99991231T230000Z", "DURATION:P2D"],
    ["DTSTART:20250312T090000Z"],
    ["UID:x", "DTSTART:20250312T090000Z", "RRULE:FREQ=FORTNIGHTLY"],
    ["UID:x", "DTSTART:20250312T090000Z", "RRULE:FREQ=DAILY;INTERVAL=0"],
    ["UID:x", "DTSTART:20000101T000000Z", "RRULE:FREQ=SECONDLY"],
    ["UID:x", "DTSTART:20000101T000000Z",
     "RRULE:FREQ=YEARLY;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYMONTHDAY=1,2,3,4,5,6,7,8,9,10;"
     "BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,10,20,30,40,50"],
    ["UID:x", "DTSTART:20250312T090000Z", "RRULE:FREQ=DAILY", "EXDATE:2025"],
    ["UID:x", "DTSTART:20250312T090000Z", "DTSTART:20250313T090000Z"],
], ids=["no DTSTART", "broken DTSTART", "mixed types", "ends before start", "overflow", "no UID", "bad FREQ",
        "zero interval", "too dense", "too many BY parts", "broken EXDATE", "two DTSTARTs"])
def test_unmappable_events_raise_mapping_error(lines):
    calendar = vevent(*lines)
    with pytest.raises(MappingError):
        map_object(calendar, CTX, SETTINGS, NOW)
    with pytest.raises(MappingError):
        object_ids(calendar, CTX, SETTINGS, NOW)


def test_two_uids_or_two_masters_raise_mapping_error():
    other = "BEGIN:VEVENT\r\nUID:y\r\nDTSTART:20250312T090000Z\r\nEND:VEVENT\r\n"
    with pytest.raises(MappingError, match="UID"):
        map_object(vevent("UID:x", "DTSTART:20250312T090000Z", extra=other), CTX, SETTINGS, NOW)
    same = other.replace("UID:y", "UID:x")
    with pytest.raises(MappingError, match="RECURRENCE-ID"):
        map_object(vevent("UID:x", "DTSTART:20250312T090000Z", extra=same), CTX, SETTINGS, NOW)


def test_broken_store_time_raises_mapping_error():
    with pytest.raises(MappingError, match="created_at"):
        map_object(vevent("UID:x", "DTSTART:20250312T090000Z"), dataclasses.replace(CTX, created_at=float("nan")), SETTINGS, NOW)


def test_broken_optional_properties_are_left_out():
    calendar = vevent(
        "UID:odd", "DTSTART:20250312T090000Z", "CREATED:yesterday", "LAST-MODIFIED:20250311", "GEO:north;west",
        "GEO:91;10", "ATTENDEE:", "ATTENDEE;CN=Nobody:mailto:", "ATTENDEE;PARTSTAT=MAYBE:mailto:x@example.com",
        "ATTACH:ftp://files.example.com/a.txt", "ATTACH;FMTTYPE=not a type:https://files.example.com/",
        "LOCATION:   ", "SUMMARY:   ", "CATEGORIES:,,", "X-MICROSOFT-CDO-BUSYSTATUS:",
    )
    [obj] = map_object(calendar, CTX, SETTINGS, NOW)
    validate([obj])
    assert obj["displayName"] == "(no title) – Work"
    assert obj["createdAt"] == STORE_CREATED
    assert obj["lastUpdatedAt"] == "2025-03-11T00:00:00+00:00"
    event = obj[EVENT]
    assert event["attendees"] == [{"user": {"email": "x@example.com"}, "isOptional": False, "rsvpStatus": "not_responded"}]
    assert event["attachments"] == [{"name": "files.example.com", "url": "https://files.example.com/"}]
    assert "location" not in event
    assert event["eventType"] == "default"


def test_mapping_settings_are_validated():
    with pytest.raises(ValueError):
        MappingSettings(max_occurrences=-1)
    with pytest.raises(ValueError):
        MappingSettings(window_future_days=True)
    with pytest.raises(ValueError):
        MappingSettings(category_event_types={"Leave": ""})


# ---------------------------------------------------------------- video, recording, event type


@pytest.mark.parametrize("lines, expected", [
    (["LOCATION:Zoom https://zoom.us/j/123456789."], ("https://zoom.us/j/123456789", "zoom")),
    (["DESCRIPTION:Local numbers: https://us02web.zoom.us/u/abc\\nJoin: https://us02web.zoom.us/j/987?pwd=x"],
     ("https://us02web.zoom.us/j/987?pwd=x", "zoom")),
    (["DESCRIPTION:Help: https://support.google.com/a/users/answer/9282720 Join: <https://meet.google.com/abc-defg-hij>"],
     ("https://meet.google.com/abc-defg-hij", "google_meet")),
    (["DESCRIPTION:Learn more https://aka.ms/JoinTeamsMeeting or https://teams.microsoft.com/meetingOptions/?x=1"], None),
    (["DESCRIPTION:Webex help https://help.webex.com/en-us/article/1 https://www.webex.com/"], None),
    (["DESCRIPTION:Slides: https://docs.example.com/deck"], None),
    (["URL:https://teams.live.com/meet/9381234567890"], ("https://teams.live.com/meet/9381234567890", "microsoft_teams")),
    (["X-ZOOM-JOIN-URL:https://example.zoom.us/j/55"], ("https://example.zoom.us/j/55", "zoom")),
    (["X-GOOGLE-CONFERENCE:https://meet.google.com/aaa-bbbb-ccc",
      "X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/1"],
     ("https://meet.google.com/aaa-bbbb-ccc", "google_meet")),
    (["CONFERENCE;VALUE=URI;FEATURE=CHAT:https://chat.example.com/room",
      "CONFERENCE;VALUE=URI;FEATURE=VIDEO:https://video.example.com/r/1",
      "LOCATION:https://zoom.us/j/1"], ("https://video.example.com/r/1", "other")),
    (["CONFERENCE;VALUE=URI;FEATURE=PHONE:tel:+1-555-0100", "LOCATION:https://meet.jit.si/Room"], ("https://meet.jit.si/Room", "other")),
    (["X-MICROSOFT-ONLINEMEETINGCONFLINK:conf:sip:a@b.example"], None),
])
def test_video_meeting_detection(lines, expected):
    component = vevent("UID:v", "DTSTART:20250312T090000Z", *lines).walk("VEVENT")[0]
    assert video.find_video_meeting(component) == expected


@pytest.mark.parametrize("url, provider", [
    ("https://us06web.zoom.us/j/1", "zoom"), ("https://zoomgov.com/j/1", "zoom"), ("https://meet.google.com/x", "google_meet"),
    ("https://teams.microsoft.com/l/meetup-join/x", "microsoft_teams"), ("https://gov.teams.microsoft.us/x", "microsoft_teams"),
    ("https://acme.webex.com/meet/bob", "webex"), ("https://notzoom.us/j/1", "other"), ("https://zoom.us.evil.example/j/1", "other"),
])
def test_provider_by_hostname(url, provider):
    assert video.provider_for(url) == provider


@pytest.mark.parametrize("lines, expected", [
    (["X-ZOOM-RECORDING-URL:https://zoom.us/rec/share/abc"], "https://zoom.us/rec/share/abc"),
    (["ATTACH;FILENAME=Meeting recording.m4a;FMTTYPE=audio/mp4:https://files.example.com/r.m4a"], "https://files.example.com/r.m4a"),
    (["ATTACH;FMTTYPE=audio/mp4:https://files.example.com/voice.m4a"], None),
    (["CONFERENCE;VALUE=URI;LABEL=Recording:tel:+1-555-0100"], None),
])
def test_recording_detection(lines, expected):
    component = vevent("UID:r", "DTSTART:20250312T090000Z", *lines).walk("VEVENT")[0]
    assert video.find_recording(component) == expected


@pytest.mark.parametrize("lines, mapping, expected", [
    (["X-MICROSOFT-CDO-INTENDEDSTATUS:OOF"], {}, "out_of_office"),
    (["X-MICROSOFT-CDO-BUSYSTATUS:oof"], {}, "out_of_office"),
    (["CATEGORIES:Work", "CATEGORIES:Out of Office"], {}, "out_of_office"),
    (["CATEGORIES:Holiday"], {"holiday": "public_holiday"}, "public_holiday"),
    (["X-MICROSOFT-CDO-BUSYSTATUS:OOF", "CATEGORIES:Conference"], {"conference": "travel"}, "travel"),
    (["CATEGORIES:Meetings"], {"Leave": "leave"}, "default"),
])
def test_event_type_rules(lines, mapping, expected):
    component = vevent("UID:t", "DTSTART:20250312T090000Z", *lines).walk("VEVENT")[0]
    assert event_type(component, mapping) == expected


def test_naive_now_is_taken_as_utc():
    calendar = load("zoom_weekly.ics")
    assert object_ids(calendar, CTX, SETTINGS, NOW.replace(tzinfo=None)) == object_ids(calendar, CTX, SETTINGS, NOW)
    assert object_ids(calendar, CTX, SETTINGS, NOW + timedelta(days=400)) == ["alice/work:ZOOM85512345678-20250204T170000Z"]
