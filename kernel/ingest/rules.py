"""How an ingest repair is declared: :class:`Repair`, the :class:`Draft` calendar rules change,
and the decorators the rule modules (``text``, ``properties``, ``times``, ``timezones``) use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import icalendar

from kernel.budget import Budget


@dataclass
class Draft:
    """The calendar being repaired, and what the request may still spend on it."""

    calendar: icalendar.Calendar
    budget: Budget


class Repair(NamedTuple):
    """One documented repair: a name, a one-line description, and the function applying it.

    ``stage`` "text": ``apply(bytes) -> bytes``; "calendar": ``apply(Draft) -> bool`` (changed?).
    ``keeps_form``: the repaired text is stored as it is (else as icalendar writes the calendar).
    """

    name: str
    description: str
    stage: str
    apply: Callable[..., Any]
    keeps_form: bool = False


def text_repair(
    name: str, description: str, *, keeps_form: bool = False
) -> Callable[[Callable[[bytes], bytes]], Repair]:
    """Declare a repair of the raw bytes (before parsing): it returns the bytes, changed or not.

    ``keeps_form``: its result may be stored as it is; the other text repairs leave lines
    that are stored as icalendar writes them.
    """

    def declare(func: Callable[[bytes], bytes]) -> Repair:
        return Repair(name, description, "text", func, keeps_form)

    return declare


def calendar_repair(name: str, description: str) -> Callable[[Callable[[Draft], bool]], Repair]:
    """Declare a repair of the parsed calendar: it changes ``draft.calendar`` and returns whether it did."""

    def declare(func: Callable[[Draft], bool]) -> Repair:
        return Repair(name, description, "calendar", func)

    return declare
