"""`essc conformance verify`: a signed report is shown and recorded; a changed one is refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
import uvicorn
from conformance_scene import registered_channel, signed_relying_party_report, signed_report
from fastapi import FastAPI
from joserfc.jwk import ECKey
from typer.testing import CliRunner

from essc.cli import app
from essc.core.platform import Platform
from essc_conformance.rp_reference import CALLBACK_PATH, ReferenceRelyingParty, rp_reference_app
from essc_conformance.sandbox import register_relying_party
from factories import free_port

runner = CliRunner()


@pytest.fixture
def report_file(
    platform: Platform,
    backend: str,
    database_urls: dict[str, str],
    keystore_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv("ESSC_DATABASE_URL", database_urls[backend])
    monkeypatch.setenv("ESSC_KEYSTORE_PATH", str(keystore_path))
    monkeypatch.delenv("ESSC_REDIS_URL", raising=False)
    _, key = registered_channel(platform, "4490000009")
    path = tmp_path / "report.json"
    path.write_bytes(orjson.dumps(signed_report(platform, "4490000009", key)))
    return path


def test_verify_shows_a_signed_report_and_records_it(report_file: Path) -> None:
    result = runner.invoke(app, ["conformance", "verify", str(report_file), "--record"])

    assert result.exit_code == 0, result.output
    assert "signature: valid" in result.output
    assert "PASS functional.issuance" in result.output
    assert "certified issuance until" in result.output


def test_verify_refuses_a_changed_report(report_file: Path) -> None:
    document = orjson.loads(report_file.read_bytes())
    document["cases"][0]["passed"] = not document["cases"][0]["passed"]
    report_file.write_bytes(orjson.dumps(document))

    result = runner.invoke(app, ["conformance", "verify", str(report_file)])

    assert result.exit_code == 1
    assert "conformance_report_signature_invalid" in result.output


def test_verify_shows_a_relying_party_report_and_records_no_channel_certification(
    report_file: Path, platform: Platform
) -> None:
    report_file.write_bytes(orjson.dumps(signed_relying_party_report(platform, "rp-under-test")))

    shown = runner.invoke(app, ["conformance", "verify", str(report_file)])
    recorded = runner.invoke(app, ["conformance", "verify", str(report_file), "--record"])

    assert shown.exit_code == 0, shown.output
    assert "PASS relying-party.id-token.nonce" in shown.output
    assert "relying party rp-under-test (sandbox): passed; functions passed: login" in shown.output
    assert recorded.exit_code == 1
    assert "certifies no channel; nothing was recorded" in recorded.output


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[None]:
    """An app served by uvicorn in a thread of this process (the relying party under test)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.mark.slow
def test_run_relying_party_certifies_a_relying_party_served_over_http(
    report_file: Path, platform: Platform, tmp_path: Path
) -> None:
    rp_port, proxy_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{rp_port}"
    key = ECKey.generate_key("P-256", parameters={"kid": "cli-rp-sig"})
    register_relying_party(platform, "cli-rp", key, origin=origin)
    relying_party = ReferenceRelyingParty("cli-rp", key, origin + CALLBACK_PATH)
    out = tmp_path / "rp.json"

    with serving(rp_reference_app(relying_party), rp_port):
        result = runner.invoke(
            app,
            [
                "conformance",
                "run-relying-party",
                "--client-id",
                "cli-rp",
                "--driver-url",
                origin,
                "--listen",
                f"127.0.0.1:{proxy_port}",
                "--out",
                str(out),
            ],
        )

    assert result.exit_code == 0, result.output
    assert "relying party cli-rp (sandbox): passed; functions passed: login" in result.output
    document = orjson.loads(out.read_bytes())
    assert document["clientId"] == "cli-rp"
    assert document["platform"] == f"http://127.0.0.1:{proxy_port}"
