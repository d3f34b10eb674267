"""Creating, changing and describing subscriptions: what the CLI and the JSON API share.

Errors are :class:`kernel.Rejected` with an HTTP status and one sentence;
``principal`` None means the command line (the machine's admin). The plain
functions read and write the store: async callers run them through
``host.run``; the async ones (which wait for remotes) do so themselves.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import httpx

from kernel import Collection, Duration, Principal, Rejected
from kernel.netguard import Refused, check_url
from plugins.caldav_subscription import davxml, records
from plugins.caldav_subscription.access import grants_only, may_create_in, may_manage
from plugins.caldav_subscription.caldav_remote import PROBE_PROPS, collection_info
from plugins.caldav_subscription.davxml import XMLError
from plugins.caldav_subscription.discovery import (
    DiscoveryError,
    FoundCalendar,
    discover,
)
from plugins.caldav_subscription.feeds import FeedError, split_feed
from plugins.caldav_subscription.reconcile import SOURCE
from plugins.caldav_subscription.records import Subscription
from plugins.caldav_subscription.remote_http import RemoteClient, RemoteError
from plugins.caldav_subscription.settings import Settings

if TYPE_CHECKING:
    from kernel import Host

MODES = ("one-way", "two-way")


def settings_of(host: Host) -> Settings:
    """This plugin's settings."""
    return host.settings("caldav_subscription")


def normalize_url(url: str, username: str | None, password: str | None) -> tuple[str, str | None, str | None]:
    """Check a remote URL; webcal:// becomes https://, and user:password@ moves into the credentials."""
    url = (url or "").strip()
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://"):]
    try:
        parsed = check_url(url)
    except Refused as exc:
        raise Rejected(400, None, f"Unusable URL: {exc}.") from None
    if parsed.userinfo:
        username = username or parsed.username or None
        password = password or parsed.password or None
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed), username, password


def sealed_credentials(
    host: Host, username: str | None, password: str | None, *, keep_unset: bool = False
) -> dict[str, str | None]:
    """The credential columns as stored: encrypted with ``host.secrets`` ("" and None store nothing).

    With ``keep_unset``, a None value is left out (unchanged) instead of cleared.
    Raises :class:`kernel.encryption.MissingKey` when there is something to store and no key.
    """
    given = {"username": username, "password": password}
    return {
        column: host.secrets.encrypt(value or None)
        for column, value in given.items()
        if not (keep_unset and value is None)
    }


def credentials(host: Host, sub: Subscription) -> tuple[str | None, str | None]:
    """A subscription's username and password, decrypted for the request that sends them."""
    return host.secrets.decrypt(sub.username), host.secrets.decrypt(sub.password)


def calendar_name(host: Host, collection_id: int) -> str:
    """OWNER/PATH of a local calendar ("?" when it is gone)."""
    c = host.store.collection_by_id(collection_id)
    return f"{c.owner.name}/{c.path}" if c else "?"


async def probe(host: Host, url: str, username: str | None, password: str | None) -> tuple[str, str, dict[str, Any]]:
    """What is at ``url``: ("caldav", calendar URL, attrs) or ("ics", URL, {}); 4xx/502 otherwise."""
    problems: list[str] = []
    async with RemoteClient(settings_of(host), url, username, password) as client:
        try:
            reply = await client.request(
                "PROPFIND",
                url,
                headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"},
                body=davxml.propfind(PROBE_PROPS),
            )
        except Refused as exc:
            raise Rejected(400, None, f"Refused: {exc}.") from None
        except RemoteError as exc:
            raise Rejected(502, None, f"Cannot reach the remote: {exc}.") from None
        if reply.status == 401:
            raise Rejected(400, None, "The remote refused the credentials (401).")
        if reply.status == 207:
            try:
                ms = davxml.parse_multistatus(reply.body)
            except XMLError as exc:
                raise Rejected(502, None, f"The remote answered garbage: {exc}.") from None
            if ms.responses:
                final = str(reply.url) if str(reply.url).endswith("/") else str(reply.url) + "/"
                info = collection_info(ms.responses[0], httpx.URL(final))
                if info.is_calendar:
                    attrs = {"display_name": info.display_name}
                    if info.color:
                        attrs["color"] = info.color
                    return "caldav", info.url, attrs
                raise Rejected(
                    400,
                    None,
                    "The URL is a WebDAV collection but not a calendar: find the calendars with"
                    " `teamcal subscription discover` (or POST /api/subscriptions/discover).",
                )
        problems.append(f"PROPFIND answered {reply.status}")
        try:
            got = await client.request("GET", url, headers={"Accept": "text/calendar, */*;q=0.5"})
        except Refused as exc:
            raise Rejected(400, None, f"Refused: {exc}.") from None
        except RemoteError as exc:
            raise Rejected(502, None, f"Cannot reach the remote: {exc}.") from None
        if got.status == 200:
            try:
                await host.run(split_feed, got.body, host.budget())
            except FeedError as exc:
                problems.append(str(exc))
            else:
                return "ics", url, {}
        else:
            problems.append(f"GET answered {got.status}")
    raise Rejected(400, None, f"No calendar at this URL ({'; '.join(problems)}).")


async def create(
    host: Host,
    principal: Principal | None,
    *,
    calendar: str,
    url: str,
    username: str | None = None,
    password: str | None = None,
    mode: str = "one-way",
    interval: float | None = None,
) -> Subscription:
    """Subscribe the local calendar OWNER/NAME (created when missing) to a remote calendar or feed."""
    settings = settings_of(host)
    if mode not in MODES:
        raise Rejected(400, None, "mode must be one-way or two-way.")
    interval = float(settings.default_interval if interval is None else interval)
    if interval < float(settings.min_interval):
        raise Rejected(400, None, f"The interval must be at least {float(settings.min_interval):g} seconds.")
    owner_name, _, path = calendar.strip().partition("/")
    path = path.strip("/")
    owner = await host.run(host.store.principal, owner_name) if owner_name else None
    if owner is None or not path:
        raise Rejected(404, None, f"No owner for {calendar!r} (write the calendar as OWNER/NAME).")
    await host.run(_check_target, host, principal, owner, path, mode)
    url, username, password = normalize_url(url, username, password)
    sealed = sealed_credentials(host, username, password)
    kind, url, attrs = await probe(host, url, username, password)
    if kind == "ics" and mode == "two-way":
        raise Rejected(400, None, "An ICS feed can only be followed one-way.")

    def save() -> Subscription:
        with host.writes.transaction():
            collection = _check_target(host, principal, owner, path, mode)
            if collection is None:
                collection = host.writes.create_collection(
                    owner,
                    path,
                    "calendar",
                    principal=principal,
                    attrs={**attrs, "display_name": attrs.get("display_name") or path.rsplit("/", 1)[-1]},
                    source=SOURCE,
                )
            return records.create(
                host.store,
                collection_id=collection.id,
                url=url,
                kind=kind,
                mode=mode,
                interval=interval,
                **sealed,
                created_by=principal.id if principal else None,
                next_run=0,
            )

    return await host.run(save)


def _check_target(
    host: Host, principal: Principal | None, owner: Principal, path: str, mode: str
) -> Collection | None:
    """The existing local calendar (or None to create one), after the access and state checks."""
    collection = host.store.collection(owner.id, path)
    if principal is not None:
        allowed = may_manage(host, principal, collection) if collection else may_create_in(host, principal, owner)
        if not allowed:
            raise Rejected(403, None, "You may not manage subscriptions on this calendar.")
    if collection is None:
        return None
    if collection.kind != "calendar":
        raise Rejected(400, None, f"{owner.name}/{path} is not a calendar.")
    if records.for_collection(host.store, collection.id) is not None:
        raise Rejected(409, None, f"{owner.name}/{path} already follows a remote calendar.")
    if mode == "one-way" and host.store.count_resources(collection.id):
        raise Rejected(
            409, None, f"{owner.name}/{path} is not empty: a one-way subscription needs a new or empty calendar."
        )
    return collection


async def find_calendars(host: Host, url: str, username: str | None, password: str | None) -> list[FoundCalendar]:
    """Discover the calendars behind a server URL with these credentials."""
    url, username, password = normalize_url(url, username, password)
    try:
        async with RemoteClient(settings_of(host), url, username, password) as client:
            return await discover(client, url)
    except Refused as exc:
        raise Rejected(400, None, f"Refused: {exc}.") from None
    except (DiscoveryError, RemoteError, XMLError) as exc:
        raise Rejected(502, None, f"Discovery failed: {exc}.") from None


def visible(host: Host, principal: Principal | None, sub: Subscription) -> bool:
    """May ``principal`` see and manage this subscription (:func:`manageable` of it alone)?"""
    return bool(manageable(host, principal, [sub]))


def seen_by(host: Host, principal: Principal) -> list[Subscription]:
    """The subscriptions of every calendar ``principal`` may read (a team member sees the team's);
    managing them needs :func:`visible`. The calendars and privileges are read at once."""
    subs = records.all_subscriptions(host.store)
    if principal.is_admin:
        return subs
    held = _held(host, principal, subs, unnarrowed=False)
    return [s for s in subs if s.id in held and "read" in held[s.id][1]]


def manageable(
    host: Host, principal: Principal | None, subs: list[Subscription],
    calendars: Mapping[int, Collection] | None = None,
) -> list[Subscription]:
    """Those of ``subs`` that ``principal`` may see and manage: admins (and the CLI) all, others
    those on calendars they own or administer (:func:`may_manage`), the calendars and
    privileges read at once. ``calendars``: the subscriptions' calendars by id, when read."""
    if principal is None or principal.is_admin:
        return list(subs)
    held = _held(host, principal, subs, unnarrowed=True, calendars=calendars)
    return [s for s in subs if s.id in held and (held[s.id][0].owner.id == principal.id or "admin" in held[s.id][1])]


def calendars_of(host: Host, subs: list[Subscription]) -> dict[int, Collection]:
    """The calendars of ``subs`` still there, by id, in one query per 500."""
    return host.store.collections_by_ids(sorted({s.collection_id for s in subs}))


def _held(
    host: Host, principal: Principal, subs: list[Subscription], *, unnarrowed: bool,
    calendars: Mapping[int, Collection] | None = None,
) -> dict[int, tuple[Collection, frozenset[str]]]:
    """Each subscription's calendar and what ``principal`` holds on it, by subscription id (those
    whose calendar is gone left out), in as many statements for a thousand subscriptions as
    for one; ``unnarrowed``: what grants alone give (:func:`may_manage`)."""
    if calendars is None:
        calendars = calendars_of(host, subs)
    with grants_only() if unnarrowed else nullcontext():
        held = host.privileges_of(principal, list(calendars.values()))
    return {s.id: (calendars[s.collection_id], held[s.collection_id]) for s in subs if s.collection_id in calendars}


def get_visible(host: Host, principal: Principal | None, subscription_id: int) -> Subscription:
    """The subscription, or a 404 (also when it exists but is not the principal's to see)."""
    sub = records.get(host.store, subscription_id)
    if sub is None or not visible(host, principal, sub):
        raise Rejected(404, None, f"No subscription {subscription_id}.")
    return sub


def listing(host: Host, principal: Principal | None) -> list[Subscription]:
    """The subscriptions ``principal`` manages (all of them for admins and the CLI)."""
    return manageable(host, principal, records.all_subscriptions(host.store))


def set_paused(host: Host, sub: Subscription, paused: bool) -> Subscription:
    """Pause, or resume (due at once)."""
    values: dict[str, Any] = {"paused": int(paused)}
    if not paused:
        values["next_run"] = time.time()
    records.update(host.store, sub.id, **values)
    return records.get(host.store, sub.id) or sub


def change(
    host: Host,
    sub: Subscription,
    *,
    interval: float | None = None,
    username: str | None = None,
    password: str | None = None,
) -> Subscription:
    """Change the interval or the credentials."""
    settings = settings_of(host)
    values: dict[str, Any] = {}
    if interval is not None:
        if interval < float(settings.min_interval):
            raise Rejected(400, None, f"The interval must be at least {float(settings.min_interval):g} seconds.")
        values.update(interval=float(interval), next_run=min(sub.next_run, time.time() + float(interval)))
    values.update(sealed_credentials(host, username, password, keep_unset=True))
    records.update(host.store, sub.id, **values)
    return records.get(host.store, sub.id) or sub


def describe(host: Host, sub: Subscription) -> dict[str, Any]:
    """Everything shown about a subscription: settings, status, recent conflicts. Never credentials."""
    return describe_all(host, [sub])[0]


def describe_all(
    host: Host, subs: list[Subscription], calendars: Mapping[int, Collection] | None = None
) -> list[dict[str, Any]]:
    """:func:`describe` of each of ``subs``, in order: their calendars (``calendars``, when read),
    syncs running, conflicts and objects not stored read at once, in as many statements for a
    hundred as for one."""
    ids = [sub.id for sub in subs]
    if calendars is None:
        calendars = calendars_of(host, subs)
    running = records.running(host.leases) if subs else set()
    conflicts = records.recent_conflicts(host.store, ids, 10)
    skipped = records.skipped_items(host.store, ids, 50)
    described = []
    for sub in subs:
        c = calendars.get(sub.collection_id)
        out = sub.public(f"{c.owner.name}/{c.path}" if c else "?", sub.id in running)
        total, recent = conflicts.get(sub.id, (0, []))
        out["status"]["conflicts_total"] = total
        out["status"]["recent_conflicts"] = [conflict.public() for conflict in recent]
        out["status"]["not_stored"] = [{"object": href, "reason": why} for href, why in skipped.get(sub.id, [])]
        described.append(out)
    return described


def parse_interval(value: Any) -> float:
    """An interval from JSON or the CLI: seconds, or "15m" style."""
    try:
        return float(Duration.from_config(value))
    except ValueError as exc:
        raise Rejected(400, None, str(exc)) from None

