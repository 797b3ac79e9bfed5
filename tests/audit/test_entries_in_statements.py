"""Audit entries a statement writes itself: the same rows UnitOfWork.audit would append."""

from __future__ import annotations

from itertools import product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, literal, select

from essc.audit.leaves import canonical_details
from essc.audit.repository import canonical_details_sql
from essc.cardholders.lifecycle import CardStatus
from essc.core.context import Actor, RequestContext
from essc.core.db import WritesOutsideTheStatement, make_one_statement_factory
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.ecards.models import IssuanceStatus
from essc.ecards.repository import statuses_usable_sql
from essc.ecards.service import statuses_usable
from essc.qr.models import CardUsage

# Every character PostgreSQL text can hold (no NUL), control characters and astral ones included.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@pytest.fixture
def postgresql_platform(platform: Platform, backend: str) -> Platform:
    if backend != "postgresql":
        pytest.skip(
            "statements write their own entries on PostgreSQL only (SQLite has no data-modifying CTEs)"
        )
    return platform


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    details=st.dictionaries(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=10),
        st.tuples(_TEXT, st.booleans()),
        max_size=5,
    )
)
def test_details_built_in_sql_are_the_canonical_json_of_the_same_values(
    postgresql_platform: Platform, details: dict[str, tuple[str, bool]]
) -> None:
    # Each value either a constant of the statement or a value it reads (a bind here, a column in use).
    in_sql = {
        key: value if constant else bindparam(f"v{n}", value)
        for n, (key, (value, constant)) in enumerate(details.items())
    }
    with postgresql_platform.session_factory() as session:
        built = session.execute(select(canonical_details_sql(in_sql))).scalar_one()
    assert built == canonical_details({key: value for key, (value, _constant) in details.items()})


def test_usable_statuses_in_sql_are_the_rule(platform: Platform) -> None:
    with platform.session_factory() as session:
        for issuance, card in product(IssuanceStatus, CardStatus):
            in_sql = session.execute(
                select(statuses_usable_sql(literal(issuance.value), literal(card.value)))
            ).scalar_one()
            assert bool(in_sql) is statuses_usable(issuance, card), (issuance, card)


def _one_statement_work(platform: Platform) -> UnitOfWork:
    context = RequestContext(actor=Actor(kind="terminal", id="T1"))
    return UnitOfWork(platform, context, make_one_statement_factory(platform.engine)())


def test_work_in_one_statement_refuses_to_append_an_entry_after_it(platform: Platform) -> None:
    with _one_statement_work(platform) as uow, pytest.raises(WritesOutsideTheStatement):
        uow.audit("ecard.used", "ecard", "x", "44")


def test_work_in_one_statement_refuses_orm_changes(platform: Platform) -> None:
    with _one_statement_work(platform) as uow:
        uow.session.add(
            CardUsage(
                province="44",
                id="0" * 26,
                ecard_id="e",
                channel_id=None,
                terminal_id="t",
                institution_id="i",
                busi_type="01",
                method="online_code",
                disclosure="masked",
                at=uow.clock.now(),
            )
        )
        with pytest.raises(WritesOutsideTheStatement):
            uow.session.flush()
