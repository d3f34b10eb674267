"""Which limit applies to an account, and where it comes from.

Precedence, per limit: the account's run-time override (`teamcal limits
set`), then ``[limits.accounts.NAME]``; then its groups (each group's run-time
override, then ``[limits.groups.NAME]``; when several groups set a limit the
largest value wins); then the ``[limits]`` default. A group's own calendars
count the group itself among its groups.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel import Principal, Store
from plugins.limits.settings import KEYS, TYPES, Settings, Size


@dataclass(frozen=True)
class Limit:
    """One effective limit and a short description of where it came from."""

    value: int
    source: str


def effective_limits(settings: Settings, store: Store, owner: Principal) -> dict[str, Limit]:
    """Every limit that applies to calendars owned by ``owner``, by key."""
    member_of, rows = store.groups_and_rows(*overrides_read(owner.name))
    groups = ([owner] if owner.kind == "group" else []) + member_of
    stored = {principal_id: {key: int(value) for key, value in found} for principal_id, found in rows.items()}
    own_db = stored.get(owner.id, {})
    own_toml = settings.accounts[owner.name].values() if owner.name in settings.accounts else {}
    group_levels: list[tuple[str, dict[str, int], dict[str, int]]] = [
        (g.name, stored.get(g.id, {}), settings.groups[g.name].values() if g.name in settings.groups else {})
        for g in groups
    ]
    result: dict[str, Limit] = {}
    for key in KEYS:
        if key in own_db:
            result[key] = Limit(own_db[key], "account override (db)")
        elif key in own_toml:
            result[key] = Limit(own_toml[key], "account (plugins.toml)")
        else:
            result[key] = _from_groups(key, group_levels) or Limit(int(getattr(settings, key)), "default")
    return result


def overrides_read(owner: str) -> tuple[str, str, tuple[str, ...]]:
    """The arguments of ``store.groups_and_rows`` that read the overrides bearing on ``owner``
    (by name, as a URL gives it, so that the read can be named ahead of the request)."""
    return owner, "limits_overrides", ("key", "value")


def _from_groups(key: str, levels: list[tuple[str, dict[str, int], dict[str, int]]]) -> Limit | None:
    best: Limit | None = None
    for name, db_values, toml_values in levels:
        if key in db_values:
            candidate = Limit(db_values[key], f"group {name} (db)")
        elif key in toml_values:
            candidate = Limit(toml_values[key], f"group {name} (plugins.toml)")
        else:
            continue
        if best is None or candidate.value > best.value:
            best = candidate
    return best


def shown(key: str, value: int) -> str:
    """A limit's value for people: sizes also in kb or mb when they are whole ("524288 (512kb)")."""
    if not issubclass(TYPES[key], Size):
        return str(value)
    for unit, factor in (("mb", 1024**2), ("kb", 1024)):
        if value >= factor and value % factor == 0:
            return f"{value} ({value // factor}{unit})"
    return str(value)
