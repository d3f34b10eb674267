"""`teamcal limits set|show|clear ACCOUNT`: run-time overrides stored in the database."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kernel import Host, Principal, Rejected
from plugins.limits import overrides
from plugins.limits.effective import effective_limits, shown
from plugins.limits.settings import KEYS, TYPES, Size


def register(cli: Any) -> None:
    """Declare `teamcal limits`."""
    cli.add("limits", "show and override limits per account or group", _configure, run)


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def _value(key: str) -> Any:
    kind = TYPES[key]

    def parse(text: str) -> int:
        try:
            return int(kind.from_config(text if issubclass(kind, Size) else int(text)))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    setter = sub.add_parser(
        "set",
        help="store overrides for a user (or a group: for its members and its own calendars)",
        description="Store run-time overrides; they take precedence over plugins.toml.",
    )
    setter.add_argument("account", help="user or group name")
    for key in KEYS:
        setter.add_argument(
            _option(key), dest=key, type=_value(key), metavar="SIZE" if issubclass(TYPES[key], Size) else "N"
        )
    show = sub.add_parser("show", help="the effective limits of an account and where each comes from")
    show.add_argument("account", help="user or group name")
    show.add_argument("--json", action="store_true", help="print JSON")
    clear = sub.add_parser("clear", help="remove stored overrides (all, or the named keys)")
    clear.add_argument("account", help="user or group name")
    clear.add_argument("keys", nargs="*", metavar="KEY", help=f"limits to clear: {', '.join(KEYS)}")


def run(host: Host, args: argparse.Namespace) -> int:
    """Carry out one `teamcal limits` action."""
    principal = host.store.principal(args.account)
    if principal is None:
        raise Rejected(404, None, f"No user or group named {args.account!r}.")
    if args.action == "set":
        values = {key: getattr(args, key) for key in KEYS if getattr(args, key) is not None}
        if not values:
            print(f"teamcal limits set: give at least one of {', '.join(map(_option, KEYS))}", file=sys.stderr)
            return 2
        overrides.save(host.store, principal.id, values)
        print(f"{principal.name}: " + ", ".join(f"{k} = {v}" for k, v in values.items()))
        return 0
    if args.action == "clear":
        keys = [k.replace("-", "_") for k in args.keys] or None
        unknown = sorted(set(keys or ()) - set(KEYS))
        if unknown:
            print(f"teamcal limits clear: unknown limit {unknown[0]!r} (known: {', '.join(KEYS)})", file=sys.stderr)
            return 2
        removed = overrides.clear(host.store, principal.id, keys)
        print(f"{principal.name}: {removed} stored override{'s' if removed != 1 else ''} removed")
        return 0
    return _show(host, principal, args.json)


def _show(host: Host, principal: Principal, as_json: bool) -> int:
    limits = effective_limits(host.settings("limits"), host.store, principal)
    if as_json:
        print(json.dumps({k: {"value": v.value, "source": v.source} for k, v in limits.items()}, indent=2))
        return 0
    print(f"limits for {principal.name} ({principal.kind})")
    for key, limit in limits.items():
        print(f"  {key:<26} {shown(key, limit.value):<18} {limit.source}")
    return 0

