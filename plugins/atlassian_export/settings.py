"""The ``[atlassian_export]`` table: what is exported, where it is pushed, and how fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kernel import Duration
from kernel.netguard import NetworkRange

#: Hosts a plain-http endpoint may name (with ``allow_insecure_endpoint``): this machine only.
LOOPBACK = ("127.0.0.1", "::1", "localhost")

#: Atlassian's limits per app and site (calendar-event.md): objects per setObjects request,
#: objects a minute (NORMAL, BACKFILL) and deletion ids a minute.
MAX_BATCH = 100
NORMAL_PER_MINUTE = 1_500
BACKFILL_PER_MINUTE = 50_000
DELETIONS_PER_MINUTE = 500

#: The URL template's fields (each percent-encoded for a path).
URL_FIELDS = ("base_url", "owner", "calendar", "name")


class Endpoint(str):
    """The push endpoint: an https URL, or http to this machine (``allow_insecure_endpoint``); "" = no push."""

    @classmethod
    def from_config(cls, value: Any) -> Endpoint:
        """Accept "" or an absolute http(s) URL with a host; http only for 127.0.0.1, ::1 or localhost."""
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {value!r}")
        text = value.strip()
        if not text:
            return cls("")
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http") or not parts.hostname or any(c.isspace() for c in text):
            raise ValueError(f"must be an https:// URL, got {value!r}")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise ValueError(f"must be an https:// URL (http only to 127.0.0.1 for tests), got {value!r}")
        return cls(text)


class Bounded(int):
    """An integer between ``low`` and ``high`` (subclasses set them)."""

    low = 0
    high = 2**31

    @classmethod
    def from_config(cls, value: Any) -> Bounded:
        """Accept an integer in range."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        if not cls.low <= value <= cls.high:
            raise ValueError(f"must be between {cls.low} and {cls.high}, got {value}")
        return cls(value)


class Days(Bounded):
    """A number of days for the recurrence window (0 to about 10 years)."""

    high = 3660


class BatchSize(Bounded):
    """Objects (or deletion ids) per request: 1 to Atlassian's 100."""

    low = 1
    high = MAX_BATCH


class PerMinute(Bounded):
    """A rate: at least one a minute."""

    low = 1


class Attempts(Bounded):
    """How often one request is tried before the run stops (1 to 20)."""

    low = 1
    high = 20


class Occurrences(Bounded):
    """Occurrence objects one recurring series may become (1 to 100,000)."""

    low = 1
    high = 100_000


class PullLimit(Bounded):
    """The largest page the pull API hands out (objects and deletion ids)."""

    low = 1
    high = 10_000


class UrlTemplate(str):
    """An object's ``url``: a template with {base_url}, {owner}, {calendar} and {name}."""

    @classmethod
    def from_config(cls, value: Any) -> UrlTemplate:
        """Accept a template that formats to an http(s) URL."""
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {value!r}")
        try:
            sample = value.format(**dict.fromkeys(URL_FIELDS, "x"))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"may only use {{{'}, {'.join(URL_FIELDS)}}}: {exc}") from None
        if urlsplit(sample).scheme not in ("http", "https") and not value.startswith("{base_url}"):
            raise ValueError(f"must give an http(s) URL, got {value!r}")
        return cls(value)


@dataclass
class Settings:
    """The ``[atlassian_export]`` table."""

    endpoint: Endpoint = field(
        default=Endpoint(""), metadata={"doc": "push setObjects/deleteObjectsByExternalId here (https); empty: no push"}
    )
    token: str = field(
        default="", metadata={"doc": "bearer token sent to the endpoint ({env = \"NAME\"})", "secret": True}
    )
    allow_insecure_endpoint: bool = field(
        default=False, metadata={"doc": "allow an http:// endpoint on 127.0.0.1, and loopback addresses (tests only)"}
    )
    allowed_networks: list[NetworkRange] = field(
        default_factory=list,
        metadata={"doc": "non-public address ranges (CIDR) the endpoint may resolve to, e.g. a relay on 10.0.0.5/32"},
    )
    pull_token: str = field(
        default="",
        metadata={"doc": "bearer token accepted by GET /api/atlassian/objects ({env = \"NAME\"})", "secret": True},
    )
    window_past_days: Days = field(default=Days(30), metadata={"doc": "occurrences exported this far back"})
    window_future_days: Days = field(default=Days(180), metadata={"doc": "occurrences exported this far ahead"})
    max_occurrences: Occurrences = field(
        default=Occurrences(3000),
        metadata={"doc": "occurrence objects per series (also bounded by [limits] max_recurrence_expansions)"},
    )
    category_event_types: dict[str, str] = field(
        default_factory=dict, metadata={"doc": "CATEGORIES value -> eventType, e.g. {Leave = \"out_of_office\"}"}
    )
    event_url: UrlTemplate = field(
        default=UrlTemplate("{base_url}/dav/cal/{owner}/{calendar}/{name}"),
        metadata={"doc": "an object's url: {base_url}, {owner}, {calendar} and {name} filled in"},
    )
    batch_size: BatchSize = field(default=BatchSize(MAX_BATCH), metadata={"doc": "objects per setObjects request"})
    objects_per_minute: PerMinute = field(
        default=PerMinute(NORMAL_PER_MINUTE), metadata={"doc": "setObjects objects a minute (NORMAL)"}
    )
    backfill_objects_per_minute: PerMinute = field(
        default=PerMinute(BACKFILL_PER_MINUTE), metadata={"doc": "setObjects objects a minute in the first full export"}
    )
    deletions_per_minute: PerMinute = field(
        default=PerMinute(DELETIONS_PER_MINUTE), metadata={"doc": "ids a minute in deleteObjectsByExternalId"}
    )
    push_interval: Duration = field(default=Duration(60), metadata={"doc": "how often the push job looks for changes"})
    request_timeout: Duration = field(default=Duration(30), metadata={"doc": "timeout of one push request"})
    max_attempts: Attempts = field(default=Attempts(6), metadata={"doc": "tries per request on 429, 5xx or network errors"})
    backoff_base: Duration = field(default=Duration(1), metadata={"doc": "first retry delay (doubles each try, jittered)"})
    backoff_max: Duration = field(
        default=Duration(300), metadata={"doc": "longest wait between tries; a longer Retry-After ends the run"}
    )
    refresh_interval: Duration = field(
        default=Duration(86400), metadata={"doc": "re-export recurring series this often (the window moves on)"}
    )
    pull_page: PullLimit = field(default=PullLimit(500), metadata={"doc": "default page size of the pull API"})
    pull_max_page: PullLimit = field(default=PullLimit(2000), metadata={"doc": "largest page the pull API allows"})
