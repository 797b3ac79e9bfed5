"""Python SDK for channels and province systems talking to an essc platform."""

from essc.kit.envelope import EnvelopeInvalid, EnvelopeKeyUnknown, PersonalFieldInClear
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
    "PersonalFieldInClear",
    "PlatformError",
    "ResponseSignatureInvalid",
    "SignedResponse",
    "WebhookSignatureInvalid",
    "verify_webhook",
]
