"""Who is acting, for which request, from where: attached to every audit entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from essc.kit.ids import new_id


@dataclass(frozen=True, slots=True)
class Actor:
    """The party behind a change: channel, province, operator (CLI/console) or the platform itself."""

    kind: str
    id: str
    province: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(kind="system", id="essc")

    @classmethod
    def operator(cls, name: str) -> Actor:
        return cls(kind="operator", id=name)


@dataclass(frozen=True, slots=True)
class RequestContext:
    actor: Actor
    request_id: str = field(default_factory=new_id)
    source_ip: str | None = None
    # The function the route declares (shared.policy.Function), checked where the holder is known.
    function: str | None = None
    environment: str | None = None  # of the caller's key; None (not a request) is treated as production


# What the protocol layer (essc.web.protocol) leaves in the request's state for the routes below it.
REQUEST_ID = "request_id"
CALLER = "caller"  # the AuthenticatedCaller, once the request's signature or MAC verified
# Callables given the request's session when its unit of work opens (the idempotency fence)
SESSION_FENCES = "session_fences"
