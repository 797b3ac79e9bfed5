"""The conformance kit (接入测试): test plans run against a channel or a relying party in the sandbox."""

from essc_conformance.driver import ChannelDriver, HttpDriver, RelyingPartyDriver, RpStep, Step, StepAnswer
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
from essc_conformance.rp_kit import RelyingPartyKit
from essc_conformance.rp_reference import ReferenceRelyingParty, RpFaults, rp_reference_app

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
    "ReferenceRelyingParty",
    "RelyingPartyDriver",
    "RelyingPartyKit",
    "ReportBeforeKeyChange",
    "ReportExpired",
    "ReportKeyMismatch",
    "ReportMalformed",
    "ReportSignatureInvalid",
    "RpFaults",
    "RpStep",
    "Step",
    "StepAnswer",
    "certification_rows",
    "reference_app",
    "rp_reference_app",
    "sign",
    "verify",
]
