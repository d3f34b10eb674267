"""Test hosts: plugins.toml for a temporary deployment, hosts with chosen plugins and settings,
users and groups, and asserting a configuration error.

Every host made here gets a fresh database on the session's backend (a SQLite file in
its folder, or a fresh schema in the private PostgreSQL cluster; see :mod:`kernel.testing`).
"""

from __future__ import annotations

import json
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kernel.config import ConfigError
from kernel.host import Host
from kernel.passwords import hash_password
from kernel.types import Principal

#: Makes the ``[kernel] database`` value of a new test host (None: a SQLite file).
#: Set by the ``teamcal_backend`` fixture.
_new_database: Callable[[], str] | None = None

#: What names a plugin for :func:`build_host`: an installed plugin's name, a module or
#: object with ``@hookimpl`` functions, or a (name, module or object) pair.
PluginSpec = str | ModuleType | tuple[str, Any] | object
#: Settings for :func:`build_host`: {table: {key: value}}, "kernel" included.
Settings = Mapping[str, Mapping[str, Any]]


def database_setting(directory: Path | None = None) -> str:
    """The ``[kernel] database`` value for a test host in ``directory`` on the current backend.

    A folder that already has a plugins.toml keeps its database (as it keeps its
    SQLite file), so a second host made there reopens the same deployment.
    """
    if directory is not None and (directory / "plugins.toml").exists():
        with open(directory / "plugins.toml", "rb") as fh:
            found = tomllib.load(fh).get("kernel", {}).get("database")
        if isinstance(found, str):
            return found
    return "teamcal.sqlite3" if _new_database is None else _new_database()


def event_object(
    uid: str = "e1", start: str = "20240102T100000Z", end: str = "20240102T110000Z", summary: str = "x"
) -> bytes:
    """A calendar object resource holding one event (UTC start and end in iCalendar form)."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//teamcal tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def write_config(
    directory: Path, enabled: Iterable[str] = (), extra: str = "", *, port: int = 5232, kernel: str = ""
) -> Path:
    """Write a plugins.toml in ``directory`` enabling these plugins.

    ``kernel`` holds more ``[kernel]`` lines; ``extra`` is TOML appended after it.
    """
    path = directory / "plugins.toml"
    database = database_setting(directory)
    names = ", ".join(f'"{n}"' for n in enabled)
    path.write_text(
        f'enabled = [{names}]\n\n[kernel]\nhost = "127.0.0.1"\nport = {port}\n'
        f'database = "{database}"\n{kernel}\n\n{extra}\n',
        encoding="utf-8",
    )
    return path


def make_host(
    directory: Path,
    enabled: Iterable[str] = (),
    extra: str = "",
    *,
    plugins: Iterable[tuple[str, Any]] = (),
    kernel: str = "",
) -> Host:
    """A migrated host on a fresh database (SQLite file in ``directory``, or a PostgreSQL
    schema) with these plugins enabled.

    ``plugins`` are (name, object) pairs registered directly; ``kernel`` and
    ``extra`` are TOML lines for the ``[kernel]`` table and after it.
    """
    return Host.from_config(write_config(directory, enabled, extra, kernel=kernel), extra_plugins=plugins)


def add_user(host: Host, name: str, password: str = "password", *, admin: bool = False, **kw: Any) -> Principal:
    """Create a user with a password (fast: one hash per call)."""
    with host.store.transaction():
        return host.store.create_principal(name, "user", password_hash=hash_password(password), is_admin=admin, **kw)


def add_group(
    host: Host, name: str, members: Iterable[Principal] = (), *, admins: Iterable[Principal] = ()
) -> Principal:
    """Create a group with these members and these group admins."""
    with host.store.transaction():
        group = host.store.create_principal(name, "group")
        for m in members:
            host.store.add_member(group.id, m.id)
        for m in admins:
            host.store.add_member(group.id, m.id, admin=True)
    return group


# -- hosts with chosen plugins and settings ----------------------------------------


def split_plugins(plugins: Iterable[PluginSpec]) -> tuple[list[str], list[tuple[str, Any]]]:
    """Plugin specs as (names to enable, (name, object) pairs to register directly).

    A module is named after its entry point when one in the environment points at
    it, else after the last part of its dotted name; any other object after its
    class, lower-cased.
    """
    enabled: list[str] = []
    direct: list[tuple[str, Any]] = []
    for spec in plugins:
        if isinstance(spec, str):
            enabled.append(spec)
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
            direct.append((spec[0], spec[1]))
        elif isinstance(spec, ModuleType):
            direct.append((_module_plugin_name(spec), spec))
        else:
            direct.append((type(spec).__name__.lower(), spec))
    return enabled, direct


def _module_plugin_name(module: ModuleType) -> str:
    from kernel.plugins import available_plugins

    for name, info in available_plugins().items():
        if info.entry_point.value == module.__name__:
            return name
    return module.__name__.rpartition(".")[2]


def toml_value(value: Any) -> str:
    """A Python value as a TOML value: str, int, float, bool, Path, lists, dicts (inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to plugins.toml (TOML has str, int, float, bool, lists and tables)")


def settings_toml(settings: Settings | None, *, kernel_defaults: Mapping[str, Any] | None = None) -> str:
    """``settings`` ({table: {key: value}}) as the tables of a plugins.toml (``kernel_defaults`` first in [kernel])."""
    tables = {table: dict(values) for table, values in (settings or {}).items()}
    if kernel_defaults is not None:
        tables["kernel"] = {**kernel_defaults, **tables.get("kernel", {})}
    return "".join(
        f"\n[{table}]\n" + "".join(f"{json.dumps(key)} = {toml_value(v)}\n" for key, v in values.items())
        for table, values in tables.items()
    )


def write_plugins_toml(
    directory: Path, enabled: Iterable[str] = (), settings: Settings | None = None, toml: str = ""
) -> Path:
    """Write ``directory/plugins.toml``: these plugins enabled, these settings, the session's
    database, then ``toml`` (more tables, as text)."""
    defaults = {"host": "127.0.0.1", "port": 5232, "database": database_setting(directory)}
    text = f"enabled = {toml_value(list(enabled))}\n" + settings_toml(settings, kernel_defaults=defaults)
    path = directory / "plugins.toml"
    path.write_text(text + ("\n" + toml if toml else ""), encoding="utf-8")
    return path


def build_host(
    directory: Path,
    plugins: Iterable[PluginSpec] = (),
    settings: Settings | None = None,
    *,
    users: Iterable[str] = (),
    toml: str = "",
) -> Host:
    """A migrated host in ``directory`` on a fresh database of the session's backend.

    ``plugins`` are installed plugins' names (enabled in plugins.toml) and plugin
    modules or objects (registered directly, so a package that is not installed
    works too); ``settings`` maps tables (``"kernel"`` and each plugin's) to
    ``{key: value}`` with Python values; ``toml`` is more TOML text for other tables.
    ``users`` are created with the password "password".
    """
    enabled, direct = split_plugins(plugins)
    directory.mkdir(parents=True, exist_ok=True)
    host = Host.from_config(write_plugins_toml(directory, enabled, settings, toml), extra_plugins=direct)
    for name in users:
        add_user(host, name)
    return host


class HostFactory:
    """Builds hosts for one test (:func:`build_host` in folders of its own) and closes them after it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.hosts: list[Host] = []

    def __call__(
        self,
        plugins: Iterable[PluginSpec] = (),
        settings: Settings | None = None,
        *,
        users: Iterable[str] = (),
        toml: str = "",
    ) -> Host:
        """A new host: see :func:`build_host`."""
        host = build_host(self.directory / f"host{len(self.hosts)}", plugins, settings, users=users, toml=toml)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        """Close every host made."""
        for host in self.hosts:
            host.close()
        self.hosts.clear()


@pytest.fixture
def make_teamcal(tmp_path: Path) -> Iterator[HostFactory]:
    """``make_teamcal(plugins, settings, users=..., toml=...)`` builds a host (see
    :func:`build_host`) on the session's backend; every host it made is closed after the test."""
    factory = HostFactory(tmp_path / "teamcal")
    yield factory
    factory.close()


# -- configuration errors --------------------------------------------------------


def assert_config_error(
    fragment: str,
    *,
    plugins: Iterable[PluginSpec] = (),
    settings: Settings | None = None,
    toml: str | None = None,
    directory: Path | None = None,
) -> str:
    """Assert that building a host fails with a one-line :class:`ConfigError` containing
    ``fragment``; returns the message.

    Either the host of :func:`build_host` (``plugins`` and ``settings``), or, with
    ``toml``, a plugins.toml of exactly that text (the session's database is added
    when it names none); plugin modules and objects in ``plugins`` are registered
    directly in both cases. ``directory`` defaults to a temporary folder.
    """
    with tempfile.TemporaryDirectory(prefix="teamcal-config-") as scratch:
        folder = directory if directory is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if toml is None:
                host = build_host(folder, plugins, settings)
            else:
                enabled, direct = split_plugins(plugins)
                if enabled or settings:
                    raise TypeError("with toml=, name installed plugins and settings in the TOML text")
                host = Host.from_config(_write_text(folder, toml), extra_plugins=direct)
        except ConfigError as exc:
            message = str(exc)
        else:
            host.close()
            pytest.fail(f"no ConfigError: the host was built (expected one containing {fragment!r})")
    assert "\n" not in message, f"the ConfigError is not one line:\n{message}"
    assert fragment in message, f"{fragment!r} is not in the ConfigError: {message}"
    return message


def _write_text(directory: Path, text: str) -> Path:
    """plugins.toml with ``text``, and the session's database when the text is TOML naming none."""
    path = directory / "plugins.toml"
    try:
        kernel = tomllib.loads(text).get("kernel", {})
    except tomllib.TOMLDecodeError:
        kernel = None
    if isinstance(kernel, dict) and "database" not in kernel:
        database = toml_value(database_setting(directory))
        if "kernel" in tomllib.loads(text):
            text = text.replace("[kernel]", f"[kernel]\ndatabase = {database}", 1)
        else:
            text = f"{text}\n\n[kernel]\ndatabase = {database}\n"
    path.write_text(text, encoding="utf-8")
    return path
