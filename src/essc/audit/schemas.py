"""Wire and in-memory types of the audit logs."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from essc.core.auditing import NATIONAL_LOG, PendingAuditEntry

# Tree sizes and leaf indexes a request may name: integers every JSON client reads exactly (2^53), which no
# log will reach (a billion entries a day for 24,000 years).
MAX_TREE_SIZE = 2**53

# Recorded by every unit of work, so defined below the domains (essc.core.auditing).
__all__ = [
    "NATIONAL_LOG",
    "ConsistencyProofOut",
    "CosignatureIn",
    "Finding",
    "InclusionProofOut",
    "LeafOut",
    "LeavesOut",
    "PendingAuditEntry",
    "VerificationReport",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding of audit verification: the log, the first bad leaf when one is named, and why."""

    log: str
    leaf: int | None
    reason: str


@dataclass(slots=True)
class VerificationReport:
    logs: int = 0
    leaves: int = 0
    tree_heads: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


class InclusionProofOut(BaseModel):
    """Leaf `index` is in the tree of `size` leaves: hash the leaf, then the proof (RFC 9162 2.1.3)."""

    log: str
    index: int
    size: int
    leaf_hash: str = Field(description="base64 of the leaf hash")
    proof: list[str] = Field(description="base64 hashes, leaf side first")


class ConsistencyProofOut(BaseModel):
    """The tree of `size2` leaves extends the tree of `size1` (RFC 9162 2.1.4)."""

    log: str
    size1: int
    size2: int
    proof: list[str] = Field(description="base64 hashes")


class LeafOut(BaseModel):
    index: int
    data: str = Field(description="base64 of the leaf's bytes (canonical JSON of the entry)")


class LeavesOut(BaseModel):
    log: str
    leaves: list[LeafOut]
    next_start: int | None = Field(description="the start of the next page, none after the last leaf")


class CosignatureIn(BaseModel):
    """A witness's cosignature of the checkpoint of `size` leaves: one C2SP signature line."""

    size: int = Field(ge=1, le=MAX_TREE_SIZE)
    cosignature: str = Field(max_length=4096)
