"""SDK for registered terminals: online resolution, offline verification, status lists, upload queue."""

from essc_terminal.codes import read_code
from essc_terminal.credentials import (
    CredentialRefused,
    VerifiedCredential,
    fetch_issuer_keys,
    fetch_status_list,
    load_status_lists,
    verify_credential,
)
from essc_terminal.errors import (
    BusiTypeMismatch,
    BusiTypeNotGranted,
    CardNotUsable,
    CodeAlreadyUsed,
    CodeExpired,
    CodeUnknown,
    InvalidArgument,
    OfflineRefused,
    PlatformRefused,
    PlatformUnreachable,
    StateDirInUse,
    StatusListRefused,
    TerminalError,
    TerminalNotAllowed,
    UnreadableCode,
    UntrustedResponse,
)
from essc_terminal.state import QueuedAcceptance
from essc_terminal.terminal import MAX_UPLOAD_BATCH, Resolution, Terminal, UploadOutcome

__all__ = [
    "MAX_UPLOAD_BATCH",
    "BusiTypeMismatch",
    "BusiTypeNotGranted",
    "CardNotUsable",
    "CodeAlreadyUsed",
    "CodeExpired",
    "CodeUnknown",
    "CredentialRefused",
    "InvalidArgument",
    "OfflineRefused",
    "PlatformRefused",
    "PlatformUnreachable",
    "QueuedAcceptance",
    "Resolution",
    "StateDirInUse",
    "StatusListRefused",
    "Terminal",
    "TerminalError",
    "TerminalNotAllowed",
    "UnreadableCode",
    "UntrustedResponse",
    "UploadOutcome",
    "VerifiedCredential",
    "fetch_issuer_keys",
    "fetch_status_list",
    "load_status_lists",
    "read_code",
    "verify_credential",
]
