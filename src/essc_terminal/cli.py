"""`essc terminal ...`: the terminal SDK from a shell; every command is a thin call into essc_terminal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from essc.kit.codes import CodeKind, MalformedCode
from essc.kit.crypto import get_suite
from essc.kit.errors import EsscError
from essc.kit.offline import NATIONAL, decode_offline
from essc.kit.qrimage import MAX_IMAGE_BYTES, UnreadableImage, decode_image
from essc_terminal.codes import parse, read_code
from essc_terminal.credentials import (
    fetch_issuer_keys,
    fetch_status_list,
    load_status_lists,
    verify_credential,
)
from essc_terminal.credentials import issuer_keys as credential_issuer_keys
from essc_terminal.errors import InvalidArgument, TerminalError
from essc_terminal.terminal import Terminal

__all__ = ["Injected", "app"]

app = typer.Typer(
    help="A registered terminal: read, resolve and verify codes, sync status lists, upload acceptances.",
    no_args_is_help=True,
)


@dataclass(frozen=True, slots=True)
class Injected:
    """What a program embedding the CLI (a test, a kiosk shell) passes as the click context's obj."""

    http: httpx.Client | None = None
    clock: Callable[[], float] | None = None


_KIND_NAMES = {CodeKind.ONLINE: "online", CodeKind.LOGIN: "login", CodeKind.OFFLINE: "offline"}

Source = Annotated[
    str, typer.Argument(help="the scanned payload (ESSC:...) or an image file (photo, screenshot)")
]
Url = Annotated[str | None, typer.Option("--url", envvar="ESSC_TERMINAL_URL", help="the platform's base URL")]
TerminalNo = Annotated[
    str, typer.Option("--terminal-no", envvar="ESSC_TERMINAL_NO", help="this terminal's registered number")
]
KeyId = Annotated[
    str, typer.Option("--key-id", envvar="ESSC_TERMINAL_KEY_ID", help="the key id it signs with")
]
KeyPem = Annotated[
    Path,
    typer.Option(
        "--key", envvar="ESSC_TERMINAL_KEY", exists=True, dir_okay=False, help="its private key (PEM file)"
    ),
]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="ESSC_TERMINAL_STATE_DIR",
        help="where its status lists and acceptance queue live (default: var/terminal/<terminal-no>)",
    ),
]
Suite = Annotated[str, typer.Option("--suite", envvar="ESSC_TERMINAL_SUITE", help="crypto suite: sm or intl")]
PlatformKeys = Annotated[
    Path | None,
    typer.Option(
        "--platform-keys",
        envvar="ESSC_TERMINAL_PLATFORM_KEYS",
        exists=True,
        dir_okay=False,
        help="pin the platform's keys: a copy of /v1/platform/keys obtained out of band "
        "(default: fetched once and kept in the state directory)",
    ),
]


@contextmanager
def _reporting() -> Iterator[None]:
    """Print a refusal with its code on stderr and exit non-zero (1 refused, 2 bad input, 3 platform)."""
    try:
        yield
    except TerminalError as exc:
        label = "refused" if exc.exit_code == 1 else "error"
        typer.secho(f"{label} ({exc.code}): {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=exc.exit_code) from exc
    except EsscError as exc:  # a key or file the kit could not use
        typer.secho(f"error ({exc.code}): {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc


def _terminal(  # noqa: PLR0917 - the options of every command, in their order
    ctx: typer.Context,
    url: str | None,
    terminal_no: str,
    key_id: str,
    key: Path,
    state_dir: Path | None,
    suite_name: str,
    platform_keys: Path | None,
) -> Terminal:
    injected = ctx.obj if isinstance(ctx.obj, Injected) else Injected()
    try:
        suite = get_suite(suite_name)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc
    pinned = None
    if platform_keys is not None:
        try:
            pems: dict[str, str] = json.loads(platform_keys.read_text(encoding="utf-8"))["keys"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidArgument(f"{platform_keys} is not a copy of /v1/platform/keys") from exc
        pinned = {kid: suite.load_public_key(pem.encode("ascii")) for kid, pem in pems.items()}
    return Terminal(
        injected.http or url,
        terminal_no=terminal_no,
        key_id=key_id,
        private_key=suite.load_private_key(key.read_bytes()),
        state_dir=state_dir or Path("var/terminal") / terminal_no,
        suite=suite,
        platform_keys=pinned,
        clock=injected.clock or time.time,
    )


def _at(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _dump(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command()
def decode(source: Source) -> None:
    """Print the payload of a code and its kind (from text or an image), without any network."""
    with _reporting():
        payload = read_code(source)
        parsed = parse(payload)
        typer.echo(f"payload: {payload}")
        typer.echo(f"kind: {_KIND_NAMES[parsed.kind]} (version {parsed.kind.value})")
        if parsed.kind is CodeKind.OFFLINE:
            try:
                code = decode_offline(parsed.body)
            except MalformedCode as exc:
                raise TerminalError(exc.detail, code=exc.code) from exc
            certificate = code.certificate
            typer.echo(f"busiType: {code.busi_type}")
            typer.echo(f"device certificate: {certificate.serial_hex} (province {certificate.province})")
            typer.echo(f"counter: {code.counter}, issued at {_at(code.issued_at)} (signatures not checked)")


@app.command()
def resolve(  # noqa: PLR0917 - typer builds the options from the parameters
    ctx: typer.Context,
    source: Source,
    busi_type: Annotated[
        str, typer.Option("--busi-type", help="what the code is used for: 01, 02, 03 or 04")
    ],
    terminal_no: TerminalNo,
    key_id: KeyId,
    key: KeyPem,
    url: Url = None,
    state_dir: StateDir = None,
    suite: Suite = "sm",
    platform_keys: PlatformKeys = None,
) -> None:
    """Spend an online code at the platform; print what this terminal's grant lets it learn (JSON)."""
    with (
        _reporting(),
        _terminal(ctx, url, terminal_no, key_id, key, state_dir, suite, platform_keys) as device,
    ):
        _dump(device.resolve(read_code(source), busi_type).raw)


@app.command()
def verify(  # noqa: PLR0917 - typer builds the options from the parameters
    ctx: typer.Context,
    source: Source,
    terminal_no: TerminalNo,
    key_id: KeyId,
    key: KeyPem,
    busi_type: Annotated[
        str | None, typer.Option("--busi-type", help="refuse a code made for another busiType")
    ] = None,
    url: Url = None,
    state_dir: StateDir = None,
    suite: Suite = "sm",
    platform_keys: PlatformKeys = None,
) -> None:
    """Check an offline code without network against the synced status list; queue it for upload."""
    with (
        _reporting(),
        _terminal(ctx, url, terminal_no, key_id, key, state_dir, suite, platform_keys) as device,
    ):
        accepted = device.verify_offline(read_code(source), busi_type)
        _dump(
            {
                "accepted": True,
                "serial": accepted.serial,
                "counter": accepted.counter,
                "busiType": accepted.busi_type,
                "province": accepted.province,
                "issuedAt": _at(accepted.issued_at),
                "acceptedAt": _at(accepted.accepted_at),
                "queued": len(device.pending()),
            }
        )


@app.command()
def sync(  # noqa: PLR0917 - typer builds the options from the parameters
    ctx: typer.Context,
    terminal_no: TerminalNo,
    key_id: KeyId,
    key: KeyPem,
    province: Annotated[str, typer.Option(help="the province's list, or 00 for the national one")] = NATIONAL,
    url: Url = None,
    state_dir: StateDir = None,
    suite: Suite = "sm",
    platform_keys: PlatformKeys = None,
) -> None:
    """Fetch and verify the signed list of revoked device certificates; keep it for offline checks."""
    with (
        _reporting(),
        _terminal(ctx, url, terminal_no, key_id, key, state_dir, suite, platform_keys) as device,
    ):
        status = device.sync_status_list(province)
        typer.echo(
            f"status list {status.province}: {len(status.revoked_serials)} revoked certificate(s), "
            f"issued {_at(status.issued_at)}, next update {_at(status.next_update)}"
        )


@app.command()
def upload(  # noqa: PLR0917 - typer builds the options from the parameters
    ctx: typer.Context,
    terminal_no: TerminalNo,
    key_id: KeyId,
    key: KeyPem,
    url: Url = None,
    state_dir: StateDir = None,
    suite: Suite = "sm",
    platform_keys: PlatformKeys = None,
) -> None:
    """Send the queued offline acceptances for settlement; print the platform's outcome for each."""
    with (
        _reporting(),
        _terminal(ctx, url, terminal_no, key_id, key, state_dir, suite, platform_keys) as device,
    ):
        outcomes = device.upload_acceptances()
        for item in outcomes:
            reason = f" ({item.reason})" if item.reason else ""
            typer.echo(f"{item.outcome}{reason}: {item.serial} #{item.counter}")
        counts: dict[str, int] = {}
        for item in outcomes:
            counts[item.outcome] = counts.get(item.outcome, 0) + 1
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing to upload"
        typer.echo(f"{summary}; {len(device.pending())} still queued")


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _http(ctx: typer.Context) -> httpx.Client:
    injected = ctx.obj if isinstance(ctx.obj, Injected) else Injected()
    return injected.http or httpx.Client(timeout=10)


def _text_of(source: str, what: str) -> str:
    """A file's text, or source itself when it names no file."""
    path = Path(source)
    try:
        is_file = len(source) < 4096 and path.is_file()
    except (OSError, ValueError):
        is_file = False
    if not is_file:
        return source
    data = path.read_bytes()[: MAX_IMAGE_BYTES + 1]
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        pass  # not text: a photo or a saved image of the code, read below
    try:
        texts = decode_image(data)
    except UnreadableImage as exc:
        raise InvalidArgument(f"{path.name} is neither {what} text nor a readable image") from exc
    if len(texts) != 1:
        raise InvalidArgument(f"{path.name} shows {len(texts)} QR codes; show one {what}")
    return texts[0]


@app.command("verify-credential")
def verify_credential_command(  # noqa: PLR0917 - typer builds the options from the parameters
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="the presentation, a file holding it, or a QR image of it")],
    issuer_keys: Annotated[
        str,
        typer.Option(
            "--issuer-keys",
            help="a copy of /.well-known/jwt-vc-issuer (file), or the platform's base URL to fetch it from",
        ),
    ],
    status_list: Annotated[
        list[str] | None,
        typer.Option("--status-list", help="a status list token (file) or its URI to fetch; repeatable"),
    ] = None,
    aud: Annotated[
        str | None, typer.Option("--aud", help="this verifier, as the key binding JWT names it")
    ] = None,
    nonce: Annotated[
        str | None, typer.Option("--nonce", help="the nonce this verifier gave the holder")
    ] = None,
) -> None:
    """Check an electronic service credential without network against the platform's keys and status lists."""
    injected = ctx.obj if isinstance(ctx.obj, Injected) else Injected()
    now = int((injected.clock or time.time)())
    with _reporting():
        if _is_url(issuer_keys):
            issuer, keys = fetch_issuer_keys(_http(ctx), issuer_keys)
        else:
            try:
                metadata = json.loads(Path(issuer_keys).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise InvalidArgument(f"{issuer_keys} is not a copy of /.well-known/jwt-vc-issuer") from exc
            issuer, keys = str(metadata.get("issuer", "")), credential_issuer_keys(metadata)
        tokens = [
            fetch_status_list(_http(ctx), item) if _is_url(item) else _text_of(item, "status list")
            for item in status_list or []
        ]
        held = load_status_lists(tokens, keys, now)
        presentation = _text_of(source, "presentation")
        verified = verify_credential(
            presentation, keys, held, now, expected_aud=aud, expected_nonce=nonce, issuer=issuer or None
        )
        _dump(verified.as_json())
