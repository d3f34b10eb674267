"""Push: batches from the journal POSTed to the configured endpoint, rate-limited and retried.

The endpoint is a relay the admin runs (a Forge web trigger, say) in front of
the Teamwork Graph SDK. Each POST carries one request in an envelope::

    {"operation": "setObjects" | "deleteObjectsByExternalId", "request": {...}}

with ``Authorization: Bearer <token>``. The relay answers 2xx with the SDK's
response, whose rejected objects are recorded with their reason (any of
``rejected`` / ``results.rejected`` / ``failed``, entries naming the object by
``id``, ``externalId`` or ``key.id``, the reason in ``errors``, ``error``,
``message`` or ``reason``); ``"success": false`` without such a list rejects the
whole request. 429, 5xx and network errors are retried with exponential backoff
and jitter, honouring Retry-After; 400, 413 and 422 reject the request's objects;
any other status (401, 403, 404 ...) stops the run without losing anything.

The cursor moves, with the record of exported objects, only after every request
of a batch was answered 2xx; a run killed at any point starts again from there.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from kernel.netguard import AddressPolicy, GuardedTransport, Refused

from . import journal, state
from .batches import delete_requests, set_objects_requests
from .context import Deployment
from .plan import Batch, plan
from .ratelimit import Clock, RateLimiter, Sleep

log = logging.getLogger("teamcal.atlassian_export")

SET_OBJECTS = "setObjects"
DELETE_OBJECTS = "deleteObjectsByExternalId"
USER_AGENT = "teamcal-atlassian-export/1"
#: Statuses that reject the request's objects rather than stop the run.
REJECTING = (400, 413, 422)
#: The ranges ``allow_insecure_endpoint`` opens to the push: this machine's loopback.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


class Stopped(Exception):
    """The run stops here; nothing after the last accepted batch is lost.

    ``retry_at`` (epoch seconds) is set when the endpoint asked for a longer pause
    than ``backoff_max``: no run starts before then.
    """

    def __init__(self, message: str, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at


class RequestRejected(Exception):
    """The endpoint refused a whole request (400, 413, 422, or ``success: false``)."""


@dataclass
class Outcome:
    """What one push run did."""

    batches: int = 0
    objects: int = 0
    deletions: int = 0
    rejected: int = 0
    requests: int = 0
    caught_up: bool = False
    error: str | None = None

    def summary(self) -> str:
        """One line for logs and the CLI."""
        text = (
            f"{self.batches} batches, {self.objects} objects, {self.deletions} deletions, "
            f"{self.rejected} rejected, {self.requests} requests"
        )
        if self.error:
            return f"{text}; stopped: {self.error}"
        return text + ("; up to date" if self.caught_up else "")


def endpoint_problem(deployment: Deployment) -> str | None:
    """Why the settings do not allow pushing, or None."""
    s = deployment.settings
    if not s.endpoint:
        return "no endpoint configured ([atlassian_export] endpoint)"
    if urlsplit(s.endpoint).scheme == "http" and not s.allow_insecure_endpoint:
        return "an http:// endpoint needs allow_insecure_endpoint = true (tests only); use https"
    return None


def address_policy(deployment: Deployment) -> AddressPolicy:
    """Where pushes may connect: public addresses, ``allowed_networks``, and loopback with
    ``allow_insecure_endpoint``; checked after DNS on every request (kernel.netguard)."""
    s = deployment.settings
    allowed = [*s.allowed_networks, *(LOOPBACK_NETWORKS if s.allow_insecure_endpoint else ())]
    return AddressPolicy(False, (), allowed)


class Pusher:
    """Runs pushes for one deployment; clock, sleep, randomness and HTTP transport are injectable."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.deployment = deployment
        self.store = deployment.store
        self.settings = deployment.settings
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        self.now = now
        self.transport = transport
        s = self.settings
        self.normal = RateLimiter(self.store, "objects", int(s.objects_per_minute), clock=clock, sleep=sleep)
        self.backfill = RateLimiter(self.store, "backfill", int(s.backfill_objects_per_minute), clock=clock, sleep=sleep)
        self.deletes = RateLimiter(self.store, "deletions", int(s.deletions_per_minute), clock=clock, sleep=sleep)

    async def run(self) -> Outcome:
        """Push batches until the journal is exhausted or the endpoint stops the run."""
        outcome = Outcome()
        problem = endpoint_problem(self.deployment)
        if problem:
            outcome.error = problem
            return outcome
        journal.ingest(self.deployment)
        consumer = state.ensure_consumer(self.store, state.PUSH, journal.head(self.store))
        if consumer.not_before and self.clock() < consumer.not_before:
            outcome.error = f"waiting until {datetime.fromtimestamp(consumer.not_before, UTC):%Y-%m-%d %H:%M:%S}Z"
            return outcome
        transport = self.transport or GuardedTransport(address_policy(self.deployment))
        async with httpx.AsyncClient(timeout=float(self.settings.request_timeout), transport=transport) as client:
            for _ in range(journal.count_after(self.store, consumer.cursor) + 1):
                consumer = state.consumer(self.store, state.PUSH) or consumer
                batch = plan(
                    self.deployment, consumer.cursor, int(self.settings.batch_size), self.now(),
                    state.Handed(self.store, (state.PUSH,)),
                )
                if batch.empty:
                    outcome.caught_up = True
                    state.clear_error(self.store, state.PUSH)
                    break
                try:
                    await self._send(client, batch, consumer.backfilling, outcome)
                except Stopped as exc:
                    outcome.error = exc.message
                    state.record_error(self.store, state.PUSH, exc.message, not_before=exc.retry_at)
                    log.warning("atlassian export push stopped: %s", exc.message)
                    break
                if state.apply(self.store, state.PUSH, batch.effect, expect_cursor=consumer.cursor):
                    outcome.batches += 1
        return outcome

    async def _send(self, client: httpx.AsyncClient, batch: Batch, backfill: bool, outcome: Outcome) -> None:
        """Send every request of a batch; record what the endpoint (or the mapping) rejected."""
        if batch.failures:
            state.record_rejected(
                self.store, state.PUSH, [(where, "map", usn, reason) for where, usn, reason in batch.failures]
            )
            outcome.rejected += len(batch.failures)
        size = int(self.settings.batch_size)
        limiter = self.backfill if backfill else self.normal
        for request in set_objects_requests(batch.upserts, size=size, backfill=backfill):
            usns = {obj["id"]: obj["updateSequenceNumber"] for obj in request["objects"]}
            rejected = await self._deliver(client, SET_OBJECTS, request, list(usns), limiter)
            self._record(SET_OBJECTS, list(usns), usns, rejected, outcome)
            outcome.objects += len(usns) - len(rejected)
        for request in delete_requests(batch.deletions, size=size):
            rejected = await self._deliver(client, DELETE_OBJECTS, request, request["externalIds"], self.deletes)
            self._record(DELETE_OBJECTS, request["externalIds"], {}, rejected, outcome)
            outcome.deletions += len(request["externalIds"]) - len(rejected)

    def _record(
        self, operation: str, ids: list[str], usns: dict[str, int], rejected: dict[str, str], outcome: Outcome
    ) -> None:
        outcome.requests += 1
        if rejected:
            state.record_rejected(
                self.store, state.PUSH, [(oid, operation, usns.get(oid), reason) for oid, reason in rejected.items()]
            )
            outcome.rejected += len(rejected)
        state.clear_rejected(self.store, state.PUSH, operation, [oid for oid in ids if oid not in rejected])

    async def _deliver(
        self, client: httpx.AsyncClient, operation: str, request: dict, ids: list[str], limiter: RateLimiter
    ) -> dict[str, str]:
        """POST one request (with retries); returns {object id: reason} of the rejected ones."""
        try:
            answer = await self._post(client, operation, request, len(ids), limiter)
        except RequestRejected as exc:
            return {oid: str(exc) for oid in ids}
        return rejections(answer, ids)

    async def _post(
        self, client: httpx.AsyncClient, operation: str, request: dict, count: int, limiter: RateLimiter
    ) -> Any:
        """POST with retries on 429, 5xx and network errors; the parsed JSON answer (None when empty).

        Every attempt, retries included, takes ``count`` from the rate limit first.
        """
        s = self.settings
        headers = {"User-Agent": USER_AGENT}
        if s.token:
            headers["Authorization"] = f"Bearer {s.token}"
        attempts = int(s.max_attempts)
        for attempt in range(attempts):
            retry_after: float | None = None
            await limiter.acquire(count)
            try:
                response = await client.post(
                    s.endpoint, json={"operation": operation, "request": request}, headers=headers
                )
            except Refused as exc:
                raise Stopped(f"{operation}: endpoint refused: {exc}") from None
            except httpx.TransportError as exc:
                problem = f"{operation}: {type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return _json(response)
                detail = response.text.strip()[:300]
                if status in REJECTING:
                    raise RequestRejected(f"HTTP {status}: {detail}")
                if status != 429 and status < 500:
                    raise Stopped(f"{operation}: endpoint answered HTTP {status}: {detail}")
                problem = f"{operation}: HTTP {status}: {detail}"
                retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock())
            if attempt + 1 == attempts:
                raise Stopped(f"gave up after {attempts} tries: {problem}")
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if delay > float(s.backoff_max):
                raise Stopped(f"{problem}; asked to wait {delay:.0f} s", retry_at=self.clock() + delay)
            log.info("atlassian export: %s; retrying in %.1f s", problem, delay)
            await self.sleep(delay)
        raise Stopped(f"{operation}: no attempt made")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the doubled delay fixed, half random."""
        s = self.settings
        delay = min(float(s.backoff_max), float(s.backoff_base) * 2**attempt)
        return delay / 2 + self.rand() * delay / 2


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def rejections(answer: Any, ids: list[str]) -> dict[str, str]:
    """{object id: reason} of the objects an SDK-style answer lists as rejected (only ids of the request)."""
    if not isinstance(answer, dict):
        return {}
    listed = _rejected_list(answer)
    if listed is None:
        if answer.get("success") is False:
            reason = _reason(answer) or "the endpoint answered success: false"
            return dict.fromkeys(ids, reason)
        return {}
    wanted = set(ids)
    found: dict[str, str] = {}
    for entry in listed:
        oid = _entry_id(entry)
        if oid in wanted:
            found[oid] = _reason(entry) if isinstance(entry, dict) else "rejected"
            found[oid] = found[oid] or "rejected"
    return found


def _rejected_list(answer: dict) -> list | None:
    for holder in (answer, answer.get("results")):
        if isinstance(holder, dict):
            for key in ("rejected", "failed", "failures"):
                if isinstance(holder.get(key), list):
                    return holder[key]
    return None


def _entry_id(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if not isinstance(entry, dict):
        return None
    for key in ("id", "externalId"):
        if isinstance(entry.get(key), str):
            return entry[key]
    for key in ("key", "object", "entityId", "entity"):
        inner = entry.get(key)
        if isinstance(inner, dict):
            for sub in ("id", "externalId", "entityId"):
                if isinstance(inner.get(sub), str):
                    return inner[sub]
    return None


def _reason(entry: dict) -> str:
    for key in ("errors", "error", "message", "reason"):
        value = entry.get(key)
        if isinstance(value, list):
            parts = [v.get("message") or v.get("key") or str(v) if isinstance(v, dict) else str(v) for v in value]
            return "; ".join(str(p) for p in parts)[:1000]
        if isinstance(value, dict):
            return str(value.get("message") or value)[:1000]
        if value:
            return str(value)[:1000]
    return ""


def _json(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return None
