"""The `teamcal` command line: serve, check, plugins, user, group, calendar, grant, plus plugin commands."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from kernel.config import ConfigError, config_path, describe, read_config
from kernel.plugins import available_plugins, new_manager
from kernel.types import Rejected


class Commands:
    """What ``register_commands(cli)`` receives: ``cli.add`` declares a sub-command."""

    def __init__(self, subparsers: Any) -> None:
        self._subparsers = subparsers
        self.runners: dict[str, Callable[[Any, argparse.Namespace], int | None]] = {}
        self.unmigrated: set[str] = set()

    def add(
        self,
        name: str,
        help: str,
        configure: Callable[[argparse.ArgumentParser], None],
        run: Callable[[Any, argparse.Namespace], int | None],
        *,
        migrate: bool = True,
    ) -> None:
        """Declare ``teamcal NAME``: ``configure(parser)`` adds its arguments, ``run(host, args)`` does it.

        The database is migrated before ``run`` unless ``migrate`` is False (commands that
        look at or replace the database as it is: check, backup, restore).
        """
        parser = self._subparsers.add_parser(name, help=help, description=help)
        configure(parser)
        parser.set_defaults(command=name)
        self.runners[name] = run
        if not migrate:
            self.unmigrated.add(name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    path = config_path(known.config)
    host = None
    needs_host = not _is_plugins_command(argv)
    try:
        if needs_host:
            from kernel.host import Host

            host = Host.from_config(path, migrate=False)
        parser, commands = _build_parser(host)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        if args.command == "plugins":
            return _plugins(args, path)
        assert host is not None
        if args.command not in commands.unmigrated:
            host.migrate()
        return int(commands.runners[args.command](host, args) or 0)
    except ConfigError as exc:
        print(f"teamcal: {exc}", file=sys.stderr)
        return 2
    except Rejected as exc:
        print(f"teamcal: {exc.message}", file=sys.stderr)
        return 1
    finally:
        if host is not None:
            host.close()


def _is_plugins_command(argv: list[str]) -> bool:
    words = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] != "--config")]
    return bool(words) and words[0] == "plugins"


def _build_parser(host: Any) -> tuple[argparse.ArgumentParser, Commands]:
    parser = argparse.ArgumentParser(prog="teamcal", description="A team-calendar server.")
    parser.add_argument("--config", help="plugins.toml to use (default $TEAMCAL_CONFIG or ./plugins.toml)")
    sub = parser.add_subparsers(title="commands")
    commands = Commands(sub)
    from kernel import commands as builtin

    builtin.register(commands)
    plugins = sub.add_parser("plugins", help="list, show, enable and disable plugins")
    plugins.set_defaults(command="plugins")
    psub = plugins.add_subparsers(dest="action", required=True)
    listing = psub.add_parser("list", help="every installed plugin, enabled or not")
    listing.add_argument("--json", action="store_true")
    for action in ("show", "enable", "disable"):
        psub.add_parser(action, help=f"{action} a plugin").add_argument("name")
    if host is not None:
        host.hook.register_commands(cli=commands)
    return parser, commands


def _plugins(args: argparse.Namespace, path: Path) -> int:
    installed = available_plugins()
    try:
        enabled = read_config(path).enabled
    except ConfigError:
        if args.action in ("enable", "disable"):
            raise
        enabled = []
    if args.action == "list":
        rows = [
            {
                "name": p.name,
                "enabled": p.name in enabled,
                "version": p.version,
                "distribution": p.distribution,
                "description": p.description,
            }
            for p in installed.values()
        ]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                mark = "on " if r["enabled"] else "off"
                print(f"{mark}  {r['name']:<22} {r['version']:<10} {r['description']}")
        return 0
    if args.name not in installed:
        raise ConfigError(path, None, "enabled", f"unknown plugin {args.name!r} (installed: {', '.join(installed)})")
    if args.action == "show":
        return _show_plugin(installed[args.name])
    import tomlkit

    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    names = doc.get("enabled")
    if names is None:
        names = tomlkit.array()
        doc["enabled"] = names
    present = [str(n) for n in names]
    if args.action == "enable" and args.name not in present:
        names.append(args.name)
    elif args.action == "disable" and args.name in present:
        names.pop(present.index(args.name))
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    print(f"{args.name}: {'enabled' if args.action == 'enable' else 'disabled'} in {path}")
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
