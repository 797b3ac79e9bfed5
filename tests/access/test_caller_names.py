"""A party registered by any path (the command line, a province, the registry) has a clean display name."""

from __future__ import annotations

import pytest

from essc.access import service as access
from essc.core.platform import Platform
from essc.kit.errors import InvalidInput
from factories import operator_uow


@pytest.mark.parametrize("name", ["Province\u202e system", "\u200b", "system\n", "   "])
def test_a_caller_name_that_hides_or_breaks_text_is_refused(platform: Platform, name: str) -> None:
    with operator_uow(platform) as uow, pytest.raises(InvalidInput) as refused:
        access.register_caller(uow, "province", "45", name)
    assert refused.value.code == "invalid_input"


def test_a_caller_name_is_stored_without_surrounding_spaces(platform: Platform) -> None:
    with operator_uow(platform) as uow:
        caller = access.register_caller(uow, "province", "45", "  广西 card system ")
        uow.commit()
    assert caller.name == "广西 card system"
