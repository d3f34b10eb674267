"""The `teamcal` command line: serve, check, plugins, user, group, calendar, grant, plus plugin commands."""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import secrets
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from kernel.config import Config, ConfigError, config_path, describe, read_config
from kernel.plugins import available_plugins, command_owners, new_manager
from kernel.types import Rejected


class Commands:
    """What ``register_commands(cli)`` receives: ``cli.add`` declares a sub-command."""

    def __init__(self, subparsers: Any) -> None:
        self._subparsers = subparsers
        self.runners: dict[str, Callable[[Any, argparse.Namespace], int | None]] = {}
        self.unmigrated: set[str] = set()
        self.hostless: set[str] = set()
        self.resolving: set[str] = set()

    def add(
        self,
        name: str,
        help: str,
        configure: Callable[[argparse.ArgumentParser], None],
        run: Callable[[Any, argparse.Namespace], int | None],
        *,
        migrate: bool = True,
        host: bool = True,
        resolve_secrets: bool = False,
    ) -> None:
        """Declare ``teamcal NAME``: ``configure(parser)`` adds its arguments, ``run(host, args)`` does it.

        The database is migrated before ``run`` unless ``migrate`` is False (commands that
        look at or replace the database as it is: check, backup, restore). With ``host``
        False, ``run`` gets None and needs no plugins.toml. A plugin's secrets are read
        when the command uses the plugin's settings, or before ``run`` for every plugin
        with ``resolve_secrets`` (serve, check).
        """
        parser = self._subparsers.add_parser(name, help=help, description=help)
        configure(parser)
        parser.set_defaults(command=name)
        self.runners[name] = run
        if not migrate:
            self.unmigrated.add(name)
        if not host:
            self.hostless.add(name)
        if resolve_secrets:
            self.resolving.add(name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv, config_path(_config_option(argv)))
    except ConfigError as exc:
        print(f"teamcal: {exc}", file=sys.stderr)
        return 2
    except Rejected as exc:
        print(f"teamcal: {exc.message}", file=sys.stderr)
        return 1


def _run(argv: list[str], path: Path) -> int:
    """Load the enabled plugins (for their commands), parse ``argv``, then build a host if the command needs one.

    A broken or missing plugins.toml stops only commands that need it: ``--help``,
    ``--version`` and hostless commands still run.
    """
    from kernel.host import Host

    loaded: tuple[Config, Any] | None = None
    problem: ConfigError | None = None
    try:
        loaded = Host.load(path)
    except ConfigError as exc:
        problem = exc
    parser, commands = _build_parser(loaded[1] if loaded else None)
    word = _command_word(argv)
    if word is not None and word not in commands.runners:
        if problem is not None:
            raise problem
        owner = command_owners().get(word)
        if owner is not None:
            print(
                f"teamcal: {word} is a command of the plugin {owner}, which is not enabled in {path.resolve()}:"
                f" enable it with `teamcal plugins enable {owner}`",
                file=sys.stderr,
            )
            return 2
    args = parser.parse_args(argv)
    command = getattr(args, "command", None)
    if command is None:
        parser.print_help()
        return 2
    run = commands.runners[command]
    if command in commands.hostless:
        return int(run(None, args) or 0)
    if loaded is None:
        assert problem is not None
        raise problem
    config, pm = loaded
    host = Host.from_plugins(config, pm, migrate=False, lazy_secrets=command not in commands.resolving)
    try:
        if command not in commands.unmigrated:
            host.migrate()
        return int(run(host, args) or 0)
    finally:
        host.close()


def _config_option(argv: list[str]) -> str | None:
    """The value of ``--config`` in ``argv``, read before the parser exists."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    return known.config


def _command_word(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (its first word that is neither an option nor --config's value)."""
    for i, word in enumerate(argv):
        if not word.startswith("-") and (i == 0 or argv[i - 1] != "--config"):
            return word
    return None


def _build_parser(pm: Any) -> tuple[argparse.ArgumentParser, Commands]:
    parser = argparse.ArgumentParser(prog="teamcal", description="A team-calendar server.")
    parser.add_argument("--config", help="plugins.toml to use (default $TEAMCAL_CONFIG or ./plugins.toml)")
    parser.add_argument("--version", action="version", version=f"teamcal {_version()}")
    sub = parser.add_subparsers(title="commands")
    commands = Commands(sub)
    from kernel import commands as builtin

    builtin.register(commands)
    commands.add("plugins", "list, show, enable and disable plugins", _plugins_args, _plugins, host=False)
    if pm is not None:
        pm.hook.register_commands(cli=commands)
    return parser, commands


def _version() -> str:
    try:
        return metadata.version("teamcal")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _plugins_args(plugins: argparse.ArgumentParser) -> None:
    psub = plugins.add_subparsers(dest="action", required=True)
    listing = psub.add_parser("list", help="every installed plugin, enabled or not")
    listing.add_argument("--json", action="store_true")
    for action in ("show", "enable", "disable"):
        psub.add_parser(action, help=f"{action} a plugin").add_argument("name")


def _plugins(host: None, args: argparse.Namespace) -> int:
    """teamcal plugins list|show|enable|disable."""
    path = config_path(args.config)
    if args.action == "list":
        return _list_plugins(path, args.json)
    if args.action == "show":
        installed = available_plugins()
        if args.name not in installed:
            raise ConfigError(path, None, "enabled", f"unknown plugin {args.name!r} (installed: {', '.join(installed)})")
        return _show_plugin(installed[args.name])
    from kernel.enabling import set_plugin_enabled

    set_plugin_enabled(path, args.name, args.action == "enable")
    print(f"{args.name}: {'enabled' if args.action == 'enable' else 'disabled'} in {path}")
    return 0


def _list_plugins(path: Path, as_json: bool) -> int:
    """Every installed plugin; for the enabled ones their hooks and settings (secrets masked), as GET /api/plugins."""
    from kernel.host import Host, validate_settings
    from kernel.introspection import describe_plugins

    config: Config | None = None
    pm: Any = None
    validated: dict[str, Any] = {}
    try:
        config = read_config(path)
        config, pm = Host.load(path)
        validated = validate_settings(config, pm, lazy_secrets=True)
    except ConfigError as exc:
        pm = None
        print(f"teamcal: {exc} (so the plugins are listed without their hooks and settings)", file=sys.stderr)

    def settings(table: str) -> Any:
        found = validated[table]
        if isinstance(found, ConfigError):
            raise found
        return found

    rows = describe_plugins(config, pm, settings)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        mark = "on " if r["enabled"] else "off"
        print(f"{mark}  {r['name']:<22} {r['version']:<10} {r['description']}")
    return 0


def _show_plugin(info: Any) -> int:
    pm = new_manager()
    pm.register(info.entry_point.load(), info.name)
    print(f"{info.name} {info.version} ({info.distribution}): {info.description}")
    for result in pm.hook.register_settings():
        for table, cls in (result or {}).items():
            print(f"\n[{table}]")
            for key, type_name, default, doc in describe(cls):
                print(f"  {key} ({type_name}) = {default!r}\n      {doc}")
    return 0


def generate_password() -> str:
    """A random password for first-run accounts."""
    return secrets.token_urlsafe(12)


if __name__ == "__main__":
    sys.exit(main())
