"""The limits section of the web admin console: every account's effective limits and where each comes from.

``render(ctx)`` needs only ``ctx.host`` and returns escaped HTML (``markupsafe``), so it
fits any admin-section registry that calls ``render(ctx)``. It is meant to be offered
through the web plugin's ``web_extend`` hook (``web.add_admin_section("Limits",
render)``), never by importing the web plugin; until that hook exists it is not
registered. The values are :func:`effective_limits`', the ones `teamcal
limits show` prints; overrides are changed with `teamcal limits set|clear` or in
plugins.toml, which the section says.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from plugins.limits import overrides
from plugins.limits.effective import effective_limits, shown

#: What the section calls each kind of source (effective_limits' wording, grouped).
KINDS = (("account override (db)", "override"), ("account (plugins.toml)", "account setting"), ("default", "default"))


def source_kind(source: str) -> str:
    """Where a limit comes from, in three words: "override", "account setting", "group ..." or "default"."""
    for prefix, kind in KINDS:
        if source == prefix:
            return kind
    return source  # "group NAME (db)" / "group NAME (plugins.toml)" say it themselves


def render(ctx: Any) -> Markup:
    """The section: per account (users, then groups) its effective limits with their source,
    the non-default ones listed first in the summary."""
    host = ctx.host
    settings, store = host.settings("limits"), host.store
    accounts = store.principals("user") + store.principals("group")
    stored = overrides.read(store, [p.id for p in accounts])
    parts = [Markup(
        "<p>Defaults come from <code>[limits]</code>; <code>[limits.accounts.NAME]</code> and"
        " <code>[limits.groups.NAME]</code> in plugins.toml and run-time overrides"
        " (<code>teamcal limits set NAME --max-events 500</code>, <code>teamcal limits clear NAME</code>)"
        " take precedence, as docs/limits.md describes.</p>"
    )]
    for principal in accounts:
        limits = effective_limits(settings, store, principal)
        special = [(k, v) for k, v in limits.items() if v.source != "default"]
        summary = Markup("{}: {}").format(
            principal.name,
            ", ".join(f"{k} = {shown(k, v.value)}" for k, v in special) if special else "all defaults",
        )
        rows = Markup("").join(
            Markup("<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>").format(
                key, shown(key, limit.value), source_kind(limit.source)
            )
            for key, limit in limits.items()
        )
        own = stored.get(principal.id, {})
        note = (
            Markup('<p class="muted">Stored overrides: {}</p>').format(", ".join(f"{k} = {v}" for k, v in own.items()))
            if own else Markup("")
        )
        parts.append(Markup(
            '<details class="limits" data-account="{}"><summary>{}{}</summary>{}<div class="scroll">'
            '<table class="admin"><thead><tr><th>Limit</th><th>Effective value</th><th>Source</th></tr></thead>'
            "<tbody>{}</tbody></table></div></details>"
        ).format(principal.name, summary, " (group)" if principal.kind == "group" else "", note, rows))
    return Markup("").join(parts)
