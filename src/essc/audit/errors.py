"""Refusals of the audit logs' public endpoints."""

from __future__ import annotations

from essc.kit.errors import Forbidden, InvalidInput, NotFound


class UnknownLog(NotFound):
    code = "audit_log_unknown"
    title = "No such audit log"


class TreeSizeUnavailable(InvalidInput):
    code = "audit_tree_size_unavailable"
    title = "No signed tree head of that size"


class LeafNotInTree(InvalidInput):
    code = "audit_leaf_not_in_tree"
    title = "The leaf is not in that tree"


class UnknownWitness(Forbidden):
    code = "audit_witness_unknown"
    title = "Not a registered witness"


class CosignatureInvalid(InvalidInput):
    code = "audit_cosignature_invalid"
    title = "The cosignature does not verify"
