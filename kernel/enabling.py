"""Enabling and disabling plugins by editing plugins.toml's ``enabled`` list (comments and layout kept).

The one implementation behind `teamcal plugins enable|disable` and the web admin
console. The running server is not changed: the new list takes effect at the
next start.
"""

from __future__ import annotations

from pathlib import Path

from kernel.config import ConfigError, read_config
from kernel.plugins import available_plugins


def set_plugin_enabled(path: Path, name: str, enabled: bool) -> bool:
    """Add ``name`` to (or remove it from) the ``enabled`` list of the plugins.toml at ``path``.

    Returns whether the file changed. A plugin that is not installed may only be
    disabled, and only while it is still listed; otherwise, and for a missing or
    broken file, a one-line :class:`ConfigError`.
    """
    import tomlkit

    listed = read_config(path).enabled  # a missing or broken file is a one-line ConfigError
    installed = available_plugins()
    if name not in installed and not (not enabled and name in listed):
        raise ConfigError(path, None, "enabled", f"unknown plugin {name!r} (installed: {', '.join(installed)})")
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    names = doc.get("enabled")
    if names is None:
        names = tomlkit.array()
        doc["enabled"] = names
    present = [str(n) for n in names]
    if enabled and name not in present:
        names.append(name)
    elif not enabled and name in present:
        names.pop(present.index(name))
    else:
        return False
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return True


def enabled_in_file(path: Path) -> list[str]:
    """The plugins plugins.toml enables now (what the next start loads)."""
    return list(read_config(path).enabled)
