"""`teamcal export atlassian [status | push | rejected | refresh]`.

Without an action: one JSON document ``{"requests": [...], "deletions": [...],
"cursor": N}`` of the whole deployment (or one ``--calendar``), or of what
changed after journal position ``--since N``; on stdout, or ``--out FILE``
(written atomically); progress on stderr. It never moves a consumer's cursor:
its ``cursor`` only tells where a later ``--since`` continues.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kernel import Host, Rejected

from . import journal, state
from .batches import delete_requests, set_objects_requests
from .context import CalendarInfo, Deployment
from .plan import full_export, plan
from .push import Outcome, Pusher, endpoint_problem

ACTIONS = ("status", "push", "rejected", "refresh")
EXPORT_ONLY = ("calendar", "since", "backfill", "out")
REJECTED_SHOWN = 50


def register(cli: Any) -> None:
    """Declare `teamcal export` with its `atlassian` format."""
    cli.add("export", "export calendar data to other systems", _configure, run)


def _configure(parser: argparse.ArgumentParser) -> None:
    formats = parser.add_subparsers(dest="format", required=True)
    atlassian = formats.add_parser(
        "atlassian",
        help="events as Atlassian Teamwork Graph objects",
        description="Export events as Teamwork Graph atlassian:calendar-event objects (setObjects requests), "
        "push them to the configured endpoint, or show the export's status.",
    )
    atlassian.add_argument("action", nargs="?", choices=ACTIONS,
                           help="status: cursors, backlog, last error; push: push now until up to date; "
                           "rejected: list rejected objects; refresh: re-export recurring series now")
    atlassian.add_argument("--calendar", metavar="OWNER/NAME", help="only this calendar")
    atlassian.add_argument("--since", type=_non_negative, metavar="N", help="only what changed after journal position N")
    atlassian.add_argument("--backfill", action="store_true", help='mark the requests operationType "BACKFILL"')
    atlassian.add_argument("--out", metavar="FILE", help="write the JSON here instead of stdout")
    atlassian.add_argument("--json", action="store_true", help="status and rejected: print JSON")
    atlassian.add_argument("--limit", type=_non_negative, help=f"rejected: how many to list (default {REJECTED_SHOWN})")


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def run(host: Host, args: argparse.Namespace) -> int:
    """Carry out one `teamcal export atlassian` command."""
    if args.action is not None:
        given = [f"--{name}" for name in EXPORT_ONLY if getattr(args, name) not in (None, False)]
        if given:
            print(f"teamcal export atlassian {args.action}: {', '.join(given)} only apply to an export", file=sys.stderr)
            return 2
    if args.action not in ("status", "rejected") and (args.json or args.limit is not None):
        print("teamcal export atlassian: --json and --limit only apply to status and rejected", file=sys.stderr)
        return 2
    deployment = Deployment.from_host(host)
    if args.action == "status":
        return _status(deployment, args.json)
    if args.action == "push":
        return _push(deployment)
    if args.action == "rejected":
        return _rejected(deployment, REJECTED_SHOWN if args.limit is None else args.limit, args.json)
    if args.action == "refresh":
        added = journal.refresh(deployment, force=True)
        print(f"{added} journal rows added (recurring series and vanished events)")
        return 0
    return _export(deployment, args)


def _export(deployment: Deployment, args: argparse.Namespace) -> int:
    store = deployment.store
    journal.ingest(deployment)
    calendars = _calendars(deployment, args.calendar)
    calendars_by_id = {c.collection.id: c for c in calendars}
    now = datetime.now(UTC)
    progress = _Progress(sys.stderr)
    upserts: list[tuple[str, dict]] = []
    deletions: list[str] = []
    if args.since is None:
        cursor = journal.head(store)
        for cid, name, objects, error in full_export(deployment, calendars, cursor, now):
            key = calendars_by_id[cid].key
            upserts.extend((key, obj) for obj in objects)
            if error:
                progress.skipped(f"{key}/{name}: {error}")
            progress.show(len(upserts), 0)
    else:
        handed = state.Handed(store, state.CONSUMERS)
        only = calendars[0].collection.id if args.calendar else None
        cursor = args.since
        for _ in range(journal.count_after(store, args.since) + 1):
            batch = plan(deployment, cursor, 1000, now, handed, collection_id=only)
            if batch.empty:
                break
            upserts.extend(batch.upserts)
            deletions.extend(batch.deletions)
            for where, _, reason in batch.failures:
                progress.skipped(f"{where}: {reason}")
            cursor = batch.through
            progress.show(len(upserts), len(deletions))
    document = {
        "requests": set_objects_requests(upserts, size=int(deployment.settings.batch_size), backfill=args.backfill),
        "deletions": delete_requests(deletions),
        "cursor": cursor,
    }
    progress.done(len(upserts), len(deletions), cursor)
    _write(document, args.out)
    return 0


def _calendars(deployment: Deployment, spec: str | None) -> list[CalendarInfo]:
    store = deployment.store
    if spec is None:
        found = [
            deployment.calendar(c.id)
            for owner in store.principals()
            for c in store.collections(owner.id, parent=None, kind="calendar")
        ]
        return [c for c in found if c is not None]
    owner, _, path = spec.strip("/").partition("/")
    collection = store.collection(owner, path) if owner and path else None
    info = deployment.calendar(collection.id) if collection else None
    if info is None:
        raise Rejected(404, None, f"No calendar {spec!r} (give OWNER/NAME, e.g. alice/work).")
    return [info]


def _write(document: dict, out: str | None) -> None:
    if out is None:
        json.dump(document, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    target = Path(out)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as fh:
        json.dump(document, fh, ensure_ascii=False)
        fh.write("\n")
    os.replace(temporary, target)


class _Progress:
    """Progress lines on stderr: at most one a second, and one at the end."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.errors = 0
        self.started = self.last = time.monotonic()

    def skipped(self, error: str) -> None:
        self.errors += 1
        print(f"atlassian export: skipped {error}", file=self.stream)

    def show(self, objects: int, deletions: int) -> None:
        if time.monotonic() - self.last >= 1.0:
            self.last = time.monotonic()
            print(f"atlassian export: {objects} objects, {deletions} deletions so far", file=self.stream)

    def done(self, objects: int, deletions: int, cursor: int) -> None:
        seconds = time.monotonic() - self.started
        print(f"atlassian export: {objects} objects, {deletions} deletions, {self.errors} skipped,"
              f" cursor {cursor} ({seconds:.1f} s)", file=self.stream)


def _push(deployment: Deployment) -> int:
    problem = endpoint_problem(deployment)
    if problem:
        print(f"teamcal export atlassian push: {problem}", file=sys.stderr)
        return 2
    outcome: Outcome = asyncio.run(Pusher(deployment).run())
    print(f"atlassian export push: {outcome.summary()}", file=sys.stderr)
    return 1 if outcome.error else 0


def status(deployment: Deployment) -> dict:
    """The export's state: the feed, the journal, and each consumer's cursor, backlog and errors."""
    store = deployment.store
    head = journal.head(store)
    latest = store.latest_seq()
    copied = journal.feed_cursor(store)
    report: dict[str, Any] = {
        "feed": {"latest": latest, "copied": copied, "backlog": max(0, latest - copied)},
        "journal": {"head": head},
        "endpoint": deployment.settings.endpoint or None,
        "endpoint_problem": endpoint_problem(deployment) if deployment.settings.endpoint else None,
        "last_refresh": _float(journal.meta(store, journal.LAST_REFRESH)),
        "consumers": {},
    }
    for c in state.consumers(store):
        report["consumers"][c.name] = {
            "cursor": c.cursor,
            "backlog": journal.count_after(store, c.cursor),
            "behind": max(0, head - c.cursor),
            "backfill_until": c.backfill_until,
            "backfilling": c.backfilling,
            "objects": state.object_count(store, c.name),
            "exported": c.exported,
            "deleted": c.deleted,
            "rejected": state.rejected_count(store, c.name),
            "last_success_at": c.last_success_at,
            "last_error": c.last_error,
            "last_error_at": c.last_error_at,
            "not_before": c.not_before,
        }
    return report


def _status(deployment: Deployment, as_json: bool) -> int:
    report = status(deployment)
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    feed = report["feed"]
    print(f"change feed: latest {feed['latest']}, read up to {feed['copied']} (backlog {feed['backlog']})")
    print(f"journal: head {report['journal']['head']}; last window refresh {when(report['last_refresh'])}")
    endpoint = report["endpoint"] or "not configured"
    print(f"endpoint: {endpoint}" + (f" ({report['endpoint_problem']})" if report["endpoint_problem"] else ""))
    if not report["consumers"]:
        print("no push or pull yet")
    for name, c in report["consumers"].items():
        print(f"{name}: cursor {c['cursor']}, backlog {c['backlog']} rows"
              f"{' (BACKFILL until ' + str(c['backfill_until']) + ')' if c['backfilling'] else ''},"
              f" {c['objects']} objects held, {c['exported']} exported, {c['deleted']} deleted,"
              f" {c['rejected']} rejected")
        print(f"  last success {when(c['last_success_at'])}; last error: "
              + (f"{c['last_error']} ({when(c['last_error_at'])})" if c["last_error"] else "none"))
        if c["not_before"]:
            print(f"  paused until {when(c['not_before'])} (Retry-After)")
    return 0


def _rejected(deployment: Deployment, limit: int, as_json: bool) -> int:
    rows = state.rejected(deployment.store, None, limit)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{when(r['at'])}  {r['consumer']:<4}  {r['operation']:<25}  {r['object_id']}: {r['reason']}")
    if not rows:
        print("no rejected objects")
    return 0


def _float(value: str | None) -> float | None:
    return float(value) if value is not None else None


def when(epoch: float | None) -> str:
    """A time as ``2025-03-01 14:05:09Z``, or "never"."""
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
