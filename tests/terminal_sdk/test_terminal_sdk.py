"""The terminal SDK against the real platform in-process: online resolution, offline checks, the queue."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from terminal_scene import Scene, unplugged

from essc.kit.clock import FrozenClock
from essc.kit.qrimage import qr_png
from essc_terminal import (
    BusiTypeMismatch,
    BusiTypeNotGranted,
    CodeAlreadyUsed,
    InvalidArgument,
    OfflineRefused,
    PlatformRefused,
    PlatformUnreachable,
    StateDirInUse,
    Terminal,
    UnreadableCode,
    read_code,
)


def _png_file(folder: Path, name: str, png: bytes) -> Path:
    path = folder / name
    path.write_bytes(png)
    return path


def _screenshot(folder: Path, png: bytes, offset: tuple[int, int] = (317, 211)) -> Path:
    """The code as a phone screenshot shows it: somewhere on a larger screen with other things drawn."""
    screen = Image.new("RGB", (1080, 1400), (236, 240, 245))
    screen.paste((40, 90, 160), (0, 0, 1080, 140))  # an app bar above the code
    screen.paste(Image.open(io.BytesIO(png)).convert("RGB"), offset)
    out = io.BytesIO()
    screen.save(out, format="PNG")
    return _png_file(folder, "screenshot.png", out.getvalue())


# --- online -------------------------------------------------------------------------------------------------


def test_resolve_returns_the_granted_fields_and_a_used_code_is_a_typed_error(scene: Scene) -> None:
    device = scene.sdk()
    code = scene.online_code()["code"]

    answer = device.resolve(code, "01")

    assert answer.usable is True
    assert answer.disclosure == "masked"
    assert answer.busi_type == "01"
    assert answer.aac002 == scene.record.aac002[0] + "*" * 16 + scene.record.aac002[-1]
    assert answer.aac002 != scene.record.aac002
    with pytest.raises(CodeAlreadyUsed) as used:
        device.resolve(code, "01")
    assert used.value.code == "code_already_used"
    assert used.value.status == 409
    assert scene.sessions_of(scene.counter) == 1  # one signed request opened it; both resolutions used it


def test_refusals_carry_the_platform_code_and_bad_input_costs_no_request(scene: Scene) -> None:
    device = scene.sdk()
    code = scene.online_code()["code"]
    with pytest.raises(BusiTypeNotGranted) as refused:
        device.resolve(code, "02")
    assert isinstance(refused.value, PlatformRefused)
    assert refused.value.problem["code"] == "busi_type_not_granted"
    with pytest.raises(InvalidArgument):
        device.resolve(code, "09")
    with pytest.raises(UnreadableCode) as wrong:
        device.resolve(scene.enrol().code(), "03")
    assert wrong.value.code == "wrong_code_kind"
    with pytest.raises(UnreadableCode) as malformed:
        device.resolve("ESSC:1:TOOSHORT", "01")
    assert malformed.value.code == "malformed_code"
    assert device.resolve(code, "01").usable is True  # none of that spent the code


def test_an_expired_session_is_reopened_transparently(scene: Scene, clock: FrozenClock) -> None:
    device = scene.sdk()
    device.resolve(scene.online_code()["code"], "01")
    clock.advance(timedelta(seconds=scene.platform.settings.session_ttl_seconds + 1))

    answer = device.resolve(scene.online_code()["code"], "01")

    assert answer.usable is True
    assert scene.sessions_of(scene.counter) == 2


def test_an_unreachable_platform_is_a_typed_error(scene: Scene) -> None:
    with unplugged() as http, pytest.raises(PlatformUnreachable) as down:
        scene.sdk(http=http).resolve(scene.online_code()["code"], "01")
    assert down.value.exit_code == 3


# --- offline ------------------------------------------------------------------------------------------------


def test_sync_verify_upload_confirms_and_the_same_code_at_a_second_terminal_is_a_replay(
    scene: Scene, clock: FrozenClock
) -> None:
    first, second = scene.sdk(), scene.sdk(scene.other_counter, "other")
    phone = scene.enrol()
    assert first.sync_status_list().revoked_serials == ()
    second.sync_status_list()
    code = phone.code()

    accepted = first.verify_offline(code, "03")
    second.verify_offline(code)  # offline, the second counter cannot know

    assert accepted.serial == phone.certificate.serial_hex
    assert [(o.outcome, o.serial, o.counter) for o in first.upload_acceptances()] == [
        ("confirmed", accepted.serial, accepted.counter)
    ]
    assert [o.outcome for o in second.upload_acceptances()] == ["replayed"]
    assert first.pending() == []
    assert second.pending() == []
    # The copied phone is revoked: after the next sync its codes stop at every counter.
    clock.advance(timedelta(seconds=1))
    assert first.sync_status_list().revoked_serials == (phone.certificate.serial,)
    with pytest.raises(OfflineRefused) as revoked:
        first.verify_offline(phone.code())
    assert revoked.value.code == "certificate_revoked"


def test_a_code_of_another_busi_type_is_refused_and_stays_usable(scene: Scene) -> None:
    device = scene.sdk()
    device.sync_status_list()
    code = scene.enrol().code("03")
    with pytest.raises(BusiTypeMismatch):
        device.verify_offline(code, "01")
    assert device.verify_offline(code, "03").busi_type == "03"
    with pytest.raises(OfflineRefused) as again:
        device.verify_offline(code, "03")
    assert again.value.code == "replayed_code"


def test_without_a_status_list_offline_codes_are_refused(scene: Scene) -> None:
    with pytest.raises(OfflineRefused) as refused:
        scene.sdk().verify_offline(scene.enrol().code())
    assert refused.value.code == "status_list_stale"


def test_the_queue_keys_and_list_survive_a_restart_and_so_does_the_replay_memory(scene: Scene) -> None:
    phone = scene.enrol()
    before = scene.sdk(pinned=False)  # fetches the platform keys and stores them
    before.sync_status_list()
    code = phone.code()
    before.verify_offline(code)
    before.close()

    offline_only = scene.sdk(pinned=False, online=False)  # restarted with no network at all
    assert [q.payload for q in offline_only.pending()] == [code]
    with pytest.raises(OfflineRefused) as replayed:
        offline_only.verify_offline(code)
    assert replayed.value.code == "replayed_code"
    offline_only.verify_offline(phone.code())
    with pytest.raises(PlatformUnreachable):
        offline_only.upload_acceptances()
    offline_only.close()

    outcomes = scene.sdk(pinned=False).upload_acceptances(batch_size=1)
    assert [o.outcome for o in outcomes] == ["confirmed", "confirmed"]


def test_an_upload_that_fails_keeps_everything_queued(scene: Scene) -> None:
    online = scene.sdk()
    online.sync_status_list()
    online.verify_offline(scene.enrol().code())
    online.close()
    with unplugged() as http:
        cut_off = scene.sdk(http=http)
        with pytest.raises(PlatformUnreachable):
            cut_off.upload_acceptances()
        assert len(cut_off.pending()) == 1
    assert [o.outcome for o in scene.sdk().upload_acceptances()] == ["confirmed"]


def test_a_state_directory_serves_one_terminal(scene: Scene) -> None:
    scene.sdk(state="shared")
    with pytest.raises(StateDirInUse):
        scene.sdk(scene.other_counter, state="shared")


def test_refused_uploads_leave_the_queue_with_their_reason(scene: Scene) -> None:
    device = scene.sdk()
    device.sync_status_list()
    device.verify_offline(scene.enrol().code("02"))  # offline the grant is unknown; the platform knows it

    [outcome] = device.upload_acceptances()

    assert (outcome.outcome, outcome.reason) == ("refused", "busi_type_not_granted")
    assert device.pending() == []


# --- reading codes ------------------------------------------------------------------------------------------


def test_read_code_takes_the_platform_png_a_screenshot_of_it_or_the_text(
    scene: Scene, tmp_path: Path
) -> None:
    issued = scene.online_code()
    png = base64.b64decode(issued["png"])

    assert read_code(_png_file(tmp_path, "code.png", png)) == issued["code"]
    from_screen = read_code(str(_screenshot(tmp_path, png)))
    assert from_screen == issued["code"]
    assert read_code(f"  {issued['code'].lower()}\n") == issued["code"]
    assert scene.sdk().resolve(from_screen, "01").usable is True


def test_read_code_takes_the_svg_the_platform_serves(scene: Scene, tmp_path: Path) -> None:
    issued = scene.app.client.post(f"/v1/ecards/{scene.sign_no}/qr-codes", {"images": ["svg"]})
    assert issued["png"] is None
    (tmp_path / "code.svg").write_text(issued["svg"], encoding="utf-8")
    assert Terminal.read_code(tmp_path / "code.svg") == issued["code"]
    assert scene.sdk().resolve(Terminal.read_code(str(tmp_path / "code.svg")), "01").usable is True


def test_read_code_names_how_many_codes_an_image_shows_or_that_it_shows_none(tmp_path: Path) -> None:
    first, second = qr_png("ESSC:1:" + "A" * 32), qr_png("ESSC:1:" + "B" * 32)
    canvas = Image.new("L", (900, 500), 255)
    canvas.paste(Image.open(io.BytesIO(first)), (20, 20))
    canvas.paste(Image.open(io.BytesIO(second)), (480, 60))
    both = io.BytesIO()
    canvas.save(both, format="PNG")

    with pytest.raises(UnreadableCode) as several:
        read_code(_png_file(tmp_path, "two.png", both.getvalue()))
    assert several.value.code == "several_codes"
    assert "2 different" in several.value.detail
    with pytest.raises(UnreadableCode) as none:
        read_code(_png_file(tmp_path, "link.png", qr_png("HTTPS://EXAMPLE.ORG/")))
    assert none.value.code == "no_code_found"
    with pytest.raises(UnreadableCode) as broken:
        read_code(_png_file(tmp_path, "broken.png", b"not a picture"))
    assert broken.value.code == "unreadable_image"
    with pytest.raises(UnreadableCode):
        read_code("no such file or code")
