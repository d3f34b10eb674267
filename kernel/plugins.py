"""Finding, loading and registering plugins: one PluginManager per Host.

Built-in and third-party plugins come through the same entry-point group,
``teamcal``. Only names listed in ``enabled`` are imported.
"""

from __future__ import annotations

import ast
import difflib
import importlib.metadata as metadata
import inspect
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from kernel import hookspecs
from kernel.config import ConfigError, KernelSettings

GROUP = "teamcal"
#: CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per thread:
#: two threads parsing at once (hosts started together) can fail with a SystemError
#: (python/cpython#106905), so plugin modules are read one at a time.
_PARSING = threading.Lock()


@dataclass(frozen=True)
class PluginInfo:
    """An installed plugin, as its entry point and distribution describe it."""

    name: str
    module: str
    distribution: str
    version: str
    description: str
    entry_point: metadata.EntryPoint
    #: The sub-commands it adds (its ``COMMANDS``), known without importing it.
    commands: tuple[str, ...] = ()


def available_plugins() -> dict[str, PluginInfo]:
    """Every plugin installed in the ``teamcal`` entry-point group, by name (nothing is imported)."""
    found: dict[str, PluginInfo] = {}
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != GROUP or ep.name in found:
                continue
            tree = _read_module(ep.value)
            doc = ast.get_docstring(tree) if tree is not None else None
            found[ep.name] = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] or "",
                version=dist.version or "",
                description=doc.strip().splitlines()[0] if doc else dist.metadata["Summary"] or "",
                entry_point=ep,
                commands=_declared_commands(tree),
            )
    return dict(sorted(found.items()))


def _read_module(module: str) -> ast.Module | None:
    """The plugin module's syntax tree, read without importing it (None when it cannot be read)."""
    spec = _find_spec(module)
    if spec is None:
        return None
    try:
        source = Path(spec).read_text(encoding="utf-8")
        with _PARSING:
            return ast.parse(source)
    except (OSError, SyntaxError, ValueError):
        return None


def _declared_commands(tree: ast.Module | None) -> tuple[str, ...]:
    """The names in a module-level ``COMMANDS = ("name", ...)``: the sub-commands the plugin adds."""
    for node in tree.body if tree is not None else ():
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "COMMANDS" for t in targets):
            try:
                names = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError):
                return ()
            if isinstance(names, (tuple, list)) and all(isinstance(n, str) for n in names):
                return tuple(names)
    return ()


def command_owners() -> dict[str, str]:
    """{sub-command: plugin} for every installed plugin that declares its ``COMMANDS``."""
    return {command: info.name for info in available_plugins().values() for command in info.commands}


def _find_spec(module: str) -> str | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec and spec.origin and spec.origin.endswith(".py") else None


def new_manager() -> pluggy.PluginManager:
    """A plugin manager with the kernel's hookspecs."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def declared_settings(pm: pluggy.PluginManager, config_file: Path | str = "") -> dict[str, tuple[type, str]]:
    """{table: (settings dataclass, plugin name)}: the kernel's table, then each ``register_settings`` answer.

    Each implementation is called on its own (in pluggy's order) so that every
    table is known with its plugin; a table two plugins declare is a ConfigError.
    """
    declared: dict[str, tuple[type, str]] = {"kernel": (KernelSettings, "kernel")}
    for impl in reversed(pm.hook.register_settings.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        answer = impl.function() or {}
        if not isinstance(answer, dict):
            raise ConfigError(
                config_file, None, "enabled",
                f"plugin {impl.plugin_name!r}: register_settings must return {{table name: settings dataclass}}",
            )
        for table, cls in answer.items():
            if table in declared:
                raise ConfigError(
                    config_file, table, None,
                    f"settings table declared by two plugins ({declared[table][1]}, {impl.plugin_name})",
                )
            declared[table] = (cls, impl.plugin_name)
    return declared


def load_plugins(pm: pluggy.PluginManager, enabled: list[str], config_file: Path) -> None:
    """Import and register the enabled plugins, then their own hookspecs, then check the contract.

    Every failure is a ConfigError naming the file and the plugin.
    """
    installed = available_plugins()
    for name in enabled:
        info = installed.get(name)
        if info is None:
            known = ", ".join(installed) or "none"
            raise ConfigError(config_file, None, "enabled", f"unknown plugin {name!r} (installed: {known})")
        try:
            module = info.entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any import failure stops start-up cleanly
            raise ConfigError(
                config_file, None, "enabled", f"plugin {name!r} failed to import: {type(exc).__name__}: {exc}"
            ) from None
        register(pm, module, name, config_file)
    for specs in pm.hook.register_hookspecs():
        for module in specs if isinstance(specs, (list, tuple)) else [specs]:
            try:
                pm.add_hookspecs(module)
            except pluggy.PluginValidationError as exc:  # an implementation registered before its spec
                raise _contract_error(pm, exc, pm.get_name(exc.plugin) or "?", config_file) from None
    check_pending(pm, config_file)
    check_unmarked(pm, config_file)
    check_coroutines(pm, config_file)


def check_pending(pm: pluggy.PluginManager, config_file: Path | str = "") -> None:
    """pluggy's ``check_pending()`` in one line: refuse an implementation of a hook nobody declares.

    A misspelled hook would otherwise never run. Implementations of hooks another
    plugin may declare are marked ``@hookimpl(optionalhook=True)`` and pass.
    """
    known = sorted(name for name, caller in vars(pm.hook).items() if getattr(caller, "spec", None))
    for name, caller in vars(pm.hook).items():
        if name.startswith("_") or getattr(caller, "spec", None) is not None:
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}?" if close else "the kernel's hooks are in kernel/hookspecs.py"
            raise ConfigError(
                config_file,
                None,
                "enabled",
                f"plugin {impl.plugin_name!r} implements {name}, which is not a hook: {hint} (implement a hook"
                " another plugin declares with @hookimpl(optionalhook=True))",
            )


def check_unmarked(pm: pluggy.PluginManager, config_file: Path | str = "") -> None:
    """Refuse a plugin module's own function named like a hook but not marked ``@hookimpl``.

    pluggy registers only marked functions, so such a function would never run
    (a veto never applied) without a word.
    """
    hooks = {name for name, caller in vars(pm.hook).items() if getattr(caller, "spec", None)}
    for name, plugin in pm.list_name_plugin():
        if not inspect.ismodule(plugin):
            continue
        for attr, value in vars(plugin).items():
            if (
                attr in hooks
                and inspect.isfunction(value)
                and value.__module__ == plugin.__name__
                and pm.parse_hookimpl_opts(plugin, attr) is None
            ):
                raise ConfigError(
                    config_file,
                    None,
                    "enabled",
                    f"plugin {name!r} defines {attr} without @hookimpl, so it would never run: mark it"
                    " @hookimpl (from kernel import hookimpl)",
                )


def check_coroutines(pm: pluggy.PluginManager, config_file: Path | str = "") -> None:
    """Refuse an ``async def`` implementation of a hook that is called synchronously.

    Only hookspecs marked :func:`kernel.hookspecs.may_return_awaitable` are
    awaited; of any other hook, kernel or plugin-declared, a coroutine
    function would return a coroutine nobody runs and its answer (a veto,
    a principal) would be lost. Raises a one-line ConfigError naming the
    plugin, the hook and the fix.
    """
    callers = {name: caller for name, caller in vars(pm.hook).items() if getattr(caller, "spec", None)}
    awaited = sorted(name for name, c in callers.items() if getattr(c.spec.function, hookspecs.AWAITABLE, False))
    for name, caller in callers.items():
        if name in awaited:
            continue
        for impl in caller.get_hookimpls():
            if inspect.iscoroutinefunction(impl.function) or inspect.isasyncgenfunction(impl.function):
                raise ConfigError(
                    config_file,
                    None,
                    "enabled",
                    f"plugin {impl.plugin_name!r} implements {name} with async def, but {name} is called"
                    f" synchronously and its answer would be lost: make it a plain def (only"
                    f" {', '.join(awaited)} may be async)",
                )


def register(pm: pluggy.PluginManager, plugin: Any, name: str, config_file: Path | str = "") -> None:
    """Register one plugin object, turning a signature mismatch into a one-line ConfigError."""
    try:
        pm.register(plugin, name)
    except pluggy.PluginValidationError as exc:
        raise _contract_error(pm, exc, name, config_file) from None
    except ValueError as exc:
        raise ConfigError(config_file, None, "enabled", f"plugin {name!r}: {exc}") from None


def _contract_error(
    pm: pluggy.PluginManager, exc: pluggy.PluginValidationError, name: str, config_file: Path | str
) -> ConfigError:
    """pluggy's multi-line validation error as one line: the plugin, the hook, the arguments it takes."""
    plugin = exc.plugin
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        hook = opts.get("specname") or attr
        spec = getattr(getattr(pm.hook, hook, None), "spec", None)
        if spec is None:
            continue
        wanted = pluggy.HookImpl(plugin, name, getattr(plugin, attr), opts).argnames
        unknown = [arg for arg in wanted if arg not in spec.argnames]
        if unknown:
            return ConfigError(
                config_file,
                None,
                "enabled",
                f"plugin {name!r} implements {hook}({', '.join(wanted)}), but {hook} has no argument"
                f" {', '.join(unknown)}: it takes ({', '.join(spec.argnames)}), any of them, by name",
            )
    return ConfigError(config_file, None, "enabled", f"plugin {name!r}: {' '.join(str(exc).split())}")
