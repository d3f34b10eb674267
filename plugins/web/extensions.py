"""What other plugins add to the web app. For now: sections of the admin console.

A minimal registry, kept per host (``host.state``): ``add_admin_section(host, title,
render)`` adds a section that the admin console's server page shows below its own;
``render(ctx)`` runs in a worker thread for a server admin and returns the section's
HTML or None. A ``markupsafe.Markup`` is used as it is, a plain ``str`` is escaped (a
renderer that forgets to escape shows text, never markup), and a renderer that fails
shows one line saying so instead of taking the page down.

The ``web_extend(host, web)`` hook (``web.add_admin_section(title, render)``) is to
register through this same list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from kernel import Host, Principal

log = logging.getLogger("teamcal.web")

Render = Callable[[Any], "str | Markup | None"]
_STATE = "web.admin_sections"


@dataclass(frozen=True)
class AdminSection:
    """A section of the admin console: ``render(ctx)`` gives its HTML or None."""

    title: str
    render: Render
    plugin: str = "?"


@dataclass(frozen=True)
class AdminContext:
    """What a section's ``render`` gets: the host, the signed-in admin, the CSRF token for
    its forms, and the web app's address (forms post to pages below it)."""

    host: Host
    user: Principal
    csrf: str
    web: str


@dataclass(frozen=True)
class Fragment:
    """A rendered section: its title and its (safe) HTML."""

    title: str
    html: Markup


def admin_sections(host: Host) -> list[AdminSection]:
    """The host's list of extra admin sections (made empty on first use)."""
    return host.state(_STATE, list)


def add_admin_section(host: Host, title: str, render: Render, plugin: str = "?") -> None:
    """Add a section to the admin console's server page."""
    admin_sections(host).append(AdminSection(title, render, plugin))


def render_sections(host: Host, ctx: AdminContext) -> list[Fragment]:
    """Every extra section for this admin, rendered (in a worker thread)."""
    if not ctx.user.is_admin:
        return []
    found = []
    for section in list(admin_sections(host)):
        try:
            html = section.render(ctx)
        except Exception:  # noqa: BLE001 - one plugin's broken section must not take the page down
            log.exception("web: the admin section %r of plugin %s failed", section.title, section.plugin)
            html = Markup('<p class="error">This section could not be shown (see the server log).</p>')
        if html is not None:
            found.append(Fragment(section.title, html if isinstance(html, Markup) else escape(html)))
    return found
