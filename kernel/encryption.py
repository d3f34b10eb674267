"""Secrets kept in the database, encrypted with the server's key.

Plugins that must store a secret they will send somewhere later (a remote
calendar's password) encrypt it with ``host.secrets.encrypt`` and decrypt it
right before use; they declare where such values live with the
``register_secret_columns`` hook, so the kernel can encrypt old plaintext values
and re-encrypt everything under a new key (``teamcal secrets rotate``).

The key is ``[kernel] secret_key``: one or more Fernet keys (AES-128-CBC with an
HMAC-SHA256, from the maintained ``cryptography`` package), separated by spaces,
commas or new lines, best given as ``{env = "NAME"}`` or ``{file = "path"}``. The
first key encrypts, every key decrypts, so a new key is put first and the old one
removed after a rotation. A stored value is ``fernet:`` followed by the token;
anything else is a plaintext value from before a key was set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from kernel.config import ConfigError, split_keys

if TYPE_CHECKING:
    from kernel.store import Store

#: What marks an encrypted value in the database.
PREFIX = "fernet:"
#: Sent to HTTP clients that try to store a secret on a server without a key.
NO_KEY_PUBLIC = (
    "This server has no key to encrypt stored passwords, so it does not store them:"
    " an administrator must set [kernel] secret_key (docs/security.md)."
)


def generate_key() -> str:
    """A new random Fernet key."""
    return Fernet.generate_key().decode("ascii")


class MissingKey(ConfigError):
    """A secret was to be stored but ``[kernel] secret_key`` is not set (the CLI exits 2)."""

    public = NO_KEY_PUBLIC


class UnreadableSecret(Exception):
    """A stored secret none of the configured keys decrypts (the key was changed or lost)."""


@dataclass(frozen=True)
class SecretColumn:
    """A column of a plugin's table holding encrypted values; ``key`` names the row's primary key."""

    table: str
    key: str
    column: str


@dataclass(frozen=True)
class SecretCounts:
    """How the stored secrets stand: under the first key, under an older key, plaintext, unreadable."""

    current: int = 0
    older_key: int = 0
    plaintext: int = 0
    unreadable: int = 0


class SecretBox:
    """``host.secrets``: encrypts and decrypts the secrets plugins store, with ``[kernel] secret_key``."""

    def __init__(self, keys: str, config_path: str | Path) -> None:
        self._fernets = [Fernet(k) for k in split_keys(keys)]
        self._multi = MultiFernet(self._fernets) if self._fernets else None
        self._config_path = config_path

    @property
    def available(self) -> bool:
        """True when a key is set, so secrets can be stored."""
        return self._multi is not None

    def _require(self) -> MultiFernet:
        if self._multi is None:
            raise MissingKey(
                self._config_path, "kernel", "secret_key",
                "not set, and passwords are stored only encrypted: make a key with `teamcal secrets generate-key`"
                ' and set secret_key = {env = "TEAMCAL_SECRET_KEY"} or {file = "PATH"} (docs/security.md)',
            )
        return self._multi

    @overload
    def encrypt(self, value: str) -> str: ...
    @overload
    def encrypt(self, value: None) -> None: ...

    def encrypt(self, value: str | None) -> str | None:
        """The stored form of ``value`` (None stays None); raises :class:`MissingKey` without a key."""
        if value is None:
            return None
        return PREFIX + self._require().encrypt(value.encode("utf-8")).decode("ascii")

    @overload
    def decrypt(self, stored: str) -> str: ...
    @overload
    def decrypt(self, stored: None) -> None: ...

    def decrypt(self, stored: str | None) -> str | None:
        """The secret behind a stored value; a plaintext value from before a key was set comes back as it is.

        Raises :class:`UnreadableSecret` when no configured key decrypts it.
        """
        if stored is None or not is_encrypted(stored):
            return stored
        if self._multi is None:
            raise UnreadableSecret("a stored secret is encrypted but [kernel] secret_key is not set")
        try:
            return self._multi.decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise UnreadableSecret(
                "a stored secret was encrypted with a key that is not in [kernel] secret_key"
            ) from None

    def seal_plaintext(self, store: Store, columns: Iterable[SecretColumn]) -> int:
        """Encrypt every plaintext value left in these columns (with a key set); returns how many."""
        if self._multi is None:
            return 0
        return _rewrite(store, columns, lambda v: None if is_encrypted(v) else self.encrypt(v))

    def rotate(self, store: Store, columns: Iterable[SecretColumn]) -> int:
        """Encrypt every stored secret (plaintext ones too) under the first key; returns how many changed.

        Raises :class:`UnreadableSecret` (changing nothing) when no configured key reads some value.
        """
        multi = self._require()
        self.check_readable(store, columns)

        def again(value: str) -> str | None:
            if not is_encrypted(value):
                return self.encrypt(value)
            if self._under_first_key(value):
                return None
            return PREFIX + multi.rotate(value[len(PREFIX):].encode("ascii")).decode("ascii")

        return _rewrite(store, columns, again)

    def check_readable(self, store: Store, columns: Iterable[SecretColumn]) -> None:
        """Raise :class:`UnreadableSecret` when a stored secret cannot be decrypted."""
        if self.counts(store, columns).unreadable:
            raise UnreadableSecret(
                "some stored secrets were encrypted with a key that is not in [kernel] secret_key;"
                " put that key back (after the new one) and try again"
            )

    def counts(self, store: Store, columns: Iterable[SecretColumn]) -> SecretCounts:
        """How many stored secrets are under the first key, an older key, in plaintext, or unreadable."""
        tally = {"current": 0, "older_key": 0, "plaintext": 0, "unreadable": 0}
        for column in columns:
            for _key, value in store.execute(_select(column)):
                if not is_encrypted(value):
                    tally["plaintext"] += 1
                elif self._under_first_key(value):
                    tally["current"] += 1
                else:
                    try:
                        self.decrypt(value)
                        tally["older_key"] += 1
                    except UnreadableSecret:
                        tally["unreadable"] += 1
        return SecretCounts(**tally)

    def _under_first_key(self, value: str) -> bool:
        if not self._fernets:
            return False
        try:
            self._fernets[0].decrypt(value[len(PREFIX):].encode("ascii"))
        except InvalidToken:
            return False
        return True


def is_encrypted(stored: str) -> bool:
    """True for a value written by :meth:`SecretBox.encrypt`."""
    return stored.startswith(PREFIX)


def _select(column: SecretColumn) -> str:
    return f'SELECT "{column.key}", "{column.column}" FROM "{column.table}" WHERE "{column.column}" IS NOT NULL'


def _rewrite(store: Store, columns: Iterable[SecretColumn], change: Callable[[str], str | None]) -> int:
    """Store ``change(value)`` wherever it gives a new value (None: keep); returns how many rows changed.

    Reads first and writes (only if there is something to write) in one
    transaction; a value changed meanwhile by someone else is left as they wrote
    it. The replaced values are erased from the file (``store.erasing``).
    """
    updates = [
        (column, key, value, new)
        for column in columns
        for key, value in store.execute(_select(column)).fetchall()
        if (new := change(value)) is not None
    ]
    changed = 0
    if updates:
        with store.erasing(), store.transaction():
            for column, key, value, new in updates:
                changed += store.execute(
                    f'UPDATE "{column.table}" SET "{column.column}" = ?'
                    f' WHERE "{column.key}" = ? AND "{column.column}" = ?',
                    (new, key, value),
                ).rowcount
    return changed
