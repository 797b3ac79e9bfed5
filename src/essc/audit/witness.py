"""A witness of the audit logs: accepts a checkpoint only if it extends the one accepted before, cosigns it.

It keeps, per log, the last checkpoint it accepted in a local state file (JSON, written atomically). A smaller
tree than before is a rollback, a different tree of the same size or a failed consistency proof is a fork,
and a log that answers with nothing after it was seen is gone: each is refused and named, the state is kept.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from essc.audit.service import AcceptedCheckpoint
from essc.kit.checkpoints import Checkpoint, InvalidNote, NoteKey, cosign, open_note
from essc.kit.crypto.base import CryptoSuite, PrivateKey, PublicKey
from essc.kit.merkle import InvalidProof, TreeHasher, verify_consistency


class Http(Protocol):
    """What the witness needs of an HTTP client (httpx.Client, or a test client of the app)."""

    def get(self, url: str, *, params: dict[str, Any] | None = None) -> Any: ...

    def post(self, url: str, *, json: Any = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the witness made of one log: accepted (and cosigned) or refused, and why."""

    log: str
    accepted: bool
    size: int
    reason: str


def load_state(path: Path) -> dict[str, dict[str, Any]]:
    """The last checkpoint accepted per log: {"44": {"size": n, "root": base64, "note": text}}."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(log): dict(entry) for log, entry in data.get("logs", {}).items()}


def accepted_checkpoints(path: Path) -> dict[str, AcceptedCheckpoint]:
    """The state file's checkpoints, for `essc audit verify --witness-state`."""
    return {
        log: AcceptedCheckpoint(int(entry["size"]), base64.b64decode(entry["root"]))
        for log, entry in load_state(path).items()
    }


def _save_state(path: Path, logs: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        json.dump({"version": 1, "logs": logs}, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Witness:
    """One witness key watching the logs of one platform."""

    def __init__(
        self,
        *,
        name: str,
        key: PrivateKey,
        suite: CryptoSuite,
        log_key: PublicKey,
        origin_prefix: str,
        state_path: Path,
        http: Http,
    ) -> None:
        self.name = name
        self._key = key
        self._suite = suite
        self._log_key = log_key
        self._origin_prefix = origin_prefix
        self._state_path = state_path
        self._http = http
        self.note_key = NoteKey(name, key.public_key(), suite, cosigner=True)

    def run(self, logs: list[str], *, now: int) -> list[Outcome]:
        """Check and cosign the latest checkpoint of each log (and of each log seen before)."""
        state = load_state(self._state_path)
        outcomes = [self._witness(log, state, now) for log in sorted(set(logs) | set(state))]
        _save_state(self._state_path, state)
        return outcomes

    def _witness(self, log: str, state: dict[str, dict[str, Any]], now: int) -> Outcome:
        previous = state.get(log)
        answer = self._http.get(f"/v1/audit/logs/{log}/checkpoint")
        if answer.status_code == 404:
            if previous is not None:
                return Outcome(
                    log, False, int(previous["size"]), f"log {log} is gone (it had {previous['size']} leaves)"
                )
            return Outcome(log, False, 0, f"log {log} has no checkpoint yet")
        origin = f"{self._origin_prefix}/{log}"
        try:
            body, _ = open_note(answer.text, NoteKey(origin, self._log_key, self._suite))
            checkpoint = Checkpoint.parse(body)
        except InvalidNote as exc:
            return Outcome(log, False, 0, f"log {log}: {exc.detail}")
        if checkpoint.origin != origin:
            return Outcome(
                log, False, checkpoint.size, f"log {log}: the checkpoint names {checkpoint.origin}"
            )
        if previous is not None:
            refusal = self._extends(
                log, int(previous["size"]), base64.b64decode(previous["root"]), checkpoint
            )
            if refusal is not None:
                return Outcome(log, False, checkpoint.size, refusal)
        made = cosign(body, now, self.name, self.note_key.key_id, lambda m: self._suite.sign(self._key, m))
        state[log] = {
            "size": checkpoint.size,
            "root": base64.b64encode(checkpoint.root).decode(),
            "note": answer.text,
        }
        submitted = self._http.post(
            f"/v1/audit/logs/{log}/cosignatures", json={"size": checkpoint.size, "cosignature": made.line()}
        )
        if submitted.status_code != 204:
            return Outcome(
                log,
                True,
                checkpoint.size,
                f"accepted; the platform refused the cosignature ({submitted.status_code})",
            )
        return Outcome(log, True, checkpoint.size, "accepted and cosigned")

    def _extends(self, log: str, size: int, root: bytes, checkpoint: Checkpoint) -> str | None:
        """Why `checkpoint` does not extend the accepted tree (size, root), or None if it does."""
        if checkpoint.size < size:
            return f"log {log} rolled back from {size} leaves to {checkpoint.size}"
        if checkpoint.size == size:
            return None if checkpoint.root == root else f"log {log} forked: another tree of {size} leaves"
        answer = self._http.get(
            f"/v1/audit/logs/{log}/proofs/consistency", params={"size1": size, "size2": checkpoint.size}
        )
        if answer.status_code != 200:
            return (
                f"log {log} gave no consistency proof from {size} to {checkpoint.size} ({answer.status_code})"
            )
        proof = [base64.b64decode(p) for p in answer.json()["proof"]]
        try:
            verify_consistency(
                TreeHasher(self._suite.hash), size, checkpoint.size, proof, root1=root, root2=checkpoint.root
            )
        except InvalidProof:
            return (
                f"log {log} forked: the tree of {checkpoint.size} leaves does not extend the {size} accepted"
            )
        return None
