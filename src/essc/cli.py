"""The essc command line: serve, demo, database, import, keys, parties, audit, webhooks."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import httpx
import typer

from essc.access import service as access
from essc.audit import repository as audit_repository
from essc.audit import service as audit_service
from essc.audit.witness import Witness, accepted_checkpoints
from essc.authorisations import service as authorisations
from essc.authorisations.models import GrantStatus
from essc.cardholders.bulk import DEFAULT_BATCH_SIZE, BulkReport, bulk_import
from essc.cardholders.feeds import apply_feed
from essc.cardholders.importer import ImportReport
from essc.cardholders.proofs import prove_import, verify_import_proof
from essc.cardholders.synthetic import write_parallel
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.nonces import RedisNonceStore
from essc.core.platform import Platform, build_platform
from essc.core.settings import Settings
from essc.core.uow import UnitOfWork
from essc.eligibility import delivery as eligibility_delivery
from essc.eligibility import jobs as eligibility_jobs
from essc.kit.crypto import get_suite
from essc.kit.errors import EsscError
from essc.kit.keystore import KeyPurpose
from essc.ops import bootstrap, demo, maintenance
from essc.ops.serve import serve_api
from essc.shared.policy import Function
from essc.webhooks.dispatcher import HttpxSender, deliver_due
from essc.wiring import register_handlers
from essc_conformance.cli import app as conformance_app
from essc_terminal.cli import app as terminal_app

app = typer.Typer(help="essc: the electronic social security card platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Platform key store: list, rotate.", no_args_is_help=True)
parties_app = typer.Typer(help="Channels and province card systems that sign requests.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit logs: sequence, verify, witness.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook outbox.", no_args_is_help=True)
eligibility_app = typer.Typer(
    help="Benefit eligibility certification: load due items, deliver results, send reminders.",
    no_args_is_help=True,
)
demo_data_app = typer.Typer(help="Synthetic cardholder files.", no_args_is_help=True)
ministry_app = typer.Typer(
    help="The channel registry and authorisations, as the ministry's operator.", no_args_is_help=True
)
for sub, name in [
    (db_app, "db"),
    (keys_app, "keys"),
    (parties_app, "parties"),
    (audit_app, "audit"),
    (webhooks_app, "webhooks"),
    (eligibility_app, "eligibility"),
    (demo_data_app, "demo-data"),
    (ministry_app, "ministry"),
    (terminal_app, "terminal"),
    (conformance_app, "conformance"),
]:
    app.add_typer(sub, name=name)


def _platform() -> Platform:
    return build_platform(Settings())


def _fail(exc: EsscError) -> None:
    typer.secho(f"error ({exc.code}): {exc.detail}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="API worker processes", min=1)] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="a line per request")
    ] = False,
) -> None:
    """Serve the API (migrates the database first) with uvicorn on uvloop and httptools, TCP_NODELAY on."""
    platform = _platform()
    bootstrap.prepare(platform)
    platform.close()
    typer.echo(f"essc serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    serve_api(host, port, workers, access_log=access_log, jobs=True)


@app.command("demo")
def run_demo(
    holders: Annotated[int, typer.Option(help="synthetic holders in the demo province")] = 10_000,
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="start the API afterwards")] = True,
) -> None:
    """Set up a demo (schema, keys, province 44 with synthetic holders, a demo channel) and serve it."""
    platform = _platform()
    bootstrap.prepare(platform)
    folder = Path("var/demo")
    parties = demo.ensure_demo_parties(platform, folder, webhook_url=None)

    def show(report: ImportReport) -> None:
        typer.echo(f"\r  loaded {report.loaded:,} holders", nl=False, err=True)

    report = demo.ensure_demo_holders(platform, folder, holders, progress=show)
    if report is not None:
        typer.echo("", err=True)
    due = demo.ensure_demo_due_items(platform)
    platform.close()
    typer.echo("Demo parties (keys written under var/demo/):")
    for party in parties:
        typer.echo(f"  {party.label:22} key id {party.key_id}  private key {party.private_key_path}")
    typer.echo(f"Demo holders: var/demo/holders-{demo.DEMO_PROVINCE}.csv")
    typer.echo(f"Eligibility certification: {due} new due item(s) from the sandbox benefit system")
    if serve_after:
        serve(host="127.0.0.1", port=port, workers=1, access_log=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations and load reference data."""
    platform = _platform()
    bootstrap.prepare(platform)
    typer.echo("database at head")


def _progress_line(report: BulkReport) -> str:
    """rows, share of the file, rows/s and the time left (from the bytes still to read)."""
    done = report.bytes_done / max(report.bytes_total, 1)
    rate = (report.rows - report.rows_resumed) / max(report.seconds, 1e-9)
    byte_rate = (report.bytes_done - report.bytes_resumed) / max(report.seconds, 1e-9)
    left = (report.bytes_total - report.bytes_done) / byte_rate if byte_rate > 0 else 0.0
    minutes, seconds = divmod(int(left), 60)
    width = 24
    bar = "#" * int(done * width) + "-" * (width - int(done * width))
    return (
        f"\r  [{bar}] {100 * done:5.1f}%  {report.rows:,} rows, {len(report.bad_rows):,} bad, "
        f"{rate:,.0f} rows/s, {minutes}:{seconds:02d} left "
    )


@app.command("import")
def import_holders(
    path: Annotated[Path, typer.Argument(help="CSV or NDJSON file of holders and cards", exists=True)],
    province: Annotated[str, typer.Option(help="two-digit province code the file belongs to")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or ndjson; guessed from the suffix")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="rows per committed batch", min=1)] = DEFAULT_BATCH_SIZE,
    workers: Annotated[
        int, typer.Option(help="processes that validate and encrypt (0: in this process)", min=0)
    ] = 2,
    errors: Annotated[Path | None, typer.Option(help="write bad rows (line, reason) to this file")] = None,
) -> None:
    """Bulk-load a holder file in committed batches; a rerun resumes; loading twice changes nothing."""
    if fmt not in (None, "csv", "ndjson"):
        raise typer.BadParameter("--format must be csv or ndjson")
    platform = _platform()
    bootstrap.prepare(platform)

    def show(report: BulkReport) -> None:
        typer.echo(_progress_line(report), nl=False, err=True)

    try:
        chosen: Literal["csv", "ndjson"] | None = fmt  # type: ignore[assignment]
        report = bulk_import(
            platform,
            province,
            path,
            Actor.operator("cli"),
            fmt=chosen,
            batch_size=batch_size,
            workers=workers,
            progress=show,
        )
    except EsscError as exc:
        _fail(exc)
        return
    finally:
        platform.close()
    typer.echo("", err=True)
    if report.resumed_batches:
        typer.echo(f"{report.resumed_batches:,} batches were committed by an earlier run of this file")
    typer.echo(
        f"{report.rows:,} rows: {report.persons_added:,} persons added, {report.persons_updated:,} updated, "
        f"{report.cards_added:,} cards added, {report.cards_updated:,} updated, "
        f"{report.unchanged:,} unchanged, "
        f"{len(report.bad_rows):,} bad"
    )
    for line, reason in report.bad_rows[:20]:
        typer.echo(f"  line {line}: {reason}", err=True)
    if errors is not None:
        errors.write_text(
            "".join(f"{line}\t{reason}\n" for line, reason in report.bad_rows), encoding="utf-8"
        )
    if report.bad_rows:
        raise typer.Exit(code=2)


@app.command("feed")
def apply_daily_feed(
    path: Annotated[Path, typer.Argument(help="NDJSON feed of holder changes", exists=True)],
    province: Annotated[str, typer.Option(help="two-digit province code the feed belongs to")],
) -> None:
    """Apply a province's daily feed in each holder's event order; applying it twice changes nothing."""
    platform = _platform()
    bootstrap.prepare(platform)

    def show(report: BulkReport) -> None:
        typer.echo(_progress_line(report), nl=False, err=True)

    try:
        report = apply_feed(platform, province, path, Actor.operator("cli"), progress=show)
    except EsscError as exc:
        _fail(exc)
        return
    finally:
        platform.close()
    typer.echo("", err=True)
    typer.echo(
        f"{report.rows:,} changes: {report.applied:,} applied, {len(report.ignored):,} older than applied "
        f"(ignored), {len(report.bad_rows):,} bad"
    )
    for line, reason in (report.bad_rows + report.ignored)[:20]:
        typer.echo(f"  line {line}: {reason}", err=True)
    if report.bad_rows:
        raise typer.Exit(code=2)


@demo_data_app.command("generate")
def generate(
    out: Annotated[Path, typer.Argument(help="file to write (.csv or .ndjson)")],
    province: Annotated[str, typer.Option(help="two-digit province code")] = "44",
    count: Annotated[int, typer.Option(help="number of holders")] = 10_000,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    workers: Annotated[
        int, typer.Option(help="processes making disjoint shards (1: the single seeded stream)", min=1)
    ] = 1,
) -> None:
    """Write a synthetic holder file (Faker zh_CN names, valid ID numbers)."""
    started = time.monotonic()
    try:
        written = write_parallel(out, province, count, seed, workers)
    except EsscError as exc:
        _fail(exc)
        return
    rate = written / max(time.monotonic() - started, 1e-9)
    typer.echo(f"wrote {written:,} holders to {out} ({rate:,.0f} holders/s)")


@keys_app.command("list")
def keys_list() -> None:
    """Show the platform's signing key ids."""
    platform = _platform()
    for key_id, key in platform.keys.public_keys().items():
        typer.echo(f"{key_id}  {key.algorithm}  {key.fingerprint()}")


@keys_app.command("rotate")
def keys_rotate(purpose: Annotated[KeyPurpose, typer.Argument(help="which key series")]) -> None:
    """Make a new current key; old keys stay usable for verification and decryption."""
    if purpose is KeyPurpose.BLIND_INDEX:
        typer.secho(
            "the blind-index key cannot be rotated in place: every row would need re-indexing", err=True
        )
        raise typer.Exit(code=1)
    platform = _platform()
    typer.echo(platform.keys.rotate(purpose))


@parties_app.command("add-channel")
def add_channel(
    channel_no: Annotated[str, typer.Option(help="10-digit channelNo")],
    name: Annotated[str, typer.Option(help="channel app name")],
    public_key: Annotated[Path, typer.Option(help="SM2 public key PEM", exists=True)],
    key_id: Annotated[str, typer.Option(help="key id the channel will send")],
    channel_type: Annotated[channels.ChannelType, typer.Option(help="one of the six channel types")] = (
        channels.ChannelType.HRSS_APP
    ),
    webhook_url: Annotated[str | None, typer.Option(help="where status changes are posted")] = None,
) -> None:
    """Register a channel with its first public key."""
    platform = _platform()
    with UnitOfWork(platform, RequestContext(actor=Actor.operator("cli"))) as uow:
        try:
            channels.register(
                uow,
                channel_no,
                name,
                channel_type,
                public_key=public_key.read_bytes(),
                key_id=key_id,
                webhook_url=webhook_url,
            )
        except EsscError as exc:
            _fail(exc)
        uow.commit()
    typer.echo(f"channel {channel_no} registered")


@parties_app.command("add-province")
def add_province(
    province: Annotated[str, typer.Option(help="two-digit province code")],
    public_key: Annotated[Path, typer.Option(help="SM2 public key PEM", exists=True)],
    key_id: Annotated[str, typer.Option(help="key id the province system will send")],
    name: Annotated[str, typer.Option(help="system name")] = "province card system",
) -> None:
    """Register a province's card system, which sends card events."""
    platform = _platform()
    with UnitOfWork(platform, RequestContext(actor=Actor.operator("cli"))) as uow:
        try:
            caller = access.register_caller(uow, "province", province, name)
            access.add_key(uow, caller, key_id, public_key.read_bytes())
        except EsscError as exc:
            _fail(exc)
        uow.commit()
    typer.echo(f"province {province} registered")


@parties_app.command("revoke-key")
def revoke_key(
    caller: Annotated[str, typer.Argument(help="channel/<channelNo> or province/<code>")],
    key_id: Annotated[str, typer.Argument(help="the key id to revoke")],
) -> None:
    """Revoke a party's key: requests signed with it are refused at once."""
    kind, _, ref = caller.partition("/")
    platform = _platform()
    with UnitOfWork(platform, RequestContext(actor=Actor.operator("cli"))) as uow:
        try:
            access.revoke_key(uow, kind, ref, key_id)
        except EsscError as exc:
            _fail(exc)
        uow.commit()
    typer.echo(f"{caller} key {key_id} revoked")


@parties_app.command("add-ministry")
def add_ministry(
    public_key: Annotated[Path, typer.Option(help="SM2 public key PEM", exists=True)],
    key_id: Annotated[str, typer.Option(help="key id the ministry's system will send")],
    ref: Annotated[str, typer.Option(help="caller ref: ministry/<ref>")] = "MOHRSS",
) -> None:
    """Register the ministry's registry system, which calls /v1/ministry/... signed as ministry/<ref>."""
    platform = _platform()
    with UnitOfWork(platform, RequestContext(actor=Actor.operator("cli"))) as uow:
        try:
            caller = access.register_caller(uow, "ministry", ref, "Ministry channel registry")
            access.add_key(uow, caller, key_id, public_key.read_bytes())
        except EsscError as exc:
            _fail(exc)
        uow.commit()
    typer.echo(f"ministry/{ref} registered")


def _ministry_uow(platform: Platform) -> UnitOfWork:
    return UnitOfWork(platform, RequestContext(actor=Actor.operator("cli")))


@ministry_app.command("status")
def ministry_status(
    channel_no: Annotated[str, typer.Argument(help="10-digit channelNo")],
    status: Annotated[channels.ChannelStatus, typer.Argument(help="the status to move the channel to")],
    reason: Annotated[str | None, typer.Option(help="why (kept in the audit log)")] = None,
) -> None:
    """Move a channel: registered → testing → certified → active ⇄ suspended; terminated is final."""
    with _ministry_uow(_platform()) as uow:
        try:
            channels.set_status(uow, channels.by_number(uow, channel_no), status, reason)
        except EsscError as exc:
            _fail(exc)
        uow.commit()
    typer.echo(f"channel {channel_no} is {status.value}")


@ministry_app.command("commission")
def ministry_commission(
    channel_no: Annotated[str, typer.Argument(help="10-digit channelNo")],
    functions: Annotated[list[Function], typer.Argument(help="functions the operator attests were tested")],
) -> None:
    """Sandbox and demo shortcut: the operator certifies functions and the channel becomes active."""
    with _ministry_uow(_platform()) as uow:
        try:
            channels.commission(uow, channels.by_number(uow, channel_no), functions, attested_by="cli")
        except EsscError as exc:
            _fail(exc)
        uow.commit()
    typer.echo(f"channel {channel_no} certified for {', '.join(f.value for f in functions)} and active")


@ministry_app.command("grant")
def ministry_grant(
    channel_no: Annotated[str, typer.Argument(help="10-digit channelNo")],
    function: Annotated[Function, typer.Argument(help="the function")],
    province: Annotated[str, typer.Option(help='two-digit province, "00" for national')] = "00",
    suspend: Annotated[bool, typer.Option(help="suspend the function instead of authorising it")] = False,
) -> None:
    """Authorise (or suspend) a function of a channel in a province or nationally."""
    status = GrantStatus.SUSPENDED if suspend else GrantStatus.ACTIVE
    with _ministry_uow(_platform()) as uow:
        try:
            channel = channels.by_number(uow, channel_no)
            authorisations.set_grant(uow, channel, province, function, status, by="operator/cli")
        except EsscError as exc:
            _fail(exc)
        uow.commit()
    typer.echo(f"channel {channel_no} {function.value} in {province}: {status}")


@ministry_app.command("business-item")
def ministry_business_item(
    province: Annotated[str, typer.Argument(help="two-digit province")],
    function: Annotated[Function, typer.Argument(help="the function")],
    enabled: Annotated[bool, typer.Option("--enable/--disable", help="enable or disable it")] = True,
) -> None:
    """Enable or disable a function for a province's cardholders (for every channel), as its department."""
    with _ministry_uow(_platform()) as uow:
        try:
            authorisations.set_business_item(uow, province, function, enabled, by="operator/cli")
        except EsscError as exc:
            _fail(exc)
        uow.commit()
    typer.echo(f"{function.value} in province {province}: {'enabled' if enabled else 'disabled'}")


@audit_app.command("verify")
def audit_verify(
    witness_state: Annotated[
        Path | None, typer.Option(help="a witness's state file: what it accepted must still be there")
    ] = None,
) -> None:
    """Recompute every audit log from its entries; exit 1 naming the first bad leaf of each broken log."""
    platform = _platform()
    accepted = accepted_checkpoints(witness_state) if witness_state is not None else None
    with platform.session_factory() as session:
        report = audit_service.verify(session, platform, accepted)
    for item in report.findings:
        where = f" leaf {item.leaf}" if item.leaf is not None else ""
        typer.secho(f"log {item.log}{where}: {item.reason}", fg=typer.colors.RED, err=True)
    typer.echo(
        f"{report.leaves:,} leaves in {report.logs} logs under {report.tree_heads} signed tree heads: "
        f"{'intact' if report.intact else 'BROKEN'}"
    )
    if not report.intact:
        raise typer.Exit(code=1)


@audit_app.command("prove-import")
def audit_prove_import(
    aac002: Annotated[
        str, typer.Option(prompt="aac002", hide_input=True, help="the holder's ID number (asked, not echoed)")
    ],
) -> None:
    """Print the proof (JSON) that a holder's row was bulk-imported: row digest, batch path, log inclusion."""
    platform = _platform()
    try:
        with platform.session_factory() as session:
            proof = prove_import(session, platform, aac002.strip().upper())
            head = audit_repository.latest_head(session, proof.log)
            assert head is not None
            verify_import_proof(audit_service.hasher_of(platform.suite), proof, bytes(head.root))
    except EsscError as exc:
        _fail(exc)
        return
    finally:
        platform.close()
    typer.echo(proof.as_json().decode("utf-8"))
    typer.echo(f"checked against log {proof.log} at {proof.log_size:,} leaves", err=True)


@audit_app.command("sequence")
def audit_sequence(
    once: Annotated[bool, typer.Option("--once", help="sequence what is committed now, then stop")] = False,
    interval: Annotated[float, typer.Option(help="seconds between rounds")] = 1.0,
) -> None:
    """Sequence committed audit entries into signed tree heads (a worker of its own, beside essc serve)."""
    platform = _platform()
    while True:
        for log, count in sorted(audit_service.sequence_all(platform).items()):
            typer.echo(f"log {log}: {count:,} entries sequenced")
        if once:
            return
        time.sleep(interval)


@audit_app.command("log-key")
def audit_log_key() -> None:
    """Print the public key that signs the audit logs' tree heads (PEM), for witnesses and holders' apps."""
    platform = _platform()
    typer.echo(platform.keys.signer(KeyPurpose.AUDIT_LOG).public_key().to_pem().decode("ascii"), nl=False)


@audit_app.command("add-witness")
def audit_add_witness(
    name: Annotated[str, typer.Argument(help="the witness's key name, e.g. witness.example.org/gd")],
    public_key: Annotated[Path, typer.Argument(help="its public key (PEM)")],
) -> None:
    """Accept and publish the cosignatures of a witness."""
    platform = _platform()
    with platform.session_factory() as session:
        audit_service.add_witness(session, platform, name, public_key.read_bytes())
        session.commit()
    typer.echo(f"witness {name} added")


@audit_app.command("witness")
def audit_witness(
    url: Annotated[str, typer.Option(help="the platform's base URL")],
    name: Annotated[str, typer.Option(help="this witness's key name")],
    key: Annotated[Path, typer.Option(help="this witness's private key (PEM); made if missing")],
    log_key: Annotated[Path, typer.Option(help="the platform's audit log public key (essc audit log-key)")],
    state: Annotated[Path, typer.Option(help="where the last accepted checkpoints are kept")],
    log: Annotated[
        list[str] | None, typer.Option(help="a log to watch (repeat); those in the state always")
    ] = None,
    origin_prefix: Annotated[str, typer.Option(help="the logs' origin prefix")] = "essc.example/audit",
) -> None:
    """Check each log's checkpoint extends the one accepted before, cosign it; exit 1 on fork or rollback."""
    suite = get_suite(Settings().crypto_suite)
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(suite.generate_private_key().to_pem())
        key.chmod(0o600)
        typer.echo(f"new witness key {key}; register it: essc audit add-witness {name} <its public key>")
    private = suite.load_private_key(key.read_bytes())
    with httpx.Client(base_url=url, timeout=30) as http:
        witness = Witness(
            name=name,
            key=private,
            suite=suite,
            log_key=suite.load_public_key(log_key.read_bytes()),
            origin_prefix=origin_prefix,
            state_path=state,
            http=http,
        )
        outcomes = witness.run(log or [], now=int(time.time()))
    for outcome in outcomes:
        colour = typer.colors.GREEN if outcome.accepted else typer.colors.RED
        typer.secho(f"log {outcome.log} at {outcome.size:,} leaves: {outcome.reason}", fg=colour)
    if not all(outcome.accepted for outcome in outcomes):
        raise typer.Exit(code=1)


@app.command("purge")
def purge() -> None:
    """Delete expired one-time state (codes, busiSeqs, sessions, nonces); run it from cron."""
    platform = _platform()
    try:
        report = maintenance.purge_expired(platform)
    finally:
        platform.close()
    typer.echo(
        f"purged {report.codes:,} codes, {report.busi_seqs:,} busiSeqs, "
        f"{report.sessions_and_nonces:,} sessions and nonces, "
        f"{report.idempotency_records:,} idempotency records"
    )


@app.command("nonce-store-fresh")
def nonce_store_fresh() -> None:
    """Declare the (empty) Redis nonce store new, at a first deployment: no replay fence for a skew window."""
    platform = _platform()
    try:
        if not isinstance(platform.nonces, RedisNonceStore):
            typer.echo("no Redis nonce store is configured (ESSC_REDIS_URL): nothing to declare")
            return
        platform.nonces.start_fresh()
    finally:
        platform.close()
    typer.echo(f"nonce store {platform.nonces.epoch_key} declared new (kept if it already held an epoch)")


@webhooks_app.command("deliver")
def webhooks_deliver() -> None:
    """Deliver every webhook that is due now, once."""
    platform = _platform()
    count = deliver_due(platform, HttpxSender(), limit=1000)
    typer.echo(f"{count} webhook(s) attempted")


@eligibility_app.command("load")
def eligibility_load(
    province: Annotated[str, typer.Option(help="two-digit province code")],
    period: Annotated[int, typer.Option(help="the annual period, e.g. 2027", min=2000, max=2199)],
    sandbox: Annotated[
        int, typer.Option(help="use the sandbox benefit system naming this many of the province's cards")
    ] = 0,
) -> None:
    """Load who must certify in a period from the province's benefit system (or the sandbox one)."""
    platform = _platform()
    try:
        system = (
            eligibility_jobs.sandbox_system(platform, province, period, sandbox)
            if sandbox
            else eligibility_jobs.registered_system(platform, province)
        )
        result = eligibility_jobs.load_from(platform, system, province, period, Actor.operator("cli"))
    except EsscError as exc:
        _fail(exc)
        return
    finally:
        platform.close()
    typer.echo(f"{result.loaded} loaded, {result.unchanged} unchanged, {len(result.rejected)} rejected")
    for rejection in result.rejected[:20]:
        typer.echo(f"  {rejection.ref}: {rejection.reason}")


@eligibility_app.command("deliver")
def eligibility_deliver() -> None:
    """Deliver every certification result that is due now to its province, once."""
    platform = _platform()
    try:
        count = eligibility_delivery.deliver_due(
            platform, eligibility_delivery.RegisteredBenefitSystems(platform), limit=1000
        )
    finally:
        platform.close()
    typer.echo(f"{count} result(s) attempted")


@eligibility_app.command("remind")
def eligibility_remind(
    days: Annotated[int, typer.Option(help="remind of items due within this many days", min=1, max=366)] = 30,
) -> None:
    """Queue one webhook per holder, period and channel for items due soon (idempotent)."""
    platform = _platform()
    try:
        sent = eligibility_jobs.remind(platform, timedelta(days=days), Actor.operator("cli"))
    finally:
        platform.close()
    typer.echo(f"{sent} reminder(s) queued")


def main() -> None:
    register_handlers()
    try:
        app()
    except EsscError as exc:
        typer.secho(f"error ({exc.code}): {exc.detail}", fg=typer.colors.RED, err=True)
        sys.exit(1)
