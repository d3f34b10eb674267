"""Video meeting and recording links of a VEVENT.

The join link is taken from the first source that has one, in this order:

1. RFC 7986 ``CONFERENCE`` (http/https only; one with ``FEATURE=VIDEO`` wins over
   the others; ``tel:``, ``sip:`` and recording-labelled entries are skipped);
2. ``X-GOOGLE-CONFERENCE`` (Google Calendar);
3. ``X-MICROSOFT-SKYPETEAMSMEETINGURL``, ``X-MICROSOFT-ONLINEMEETINGEXTERNALLINK``,
   ``X-MICROSOFT-ONLINEMEETINGCONFLINK`` (Outlook / Exchange; the last is often a
   ``conf:sip:`` URI and then ignored);
4. any ``X-ZOOM-*`` property holding an http(s) URL (except recording ones);
5. links in ``LOCATION``, then the ``URL`` property, then ``DESCRIPTION``.

Sources 1-4 are conferencing properties, so any http(s) URL in them counts. In the
free text of source 5 only a recognised *join* link counts (a Zoom ``/j/`` link, a
Meet code, a Teams ``/l/meetup-join/`` link, a Webex meeting link, or a link to a
known other service), so that help pages and dial-in lookups in invitation
boilerplate are never taken for the meeting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import icalendar

ZOOM = "zoom"
GOOGLE_MEET = "google_meet"
MICROSOFT_TEAMS = "microsoft_teams"
WEBEX = "webex"
OTHER = "other"

_MICROSOFT_PROPERTIES = (
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGEXTERNALLINK",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
)
_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}|\\^`]+", re.IGNORECASE)
_TRAILING = ".,;:!?*"
_SPACE = re.compile(r"\s")

# Hostname suffixes per provider ("zoom.us" matches zoom.us and us06web.zoom.us).
_HOSTS = {
    ZOOM: ("zoom.us", "zoom.com", "zoomgov.com"),
    GOOGLE_MEET: ("meet.google.com",),
    MICROSOFT_TEAMS: ("teams.microsoft.com", "teams.live.com", "teams.microsoft.us", "teams.cloud.microsoft"),
    WEBEX: ("webex.com",),
}
# Paths of join links, per provider, for links found in free text.
_JOIN_PATHS = {
    ZOOM: re.compile(r"^/(j|my|w|s|wc/join)/", re.IGNORECASE),
    GOOGLE_MEET: re.compile(r"^/(lookup/)?[a-z0-9]+(-[a-z0-9]+)*/?$", re.IGNORECASE),
    MICROSOFT_TEAMS: re.compile(r"^/(l/meetup-join|meet)/", re.IGNORECASE),
    WEBEX: re.compile(r"(/j\.php|/meet/|/join/|joinservice)", re.IGNORECASE),
}
# Other video services recognised in free text (provider "other").
_OTHER_HOSTS = ("meet.jit.si", "whereby.com", "gotomeeting.com", "meet.goto.com", "bluejeans.com", "chime.aws", "join.skype.com")


def provider_for(url: str) -> str:
    """The videoMeetingProvider for a URL, by hostname: zoom, google_meet, microsoft_teams, webex or other."""
    host = _host(url)
    for provider, suffixes in _HOSTS.items():
        if _host_matches(host, suffixes):
            return provider
    return OTHER


def find_video_meeting(component: icalendar.Component) -> tuple[str, str] | None:
    """The (videoMeetingUrl, videoMeetingProvider) of an event, or None when it has no video link."""
    for url in _conference_urls(component):
        return url, provider_for(url)
    for text in _texts(component, "LOCATION", "URL", "DESCRIPTION"):
        for url in urls_in(text):
            if _is_join_link(url):
                return url, provider_for(url)
    return None


def find_recording(component: icalendar.Component) -> str | None:
    """The recording URL of an event, or None.

    In this order: an X- property whose name contains ``RECORDING`` holding an http(s)
    URL; a ``CONFERENCE`` whose ``LABEL`` mentions "recording"; an http(s) ``ATTACH``
    whose FILENAME or LABEL mentions "recording" or whose FMTTYPE is ``video/*``
    (how Google Calendar attaches Meet recordings).
    """
    for name, value in _x_properties(component):
        if "RECORDING" in name and is_http_url(str(value)):
            return str(value).strip()
    for prop in _props(component, "CONFERENCE"):
        if _is_recording_label(prop) and is_http_url(str(prop)):
            return str(prop).strip()
    for prop in _props(component, "ATTACH"):
        mime = str(getattr(prop, "params", {}).get("FMTTYPE", "")).lower()
        if (_is_recording_label(prop) or mime.startswith("video/")) and is_http_url(str(prop)):
            return str(prop).strip()
    return None


def urls_in(text: str) -> Iterator[str]:
    """The http(s) URLs in free text, in order, without trailing punctuation."""
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if _host(url):
            yield url


def is_http_url(value: str) -> bool:
    """Whether a value is one absolute http(s) URL with a host and no spaces."""
    value = value.strip()
    return value[:8].lower().startswith(("http://", "https://")) and not _SPACE.search(value) and bool(_host(value))


def _conference_urls(component: icalendar.Component) -> Iterator[str]:
    conferences = [p for p in _props(component, "CONFERENCE") if is_http_url(str(p)) and not _is_recording_label(p)]
    conferences.sort(key=lambda p: "VIDEO" not in _features(p))
    yield from (str(p).strip() for p in conferences)
    for name in ("X-GOOGLE-CONFERENCE", *_MICROSOFT_PROPERTIES):
        yield from (str(p).strip() for p in _props(component, name) if is_http_url(str(p)))
    for name, value in _x_properties(component):
        if name.startswith("X-ZOOM-") and "RECORDING" not in name and is_http_url(str(value)):
            yield str(value).strip()


def _is_join_link(url: str) -> bool:
    host = _host(url)
    path = urlsplit(url).path
    for provider, suffixes in _HOSTS.items():
        if _host_matches(host, suffixes):
            if provider == WEBEX and host in ("www.webex.com", "help.webex.com"):
                return False
            return bool(_JOIN_PATHS[provider].search(path))
    return _host_matches(host, _OTHER_HOSTS) and path.strip("/") != ""


def _features(prop: object) -> set[str]:
    feature = getattr(prop, "params", {}).get("FEATURE", "")
    values = feature if isinstance(feature, list) else str(feature).split(",")
    return {str(v).strip().upper() for v in values}


def _is_recording_label(prop: object) -> bool:
    params = getattr(prop, "params", {})
    return any("recording" in str(params.get(key, "")).lower() for key in ("LABEL", "FILENAME", "X-FILENAME"))


def _props(component: icalendar.Component, name: str) -> list:
    value = component.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _x_properties(component: icalendar.Component) -> Iterator[tuple[str, object]]:
    for name in component:
        if name.startswith("X-"):
            yield from ((name, value) for value in _props(component, name))


def _texts(component: icalendar.Component, *names: str) -> Iterator[str]:
    for name in names:
        yield from (str(p) for p in _props(component, name))


def _host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def _host_matches(host: str, suffixes: tuple[str, ...]) -> bool:
    return any(host == s or host.endswith("." + s) for s in suffixes)
