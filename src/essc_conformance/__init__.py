"""The conformance kit (接入测试): functional and security test plans run against a channel in the sandbox."""

from essc_conformance.driver import ChannelDriver, HttpDriver, Step, StepAnswer
from essc_conformance.proxy import Exchange, FaultKind, RecordingProxy
from essc_conformance.reference import Faults, ReferenceChannel, reference_app
from essc_conformance.report import (
    Case,
    Plan,
    ReportBeforeKeyChange,
    ReportExpired,
    ReportKeyMismatch,
    ReportMalformed,
    ReportSignatureInvalid,
    certification_rows,
    sign,
    verify,
)

__all__ = [
    "Case",
    "ChannelDriver",
    "Exchange",
    "FaultKind",
    "Faults",
    "HttpDriver",
    "Plan",
    "RecordingProxy",
    "ReferenceChannel",
    "ReportBeforeKeyChange",
    "ReportExpired",
    "ReportKeyMismatch",
    "ReportMalformed",
    "ReportSignatureInvalid",
    "Step",
    "StepAnswer",
    "certification_rows",
    "reference_app",
    "sign",
    "verify",
]
