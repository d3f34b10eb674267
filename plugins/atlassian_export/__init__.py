"""Atlassian Teamwork Graph export: events as `atlassian:calendar-event` objects, pulled or pushed.

The plugin follows the kernel's change feed into its own journal (an outbox with
a cursor per consumer), maps each changed event with :mod:`.mapping`, and hands
the objects over as ``setObjects`` / ``deleteObjectsByExternalId`` requests:

* pull: ``GET /api/atlassian/objects?cursor=N&limit=M`` for a Forge connector;
* push: a job POSTs them to the configured ``endpoint`` (rate-limited, retried);
* CLI: `teamcal export atlassian [status | push | rejected | refresh]`.

A second job re-exports recurring series once a day, as their occurrences move
through the window. See docs/atlassian_export.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kernel import Job, hookimpl

from . import api, commands, journal, web_status
from .context import Deployment
from .push import Pusher
from .schema import migrations
from .settings import Settings

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from kernel.host import Host

__all__ = ["Settings"]

log = logging.getLogger("teamcal.atlassian_export")

#: The window-refresh job looks this often whether ``refresh_interval`` has passed.
REFRESH_CHECK = 3600.0


#: The sub-commands it adds, read without importing it: while it is disabled they say how to enable it.
COMMANDS = ("export",)


@hookimpl
def register_settings() -> dict[str, type]:
    """The ``[atlassian_export]`` table."""
    return {"atlassian_export": Settings}


@hookimpl
def register_migrations(host: Host) -> Any:
    """The journal, consumer state, pending pull pages, rejections and the rate ledger."""
    return migrations


@hookimpl
def register_routes(host: Host) -> Iterable[BaseRoute]:
    """``GET /api/atlassian/objects``: the pull API."""
    return api.routes(host)


@hookimpl
def register_jobs(host: Host) -> Iterable[Job]:
    """The push (when an endpoint is set) and the daily re-export of recurring series."""
    settings: Settings = host.settings("atlassian_export")
    jobs = [Job("atlassian_export.refresh", min(REFRESH_CHECK, float(settings.refresh_interval)), _refresh)]
    if settings.endpoint:
        jobs.append(Job("atlassian_export.push", float(settings.push_interval), _push))
    return jobs


@hookimpl
def register_commands(cli: Any) -> None:
    """`teamcal export atlassian ...`."""
    commands.register(cli)


@hookimpl(optionalhook=True)
def web_extend(host: Host, web: Any) -> None:
    """The export's status for server admins in the web app (a page and an admin console section)."""
    web_status.install(host, web)


async def _push(host: Host) -> None:
    """One push run: every batch the journal holds, as fast as the rate limits allow."""
    outcome = await Pusher(Deployment.from_host(host)).run()
    if outcome.batches or outcome.error:
        log.info("atlassian export push: %s", outcome.summary())


def _refresh(host: Host) -> None:
    """Re-export recurring series once ``refresh_interval`` has passed."""
    journal.refresh(Deployment.from_host(host))
