"""Errors of device enrolment and offline settlement."""

from __future__ import annotations

from essc.kit.errors import InvalidInput


class DeviceKeyInvalid(InvalidInput):
    code = "device_key_invalid"
    title = "The device public key is not a key of the platform's suite"


class TooManyAcceptances(InvalidInput):
    code = "too_many_acceptances"
    title = "Upload at most 500 offline acceptances per request"
