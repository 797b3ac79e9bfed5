"""All SQL of channel authorisations and province business items."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Label, SQLColumnExpression, String, bindparam, literal, select

from essc.authorisations.models import ChannelGrant, ProvinceBusinessItem
from essc.channels.models import Channel
from essc.core.db import Session
from essc.shared.policy import NATIONAL


@dataclass(frozen=True, slots=True)
class GrantInForce:
    """A grant row as the rule reads it: where it holds and whether it is active or suspended."""

    province: str
    status: str


@dataclass(frozen=True, slots=True)
class Standing:
    """The rows the rule reads for a channel's function in one province, as one statement read them.

    `grants`: the channel's grants of the function in the province and nationally ("00"), active or
    suspended; `enabled`: the province's business item for the function (absent: disabled).
    """

    grants: tuple[GrantInForce, ...]
    enabled: bool


def standing_columns(
    channel_id: SQLColumnExpression[str],
    function: SQLColumnExpression[str],
    province: SQLColumnExpression[str],
) -> tuple[Label[str | None], Label[str | None], Label[bool | None]]:
    """A channel's standing for a function in a province as three scalar subqueries, to put in any SELECT.

    Each is one probe of a unique index ((channel, function, province) of the grants, the business item's
    primary key), so the standing costs no round trip of its own: `province` may be a column of the
    enclosing query (the e-card's) or a parameter. A NULL function matches nothing.
    """

    def grant_status(scope: SQLColumnExpression[str]) -> ColumnElement[str | None]:
        return (
            select(ChannelGrant.status)
            .where(
                ChannelGrant.channel_id == channel_id,
                ChannelGrant.function == function,
                ChannelGrant.province == scope,
            )
            .scalar_subquery()
        )

    enabled = (
        select(ProvinceBusinessItem.enabled)
        .where(ProvinceBusinessItem.province == province, ProvinceBusinessItem.function == function)
        .scalar_subquery()
    )
    return (
        grant_status(province).label("grant_in_province"),
        grant_status(literal(NATIONAL, String)).label("grant_nationally"),
        enabled.label("business_item_enabled"),
    )


def standing_of(
    province: str, in_province: str | None, nationally: str | None, enabled: bool | None
) -> Standing:
    """The standing from the values of `standing_columns` (NULL: no such row)."""
    # National first, as the grants' unique index returned them to the rule before: when both are suspended
    # the refusal names the national suspension.
    grants = tuple(
        GrantInForce(scope, status)
        for scope, status in ((NATIONAL, nationally), (province, in_province))
        if status is not None
    )
    return Standing(grants=grants, enabled=bool(enabled))


_CHANNEL = bindparam("channel_id", type_=String)
_FUNCTION = bindparam("function", type_=String)
_PROVINCE = bindparam("province", type_=String)
# Built once: issuance asks it on every request, with the province the request names.
_STANDING = select(*standing_columns(_CHANNEL, _FUNCTION, _PROVINCE))


def standing(session: Session, channel_id: str, function: str, province: str) -> Standing:
    """A channel's standing for a function in a province, in one statement."""
    row = session.execute(
        _STANDING, {"channel_id": channel_id, "function": function, "province": province}
    ).one()
    return standing_of(province, *row)


def grant(session: Session, channel_id: str, function: str, province: str) -> ChannelGrant | None:
    return session.execute(
        select(ChannelGrant).where(
            ChannelGrant.channel_id == channel_id,
            ChannelGrant.function == function,
            ChannelGrant.province == province,
        )
    ).scalar_one_or_none()


def grants_of_channel(session: Session, channel_id: str) -> list[ChannelGrant]:
    return list(
        session.execute(
            select(ChannelGrant)
            .where(ChannelGrant.channel_id == channel_id)
            .order_by(ChannelGrant.province, ChannelGrant.function)
        ).scalars()
    )


def business_item(session: Session, province: str, function: str) -> ProvinceBusinessItem | None:
    return session.get(ProvinceBusinessItem, (province, function))


def business_items(session: Session, province: str) -> list[ProvinceBusinessItem]:
    return list(
        session.execute(
            select(ProvinceBusinessItem)
            .where(ProvinceBusinessItem.province == province)
            .order_by(ProvinceBusinessItem.function)
        ).scalars()
    )


def grants_in_province(session: Session, province: str) -> list[tuple[ChannelGrant, str]]:
    """The grants made in a province, with each channel's number."""
    rows = session.execute(
        select(ChannelGrant, Channel.channel_no)
        .join(Channel, Channel.id == ChannelGrant.channel_id)
        .where(ChannelGrant.province == province)
        .order_by(Channel.channel_no, ChannelGrant.function)
    ).all()
    return [(row[0], row[1]) for row in rows]
