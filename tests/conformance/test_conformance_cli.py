"""`essc conformance verify`: a signed report is shown and recorded; a changed one is refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conformance_scene import registered_channel, signed_relying_party_report, signed_report
from typer.testing import CliRunner

from essc.cli import app
from essc.core.platform import Platform

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
