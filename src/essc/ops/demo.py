"""Demo data: one province of synthetic holders, a demo channel and the province's card system, with keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from essc.access import repository as access_repository
from essc.access import service as access
from essc.authorisations import service as authorisations
from essc.cardholders.importer import ImportReport, import_rows
from essc.cardholders.importfile import GoodRow
from essc.cardholders.repository import count_persons
from essc.cardholders.synthetic import synthetic_holders, write_csv
from essc.channels import repository as channels_repository
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.eligibility import jobs as eligibility_jobs
from essc.shared.policy import Function
from essc.terminals import repository as terminals_repository
from essc.terminals import service as terminals
from essc.terminals.schemas import (
    BusiType,
    Disclosure,
    Grant,
    InstitutionIn,
    InstitutionKind,
    TerminalIn,
    TerminalKind,
)

DEMO_PROVINCE = "44"
DEMO_CHANNEL_NO = "4400000001"
DEMO_KEY_ID = "demo-1"
DEMO_INSTITUTION = "DEMOHOSPITAL01"
DEMO_TERMINAL_NO = "T440000000001"


@dataclass(frozen=True, slots=True)
class DemoParty:
    label: str
    key_id: str
    private_key_path: Path


def _write_keypair(platform: Platform, folder: Path) -> bytes:
    """Create (once) a party's key pair under folder; return the public key PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    private_path = folder / "private.pem"
    if not private_path.exists():
        key = platform.suite.generate_private_key()
        private_path.write_bytes(key.to_pem())
        private_path.chmod(0o600)
        (folder / "public.pem").write_bytes(key.public_key().to_pem())
    return (folder / "public.pem").read_bytes()


def ensure_demo_parties(platform: Platform, folder: Path, webhook_url: str | None) -> list[DemoParty]:
    """The demo channel, the province's card system and a hospital counter, with keys under folder."""
    actor = Actor.operator("demo")
    channel_dir = folder / f"channel-{DEMO_CHANNEL_NO}"
    province_dir = folder / f"province-{DEMO_PROVINCE}"
    terminal_dir = folder / f"terminal-{DEMO_TERMINAL_NO}"
    channel_pem = _write_keypair(platform, channel_dir)
    province_pem = _write_keypair(platform, province_dir)
    terminal_pem = _write_keypair(platform, terminal_dir)
    with UnitOfWork(platform, RequestContext(actor=actor)) as uow:
        demo_channel = channels_repository.by_number(uow.session, DEMO_CHANNEL_NO)
        if demo_channel is None:
            demo_channel = channels.register(
                uow,
                DEMO_CHANNEL_NO,
                "Demo HRSS app",
                channels.ChannelType.HRSS_APP,
                public_key=channel_pem,
                key_id=DEMO_KEY_ID,
                webhook_url=webhook_url,
                organisation="Demo HRSS department",
            )
        # Live, certified and authorised for every function in the demo province (deny by default otherwise).
        channels.commission(uow, demo_channel, list(Function), attested_by="demo")
        if not authorisations.grants_of_channel(uow, demo_channel):
            authorisations.open_everywhere(
                uow, demo_channel, list(Function), [DEMO_PROVINCE], by="operator/demo"
            )
        if access_repository.caller_by_ref(uow.session, "province", DEMO_PROVINCE) is None:
            caller = access.register_caller(uow, "province", DEMO_PROVINCE, "Demo province card system")
            access.add_key(uow, caller, DEMO_KEY_ID, province_pem)
        _ensure_demo_terminal(uow, terminal_pem)
        uow.commit()
    return [
        DemoParty(f"channel/{DEMO_CHANNEL_NO}", DEMO_KEY_ID, channel_dir / "private.pem"),
        DemoParty(f"province/{DEMO_PROVINCE}", DEMO_KEY_ID, province_dir / "private.pem"),
        DemoParty(f"terminal/{DEMO_TERMINAL_NO}", DEMO_KEY_ID, terminal_dir / "private.pem"),
    ]


def _ensure_demo_terminal(uow: UnitOfWork, public_pem: bytes) -> None:
    if terminals_repository.institution_by_code(uow.session, DEMO_PROVINCE, DEMO_INSTITUTION) is None:
        terminals.register_institution(
            uow,
            DEMO_PROVINCE,
            InstitutionIn(
                code=DEMO_INSTITUTION, name="Demo People's Hospital", kind=InstitutionKind.HOSPITAL
            ),
        )
    if terminals_repository.terminal_by_number(uow.session, DEMO_TERMINAL_NO) is None:
        terminals.register_terminal(
            uow,
            DEMO_PROVINCE,
            DEMO_INSTITUTION,
            TerminalIn(
                terminal_no=DEMO_TERMINAL_NO,
                device_serial="DEMO-COUNTER-1",
                kind=TerminalKind.COUNTER,
                public_key=public_pem.decode("ascii"),
                key_id=DEMO_KEY_ID,
                grants=[
                    Grant(busi_type=BusiType.QUERY, disclosure=Disclosure.MASKED),
                    Grant(busi_type=BusiType.PAYMENT, disclosure=Disclosure.MASKED),
                    Grant(busi_type=BusiType.CROSS_REGION_MEDICAL, disclosure=Disclosure.CLEAR),
                ],
            ),
        )


def ensure_demo_holders(
    platform: Platform,
    folder: Path,
    count: int,
    progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport | None:
    """Load `count` synthetic holders into the demo province unless it already has them; keep a CSV copy."""
    with platform.session_factory() as session:
        if count_persons(session, DEMO_PROVINCE) >= count:
            return None
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / f"holders-{DEMO_PROVINCE}.csv", synthetic_holders(DEMO_PROVINCE, count))
    rows = (GoodRow(line=i + 2, record=r) for i, r in enumerate(synthetic_holders(DEMO_PROVINCE, count)))
    return import_rows(platform, DEMO_PROVINCE, rows, Actor.operator("demo"), progress=progress)


DEMO_DUE_ITEMS = 30


def ensure_demo_due_items(platform: Platform) -> int:
    """Due items of this year for the demo province's first holders, from the sandbox benefit system."""
    period = platform.clock.now().year
    system = eligibility_jobs.sandbox_system(platform, DEMO_PROVINCE, period, DEMO_DUE_ITEMS)
    return eligibility_jobs.load_from(platform, system, DEMO_PROVINCE, period, Actor.operator("demo")).loaded
