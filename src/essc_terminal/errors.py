"""What the terminal SDK raises: one base with a stable machine code, subclasses named for the condition."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BusiTypeMismatch",
    "BusiTypeNotGranted",
    "CardNotUsable",
    "CodeAlreadyUsed",
    "CodeExpired",
    "CodeUnknown",
    "InvalidArgument",
    "OfflineRefused",
    "PlatformRefused",
    "PlatformUnreachable",
    "StateDirInUse",
    "StatusListRefused",
    "TerminalError",
    "TerminalNotAllowed",
    "UnreadableCode",
    "UntrustedResponse",
    "platform_refusal",
]


class TerminalError(Exception):
    """Base of every terminal SDK error; `code` is stable (the platform's problem code where it has one)."""

    code: str = "terminal_error"
    # The CLI's exit status: 1 refused, 2 bad input, 3 platform unreachable or not to be trusted.
    exit_code: ClassVar[int] = 1

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class PlatformRefused(TerminalError):
    """The platform answered with an RFC 9457 problem; `problem` is its whole body."""

    code = "platform_refused"

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        code = str(problem.get("code") or type(self).code)
        super().__init__(str(problem.get("detail") or problem.get("title") or "refused"), code=code)
        self.status = status
        self.problem = problem


class CodeUnknown(PlatformRefused):
    code = "code_unknown"


class CodeExpired(PlatformRefused):
    code = "code_expired"


class CodeAlreadyUsed(PlatformRefused):
    code = "code_already_used"


class CardNotUsable(PlatformRefused):
    code = "card_not_usable"


class BusiTypeNotGranted(PlatformRefused):
    code = "busi_type_not_granted"


class TerminalNotAllowed(PlatformRefused):
    """The terminal itself may not act now (suspended, key revoked, unknown); no retry helps."""

    code = "terminal_not_allowed"


_REFUSALS: dict[str, type[PlatformRefused]] = {
    "code_unknown": CodeUnknown,
    "code_expired": CodeExpired,
    "code_already_used": CodeAlreadyUsed,
    "card_not_usable": CardNotUsable,
    "busi_type_not_granted": BusiTypeNotGranted,
    "terminal_suspended": TerminalNotAllowed,
    "institution_suspended": TerminalNotAllowed,
    "caller_suspended": TerminalNotAllowed,
    "key_revoked": TerminalNotAllowed,
    "unknown_caller": TerminalNotAllowed,
    "unknown_key_id": TerminalNotAllowed,
    "wrong_caller_kind": TerminalNotAllowed,
}


def platform_refusal(status: int, problem: dict[str, Any]) -> PlatformRefused:
    """The typed error for a problem the platform answered, PlatformRefused for codes without a class."""
    return _REFUSALS.get(str(problem.get("code")), PlatformRefused)(status, problem)


class OfflineRefused(TerminalError):
    """The offline check refused a code; `code` is essc.kit.offline's (replayed_code, stale_code...)."""

    code = "offline_code_refused"


class BusiTypeMismatch(OfflineRefused):
    code = "busi_type_mismatch"


class StatusListRefused(TerminalError):
    """A fetched or stored status list did not verify, or is older than the one held."""

    code = "status_list_rejected"


class UnreadableCode(TerminalError):
    """The input is no usable code: malformed, the wrong kind, an unreadable image, none or several codes."""

    code = "malformed_code"
    exit_code = 2


class InvalidArgument(TerminalError):
    """An argument the platform would refuse anyway (busiType, province), refused before any request."""

    code = "invalid_input"
    exit_code = 2


class StateDirInUse(TerminalError):
    """The state directory belongs to another terminal or crypto suite; sharing it would mix their queues."""

    code = "state_dir_mismatch"
    exit_code = 2


class PlatformUnreachable(TerminalError):
    """No answer from the platform (network, timeout); offline verification still works."""

    code = "platform_unreachable"
    exit_code = 3


class UntrustedResponse(TerminalError):
    """An answer did not carry a valid platform signature or session MAC: it is ignored."""

    code = "response_signature_invalid"
    exit_code = 3
