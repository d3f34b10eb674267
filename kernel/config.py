"""plugins.toml: reading, secrets, and validation against the plugins' settings dataclasses.

Every problem becomes one :class:`ConfigError` line naming the file, the
table and the key; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cryptography.fernet import Fernet

DEFAULT_CONFIG = "plugins.toml"


class ConfigError(Exception):
    """A configuration problem, worded as one line for the admin."""

    def __init__(self, path: str | Path, table: str | None, key: str | None, message: str) -> None:
        parts = [str(Path(path).resolve()) if str(path) else "plugins"]
        if table and key:
            parts.append(f"[{table}] {key}")
        elif table or key:
            parts.append(f"[{table}]" if table else str(key))
        super().__init__(": ".join([*parts, message]))


class SecretUnavailable(ConfigError):
    """A ``{env = ...}`` or ``{file = ...}`` secret that cannot be read (unset, missing file).

    Commands other than ``serve`` and ``check`` meet it only when they use the
    table holding it (:meth:`kernel.host.Host.settings`).
    """


class ByteSize(int):
    """A size in bytes, written in plugins.toml as an integer or "512kb", "10mb", "900b"."""

    _UNITS: ClassVar[dict[str, int]] = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}

    @classmethod
    def from_config(cls, value: Any) -> ByteSize:
        """Parse an int or a string with a b/kb/mb/gb unit."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return cls(value)
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(\d+)\s*([kmg]?b)?\s*", value.lower())
            if m:
                return cls(int(m.group(1)) * cls._UNITS[m.group(2) or "b"])
        raise ValueError(f'expected a size such as 512kb or 10mb, got {value!r}')


class Duration(float):
    """Seconds, written as a number or "90s", "15m", "2h", "1d"."""

    _UNITS: ClassVar[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    @classmethod
    def from_config(cls, value: Any) -> Duration:
        """Parse a number of seconds or a string with an s/m/h/d unit."""
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return cls(value)
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value.lower())
            if m:
                return cls(float(m.group(1)) * cls._UNITS[m.group(2) or "s"])
        raise ValueError(f"expected a duration such as 90s, 15m or 2h, got {value!r}")


class SecretKeys(str):
    """Fernet keys separated by spaces, commas or new lines ("" for none); see kernel.encryption."""

    @classmethod
    def from_config(cls, value: Any) -> SecretKeys:
        """Accept a string of zero or more valid Fernet keys."""
        if not isinstance(value, str):
            raise ValueError(f"must be a string of Fernet keys, got {type(value).__name__}")
        for number, key in enumerate(split_keys(value), 1):
            try:
                Fernet(key)
            except ValueError:
                raise ValueError(
                    f"key {number} is not a Fernet key (32 url-safe base64-encoded bytes:"
                    " make one with `teamcal secrets generate-key`)"
                ) from None
        return cls(value)


def split_keys(value: str) -> list[str]:
    """The keys of a ``secret_key`` value, the encrypting (first) one first."""
    return [k for k in re.split(r"[\s,]+", value) if k]


@dataclass
class KernelSettings:
    """The ``[kernel]`` table."""

    host: str = field(default="127.0.0.1", metadata={"doc": "address `teamcal serve` listens on"})
    port: int = field(default=5232, metadata={"doc": "port `teamcal serve` listens on"})
    workers: int = field(
        default=1,
        metadata={"doc": "server processes `teamcal serve` runs on this machine (each a worker with its own"
                  " connections; any backend)"},
    )
    database: str = field(
        default="teamcal.sqlite3",
        metadata={"doc": "SQLite file (relative to plugins.toml), or postgresql://user@host:port/dbname"},
    )
    database_password: str = field(
        default="",
        metadata={
            "doc": "PostgreSQL password ({env = ...} or {file = ...}; PGPASSWORD and ~/.pgpass work too)",
            "secret": True,
        },
    )
    feed_poll: Duration = field(
        default=Duration(1),
        metadata={"doc": "how often a server looks for changes other processes committed (changes_committed)"},
    )
    job_lease: Duration = field(
        default=Duration(30),
        metadata={"doc": "how long a job's lease outlives its last renewal: a dead node's job moves on after this"},
    )
    database_connections: int = field(
        default=32, metadata={"doc": "most PostgreSQL connections one process holds (one per busy thread)"}
    )
    base_url: str = field(
        default="", metadata={"doc": "public URL of the server for links (default http://host:port)"}
    )
    max_body_size: ByteSize = field(
        default=ByteSize(10 * 1024**2), metadata={"doc": "hard cap on any request body"}
    )
    tls_certificate: str = field(default="", metadata={"doc": "PEM certificate: serve HTTPS when set with tls_key"})
    tls_key: str = field(default="", metadata={"doc": "PEM private key for tls_certificate"})
    team_member_privilege: str = field(
        default="write",
        metadata={"doc": "what members get on their group's calendars", "choices": ("read", "write", "admin")},
    )
    index_horizon_years: int = field(
        default=10, metadata={"doc": "how far ahead rules without end are indexed; beyond, queries expand"}
    )
    index_max_instances: int = field(
        default=5000, metadata={"doc": "instances indexed per object; beyond, queries expand"}
    )
    budget_instances: int = field(
        default=10_000,
        metadata={"doc": "recurrence instances (of events and time zone rules) one request may examine; beyond, 507"},
    )
    budget_nodes: int = field(
        default=10_000, metadata={"doc": "calendar components one answer may generate (expanded instances); beyond, 507"}
    )
    budget_bytes: ByteSize = field(
        default=ByteSize(16 * 1024**2), metadata={"doc": "calendar data one answer may generate (expand); beyond, 507"}
    )
    zone_max_observances: int = field(
        default=100, metadata={"doc": "STANDARD/DAYLIGHT observances one custom VTIMEZONE may have; beyond, 403"}
    )
    zone_max_transitions: int = field(
        default=2_000,
        metadata={"doc": "offset changes one custom VTIMEZONE may need up to 2400 (one per rule period); beyond, 403"},
    )
    auth_cache: Duration = field(
        default=Duration(300),
        metadata={"doc": "how long a password verified from a client address is remembered in memory"},
    )
    auth_threads: int = field(
        default=2, metadata={"doc": "password hashes verified at once, each in its own worker thread"}
    )
    auth_address_failures: int = field(
        default=20,
        metadata={"doc": "failed logins from one client address (IPv6: its /64) per auth_failure_window"
                  " before its logins get 429; 0 = no limit"},
    )
    auth_user_failures: int = field(
        default=10,
        metadata={"doc": "failed logins for one user name per auth_failure_window before its logins get 429;"
                  " 0 = no limit"},
    )
    auth_failure_window: Duration = field(
        default=Duration(600), metadata={"doc": "the sliding window the failed-login limits count in"}
    )
    secret_key: SecretKeys = field(
        default=SecretKeys(""),
        repr=False,
        metadata={
            "doc": "Fernet keys that encrypt secrets plugins store (remote passwords): the first encrypts,"
            " all decrypt; give it as {env = \"NAME\"} or {file = \"path\"}",
            "secret": True,
        },
    )
    metrics_token: str = field(
        default="",
        repr=False,
        metadata={
            "doc": "bearer token that may read /metrics (else server admins only); give it as {env = \"NAME\"}"
        },
    )
    synchronous: str = field(
        default="full",
        metadata={
            "doc": "SQLite synchronous mode: full (a commit survives power loss) or normal (faster commits;"
            " the last ones may be lost on power loss, never on a crash)",
            "choices": ("normal", "full"),
        },
    )
    migration_backups: int = field(
        default=5,
        metadata={
            "doc": "newest automatic backups (before migrations and restores) kept in backups/ beside the"
            " database; 0: none"
        },
    )
    log_level: str = field(
        default="info", metadata={"doc": "server log level", "choices": ("debug", "info", "warning", "error")}
    )


@dataclass
class Config:
    """A read plugins.toml: where it is, which plugins are on, and the raw tables."""

    path: Path
    enabled: list[str]
    tables: dict[str, Any]

    def database_path(self, kernel: KernelSettings) -> str:
        """The database file, relative to the config file's folder (a PostgreSQL URL as it is)."""
        if kernel.database.startswith(("postgresql://", "postgres://")):
            return kernel.database
        if kernel.database == ":memory:":
            raise ConfigError(
                self.path, "kernel", "database",
                "':memory:' cannot be shared by the worker threads (each opens its own connection); name a file",
            )
        return str(self.relative(kernel.database))

    def relative(self, name: str) -> Path:
        """A file named in plugins.toml: absolute, or relative to the config file's folder."""
        found = Path(name).expanduser()
        return found if found.is_absolute() else self.path.parent / found

    def tls_files(self, kernel: KernelSettings) -> tuple[str, str] | None:
        """``(certificate, key)`` to serve HTTPS with, or None for plain HTTP.

        Both must be set, readable and a matching PEM pair; otherwise a
        ConfigError names the key and what is wrong (``teamcal check`` and
        ``serve`` stop on it).
        """
        if not kernel.tls_certificate and not kernel.tls_key:
            return None
        missing = "tls_key" if kernel.tls_certificate else "tls_certificate"
        if not kernel.tls_certificate or not kernel.tls_key:
            raise ConfigError(
                self.path, "kernel", missing, "must be set too (tls_certificate and tls_key go together)"
            )
        files = {key: self.relative(getattr(kernel, key)) for key in ("tls_certificate", "tls_key")}
        for key, file in files.items():
            try:
                file.read_bytes()
            except OSError as exc:
                raise ConfigError(self.path, "kernel", key, f"cannot read {file}: {exc.strerror}") from None
        import ssl

        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                files["tls_certificate"], files["tls_key"], password=lambda: b""  # never prompt
            )
        except ssl.SSLError as exc:
            raise ConfigError(
                self.path, "kernel", "tls_certificate",
                f"{files['tls_certificate']} and {files['tls_key']} are not a PEM certificate and its key"
                f" ({exc.reason or exc})",
            ) from None
        return str(files["tls_certificate"]), str(files["tls_key"])


def config_path(explicit: str | None = None) -> Path:
    """--config, else $TEAMCAL_CONFIG, else ./plugins.toml."""
    return Path(explicit or os.environ.get("TEAMCAL_CONFIG") or DEFAULT_CONFIG)


def read_config(path: Path) -> Config:
    """Read plugins.toml; a missing file, bad TOML or a bad ``enabled`` list is a ConfigError."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, None, None, "file not found (teamcal --config PATH, or TEAMCAL_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, None, f"not valid TOML: {exc}") from None
    enabled = data.pop("enabled", [])
    if not isinstance(enabled, list) or not all(isinstance(n, str) for n in enabled):
        raise ConfigError(path, None, "enabled", "must be a list of plugin names")
    return Config(path=path.resolve(), enabled=list(dict.fromkeys(enabled)), tables=data)


def resolve_secret(value: Any, path: Path, table: str, key: str) -> Any:
    """Replace ``{env = "NAME"}`` and ``{file = "path"}`` with the secret they point to."""
    if not (isinstance(value, dict) and len(value) == 1 and set(value) <= {"env", "file"}):
        return value
    if "env" in value:
        if value["env"] not in os.environ:
            raise SecretUnavailable(path, table, key, f"environment variable {value['env']} is not set")
        return os.environ[value["env"]]
    secret_path = Path(value["file"])
    if not secret_path.is_absolute():
        secret_path = path.parent / secret_path
    try:
        return secret_path.read_text().strip()
    except OSError as exc:
        raise SecretUnavailable(path, table, key, f"cannot read secret file: {exc.strerror}") from None


def validate(cls: type, data: Any, path: Path, table: str, plugin: str | None = None) -> Any:
    """Build an instance of the settings dataclass ``cls`` (of ``plugin``) from a TOML table.

    A ValueError from the dataclass's own checks (``__post_init__``) becomes a
    ConfigError naming the plugin, and the setting when the message names one.
    """
    if not isinstance(data, dict):
        raise ConfigError(path, table, None, "must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(path, table, unknown[0], f"unknown key (known: {', '.join(names) or 'none'})")
    for key, f in names.items():
        if key not in data and f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(path, table, key, "missing: this setting has no default")
    values = {}
    for key, raw in data.items():
        value = _convert(hints[key], resolve_secret(raw, path, table, key), path, table, key, plugin)
        choices = names[key].metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(path, table, key, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
        values[key] = value
    try:
        return cls(**values)
    except ValueError as exc:
        named = [key for key in names if re.search(rf"\b{re.escape(key)}\b", str(exc))]
        owner = f"plugin {plugin!r}: " if plugin else ""
        raise ConfigError(path, table, named[0] if len(named) == 1 else None, f"{owner}{exc}") from None


def _convert(hint: Any, value: Any, path: Path, table: str, key: str, plugin: str | None = None) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, path, table, key, plugin)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return validate(hint, value, path, f"{table}.{key}", plugin)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, table, key, "must be a table")
        return {
            str(k): _convert(args[1], v, path, f"{table}.{key}", str(k), plugin) if args else v
            for k, v in value.items()
        }
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, table, key, f"must be a list, got {value!r}")
        return [_convert(args[0], v, path, table, key, plugin) for v in value] if args else value
    if hasattr(hint, "from_config"):
        try:
            return hint.from_config(value)
        except ValueError as exc:
            raise ConfigError(path, table, key, str(exc)) from None
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, table, key, f"must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, table, key, f"must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, table, key, f"must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(path, table, key, f"must be a string, got {value!r}")
        return value
    if hint is Any:
        return value
    raise ConfigError(path, table, key, f"unsupported setting type {hint!r}")


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """(key, type, default, doc) for each field of a settings dataclass, for `plugins show`."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        type_name = getattr(hints[f.name], "__name__", None) or str(hints[f.name]).replace("typing.", "")
        rows.append((f.name, type_name, default, f.metadata.get("doc", "")))
    return rows
