"""The scene of the terminal SDK tests: a holder with an e-card, a hospital with two counters, a device."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from essc.access.models import CallerSession
from essc.cardholders.importfile import HolderRecord
from essc.core.platform import Platform
from essc.kit import offline
from essc.kit.crypto.base import PrivateKey
from essc_terminal import Terminal
from factories import (
    Party,
    TerminalParty,
    app_client,
    busi_seq,
    channel,
    holder,
    institution,
    issued_sign_no,
    load,
    province,
    terminal,
)

GRANTS = {"01": "masked", "03": "presence"}


@dataclass
class Device:
    """A holder's phone: its own key and the certificate the platform gave it."""

    platform: Platform
    key: PrivateKey
    certificate: offline.DeviceCertificate
    counter: int = 0

    def code(self, busi_type: str = "03") -> str:
        self.counter += 1
        now = int(self.platform.clock.now().timestamp())
        return offline.make_offline_code(
            self.platform.suite, self.key, self.certificate, now, self.counter, busi_type
        )


@dataclass
class Scene:
    platform: Platform
    record: HolderRecord
    http: TestClient
    app: Party
    province: Party
    sign_no: str
    counter: TerminalParty
    other_counter: TerminalParty
    root: Path
    opened: list[Terminal] = field(default_factory=list)

    def clock(self) -> float:
        return self.platform.clock.now().timestamp()

    def sdk(
        self,
        party: TerminalParty | None = None,
        state: str = "counter",
        *,
        pinned: bool = True,
        online: bool = True,
        http: httpx.Client | None = None,
    ) -> Terminal:
        """The SDK of a registered terminal over the in-process platform (or http); pinned or fetched keys."""
        party = party or self.counter
        device = Terminal(
            (http or self.http) if online else None,
            terminal_no=party.terminal_no,
            key_id=party.key_id,
            private_key=party.private_key,
            state_dir=self.root / state,
            suite=self.platform.suite,
            platform_keys=self.platform.keys.public_keys() if pinned else None,
            clock=self.clock,
        )
        self.opened.append(device)
        return device

    def online_code(self) -> dict[str, str]:
        """A fresh online code with its PNG, shown by the holder's channel app."""
        issued: dict[str, str] = self.app.client.post(
            f"/v1/ecards/{self.sign_no}/qr-codes", {"images": ["png"]}
        )
        return issued

    def enrol(self) -> Device:
        """Enrol a device key for offline codes after a busiSeq, as the channel app does."""
        key = self.platform.suite.generate_private_key()
        enrolled = self.app.client.post(
            f"/v1/ecards/{self.sign_no}/devices",
            {
                "devicePublicKey": key.public_key().to_pem().decode("ascii"),
                "busiSeq": busi_seq(self.platform, self.app, self.sign_no, "offline_device"),
            },
        )
        certificate = offline.DeviceCertificate.decode(base64.b64decode(enrolled["certificate"]))
        return Device(self.platform, key, certificate)

    def sessions_of(self, party: TerminalParty) -> int:
        """How many MAC sessions the terminal has opened."""
        with self.platform.session_factory() as session:
            query = (
                select(func.count())
                .select_from(CallerSession)
                .where(CallerSession.caller_id == party.caller_id)
            )
            return int(session.execute(query).scalar_one())


def build_scene(platform: Platform, root: Path) -> Scene:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app, owner = channel(platform, http), province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    hospital = institution(owner, "hospital")
    counter = terminal(platform, http, owner, hospital, GRANTS, session=False)
    other_counter = terminal(platform, http, owner, hospital, GRANTS, session=False)
    return Scene(platform, record, http, app, owner, sign_no, counter, other_counter, root)


def unplugged() -> httpx.Client:
    """An HTTP client whose network cable is pulled: every request fails to connect."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.Client(base_url="http://platform.test", transport=httpx.MockTransport(refuse))
