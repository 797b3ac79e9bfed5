"""Errors of credential issuance and status lists."""

from __future__ import annotations

from essc.kit.errors import NotFound


class StatusListNotFound(NotFound):
    code = "credential_status_list_not_found"
    title = "No such credential status list"
