"""FastAPI dependencies: the platform, the authenticated caller, and one unit of work per request."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError

from essc.core.conflicts import conflict_of
from essc.core.context import CALLER, SESSION_FENCES, Actor, RequestContext
from essc.core.db import run_on_loop
from essc.core.platform import Platform
from essc.core.routing import hand_over, opens_unit_of_work
from essc.core.uow import UnitOfWork
from essc.kit import wire
from essc.kit.errors import EsscError
from essc.shared.callers import AuthenticatedCaller, MissingAuthHeader, WrongCallerKind
from essc.shared.policy import Function, Party, Policy


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_platform(request: Request) -> Platform:
    """The platform serving the request, as a dependency."""
    return platform_of(request)


def authenticated_caller(request: Request) -> AuthenticatedCaller:
    """The caller the protocol layer authenticated; a request that named none is refused."""
    caller: AuthenticatedCaller | None = getattr(request.state, CALLER, None)
    if caller is None:
        raise MissingAuthHeader(
            f"header {wire.HEADER_CALLER} is required on every signed request", header=wire.HEADER_CALLER
        )
    return caller


async def signed_caller(request: Request) -> AuthenticatedCaller:
    """`authenticated_caller` as a dependency."""
    return authenticated_caller(request)


Raises = tuple[type[EsscError], ...]


class Work(StrEnum):
    """How a route's unit of work meets the database."""

    # BEGIN, everything the route does, COMMIT (or ROLLBACK): the default
    TRANSACTION = "transaction"
    # No transaction (no BEGIN and COMMIT round trips); the session refuses every write (ReadingSession)
    READS_ONLY = "reads_only"
    # All its changes are one statement, atomic alone: no transaction on PostgreSQL (OneStatementSession);
    # a request that must also fence an Idempotency-Key, and SQLite, run it in a transaction
    ONE_STATEMENT = "one_statement"


class SignedPolicy:
    """The per-request check of a route's declaration for signed parties: the caller's kind."""

    def __init__(
        self,
        policy: Policy,
        raises: Raises = (),
        *,
        work: Work = Work.TRANSACTION,
        checks_session: bool = False,
    ) -> None:
        self.policy = policy
        self.raises = raises
        self.work = work
        self.checks_session = checks_session

    # The caller is read from the request, not through a sub-dependency: FastAPI solves each dependency of
    # a request anew, and this one runs on every signed request.
    async def __call__(self, request: Request) -> None:
        caller = authenticated_caller(request)
        party = self.policy.party
        if party is not Party.SIGNED and caller.kind != party.value:
            raise WrongCallerKind(
                f"this endpoint serves {party.value}s, not {caller.kind}s",
                party=party.value,
                caller=caller.kind,
            )


class PublicPolicy:
    """The declaration of a route anyone may call."""

    def __init__(self, policy: Policy, raises: Raises = (), *, work: Work = Work.TRANSACTION) -> None:
        self.policy = policy
        self.raises = raises
        self.work = work

    async def __call__(self) -> None:
        return None


def requires(
    function: Function | None,
    *,
    party: Party,
    raises: Sequence[type[EsscError]] = (),
    work: Work = Work.TRANSACTION,
    checks_session: bool = False,
) -> Any:
    """A route's declaration of the function and party it serves, enforced on every request.

    The party is checked here; the function is carried into the unit of work and checked by
    essc.authorisations.service.authorise where the holder's province is known. `raises` names the errors the
    route's own code can raise (those of authentication and the protocol layer come with the party): the
    OpenAPI document publishes their statuses and codes (essc.web.openapi), and a test reads the code to
    check that the list is exactly what it raises (tests/web/test_declared_errors.py). `work` says how its
    unit of work meets the database (Work). `checks_session`: the route's one statement checks that the
    caller's MAC session still holds (essc.access.repository.session_holds_sql) and refuses it by name when
    not, so the protocol layer need not look the session up first (AuthenticatedCaller.session_checked).
    """
    if party is Party.CHANNEL and function is None:
        raise ValueError("a channel route must name the function it serves")
    if checks_session and (party is Party.PUBLIC or work is not Work.ONE_STATEMENT):
        raise ValueError("only a signed route whose work is one statement can check the session in it")
    policy = Policy(party=party, function=function)
    declared = tuple(dict.fromkeys(raises))
    if party is Party.PUBLIC:
        return Depends(PublicPolicy(policy, declared, work=work))
    return Depends(SignedPolicy(policy, declared, work=work, checks_session=checks_session))


def declaration_of(route: APIRoute) -> SignedPolicy | PublicPolicy | None:
    """The declaration a route makes with `requires`, or None when it makes none."""
    for dependency in route.dependencies:
        if isinstance(dependency, DependsParam) and isinstance(
            dependency.dependency, SignedPolicy | PublicPolicy
        ):
            return dependency.dependency
    return None


def checks_session(route: APIRoute) -> bool:
    """Whether a route checks the caller's MAC session in its own statement (`requires`)."""
    declaration = declaration_of(route)
    return isinstance(declaration, SignedPolicy) and declaration.checks_session


def policy_of(route: APIRoute) -> Policy | None:
    """The policy a route declares, or None when it declares none."""
    declaration = declaration_of(route)
    return declaration.policy if declaration is not None else None


def declared_errors(route: APIRoute) -> Raises:
    """The errors a route declares its own code can raise (empty when it declares none)."""
    declaration = declaration_of(route)
    return declaration.raises if declaration is not None else ()


def _declared(request: Request) -> SignedPolicy | PublicPolicy | None:
    route = request.scope.get("route")
    return declaration_of(route) if isinstance(route, APIRoute) else None


def open_unit_of_work(request: Request, actor: Actor) -> UnitOfWork:
    """The request's unit of work on the event loop's engine, handed to its route to end."""
    platform = platform_of(request)
    caller: AuthenticatedCaller | None = getattr(request.state, CALLER, None)
    declared = _declared(request)
    function = declared.policy.function if declared is not None else None
    context = RequestContext(
        actor=actor,
        request_id=request.state.request_id,
        source_ip=request.client.host if request.client else None,
        function=function.value if function is not None else None,
        environment=caller.environment if caller is not None else None,
    )
    work = declared.work if declared is not None else Work.TRANSACTION
    engine = platform.loop_engine()
    if work is Work.READS_ONLY:
        reader = UnitOfWork(platform, context, engine.reads())
        hand_over_unit_of_work(request, reader, commits=False)  # its session refuses every write
        return reader
    fences = getattr(request.state, SESSION_FENCES, ())
    # The fence of an Idempotency-Key is a second statement that must commit with the change.
    alone = work is Work.ONE_STATEMENT and not fences and engine.engine.dialect.name == "postgresql"
    uow = UnitOfWork(platform, context, engine.one_statement() if alone else engine.sessions())
    for fence in fences:
        fence(uow.session)
    # Alone, the one statement committed itself and the session refuses anything else: nothing to commit.
    hand_over_unit_of_work(request, uow, commits=not alone)
    return uow


def hand_over_unit_of_work(request: Request, uow: UnitOfWork, *, commits: bool = True) -> None:
    """Have the route end `uow` once its endpoint answered: committed (when it `commits`), then closed."""
    hand_over(request, functools.partial(_finish, uow, commits=commits))


async def _finish(uow: UnitOfWork, error: BaseException | None, *, commits: bool) -> None:
    """Commit what the route did, or what its error asks to keep, then close; a lost race is a named 409."""
    try:
        if error is None:
            if commits:
                await run_on_loop(uow.commit)
        elif isinstance(error, EsscError) and error.persist_changes:
            await run_on_loop(uow.commit)
    except IntegrityError as exc:
        # A concurrent request wrote the same unique row first: a named 409, not a 500.
        conflict = conflict_of(exc)
        if conflict is None:
            raise
        raise conflict from exc
    finally:
        await uow.close_on_loop()
    if isinstance(error, IntegrityError) and (conflict := conflict_of(error)) is not None:
        raise conflict from error  # raised by a flush inside the route


def _party_uow(
    kind: str, serves: str, actor: Callable[[AuthenticatedCaller], Actor]
) -> Callable[[Request], Awaitable[UnitOfWork]]:
    """A dependency giving a unit of work to an authenticated caller of one kind, refusing the others."""

    @opens_unit_of_work
    async def party_uow(request: Request) -> UnitOfWork:
        caller = authenticated_caller(request)
        if caller.kind != kind:
            raise WrongCallerKind(f"this endpoint serves {serves}, not {caller.kind}s")
        return open_unit_of_work(request, actor(caller))

    party_uow.__name__ = f"{kind}_uow"
    return party_uow


def _anonymous_uow(*, commits: bool) -> Callable[[Request], Awaitable[UnitOfWork]]:
    """A dependency giving a unit of work to a caller who names no one (a public reader, a witness)."""

    @opens_unit_of_work
    async def anonymous_uow(request: Request) -> UnitOfWork:
        platform = platform_of(request)
        context = RequestContext(actor=Actor(kind="public", id="anonymous"))
        uow = UnitOfWork(platform, context, platform.loop_engine().sessions())
        hand_over_unit_of_work(request, uow, commits=commits)
        return uow

    return anonymous_uow


# Public reads (the directory, credential status lists) never commit; a witness's cosignature does.
public_reader_uow = _anonymous_uow(commits=False)
public_writer_uow = _anonymous_uow(commits=True)


# A relayed request acts for the second-level channel it names (essc.channels.service.acting_channel).
channel_uow = _party_uow("channel", "channels", lambda c: Actor(kind="channel", id=c.acting_ref))
province_uow = _party_uow(
    "province", "province card systems", lambda c: Actor(kind="province", id=c.ref, province=c.ref)
)
terminal_uow = _party_uow("terminal", "terminals", lambda c: Actor(kind="terminal", id=c.ref))
ministry_uow = _party_uow("ministry", "the ministry", lambda c: Actor(kind="ministry", id=c.ref))


def caller_of(request: Request) -> AuthenticatedCaller:
    caller: AuthenticatedCaller = request.state.caller
    return caller


# The route (essc.core.routing.LoopRoute) commits the unit of work when the endpoint returns, before its
# answer leaves.
ChannelUoW = Annotated[UnitOfWork, Depends(channel_uow)]
ProvinceUoW = Annotated[UnitOfWork, Depends(province_uow)]
TerminalUoW = Annotated[UnitOfWork, Depends(terminal_uow)]
MinistryUoW = Annotated[UnitOfWork, Depends(ministry_uow)]
PublicReaderUoW = Annotated[UnitOfWork, Depends(public_reader_uow)]
PublicWriterUoW = Annotated[UnitOfWork, Depends(public_writer_uow)]
