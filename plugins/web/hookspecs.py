"""Hooks the web plugin offers to other plugins.

Other plugins implement them with ``@hookimpl(optionalhook=True)`` so they still
load when the web plugin is off, and never import the web plugin: everything
they need comes in the hook's arguments (see docs/plugins.md, "Hooks declared by
the web plugin").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from kernel import Host
    from plugins.web.extensions import WebExtensions

hookspec = pluggy.HookspecMarker("teamcal")


@hookspec
def web_extend(host: Host, web: WebExtensions) -> None:
    """Extend the web app once, when it is built: ``web`` adds pages (with menu items),
    panels on a calendar's page, sections of the admin console, and the provider of
    self-service feed URLs (see :class:`plugins.web.extensions.WebExtensions`).

    Pages are mounted under ``/web`` with the web app's sign-in and CSRF checks; their
    handlers get a page context (:class:`plugins.web.context.PageContext`).
    """
