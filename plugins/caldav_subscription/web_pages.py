"""The subscriptions page and the calendar panel in the web app (through its ``web_extend`` hook).

Everything goes through the functions the CLI and the JSON API use
(:mod:`.manage`, :func:`.runs.sync_now`, :mod:`.records`): this module only
reads forms and shows answers. Who sees what follows the calendar's
privileges: a user sees the subscriptions of every calendar he may read (a
team member his team's), and manages (sync, pause, remove) those
:func:`.manage.visible` allows: calendars he owns or administers, or all for
server admins. A subscription he may not manage shows its remote's address
without path or query (they may hold a feed's secret).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kernel import MissingKey, Rejected
from plugins.caldav_subscription import manage, records
from plugins.caldav_subscription.access import may_create_in
from plugins.caldav_subscription.runs import Busy, sync_now

if TYPE_CHECKING:
    from kernel import Collection, Host, Principal

TEMPLATES = Path(__file__).parent / "templates"
PAGE = "/subscriptions"
#: The form fields kept when the add form is shown again (never the password).
KEPT = ("owner", "name", "url", "username", "mode", "interval")


@dataclass(frozen=True)
class Row:
    """One subscription as the page shows it."""

    id: int
    collection_id: int
    calendar: str
    url: str
    info: dict[str, Any]
    manage: bool

    @property
    def status(self) -> dict[str, Any]:
        """The status part of :func:`.manage.describe`."""
        return self.info["status"]

    @property
    def every(self) -> str:
        """The interval as text: ``15 min``, ``2 h``, ``90 s``."""
        seconds = float(self.info["interval"])
        for size, unit in ((3600, "h"), (60, "min")):
            if seconds >= size and seconds % size == 0:
                return f"{seconds / size:g} {unit}"
        return f"{seconds:g} s"

    def when(self, key: str) -> str:
        """A status time (``last_success`` and such) as text."""
        return when(self.status.get(key))


def when(stamp: float | None) -> str:
    """A time as ``2025-03-01 14:05 UTC``, or "never"."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp)) if stamp else "never"


def install(host: Host, web: Any) -> None:
    """Add the subscriptions page, its actions and the calendar panel."""
    web.add_page(PAGE, "Subscriptions", page, methods=("GET", "POST"))
    for action in ("sync", "pause", "resume", "remove"):
        handler = sync if action == "sync" else _changer(action)
        web.add_page(f"{PAGE}/{{id:int}}/{action}", action, handler, menu=False, methods=("POST",))
    web.add_calendar_panel("Subscription", panel)


# -- what the page shows --------------------------------------------------------------


def rows(host: Host, principal: Principal, subs: list[records.Subscription] | None = None) -> list[Row]:
    """The subscriptions ``principal`` sees, with what he may do (in a worker thread)."""
    found = []
    shown = manage.seen_by(host, principal) if subs is None else subs
    calendars = manage.calendars_of(host, shown)  # read once for the three uses below
    managed_ids = {sub.id for sub in manage.manageable(host, principal, shown, calendars)}
    shown = [sub for sub in shown if sub.collection_id in calendars]
    for sub, info in zip(shown, manage.describe_all(host, shown, calendars), strict=True):
        collection = calendars[sub.collection_id]
        managed = sub.id in managed_ids
        url = sub.url if managed else _site(sub.url)
        title = collection.display_name or collection.path
        found.append(Row(sub.id, collection.id, title, url, info, managed))
    return found


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def homes(host: Host, principal: Principal) -> list[Principal]:
    """Where ``principal`` may make a subscribed calendar: his home, his teams' he administers."""
    return [principal] + [g for g in host.store.groups_of(principal.id) if may_create_in(host, principal, g)]


def _page_vars(host: Host, principal: Principal, form: dict[str, str]) -> dict[str, Any]:
    settings = manage.settings_of(host)
    return {
        "rows": rows(host, principal),
        "homes": homes(host, principal),
        "modes": manage.MODES,
        "values": {key: form.get(key, "") for key in KEPT},
        "default_interval": f"{float(settings.default_interval) / 60:g}m",
    }


# -- handlers -------------------------------------------------------------------------


async def page(ctx: Any) -> Any:
    """GET: the list and the add form. POST: test the connection, or add the subscription."""
    host, form = ctx.host, ctx.form
    status = 200
    if ctx.request.method == "POST":
        action = form.get("action")
        try:
            if action == "test":
                ctx.flash(await _test(host, form))
            elif action == "add":
                sub = await _add(host, ctx.user, form)
                name = await host.run(manage.calendar_name, host, sub.collection_id)
                ctx.flash(f"{name} now follows {sub.url} ({sub.kind}, {sub.mode}); the first sync starts shortly.")
                return ctx.redirect(PAGE)
            else:
                raise Rejected(400, None, "Choose Test connection or Subscribe.")
        except Rejected as exc:
            ctx.flash(exc.message, "error")
            status = exc.status
        except MissingKey as exc:
            ctx.flash(exc.public, "error")
            status = 400
    variables = await host.run(_page_vars, host, ctx.user, form)
    return ctx.render(TEMPLATES, "subscriptions.html", status_code=status, **variables)


async def _test(host: Host, form: dict[str, str]) -> str:
    """Probe the remote with the form's URL and credentials; what was found, as a sentence."""
    url, username, password = manage.normalize_url(form.get("url", ""), *_credentials(form))
    kind, found, attrs = await manage.probe(host, url, username, password)
    if kind == "caldav":
        name = attrs.get("display_name")
        return f"Connection works: a CalDAV calendar{f' “{name}”' if name else ''} at {found}."
    return f"Connection works: an ICS feed at {found} (it can be followed one-way)."


async def _add(host: Host, principal: Principal, form: dict[str, str]) -> records.Subscription:
    """Create the subscription as the CLI does, with the signed-in user as principal."""
    owner, name = form.get("owner", "").strip(), form.get("name", "").strip().strip("/")
    if not owner or not name or "/" in name or len(name) > 100:
        raise Rejected(400, None, "Name the local calendar (letters, digits, - or _; no slash).")
    interval = manage.parse_interval(form["interval"]) if form.get("interval", "").strip() else None
    username, password = _credentials(form)
    return await manage.create(
        host, principal, calendar=f"{owner}/{name}", url=form.get("url", ""), username=username,
        password=password, mode=form.get("mode") or "one-way", interval=interval,
    )


def _credentials(form: dict[str, str]) -> tuple[str | None, str | None]:
    return form.get("username", "").strip() or None, form.get("password") or None


async def sync(ctx: Any) -> Any:
    """POST: sync one subscription now and say how it went."""
    host = ctx.host
    sub = await host.run(manage.get_visible, host, ctx.user, ctx.path_params["id"])
    try:
        outcome = await sync_now(host, sub.id)
    except Busy:
        ctx.flash("A sync of this subscription is already running; try again in a moment.", "error")
    except LookupError:
        raise Rejected(404, None, f"No subscription {sub.id}.") from None
    else:
        ctx.flash(outcome.summary(), "notice" if outcome.error is None else "error")
    return ctx.redirect(_back(ctx, sub))


def _changer(action: str) -> Any:
    def change(ctx: Any) -> Any:
        """POST: pause, resume or remove one subscription."""
        host = ctx.host
        sub = manage.get_visible(host, ctx.user, ctx.path_params["id"])
        name = manage.calendar_name(host, sub.collection_id)
        if action == "remove":
            records.delete(host.store, sub.id)
            ctx.flash(f"Subscription removed: {name} is an ordinary calendar now.")
            return ctx.redirect(PAGE)
        manage.set_paused(host, sub, action == "pause")
        ctx.flash(f"Subscription of {name} {'paused' if action == 'pause' else 'resumed'}.")
        return ctx.redirect(_back(ctx, sub))

    change.__name__ = action
    return change


def _back(ctx: Any, sub: records.Subscription) -> str:
    """Back to the calendar's page when the action came from its panel, else the list."""
    return f"/calendars/{sub.collection_id}" if ctx.form.get("back") == "calendar" else PAGE


def panel(ctx: Any, collection: Collection) -> Any:
    """The subscription feeding this calendar, on its page (nothing when none does)."""
    sub = records.for_collection(ctx.host.store, collection.id)
    if sub is None:
        return None
    shown = rows(ctx.host, ctx.user, [sub])
    return ctx.fragment(TEMPLATES, "subscription_panel.html", row=shown[0]) if shown else None
