"""The admin console's plugins: installed, enabled, version, settings with their docs and values.

The description is ``kernel.introspection.describe_plugins``, the one behind ``GET
/api/plugins`` and ``teamcal plugins list --json``, so secrets are masked the same way
(fields marked secret and every ``{env = ...}`` or ``{file = ...}`` value are shown as
``********``, never their value). Enabling and disabling is
``kernel.enabling.set_plugin_enabled``, the function of ``teamcal plugins
enable|disable``: it edits plugins.toml, and the running server changes at its next
start, which the page says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

from kernel.config import ConfigError
from kernel.enabling import enabled_in_file, set_plugin_enabled
from kernel.introspection import describe_plugins
from kernel.types import Rejected
from plugins.web.admin import ADMIN, Console

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from plugins.web.sessions import Session

DONE = {
    "enabled": "Enabled in plugins.toml. Restart teamcal for it to take effect.",
    "disabled": "Disabled in plugins.toml. Restart teamcal for it to take effect.",
    "unchanged": "plugins.toml already said so; nothing changed.",
}


def routes(console: Console) -> list[BaseRoute]:
    """The plugins page and the enable/disable form."""
    host = console.host

    def plugins(request: Request, session: Session, status: int = 200, **context: Any) -> Response:
        """The plugins page: each plugin, running or not, and what plugins.toml says for the next start."""
        rows = describe_plugins(host.config, host.pm, host.settings)
        try:
            next_start: list[str] | None = enabled_in_file(host.config.path)
            problem = None
        except ConfigError as exc:
            next_start, problem = None, str(exc)
        pending = next_start is not None and any((r["name"] in next_start) != r["enabled"] for r in rows)
        return console.render(
            request, session, "admin_plugins.html", "/plugins", status, plugins=rows, next_start=next_start,
            file_problem=problem, pending=pending, config_path=str(host.config.path),
            notice=DONE.get(request.query_params.get("done", "")), **context,
        )

    def toggle(request: Request, session: Session, form: dict[str, str]) -> str:
        name, wanted = request.path_params["name"], form.get("enabled", "")
        if wanted not in ("0", "1"):
            raise Rejected(400, None, "Choose to enable or to disable the plugin.")
        try:
            changed = set_plugin_enabled(host.config.path, name, wanted == "1")
        except ConfigError as exc:
            raise Rejected(400, None, str(exc)) from None
        except OSError as exc:
            raise Rejected(
                409, None,
                f"plugins.toml could not be written ({exc.strerror or exc}): run `teamcal plugins"
                f" {'enable' if wanted == '1' else 'disable'} {name}` on the server instead.",
            ) from None
        if not changed:
            return "unchanged"
        return "enabled" if wanted == "1" else "disabled"

    return [
        Route(f"{ADMIN}/plugins", console.page(plugins), methods=["GET"]),
        Route(f"{ADMIN}/plugins/{{name}}", console.form(toggle, plugins, "/plugins"), methods=["POST"]),
    ]
