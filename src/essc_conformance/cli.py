"""`essc conformance run|run-relying-party|verify`: the access tests through a driver, and their reports."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
import uvicorn

from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform, build_platform
from essc.core.settings import Settings
from essc.core.uow import UnitOfWork
from essc.kit.errors import EsscError
from essc.oidc.delivery import HttpxLogoutSender
from essc.ops import bootstrap
from essc.web.app import create_app
from essc.webhooks.dispatcher import HttpxSender
from essc_conformance import report
from essc_conformance.driver import HttpDriver
from essc_conformance.kit import Kit
from essc_conformance.proxy import RecordingProxy
from essc_conformance.rp_kit import RelyingPartyKit
from essc_conformance.service import record_report

app = typer.Typer(
    help="The access tests (接入测试): run the plans on a channel or a relying party, check reports.",
    no_args_is_help=True,
)


def _platform() -> Platform:
    return build_platform(Settings())


def _summary(document: dict[str, Any]) -> None:
    for case in document["cases"]:
        mark = "PASS" if case["passed"] else "FAIL"
        typer.echo(f"  {mark} {case['id']}" + ("" if case["passed"] else f": {case['detail']}"))
    failed = len(document["summary"]["failed"])
    functions = ", ".join(document["functionsPassed"]) or "none"
    tested = (
        f"relying party {document['clientId']}"
        if "clientId" in document
        else f"channel {document['channelNo']}"
    )
    typer.echo(
        f"{tested} ({document['environment']}): "
        f"{'passed' if document['passed'] else f'failed {failed} case(s)'}; "
        f"functions passed: {functions}; expires {document['expiresAt']}"
    )


class _ProxyServer:
    """The recording proxy served on a local port for a channel in another process or language."""

    def __init__(self, proxy: RecordingProxy, host: str, port: int) -> None:
        config = uvicorn.Config(proxy, host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="essc-conformance-proxy", daemon=True)

    def __enter__(self) -> _ProxyServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@app.command("run")
def run(  # noqa: PLR0917 - Typer builds each command's options from its parameters
    channel: Annotated[
        str, typer.Option("--channel", help="the channelNo under test (registered in the sandbox)")
    ],
    driver_url: Annotated[
        str, typer.Option("--driver-url", help="base URL of the channel's driver endpoints")
    ],
    listen: Annotated[str, typer.Option(help="host:port to serve the recording proxy on")] = "127.0.0.1:8799",
    public_url: Annotated[
        str | None, typer.Option(help="the proxy's URL as the channel reaches it (default http://<listen>)")
    ] = None,
    province: Annotated[str, typer.Option(help="province of the sandbox test persons")] = "44",
    days: Annotated[int, typer.Option(help="days the report stays valid")] = 180,
    out: Annotated[Path | None, typer.Option(help="where to write the signed report (JSON)")] = None,
) -> None:
    """Run both plans on the channel through its driver; write the signed report; exit 1 if a case failed."""
    host, _, port = listen.rpartition(":")
    platform = _platform()
    bootstrap.prepare(platform)
    proxy = RecordingProxy(create_app(platform))
    kit = Kit(
        platform=platform,
        proxy=proxy,
        platform_url=public_url or f"http://{listen}",
        channel_no=channel,
        driver=HttpDriver(driver_url),
        webhooks=HttpxSender(),
        province=province,
        validity=timedelta(days=days),
    )
    try:
        with _ProxyServer(proxy, host or "127.0.0.1", int(port)):
            document = kit.run_signed()
    except EsscError as exc:
        typer.secho(f"error ({exc.code}): {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    finally:
        platform.close()
    target = out or Path(f"conformance-{channel}-{document['reportId']}.json")
    target.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    _summary(document)
    typer.echo(f"report: {target}")
    if not document["passed"]:
        raise typer.Exit(code=1)


@app.command("run-relying-party")
def run_relying_party(  # noqa: PLR0917 - Typer builds each command's options from its parameters
    client_id: Annotated[
        str, typer.Option("--client-id", help="the relying party under test (registered in the sandbox)")
    ],
    driver_url: Annotated[
        str, typer.Option("--driver-url", help="base URL of the relying party's driver endpoints")
    ],
    listen: Annotated[str, typer.Option(help="host:port to serve the recording proxy on")] = "127.0.0.1:8799",
    public_url: Annotated[
        str | None,
        typer.Option(
            help="the proxy's URL as the relying party reaches it, the issuer (default http://<listen>)"
        ),
    ] = None,
    province: Annotated[str, typer.Option(help="province of the sandbox test holder")] = "44",
    days: Annotated[int, typer.Option(help="days the report stays valid")] = 180,
    out: Annotated[Path | None, typer.Option(help="where to write the signed report (JSON)")] = None,
) -> None:
    """Run the relying-party plan through its driver; write the signed report; exit 1 if a case failed."""
    host, _, port = listen.rpartition(":")
    platform = _platform()
    bootstrap.prepare(platform)
    issuer = (public_url or f"http://{listen}").rstrip("/")
    platform.settings.public_url = issuer  # the proxy is the sandbox's public face: the issuer
    proxy = RecordingProxy(create_app(platform))
    try:
        with (
            _ProxyServer(proxy, host or "127.0.0.1", int(port)),
            httpx.Client(base_url=f"http://{listen}", timeout=30.0) as browser,
        ):
            kit = RelyingPartyKit(
                platform=platform,
                proxy=proxy,
                platform_url=issuer,
                client_id=client_id,
                driver=HttpDriver(driver_url),
                browser=browser,
                logout=HttpxLogoutSender(),
                province=province,
                validity=timedelta(days=days),
            )
            document = kit.run_signed()
    except EsscError as exc:
        typer.secho(f"error ({exc.code}): {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    finally:
        platform.close()
    target = out or Path(f"conformance-{client_id}-{document['reportId']}.json")
    target.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    _summary(document)
    typer.echo(f"report: {target}")
    if not document["passed"]:
        raise typer.Exit(code=1)


@app.command("verify")
def verify(
    path: Annotated[
        Path, typer.Argument(help="a report written by essc conformance run", exists=True, dir_okay=False)
    ],
    record: Annotated[
        bool, typer.Option(help="also record its passed functions as the channel's production certifications")
    ] = False,
) -> None:
    """Check a report's platform signature (and expiry, when recording); exit 1 when it does not count."""
    platform = _platform()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        report.verify(document, platform.suite, platform.keys.public_keys())
        _summary(document)
        typer.echo("signature: valid (platform key " + str(document["signature"]["keyId"]) + ")")
        if record and "clientId" in document:
            typer.secho(
                "error: a relying party's report certifies no channel; nothing was recorded",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(code=1)
        if record:
            with UnitOfWork(platform, RequestContext(actor=Actor.operator("conformance-cli"))) as uow:
                rows = record_report(uow, document)
                uow.commit()
            for row in rows:
                typer.echo(
                    f"certified {row.function} until {row.expires_at.isoformat()} "
                    f"on key {row.key_fingerprint[:16]}"
                )
    except EsscError as exc:
        typer.secho(f"error ({exc.code}): {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    except ValueError as exc:
        typer.secho(f"error: {path} is not JSON ({exc})", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    finally:
        platform.close()
