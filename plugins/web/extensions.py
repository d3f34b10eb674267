"""What other plugins add to the web app: the ``web_extend`` hook's argument and its read side.

A plugin registers through :class:`WebExtensions` (``add_page``,
``add_calendar_panel``, ``add_admin_section``, ``set_feed_provider``) and never
reaches into the web app itself. The web app (and its admin console) reads the
registrations back through the same object: :meth:`WebExtensions.menu`,
:meth:`WebExtensions.calendar_panels`, :meth:`WebExtensions.admin_sections`,
:attr:`WebExtensions.pages` and :attr:`WebExtensions.feeds`.

The admin console (plugins/web/admin*.py) shows the sections with
``app.extensions.admin_sections(PageContext(app, request, session, None))``
and links ``app.extensions.admin_pages()``; the calendar page does the same
with :meth:`WebExtensions.calendar_panels`. Both run in a worker thread.

Renderers return HTML for a fragment: a ``markupsafe.Markup`` (what
``ctx.fragment`` gives, autoescaped) is used as it is; a plain ``str`` is
escaped, so a renderer that forgets to escape shows text, never markup.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from kernel import Collection, Principal
    from plugins.web.context import PageContext

log = logging.getLogger("teamcal.web")

#: First path segments the web app keeps for itself (and for its admin console).
RESERVED = frozenset({"", "login", "logout", "calendars", "view", "api", "static", "admin"})
#: A page path: segments of letters, digits, ``-_.`` and Starlette parameters such as ``{id:int}``.
_PATH = re.compile(r"(?:/(?:[A-Za-z0-9._-]+|\{[a-z_]+(?::(?:int|str))?\}))+")
#: Methods a page may answer: forms only GET and POST.
METHODS = frozenset({"GET", "POST"})

Render = Callable[..., "str | Markup | None"]


@dataclass(frozen=True)
class Page:
    """A page a plugin added: ``handler(ctx) -> Response`` at ``/web{path}``."""

    path: str
    title: str
    handler: Callable[[PageContext], Any]
    menu: bool
    admin: bool
    methods: frozenset[str]
    plugin: str


@dataclass(frozen=True)
class Panel:
    """A panel on a calendar's page: ``render(ctx, collection)`` gives its HTML or None."""

    title: str
    render: Render
    plugin: str


@dataclass(frozen=True)
class AdminSection:
    """A section of the admin console: ``render(ctx)`` gives its HTML or None."""

    title: str
    render: Render
    plugin: str


@dataclass(frozen=True)
class MenuItem:
    """A link in the top menu (or, ``admin``, the admin console's)."""

    title: str
    url: str
    admin: bool


@dataclass(frozen=True)
class Fragment:
    """A rendered panel or admin section: its title and its (safe) HTML."""

    title: str
    html: Markup


@dataclass(frozen=True)
class FeedLink:
    """A secret feed URL of a calendar as its creator sees it later (never the token)."""

    id: int
    created: float


class FeedProvider(Protocol):
    """Makes and revokes a user's own secret read-only feed URLs (the CalDAV plugin provides it).

    All three run in a worker thread; ``collection`` is a calendar ``principal`` may read.
    """

    def feeds(self, principal: Principal, collection: Collection) -> Sequence[FeedLink]:
        """The principal's active feeds of this calendar, oldest first."""

    def create(self, principal: Principal, collection: Collection) -> str:
        """A new feed of this calendar made by ``principal``: its public URL (shown only now)."""

    def revoke(self, principal: Principal, collection: Collection, feed_id: int) -> bool:
        """Revoke one of the principal's feeds of this calendar; False when there is none such."""


class WebExtensions:
    """One web app's registries, as plugins fill them and the web app reads them."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.panels: list[Panel] = []
        self.sections: list[AdminSection] = []
        self.feeds: FeedProvider | None = None
        #: The plugin whose ``web_extend`` is running (set by the web app, names registrations).
        self.current_plugin = "?"

    # -- for plugins ---------------------------------------------------------------

    def add_page(
        self,
        path: str,
        title: str,
        handler: Callable[[PageContext], Any],
        *,
        menu: bool = True,
        admin: bool = False,
        methods: Sequence[str] = ("GET",),
    ) -> None:
        """A page at ``/web{path}``: ``handler(ctx) -> Response`` (``ctx`` a PageContext).

        A plain handler runs in a worker thread; an ``async def`` one on the event loop
        (it must not block it: store work through ``ctx.host.run``). Signed-out browsers
        go to the sign-in page; a POST without the session's CSRF token gets 403 before
        the handler runs. ``menu`` puts the page in the top menu (paths without
        parameters only); ``admin`` limits it to server admins (403 for others) and lists
        it in the admin console instead. ValueError for an unusable or taken path.
        """
        segments = path.split("/")
        if not _PATH.fullmatch(path) or segments[1] in RESERVED or {".", ".."} & set(segments):
            raise ValueError(
                f"web page path {path!r}: give a path such as /my-plugin/things below /web, "
                f"not under /{{{', '.join(sorted(RESERVED - {''}))}}}"
            )
        wanted = frozenset(m.upper() for m in methods)
        if not wanted or not wanted <= METHODS:
            raise ValueError(f"web page {path!r}: methods are GET and POST (HTML forms), got {sorted(wanted)}")
        for page in self.pages:
            if page.path == path and page.methods & wanted:
                raise ValueError(f"web page {path!r} added twice ({page.plugin} and {self.current_plugin})")
        self.pages.append(Page(path, title, handler, menu and "{" not in path, admin, wanted, self.current_plugin))

    def add_calendar_panel(self, title: str, render: Render) -> None:
        """A panel on each calendar's page: ``render(ctx, collection)`` returns its HTML (use
        ``ctx.fragment``) or None to show nothing for this calendar. Runs in a worker thread
        for a user who may read ``collection``."""
        self.panels.append(Panel(title, render, self.current_plugin))

    def add_admin_section(self, title: str, render: Render) -> None:
        """A section of the admin console: ``render(ctx)`` returns its HTML or None. Runs in a
        worker thread, for server admins only."""
        self.sections.append(AdminSection(title, render, self.current_plugin))

    def set_feed_provider(self, provider: FeedProvider) -> None:
        """Let users make and revoke their own secret feed URLs in the Subscribe dialog."""
        self.feeds = provider

    # -- for the web app and its admin console ---------------------------------------

    def menu(self, principal: Principal | None) -> list[MenuItem]:
        """The menu links ``principal`` gets, as paths below ``/web`` (admin pages for admins only)."""
        if principal is None:
            return []
        return [
            MenuItem(p.title, p.path, p.admin) for p in self.pages
            if p.menu and "GET" in p.methods and (not p.admin or principal.is_admin)
        ]

    def admin_pages(self) -> list[Page]:
        """The pages plugins added for server admins (for the admin console's navigation)."""
        return [p for p in self.pages if p.admin and "GET" in p.methods and "{" not in p.path]

    def calendar_panels(self, ctx: PageContext, collection: Collection) -> list[Fragment]:
        """Every panel for this calendar's page, rendered (in a worker thread)."""
        return [f for f in (_fragment(p.title, p.plugin, p.render, ctx, collection) for p in self.panels) if f]

    def admin_sections(self, ctx: PageContext) -> list[Fragment]:
        """Every admin section, rendered (in a worker thread, for an admin's page)."""
        if not ctx.user.is_admin:
            return []
        return [f for f in (_fragment(s.title, s.plugin, s.render, ctx) for s in self.sections) if f]


def _fragment(title: str, plugin: str, render: Render, *args: Any) -> Fragment | None:
    """One renderer's output as safe HTML; a renderer that fails shows a line saying so."""
    try:
        html = render(*args)
    except Exception:  # one plugin's broken panel must not take the page down
        log.exception("web: the %r panel of plugin %s failed", title, plugin)
        return Fragment(title, Markup('<p class="error">This part could not be shown (see the server log).</p>'))
    if html is None:
        return None
    return Fragment(title, html if isinstance(html, Markup) else escape(html))

