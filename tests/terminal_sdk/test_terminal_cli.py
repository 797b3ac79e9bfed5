"""`essc terminal ...` through typer's CliRunner, the platform in-process behind an injected HTTP client."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from terminal_scene import Scene
from typer.testing import CliRunner, Result

from essc.cli import app
from essc.kit.qrimage import qr_png
from essc_terminal.cli import Injected
from factories import TerminalParty

runner = CliRunner()
ONLINE = "ESSC:1:" + "Q" * 32


def _options(party: TerminalParty, folder: Path) -> list[str]:
    key = folder / f"{party.terminal_no}.pem"
    key.write_bytes(party.private_key.to_pem())
    return [
        "--terminal-no",
        party.terminal_no,
        "--key-id",
        party.key_id,
        "--key",
        str(key),
        "--state-dir",
        str(folder / party.terminal_no),
    ]


def _run(scene: Scene | None, *args: str, env: dict[str, str] | None = None) -> Result:
    """essc terminal args; with a scene the platform is reachable (in-process), without one it is not."""
    obj = Injected(http=scene.http, clock=scene.clock) if scene else None
    return runner.invoke(app, ["terminal", *args], obj=obj, env=env)


def test_decode_prints_the_payload_and_its_kind_from_an_image_or_text(tmp_path: Path) -> None:
    image = tmp_path / "code.png"
    image.write_bytes(qr_png(ONLINE))

    from_image = _run(None, "decode", str(image))
    from_text = _run(None, "decode", ONLINE.lower())

    assert from_image.exit_code == 0, from_image.output
    assert from_image.stdout.splitlines() == [f"payload: {ONLINE}", "kind: online (version 1)"]
    assert from_text.stdout == from_image.stdout


def test_decode_shows_what_an_offline_code_carries(scene: Scene) -> None:
    phone = scene.enrol()
    result = _run(None, "decode", phone.code("03"))
    assert result.exit_code == 0, result.output
    assert "kind: offline (version 2)" in result.stdout
    assert "busiType: 03" in result.stdout
    assert phone.certificate.serial_hex in result.stdout


def test_decode_refuses_what_is_no_code_with_its_code_and_exit_2(tmp_path: Path) -> None:
    garbage = _run(None, "decode", "ESSC:9:NOTACODE")
    assert garbage.exit_code == 2
    assert "malformed_code" in garbage.stderr
    blank = tmp_path / "link.png"
    blank.write_bytes(qr_png("HTTPS://EXAMPLE.ORG/"))
    nothing = _run(None, "decode", str(blank))
    assert nothing.exit_code == 2
    assert "no_code_found" in nothing.stderr


def test_resolve_prints_the_answer_and_a_second_use_exits_1_with_the_problem_code(
    scene: Scene, tmp_path: Path
) -> None:
    options = _options(scene.counter, tmp_path)
    issued = scene.online_code()
    image = tmp_path / "shown.png"
    image.write_bytes(base64.b64decode(issued["png"]))

    first = _run(scene, "resolve", str(image), "--busi-type", "01", *options)
    again = _run(scene, "resolve", issued["code"], "--busi-type", "01", *options)

    assert first.exit_code == 0, first.output
    answer = json.loads(first.stdout)
    assert answer["usable"] is True
    assert answer["disclosure"] == "masked"
    assert again.exit_code == 1
    assert "refused (code_already_used)" in again.stderr


def test_sync_verify_offline_and_upload(scene: Scene, tmp_path: Path) -> None:
    options = _options(scene.counter, tmp_path)
    phone = scene.enrol()
    code = phone.code("03")

    synced = _run(scene, "sync", *options)
    # No platform behind this one: the list and keys that sync stored are all it needs.
    accepted = _run(None, "verify", code, "--busi-type", "03", *options)
    replayed = _run(None, "verify", code, *options)
    wrong_kind = _run(None, "verify", phone.code("01"), "--busi-type", "03", *options)

    assert synced.exit_code == 0, synced.output
    assert synced.stdout.startswith("status list 00: 0 revoked certificate(s)")
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["queued"] == 1
    assert replayed.exit_code == 1
    assert "replayed_code" in replayed.stderr
    assert wrong_kind.exit_code == 1
    assert "busi_type_mismatch" in wrong_kind.stderr

    unplugged = _run(None, "upload", *options)
    assert unplugged.exit_code == 3
    assert "no_platform_url" in unplugged.stderr
    key_file, state = options[5], options[7]
    env = {
        "ESSC_TERMINAL_NO": scene.counter.terminal_no,
        "ESSC_TERMINAL_KEY_ID": scene.counter.key_id,
        "ESSC_TERMINAL_KEY": key_file,
        "ESSC_TERMINAL_STATE_DIR": state,
    }
    uploaded = _run(scene, "upload", env=env)
    assert uploaded.exit_code == 0, uploaded.output
    assert uploaded.stdout.splitlines() == [
        f"confirmed: {phone.certificate.serial_hex} #1",
        "1 confirmed; 0 still queued",
    ]


def test_pinned_platform_keys_are_used_as_given(scene: Scene, tmp_path: Path) -> None:
    options = _options(scene.other_counter, tmp_path)
    pinned = tmp_path / "platform-keys.json"
    pinned.write_text(scene.http.get("/v1/platform/keys").text, encoding="utf-8")

    synced = _run(scene, "sync", "--platform-keys", str(pinned), *options)

    assert synced.exit_code == 0, synced.output
    assert not (tmp_path / scene.other_counter.terminal_no / "platform-keys.json").exists()
