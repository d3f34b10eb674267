"""What ``register_commands(cli)`` receives: the registry of ``teamcal`` sub-commands.

Its own module so that ``kernel`` can export it without importing the command line
(``python -m kernel.cli`` must find ``kernel.cli`` not yet imported).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


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
