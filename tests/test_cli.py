"""The `essc` command line: demo set-up, import, audit verification and help on every command."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import redis
from typer.main import get_command
from typer.testing import CliRunner

from essc.cli import app
from factories import drop_redis_keys

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory with its own SQLite database and key store, as a newcomer's machine."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESSC_DATABASE_URL", f"sqlite:///{tmp_path / 'essc.db'}")
    monkeypatch.setenv("ESSC_KEYSTORE_PATH", str(tmp_path / "keys"))
    monkeypatch.delenv("ESSC_REDIS_URL", raising=False)
    return tmp_path


def test_every_command_has_help() -> None:
    root = get_command(app)
    paths: list[list[str]] = [[]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        paths.extend([name, sub] for sub in getattr(command, "commands", {}))
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_demo_sets_up_parties_keys_and_holders_once(workdir: Path) -> None:
    first = runner.invoke(app, ["demo", "--holders", "40", "--no-serve"])
    assert first.exit_code == 0, first.output
    for party in ("channel/4400000001", "province/44", "terminal/T440000000001"):
        assert party in first.output
    assert (workdir / "var/demo/channel-4400000001/private.pem").exists()
    assert (workdir / "var/demo/terminal-T440000000001/private.pem").exists()
    again = runner.invoke(app, ["demo", "--holders", "40", "--no-serve"])
    assert again.exit_code == 0, again.output
    assert runner.invoke(app, ["audit", "verify"]).output.strip().endswith("intact")


def test_import_is_idempotent_and_reports_bad_rows_with_their_line(workdir: Path) -> None:
    holders = workdir / "holders.csv"
    assert runner.invoke(app, ["demo-data", "generate", str(holders), "--count", "30"]).exit_code == 0
    lines = holders.read_text(encoding="utf-8").splitlines()
    broken = lines[3].split(",")
    broken[0] = "110101199001011230"  # wrong check digit
    lines[3] = ",".join(broken)
    holders.write_text("\n".join(lines) + "\n", encoding="utf-8")

    first = runner.invoke(app, ["import", str(holders), "--province", "44"])
    second = runner.invoke(app, ["import", str(holders), "--province", "44"])

    assert first.exit_code == 2
    assert "29 persons added" in first.output
    assert "line 4:" in first.output
    assert "0 persons added" in second.output
    assert "29 unchanged" in second.output


def test_nonce_store_fresh_declares_an_empty_redis_new(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = os.environ.get("ESSC_TEST_REDIS_URL")
    if not url:
        pytest.skip("needs Redis (CI sets ESSC_TEST_REDIS_URL)")
    prefix = f"essc-test:{uuid.uuid4().hex}:"
    monkeypatch.setenv("ESSC_REDIS_URL", url)
    monkeypatch.setenv("ESSC_REDIS_KEY_PREFIX", prefix)
    client = redis.Redis.from_url(url)
    try:
        result = runner.invoke(app, ["nonce-store-fresh"])

        assert result.exit_code == 0, result.output
        assert client.get(f"{prefix}nonce-epoch") == b"0"
    finally:
        drop_redis_keys(url, prefix)
        client.close()


def test_nonce_store_fresh_without_redis_says_so(workdir: Path) -> None:
    result = runner.invoke(app, ["nonce-store-fresh"])

    assert result.exit_code == 0, result.output
    assert "no Redis nonce store" in result.output


def test_import_reports_rejected_rows_by_line_and_reason_with_masked_values_only(workdir: Path) -> None:
    holders = workdir / "holders.csv"
    assert runner.invoke(app, ["demo-data", "generate", str(holders), "--count", "12"]).exit_code == 0
    lines = holders.read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for line in lines]
    secrets: list[str] = []
    rows[2][0] = rows[2][0][:17] + ("0" if rows[2][0][17] != "0" else "1")  # wrong check digit
    rows[4][1] = rows[4][1][:1] + "\u202e" + rows[4][1][1:]  # a right-to-left override in the name
    rows[6][2] = "2" + rows[6][2][1:]  # a mobile number that cannot be one
    rows[8][3] = rows[9][3]  # the card of the holder on the next line
    rows[10][0] = rows[10][0][:6] + "19850231" + rows[10][0][14:17]  # an impossible birth date
    rows[10][0] += "0"
    for number in (2, 4, 6, 8, 10):
        secrets += [rows[number][0], rows[number][1], rows[number][2]]
    secrets.append(rows[8][3])
    holders.write_text("\n".join(",".join(row) for row in rows) + "\n", encoding="utf-8")
    errors = workdir / "rejected.tsv"

    result = runner.invoke(app, ["import", str(holders), "--province", "44", "--errors", str(errors)])

    assert result.exit_code == 2
    reported = errors.read_text(encoding="utf-8")
    for shown in (result.output, result.stderr, reported):
        leaked = [secret for secret in secrets if secret in shown]
        assert leaked == [], shown
        assert "\u202e" not in shown
    assert [line.split("\t")[0] for line in reported.splitlines()] == ["3", "5", "7", "10", "11"]
    assert f"{rows[2][0][0]}{'*' * 16}{rows[2][0][-1]}" in reported
    assert "aac003 '*" in reported
    assert f"aac067 '{rows[6][2][:3]}****{rows[6][2][-4:]}'" in reported


def test_prove_import_prints_a_checked_proof_that_names_no_one(workdir: Path) -> None:
    holders = workdir / "holders.csv"
    assert runner.invoke(app, ["demo-data", "generate", str(holders), "--count", "20"]).exit_code == 0
    aac002 = holders.read_text(encoding="utf-8").splitlines()[7].split(",")[0]
    assert runner.invoke(app, ["import", str(holders), "--province", "44", "--workers", "0"]).exit_code == 0
    assert runner.invoke(app, ["audit", "sequence", "--once"]).exit_code == 0

    result = runner.invoke(app, ["audit", "prove-import"], input=f"{aac002}\n")

    assert result.exit_code == 0, result.output
    assert '"batch_path"' in result.stdout
    assert '"log_path"' in result.stdout
    assert aac002 not in result.output


def test_eligibility_load_remind_and_deliver(workdir: Path) -> None:
    assert runner.invoke(app, ["demo", "--holders", "12", "--no-serve"]).exit_code == 0
    loaded = runner.invoke(
        app, ["eligibility", "load", "--province", "44", "--period", "2031", "--sandbox", "5"]
    )
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output.startswith("5 loaded, 0 unchanged, 0 rejected")
    again = runner.invoke(
        app, ["eligibility", "load", "--province", "44", "--period", "2031", "--sandbox", "5"]
    )
    assert again.output.startswith("0 loaded, 5 unchanged")
    unregistered = runner.invoke(app, ["eligibility", "load", "--province", "44", "--period", "2031"])
    assert unregistered.exit_code == 1
    assert "benefit_system_not_registered" in unregistered.output
    assert runner.invoke(app, ["eligibility", "remind", "--days", "30"]).output.endswith(
        "reminder(s) queued\n"
    )
    assert runner.invoke(app, ["eligibility", "deliver"]).output == "0 result(s) attempted\n"
