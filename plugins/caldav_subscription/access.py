"""Who may manage a subscription, and why one-way calendars are read-only locally."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from kernel import Collection, Principal

if TYPE_CHECKING:
    from kernel import Host

#: Set while asking what grants alone give, so our own narrowing stays out of the answer.
_unnarrowed: ContextVar[bool] = ContextVar("caldav_subscription_unnarrowed", default=False)

NEED_PRIVILEGES = "{DAV:}need-privileges"


def narrowing_suspended() -> bool:
    """True inside :func:`grants_only` (the ``calendar_privileges`` hook then keeps out)."""
    return _unnarrowed.get()


@contextmanager
def grants_only() -> Iterator[None]:
    """Compute privileges without the one-way read-only narrowing."""
    token = _unnarrowed.set(True)
    try:
        yield
    finally:
        _unnarrowed.reset(token)


def may_manage(host: Host, principal: Principal, collection: Collection) -> bool:
    """Admins manage every subscription; others those on calendars they own or administer."""
    if principal.is_admin or collection.owner.id == principal.id:
        return True
    with grants_only():
        return "admin" in host.privileges(principal, collection)


def may_create_in(host: Host, principal: Principal, owner: Principal) -> bool:
    """May ``principal`` create a new calendar in ``owner``'s home for a subscription?

    Where the kernel lets it create calendars: its own home, any home for server
    admins, a group's home for the group's admins (``Host.home_privileges``).
    """
    return "admin" in host.home_privileges(principal, owner)
