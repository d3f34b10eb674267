"""What a deployment runs: every plugin with its version, the hooks it implements and its settings.

One description serves ``GET /api/plugins`` (admins only) and ``teamcal plugins list
--json``, so the two agree. Secrets are masked: fields whose metadata says
``"secret": True`` and every value plugins.toml gives as ``{env = ...}`` or
``{file = ...}``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kernel.config import Config, ConfigError, describe
from kernel.plugins import available_plugins, declared_settings

if TYPE_CHECKING:
    from kernel.host import Host

#: What a secret that is set looks like in a description.
MASK = "********"


def describe_plugins(
    config: Config | None, pm: pluggy.PluginManager | None, settings: Callable[[str], Any]
) -> list[dict[str, Any]]:
    """One row per installed or registered plugin, by name.

    ``settings(table)`` gives a table's validated settings (or raises the ConfigError
    that keeps it from being read). Hooks and settings are known only for plugins
    that run: the others are never imported. Without ``pm`` (the plugins could not
    be loaded) only ``config.enabled`` says which are enabled.
    """
    installed = available_plugins()
    registered = dict(pm.list_name_plugin()) if pm is not None else {}
    names = sorted(set(installed) | {n for n in registered if not n.startswith("kernel.")})
    owned: dict[str, list[tuple[str, type]]] = {}
    if pm is not None and config is not None:
        for table, (cls, owner) in declared_settings(pm, config.path).items():
            owned.setdefault(owner, []).append((table, cls))
    hooks = _hooks_by_plugin(pm)
    rows = []
    for name in names:
        info = installed.get(name)
        doc = inspect.getdoc(registered[name]) if name in registered else None
        row: dict[str, Any] = {
            "name": name,
            "enabled": name in registered if pm is not None else config is not None and name in config.enabled,
            "version": info.version if info else "",
            "distribution": info.distribution if info else "",
            "description": info.description if info else (doc or "").split("\n")[0],
            "hooks": hooks.get(name, []),
            "settings": [],
        }
        for table, cls in owned.get(name, []):
            raw = config.tables.get(table, {}) if config is not None else {}
            try:
                current: Any = settings(table)
            except ConfigError as exc:
                row["problem"] = str(exc)
                current = None
            row["settings"] += _describe_table(table, cls, raw, current)
        rows.append(row)
    return rows


def _hooks_by_plugin(pm: pluggy.PluginManager | None) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for hook, caller in vars(pm.hook).items() if pm is not None else ():
        if hook.startswith("_"):
            continue
        for impl in caller.get_hookimpls():
            found.setdefault(impl.plugin_name, set()).add(hook)
    return {name: sorted(names) for name, names in found.items()}


def _describe_table(table: str, cls: type, raw: Any, current: Any) -> list[dict[str, Any]]:
    """The rows of one settings table: key, type, default, doc and current value (None when unreadable)."""
    rows = []
    for f, (key, type_name, default, doc) in zip(dataclasses.fields(cls), describe(cls)):
        secret = bool(f.metadata.get("secret")) or _references(raw.get(key) if isinstance(raw, dict) else None)
        value = getattr(current, key) if current is not None else None
        rows.append({
            "table": table,
            "key": key,
            "type": type_name,
            "doc": doc,
            "default": _mask(default) if secret else _plain(default),
            "value": _mask(value) if secret else _plain(value),
            "secret": secret,
        })
    return rows


def _references(raw: Any) -> bool:
    """Does a raw plugins.toml value hold an ``{env = ...}`` or ``{file = ...}`` reference anywhere?"""
    if isinstance(raw, dict):
        return (len(raw) == 1 and set(raw) <= {"env", "file"}) or any(_references(v) for v in raw.values())
    if isinstance(raw, list):
        return any(_references(v) for v in raw)
    return False


def _mask(value: Any) -> Any:
    return MASK if value else value


def _plain(value: Any) -> Any:
    """A settings value as JSON: dataclasses as objects, units as numbers, other types as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    for plain in (int, float, str):
        if isinstance(value, plain):
            return plain(value)
    return str(value)


def routes(host: Host) -> list[Route]:
    """``GET /api/plugins``: :func:`describe_plugins` of the host, for server admins."""

    async def plugins(request: Request) -> JSONResponse:
        principal = await host.require_principal(request)
        if not principal.is_admin:
            return JSONResponse({"error": "Only server admins may list the plugins."}, 403)
        rows = await host.run(describe_plugins, host.config, host.pm, host.settings)
        return JSONResponse(rows, headers={"Cache-Control": "no-store"})

    return [Route("/api/plugins", plugins, methods=["GET"])]
