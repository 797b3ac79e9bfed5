"""`essc audit sequence|verify|log-key|add-witness` on a demo: intact, then a changed entry named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from essc.cli import app

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESSC_DATABASE_URL", f"sqlite:///{tmp_path / 'essc.db'}")
    monkeypatch.setenv("ESSC_KEYSTORE_PATH", str(tmp_path / "keys"))
    monkeypatch.delenv("ESSC_REDIS_URL", raising=False)
    return tmp_path


def test_sequence_then_verify_finds_a_changed_entry_and_names_its_leaf(workdir: Path) -> None:
    assert runner.invoke(app, ["demo", "--holders", "20", "--no-serve"]).exit_code == 0
    sequenced = runner.invoke(app, ["audit", "sequence", "--once"])
    assert sequenced.exit_code == 0, sequenced.output
    assert "log 44:" in sequenced.output
    intact = runner.invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert intact.output.strip().endswith("intact")
    with sqlite3.connect(workdir / "essc.db") as db:
        db.execute("UPDATE audit_entries SET details = '{}' WHERE log = '44' AND leaf_index = 2")
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "log 44 leaf 2: leaf 2 is not the leaf the tree holds" in broken.output


def test_log_key_and_add_witness(workdir: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    key = runner.invoke(app, ["audit", "log-key"])
    assert key.exit_code == 0
    assert key.output.startswith("-----BEGIN PUBLIC KEY-----")
    (workdir / "witness.pem").write_text(key.output)  # any SM2 public key will do
    added = runner.invoke(app, ["audit", "add-witness", "witness.example/a", str(workdir / "witness.pem")])
    assert added.exit_code == 0, added.output
    assert "witness witness.example/a added" in added.output
