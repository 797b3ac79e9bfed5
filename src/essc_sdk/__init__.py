"""Python SDK for channels and province systems talking to an essc platform."""

from essc.kit.checkpoints import InvalidNote
from essc.kit.envelope import EnvelopeInvalid, EnvelopeKeyUnknown, PersonalFieldInClear
from essc_sdk.audit import InvalidProof, verify_consistency, verify_inclusion, verify_usage
from essc_sdk.client import (
    EncryptionKeyUntrusted,
    EsscClient,
    PlatformError,
    ResponseSignatureInvalid,
    SignedResponse,
)
from essc_sdk.webhooks import WebhookSignatureInvalid, verify_webhook

__all__ = [
    "EncryptionKeyUntrusted",
    "EnvelopeInvalid",
    "EnvelopeKeyUnknown",
    "EsscClient",
    "InvalidNote",
    "InvalidProof",
    "PersonalFieldInClear",
    "PlatformError",
    "ResponseSignatureInvalid",
    "SignedResponse",
    "WebhookSignatureInvalid",
    "verify_consistency",
    "verify_inclusion",
    "verify_usage",
    "verify_webhook",
]
