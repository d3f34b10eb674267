"""The ``[caldav_subscription]`` settings table."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel import ByteSize, Duration
from kernel.netguard import NetworkRange

#: Conflict policies, in the order the docs describe them.
POLICIES = ("remote-wins", "local-wins", "newest-wins")


@dataclass
class Settings:
    """How subscriptions reach remotes and how often."""

    allow_private_networks: bool = field(
        default=False,
        metadata={"doc": "allow remotes on private, loopback and link-local addresses (checked after DNS)"},
    )
    allowed_networks: list[NetworkRange] = field(
        default_factory=list,
        metadata={"doc": "non-public address ranges (CIDR) that may be contacted without allow_private_networks"},
    )
    denied_networks: list[NetworkRange] = field(
        default_factory=list,
        metadata={"doc": "extra address ranges (CIDR) never contacted, even with allow_private_networks"},
    )
    default_interval: Duration = field(
        default=Duration(15 * 60), metadata={"doc": "poll interval of a subscription added without --interval"}
    )
    min_interval: Duration = field(
        default=Duration(60), metadata={"doc": "shortest poll interval a subscription may ask for"}
    )
    conflict_policy: str = field(
        default="remote-wins",
        metadata={"doc": "two-way: who wins when both sides changed an event", "choices": POLICIES},
    )
    timeout: Duration = field(
        default=Duration(30), metadata={"doc": "longest one HTTP request to a remote may take, first byte to last"}
    )
    max_document_size: ByteSize = field(
        default=ByteSize(10 * 1024**2), metadata={"doc": "largest response body read from a remote"}
    )
    max_redirects: int = field(default=5, metadata={"doc": "redirects followed per request"})
    jitter: Duration = field(
        default=Duration(30), metadata={"doc": "random delay of up to this much added to each next run"}
    )
    backoff_max: Duration = field(
        default=Duration(6 * 3600), metadata={"doc": "longest wait between retries after repeated failures"}
    )
    tick: Duration = field(
        default=Duration(5), metadata={"doc": "how often the scheduler looks for due subscriptions"}
    )
    max_concurrent_syncs: int = field(
        default=4, metadata={"doc": "subscriptions one server process syncs at the same time"}
    )
    user_agent: str = field(
        default="teamcal-caldav-subscription/0.1", metadata={"doc": "User-Agent header sent to remotes"}
    )
