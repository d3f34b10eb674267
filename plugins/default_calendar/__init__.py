"""A default calendar for every account that has none, created when the account connects.

Like Stalwart's default calendar: the first authenticated request of an
account without calendars creates ``<home>/<href_name>/``, so clients always
find at least one calendar. With ``for_groups``, each group the user belongs
to gets one too.
"""

from __future__ import annotations

from kernel import Host, Principal, hookimpl
from plugins.default_calendar.creation import ensure_defaults
from plugins.default_calendar.settings import Settings


@hookimpl
def register_settings() -> dict[str, type]:
    """Declare the ``[default_calendar]`` table."""
    return {"default_calendar": Settings}


@hookimpl
def principal_accessed(host: Host, principal: Principal) -> None:
    """Create the default calendar of the principal (and, with ``for_groups``, of its groups) when missing."""
    settings: Settings = host.settings("default_calendar")
    if not settings.href_name:
        return
    ensure_defaults(host, principal, settings)
