"""A registered terminal: resolves online codes, checks offline ones, syncs status lists, uploads."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import httpx

from essc.kit.codes import CodeKind, MalformedCode
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import CryptoSuite, PrivateKey, PublicKey
from essc.kit.errors import CryptoError, EsscError
from essc.kit.offline import (
    BUSI_TYPES,
    NATIONAL,
    OfflineAcceptance,
    OfflineVerifier,
    StatusList,
    StatusListRejected,
    decode_offline,
)
from essc_sdk import EsscClient, PlatformError, ResponseSignatureInvalid, SignedResponse
from essc_terminal.codes import parse, read_code
from essc_terminal.errors import (
    BusiTypeMismatch,
    InvalidArgument,
    OfflineRefused,
    PlatformUnreachable,
    StatusListRefused,
    TerminalError,
    UnreadableCode,
    UntrustedResponse,
    platform_refusal,
)
from essc_terminal.state import AcceptanceQueue, QueuedAcceptance, StateDir

__all__ = ["MAX_UPLOAD_BATCH", "Resolution", "Terminal", "UploadOutcome"]

# The platform takes at most this many acceptances in one upload (essc.offline.service.MAX_UPLOAD).
MAX_UPLOAD_BATCH: Final = 500
# Answers meaning the MAC session is gone, not that the request was wrong: nothing was done, so open a new
# session and send the request again.
_SESSION_GONE: Final = frozenset({"unknown_session", "session_expired"})
_PROVINCE: Final = re.compile(r"[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Resolution:
    """The platform's answer to a resolved online code: exactly the fields the terminal's grant allows."""

    resolution_id: str
    busi_type: str
    disclosure: str
    usable: bool
    pseudonym: str
    sign_level: int
    aab301: str | None
    aac003: str | None
    aac002: str | None
    resolved_at: datetime
    raw: dict[str, Any]

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> Resolution:
        """Read the JSON body of POST /v1/qr/resolutions."""
        try:
            return cls(
                resolution_id=str(answer["resolutionId"]),
                busi_type=str(answer["busiType"]),
                disclosure=str(answer["disclosure"]),
                usable=bool(answer["usable"]),
                pseudonym=str(answer["pseudonym"]),
                sign_level=int(answer["signLevel"]),
                aab301=answer.get("aab301"),
                aac003=answer.get("aac003"),
                aac002=answer.get("aac002"),
                resolved_at=datetime.fromisoformat(str(answer["resolvedAt"])),
                raw=answer,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UntrustedResponse(
                f"the resolution lacks or garbles {exc}", code="unexpected_answer"
            ) from exc


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    """What the platform answered for one uploaded acceptance."""

    payload: str
    serial: str
    counter: int
    # confirmed, already_uploaded, replayed (another terminal accepted the code first: the device is now
    # revoked), revoked (its certificate was revoked before the code was made) or refused (see reason).
    outcome: str
    reason: str | None = None


def _check_busi_type(busi_type: str) -> None:
    if busi_type not in BUSI_TYPES:
        raise InvalidArgument(f"busiType is one of {', '.join(sorted(BUSI_TYPES))}, not {busi_type!r}")


class Terminal:
    """One registered terminal, talking to the platform through essc_sdk and checking codes with essc.kit."""

    # platform: the base URL or an httpx.Client with its base_url set; None for a terminal that is only
    # offline (online calls then raise PlatformUnreachable). platform_keys pins the platform's signing keys;
    # without them they come from the state directory or else from /v1/platform/keys at the first online
    # call, and are then stored so that a restart without network can still check offline codes.

    def __init__(
        self,
        platform: str | httpx.Client | None,
        *,
        terminal_no: str,
        key_id: str,
        private_key: PrivateKey,
        state_dir: str | Path,
        suite: CryptoSuite | str = "sm",
        platform_keys: Mapping[str, PublicKey] | None = None,
        clock: Callable[[], float] = time.time,
        max_code_age_s: int = 60,
        max_clock_skew_s: int = 30,
        max_status_age_s: int = 86_400,
        timeout_s: float = 10.0,
    ) -> None:
        self.suite = get_suite(suite) if isinstance(suite, str) else suite
        self.terminal_no = terminal_no
        if platform_keys is not None and not platform_keys:
            raise InvalidArgument("pinned platform_keys must hold a key (pass None to fetch them)")
        self._state = StateDir(Path(state_dir), terminal_no, self.suite.name)
        self._online = platform is not None
        self._owns_http = not isinstance(platform, httpx.Client)
        if isinstance(platform, httpx.Client):
            http = platform
        else:
            http = httpx.Client(base_url=platform or "", timeout=timeout_s)
        self._pinned = platform_keys is not None
        keys = dict(platform_keys) if platform_keys is not None else self._stored_keys()
        self._client = EsscClient(
            http,
            self.suite,
            caller=f"terminal/{terminal_no}",
            key_id=key_id,
            private_key=private_key,
            platform_keys=keys,
            clock=clock,
        )
        self._clock = clock
        self._forget_after = max_code_age_s + max_clock_skew_s
        self._verifier = OfflineVerifier(
            self.suite, keys, clock, max_code_age_s, max_clock_skew_s, max_status_age_s
        )
        self._queue = AcceptanceQueue(self._state.queue_path)
        self._session_lock = threading.Lock()
        for encoded in self._state.status_lists():
            try:
                self._verifier.update_status_list(encoded)
            except StatusListRejected:
                # A stored list that no longer verifies (the keys changed) is simply not held: the verifier
                # then answers status_list_stale until the next sync, which is the safe way to fail.
                continue

    # --- codes ----------------------------------------------------------------------------------------------

    read_code = staticmethod(read_code)

    def resolve(self, code_text: str, busi_type: str) -> Resolution:
        """Spend an online code for busiType; typed PlatformRefused errors (CodeAlreadyUsed...) otherwise."""
        parsed = parse(code_text)
        if parsed.kind is not CodeKind.ONLINE:
            raise UnreadableCode(
                f"a version {parsed.kind.value} code is not an online code"
                + (" (check it with verify_offline)" if parsed.kind is CodeKind.OFFLINE else ""),
                code="wrong_code_kind",
            )
        _check_busi_type(busi_type)
        answer = self._call("POST", "/v1/qr/resolutions", {"code": parsed.payload(), "busiType": busi_type})
        return Resolution.from_answer(answer.json())

    def verify_offline(self, code_text: str, busi_type: str | None = None) -> OfflineAcceptance:
        """Accept an offline code once (no network) and queue it for upload; OfflineRefused says why not."""
        parsed = parse(code_text)
        if parsed.kind is not CodeKind.OFFLINE:
            raise UnreadableCode(
                f"a version {parsed.kind.value} code is not an offline code"
                + (" (resolve it online)" if parsed.kind is CodeKind.ONLINE else ""),
                code="wrong_code_kind",
            )
        if busi_type is not None:
            _check_busi_type(busi_type)
            # Checked before the verifier sees the code: it would remember it, and the holder could then not
            # show the same code at the right counter.
            try:
                made_for = decode_offline(parsed.body).busi_type
            except MalformedCode as exc:
                raise UnreadableCode(exc.detail, code=exc.code) from exc
            if made_for != busi_type:
                raise BusiTypeMismatch(f"the code was made for busiType {made_for}, not {busi_type}")
        try:
            acceptance = self._verifier.verify(parsed.payload())
        except MalformedCode as exc:
            raise UnreadableCode(exc.detail, code=exc.code) from exc
        except EsscError as exc:
            raise OfflineRefused(exc.detail, code=exc.code) from exc
        self._queue.add(acceptance)
        return acceptance

    # --- status lists ---------------------------------------------------------------------------------------

    def sync_status_list(self, province: str = NATIONAL) -> StatusList:
        """Fetch, verify and hold the signed status list of province ("00": every province), and store it."""
        if not _PROVINCE.fullmatch(province):
            raise InvalidArgument(f"a province is two digits ('00' for the national list), not {province!r}")
        encoded = self._call("GET", f"/v1/offline/status-lists/{province}").body
        try:
            status = StatusList.decode(encoded)
            if status.province != province:
                raise StatusListRefused(f"asked for the list of {province}, got the one of {status.province}")
            if not self._pinned and status.platform_key_id not in self._client.platform_keys:
                self._fetch_platform_keys()  # the platform rotated its key since the keys were stored
            self._verifier.update_status_list(encoded)
        except StatusListRejected as exc:
            raise StatusListRefused(exc.detail, code=exc.code) from exc
        self._state.save_status_list(province, encoded)
        return status

    def status_list(self, province: str = NATIONAL) -> StatusList | None:
        """The status list held for province, if any (synced now or stored by an earlier run)."""
        return self._verifier.status_list(province)

    # --- uploads --------------------------------------------------------------------------------------------

    def pending(self) -> list[QueuedAcceptance]:
        """Acceptances waiting for upload, oldest first."""
        return self._queue.pending()

    def upload_acceptances(self, batch_size: int = MAX_UPLOAD_BATCH) -> list[UploadOutcome]:
        """Send the queued acceptances in batches; only those the platform answered for leave the queue."""
        # A failing batch raises its error; the batches before it are settled and off the queue already.
        if not 1 <= batch_size <= MAX_UPLOAD_BATCH:
            raise InvalidArgument(f"batch_size is 1..{MAX_UPLOAD_BATCH}")
        queued = self._queue.pending()
        outcomes: list[UploadOutcome] = []
        for start in range(0, len(queued), batch_size):
            outcomes += self._upload(queued[start : start + batch_size])
        self._queue.forget_before(int(self._clock()) - self._forget_after)
        return outcomes

    def _upload(self, batch: list[QueuedAcceptance]) -> list[UploadOutcome]:
        body = {
            "acceptances": [
                {
                    "code": item.payload,
                    "acceptedAt": datetime.fromtimestamp(item.accepted_at, UTC).isoformat(),
                }
                for item in batch
            ]
        }
        results = self._call("POST", "/v1/offline/acceptances", body).json().get("results", [])
        answered: dict[int, tuple[QueuedAcceptance, str, str | None]] = {}
        for result in results:
            index = result.get("index")
            if isinstance(index, int) and 0 <= index < len(batch) and isinstance(result.get("outcome"), str):
                answered[index] = (batch[index], result["outcome"], result.get("reason"))
        self._queue.settle(list(answered.values()), int(self._clock()))
        return [
            UploadOutcome(item.payload, item.serial, item.counter, outcome, reason)
            for _, (item, outcome, reason) in sorted(answered.items())
        ]

    # --- the platform ---------------------------------------------------------------------------------------

    def _stored_keys(self) -> dict[str, PublicKey]:
        stored = self._state.platform_keys() or {}
        return {kid: self.suite.load_public_key(pem.encode("ascii")) for kid, pem in stored.items()}

    def _fetch_platform_keys(self) -> None:
        """Load the platform's keys from /v1/platform/keys, store them, and trust them from now on."""
        self._check_online()
        with _translated():
            response = self._client.http.get("/v1/platform/keys")
            response.raise_for_status()
            data = response.json()
        if data.get("suite") != self.suite.name:
            raise TerminalError(
                f"the platform uses the {data.get('suite')} suite, this terminal {self.suite.name}",
                code="suite_mismatch",
            )
        pems = data.get("keys")
        try:
            if not isinstance(pems, dict) or not pems:
                raise UntrustedResponse("the platform listed no keys", code="unexpected_answer")
            keys = {kid: self.suite.load_public_key(str(pem).encode("ascii")) for kid, pem in pems.items()}
        except CryptoError as exc:
            raise UntrustedResponse(f"a platform key does not load: {exc.detail}") from exc
        self._client.platform_keys = keys
        self._verifier.set_platform_keys(keys)
        self._state.save_platform_keys(pems)

    def _check_online(self) -> None:
        if not self._online:
            raise PlatformUnreachable("this terminal was given no platform URL", code="no_platform_url")

    def _open_session(self) -> None:
        with self._session_lock:
            if self._client.session is not None:
                return
            try:
                self._client.open_session()
            except ResponseSignatureInvalid:
                if self._pinned:
                    raise
                # Opening a session changes nothing else, so after a platform key rotation (the answer is
                # signed with a key not stored yet) it is safe to reload the keys and open it again.
                self._fetch_platform_keys()
                self._client.open_session()

    def _call(self, method: str, path: str, body: Any = None) -> SignedResponse:
        """A request in the terminal's MAC session, re-opened once if the platform forgot or expired it."""
        self._check_online()
        if not self._client.platform_keys:
            self._fetch_platform_keys()
        with _translated():
            for attempt in range(2):
                self._open_session()
                try:
                    return self._client.call(method, path, body)
                except PlatformError as exc:
                    if exc.code not in _SESSION_GONE or attempt:
                        raise
                    with self._session_lock:
                        self._client.session = None
        raise AssertionError("unreachable: the second attempt returns or raises")  # pragma: no cover

    # --- life cycle -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the queue (and the HTTP client when this terminal made it)."""
        self._queue.close()
        if self._owns_http:
            self._client.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def _translated() -> Iterator[None]:
    """Turn what essc_sdk and httpx raise into the terminal SDK's errors."""
    try:
        yield
    except PlatformError as exc:
        raise platform_refusal(exc.status, exc.problem) from exc
    except ResponseSignatureInvalid as exc:
        raise UntrustedResponse(str(exc)) from exc
    except CryptoError as exc:  # the session key did not decrypt under the terminal's key
        raise UntrustedResponse(exc.detail) from exc
    except httpx.HTTPStatusError as exc:
        raise PlatformUnreachable(f"{exc.request.url} answered {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        raise PlatformUnreachable(f"{type(exc).__name__}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PlatformUnreachable("the platform's answer is not JSON (a proxy in the way?)") from exc
