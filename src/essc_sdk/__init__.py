"""Python SDK for channels and province systems talking to an essc platform."""

from essc_sdk.client import EsscClient, PlatformError, ResponseSignatureInvalid, SignedResponse

__all__ = ["EsscClient", "PlatformError", "ResponseSignatureInvalid", "SignedResponse"]
