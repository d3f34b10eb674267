"""The ``[web]`` table: how long a browser stays signed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel import Duration


@dataclass
class Settings:
    """The ``[web]`` table."""

    session_lifetime: Duration = field(
        default=Duration(12 * 3600),
        metadata={"doc": "how long a sign-in lasts; after it the browser signs in again (checked on the server)"},
    )
    login_attempt_size: int = field(
        default=4096, metadata={"doc": "largest sign-in form body in bytes; bigger ones get 413"}
    )
