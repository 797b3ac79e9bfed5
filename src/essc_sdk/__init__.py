"""Python SDK for channels and province systems talking to an essc platform."""

from essc_sdk.client import EsscClient, PlatformError, ResponseSignatureInvalid, SignedResponse
from essc_sdk.webhooks import WebhookSignatureInvalid, verify_webhook

__all__ = [
    "EsscClient",
    "PlatformError",
    "ResponseSignatureInvalid",
    "SignedResponse",
    "WebhookSignatureInvalid",
    "verify_webhook",
]
