"""Run-time overrides set with `teamcal limits set`: the ``limits_overrides`` table."""

from __future__ import annotations

from kernel import Column, Migrations, Migrator, Store, Table

migrations = Migrations("limits")


@migrations()
def m001_overrides(m: Migrator) -> None:
    """One row per (principal, limit); removing the principal removes its rows."""
    m.create_table(Table(
        "limits_overrides",
        (
            Column("principal_id", "int", references="principals(id)", on_delete="cascade"),
            Column("key", "text"),
            Column("value", "int"),
        ),
        primary_key=("principal_id", "key"),
    ))


def read(store: Store, principal_ids: list[int]) -> dict[int, dict[str, int]]:
    """The stored overrides of these principals: {principal id: {key: value}} (absent ids have none)."""
    found: dict[int, dict[str, int]] = {}
    if not principal_ids:
        return found
    rows = store.execute(
        f"SELECT principal_id, key, value FROM limits_overrides WHERE principal_id IN"
        f" ({','.join('?' * len(principal_ids))})",
        principal_ids,
    )
    for principal_id, key, value in rows:
        found.setdefault(principal_id, {})[key] = int(value)
    return found


def save(store: Store, principal_id: int, values: dict[str, int]) -> None:
    """Set (or replace) overrides of one principal, in one transaction."""
    with store.transaction():
        for key, value in values.items():
            store.execute(
                "INSERT INTO limits_overrides (principal_id, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (principal_id, key) DO UPDATE SET value = excluded.value",
                (principal_id, key, value),
            )


def clear(store: Store, principal_id: int, keys: list[str] | None = None) -> int:
    """Remove some (or, with None, all) overrides of one principal; returns how many went."""
    with store.transaction():
        if keys is None:
            cur = store.execute("DELETE FROM limits_overrides WHERE principal_id = ?", (principal_id,))
        else:
            cur = store.execute(
                f"DELETE FROM limits_overrides WHERE principal_id = ? AND key IN ({','.join('?' * len(keys))})",
                (principal_id, *keys),
            )
    return int(cur.rowcount)
