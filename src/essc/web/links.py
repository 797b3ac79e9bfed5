"""OpenAPI links: which value of one answer the next request takes (for generated clients and stateful tests).

A link names the answer (operation and status) it starts from, the operation it leads to, and where each of
that operation's parameters, or members of its body, comes from: `$response.body#/signNo` is the answer's
`signNo`, `$request.path.sign_no` the starting request's own path parameter (OpenAPI 3.1, Link Object).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ECARD_VIEWS = (
    "POST /v1/ecards/issuance 200",
    "GET /v1/ecards/{sign_no} 200",
    "POST /v1/ecards/{sign_no}/level2 200",
)
# What a channel does with a holder's e-card once it knows its signNo (unlinking is left out: it ends them).
ECARD_OPERATIONS = (
    "GET /v1/ecards/{sign_no}",
    "POST /v1/ecards/{sign_no}/qr-codes",
    "GET /v1/ecards/{sign_no}/usages",
    "POST /v1/ecards/{sign_no}/busi-seqs",
    "PUT /v1/ecards/{sign_no}/password",
    "POST /v1/ecards/{sign_no}/level2",
    "POST /v1/ecards/{sign_no}/devices",
    "POST /v1/ecards/{sign_no}/chip-challenges",
)
CHANNEL_OPERATIONS = (
    "GET /v1/ministry/channels/{channel_no}",
    "PUT /v1/ministry/channels/{channel_no}/status",
    "POST /v1/ministry/channels/{channel_no}/keys",
    "POST /v1/ministry/channels/{channel_no}/certifications",
    "GET /v1/ministry/channels/{channel_no}/authorisations",
)
TERMINAL_OPERATIONS = (
    "GET /v1/provinces/{province}/terminals/{terminal_no}",
    "PUT /v1/provinces/{province}/terminals/{terminal_no}/grants",
    "PUT /v1/provinces/{province}/terminals/{terminal_no}/status",
)
TERMINAL = {"province": "$response.body#/province", "terminal_no": "$response.body#/terminalNo"}


@dataclass(frozen=True)
class Link:
    """From an answer ("METHOD path status") to an operation ("METHOD path"), and what it carries over."""

    source: str
    target: str
    parameters: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] | None = None


def _name(target: str) -> str:
    """A link's name from its target: `POST /v1/ecards/{sign_no}/qr-codes` is `postQrCodes`."""
    method, path = target.split(" ")
    words = [part for part in path.split("/") if part and not part.startswith("{") and part != "v1"]
    last = words[-1].split("-") if words else ["root"]
    return method.lower() + "".join(word.title() for word in last)


LINKS: tuple[Link, ...] = (
    *(
        Link(view, target, {"sign_no": "$response.body#/signNo"})
        for view in ECARD_VIEWS
        for target in ECARD_OPERATIONS
    ),
    Link(
        "POST /v1/ecards/{sign_no}/qr-codes 201",
        "POST /v1/qr/resolutions",
        body={"code": "$response.body#/code"},
    ),
    Link(
        "POST /v1/ecards/{sign_no}/busi-seqs 201",
        "POST /v1/ecards/{sign_no}/password/reset",
        {"sign_no": "$request.path.sign_no"},
        {"busiSeq": "$response.body#/busiSeq"},
    ),
    Link(
        "POST /v1/ecards/{sign_no}/chip-challenges 201",
        "POST /v1/ecards/{sign_no}/chip-challenges/{challenge_id}/response",
        {"sign_no": "$request.path.sign_no", "challenge_id": "$response.body#/challengeId"},
    ),
    Link(
        "POST /v1/login-codes 201", "GET /v1/login-codes/{login_id}", {"login_id": "$response.body#/loginId"}
    ),
    Link("POST /v1/login-codes 201", "POST /v1/login-codes/scan", body={"code": "$response.body#/code"}),
    Link("POST /v1/login-codes 201", "POST /v1/login-codes/deny", body={"code": "$response.body#/code"}),
    *(
        Link("POST /v1/ministry/channels 201", target, {"channel_no": "$response.body#/channelNo"})
        for target in CHANNEL_OPERATIONS
    ),
    Link(
        "POST /v1/provinces/{province}/institutions 201",
        "POST /v1/provinces/{province}/institutions/{code}/terminals",
        {"province": "$response.body#/province", "code": "$response.body#/code"},
    ),
    Link(
        "POST /v1/provinces/{province}/institutions 201",
        "PUT /v1/provinces/{province}/institutions/{code}/status",
        {"province": "$response.body#/province", "code": "$response.body#/code"},
    ),
    *(
        Link("POST /v1/provinces/{province}/institutions/{code}/terminals 201", t, TERMINAL)
        for t in TERMINAL_OPERATIONS
    ),
)


def add_links(document: dict[str, Any]) -> None:
    """Each link written under its answer, to its target by operationId; an unknown end is a KeyError."""
    paths: dict[str, Any] = document["paths"]
    operation_ids = {
        f"{method.upper()} {path}": operation["operationId"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    for link in LINKS:
        method, path, status = link.source.split(" ")
        answer = paths[path][method.lower()]["responses"][status]
        written: dict[str, Any] = {"operationId": operation_ids[link.target]}
        if link.parameters:
            written["parameters"] = dict(link.parameters)
        if link.body is not None:
            written["requestBody"] = dict(link.body)
        answer.setdefault("links", {})[_name(link.target)] = written
