"""An office checks credentials offline with the terminal SDK and `essc terminal verify-credential`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from essc.cardholders.importfile import HolderRecord
from essc.cli import app
from essc.core.platform import Platform
from essc.kit import sdjwt
from essc.kit.clock import FrozenClock
from essc_terminal import (
    CredentialRefused,
    fetch_issuer_keys,
    fetch_status_list,
    load_status_lists,
    verify_credential,
)
from essc_terminal.cli import Injected
from factories import Party, app_client, busi_seq, card_event, channel, holder, issued_sign_no, load, province

runner = CliRunner()
BASE = "http://testserver"


@dataclass
class Office:
    record: HolderRecord
    http: TestClient
    app: Party
    province: Party
    sign_no: str
    clock: FrozenClock


@pytest.fixture
def office(platform: Platform, clock: FrozenClock) -> Office:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app, owner = channel(platform, http), province(platform, http)
    return Office(record, http, app, owner, issued_sign_no(platform, app, record), clock)


def _credential(platform: Platform, office: Office) -> dict[str, object]:
    body = {
        "busiSeq": busi_seq(platform, office.app, office.sign_no, "credential"),
        "clearClaims": ["aac003"],
    }
    answer: dict[str, object] = office.app.client.post(f"/v1/ecards/{office.sign_no}/credentials", body)
    return answer


def _now(office: Office) -> int:
    return int(office.clock.now().timestamp())


def test_a_credential_of_a_card_since_lost_fails_after_the_next_refresh(
    platform: Platform, office: Office
) -> None:
    issued = _credential(platform, office)
    uri = str(issued["status"]["uri"])  # type: ignore[index]
    shown = sdjwt.present(f"{issued['credential']}{issued['aac003']}~", ["aac003", "aab301"])
    issuer, keys = fetch_issuer_keys(office.http, BASE)
    synced = load_status_lists([fetch_status_list(office.http, uri)], keys, _now(office))

    accepted = verify_credential(shown, keys, synced, _now(office), issuer=issuer)
    assert accepted.claims["aac003"] == office.record.aac003
    assert accepted.disclosed == {"aac003", "aab301"}

    card_event(platform, office.province, office.record.aaz500, "lost")
    office.clock.advance(timedelta(seconds=30))
    # Offline, on the list it holds, the office still accepts: the status list is what it knows.
    assert verify_credential(shown, keys, synced, _now(office), issuer=issuer).disclosed == {
        "aac003",
        "aab301",
    }
    refreshed = load_status_lists([fetch_status_list(office.http, uri)], keys, _now(office))
    with pytest.raises(CredentialRefused) as refused:
        verify_credential(shown, keys, refreshed, _now(office), issuer=issuer)
    assert refused.value.code == "credential_suspended"


def test_a_status_list_past_its_expiry_is_refused(platform: Platform, office: Office) -> None:
    issued = _credential(platform, office)
    uri = str(issued["status"]["uri"])  # type: ignore[index]
    _issuer, keys = fetch_issuer_keys(office.http, BASE)
    synced = load_status_lists([fetch_status_list(office.http, uri)], keys, _now(office))
    office.clock.advance(timedelta(days=2))
    with pytest.raises(CredentialRefused) as refused:
        verify_credential(sdjwt.present(str(issued["credential"]), []), keys, synced, _now(office))
    assert refused.value.code == "credential_status_stale"


def _cli(office: Office, *args: str) -> Result:
    return runner.invoke(
        app,
        ["terminal", "verify-credential", *args],
        obj=Injected(http=office.http, clock=lambda: office.clock.now().timestamp()),
    )


def test_the_cli_verifies_from_files_offline_and_names_a_refusal(
    platform: Platform, office: Office, tmp_path: Path
) -> None:
    issued = _credential(platform, office)
    uri = str(issued["status"]["uri"])  # type: ignore[index]
    keys_file, list_file, shown_file = tmp_path / "issuer.json", tmp_path / "list.jwt", tmp_path / "shown.png"
    keys_file.write_text(office.http.get("/.well-known/jwt-vc-issuer").text, encoding="utf-8")
    list_file.write_text(office.http.get(uri).text, encoding="utf-8")
    shown_file.write_bytes(sdjwt.presentation_png(sdjwt.present(str(issued["credential"]), ["aab301"])))

    accepted = _cli(office, str(shown_file), "--issuer-keys", str(keys_file), "--status-list", str(list_file))
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["claims"]["aab301"] == office.record.aab301

    card_event(platform, office.province, office.record.aaz500, "cancelled")
    office.clock.advance(timedelta(seconds=1))
    refused = _cli(office, str(shown_file), "--issuer-keys", BASE, "--status-list", uri)
    assert refused.exit_code == 1
    assert "credential_revoked" in refused.output
