"""Verification of the audit chain: a changed, removed or reordered entry is found."""

from __future__ import annotations

from essc.audit import repository
from essc.audit.chain import GENESIS_MAC, entry_bytes, link
from essc.audit.schemas import ChainBreak, VerificationReport
from essc.core.db import Session
from essc.kit.crypto.base import CryptoSuite
from essc.kit.errors import KeyNotFound
from essc.kit.keystore import KeyStore


def verify(session: Session, suite: CryptoSuite, keys: KeyStore) -> VerificationReport:
    """Walk every stream from its first entry and check sequence, linkage, MAC and head."""
    report = VerificationReport()
    heads = {h.stream: (h.last_seq, h.last_mac) for h in repository.heads(session)}
    streams = sorted(set(heads) | set(repository.streams_with_entries(session)))
    for stream in streams:
        report.streams += 1
        expected_seq, prev_mac = 1, GENESIS_MAC
        for entry in repository.stream_entries(session, stream):
            report.entries += 1
            if entry.seq != expected_seq:
                report.breaks.append(
                    ChainBreak(stream, expected_seq, f"entries {expected_seq}..{entry.seq - 1} are missing")
                )
            if entry.prev_mac != prev_mac:
                report.breaks.append(ChainBreak(stream, entry.seq, "does not link to the entry before it"))
            try:
                secret = keys.data_key_by_id(entry.key_id).secret
            except KeyNotFound:
                report.breaks.append(ChainBreak(stream, entry.seq, f"unknown chain key id {entry.key_id!r}"))
                expected_seq, prev_mac = entry.seq + 1, entry.mac
                continue
            body = entry_bytes(
                stream=entry.stream,
                seq=entry.seq,
                id=entry.id,
                at=entry.at,
                actor_kind=entry.actor_kind,
                actor_id=entry.actor_id,
                action=entry.action,
                subject_kind=entry.subject_kind,
                subject_id=entry.subject_id,
                province=entry.province,
                source_ip=entry.source_ip,
                request_id=entry.request_id,
                details=entry.details,
                key_id=entry.key_id,
            )
            if link(suite, secret, entry.prev_mac, body) != entry.mac:
                report.breaks.append(ChainBreak(stream, entry.seq, "content does not match its MAC"))
            expected_seq, prev_mac = entry.seq + 1, entry.mac
        last_seq, last_mac = heads.get(stream, (0, GENESIS_MAC))
        if last_seq != expected_seq - 1 or last_mac != prev_mac:
            report.breaks.append(
                ChainBreak(
                    stream, expected_seq, f"head says {last_seq} entries, the log ends at {expected_seq - 1}"
                )
            )
    return report
