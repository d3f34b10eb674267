"""``TEAMCAL_TRACE_HOOKS=1``: log every hook implementation's call with its plugin, arguments and duration.

For plugin authors finding out what runs when, and what is slow. Each call is one
line on the ``teamcal.hooks`` logger (INFO, printed to stderr unless logging is
configured otherwise):

    hook validate_object plugin=limits 0.21 ms (host=<kernel.host.Host ...>, tx=..., write=...)

An implementation that returns an awaitable is timed again when it is awaited.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import reprlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pluggy

ENVIRONMENT = "TEAMCAL_TRACE_HOOKS"
log = logging.getLogger("teamcal.hooks")
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


def wanted() -> bool:
    """Is tracing asked for (``TEAMCAL_TRACE_HOOKS`` set to anything but "", "0")?"""
    return os.environ.get(ENVIRONMENT, "") not in ("", "0")


def trace_hooks(pm: pluggy.PluginManager) -> None:
    """Wrap every registered hook implementation so that each call is logged (call once, after loading)."""
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("teamcal: %(message)s"))
        log.addHandler(handler)
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    for hook, caller in vars(pm.hook).items():
        if hook.startswith("_"):
            continue
        for impl in caller.get_hookimpls():
            if not (impl.hookwrapper or impl.wrapper):
                impl.function = _timed(hook, impl.plugin_name, impl.argnames, impl.function)


def _timed(hook: str, plugin: str, argnames: tuple[str, ...], function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any) -> Any:
        started = time.perf_counter()
        result = function(*args)
        took = time.perf_counter() - started
        shown = ", ".join(f"{name}={_short.repr(value)}" for name, value in zip(argnames, args))
        log.info("hook %s plugin=%s %.2f ms (%s)", hook, plugin, took * 1000, shown)
        if inspect.isawaitable(result):
            return _awaited(hook, plugin, result)
        return result

    return call


async def _awaited(hook: str, plugin: str, awaitable: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    try:
        return await awaitable
    finally:
        log.info("hook %s plugin=%s awaited %.2f ms", hook, plugin, (time.perf_counter() - started) * 1000)
