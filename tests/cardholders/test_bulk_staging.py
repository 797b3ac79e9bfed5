"""What the import's workers hand back: sealed as one holder at a time is, staged as psycopg stages it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from essc.cardholders import repository
from essc.cardholders.repository import StagedRow, staged_copy_data
from essc.cardholders.service import field_aad, person_fields, seal_persons
from essc.cardholders.synthetic import synthetic_holders
from essc.core.platform import Platform
from essc.kit.crypto import SmSuite
from essc.kit.fieldcrypt import BlindIndex, FieldCipher, PinnedKeys
from essc.kit.keystore import DataKey

blobs = st.binary(max_size=1100)  # past 1,023 bytes the encoder packs a field's length instead of a table's
words = st.text(max_size=40)
staged_rows = st.builds(
    StagedRow,
    line=st.integers(0, 2**31 - 1),
    person_id=st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26),
    aac002_index=blobs,
    aac002_cipher=blobs,
    aac003_cipher=blobs,
    aac067_cipher=st.none() | blobs,
    aac002_masked=words,
    aac003_masked=st.text(alphabet="*张伟李·Zoë", max_size=64),
    content_digest=blobs,
    card_id=words,
    aaz500=words,
    aaz501=words,
    aab301=words,
    generation=st.integers(-(2**31), 2**31 - 1),
    bank_account_active=st.booleans(),
    status=words,
    first_of_person=st.booleans(),
)
NUL_FREE = st.lists(staged_rows, max_size=6).filter(
    lambda rows: all("\x00" not in "".join(str(v) for v in row if isinstance(v, str)) for row in rows)
)


def _staged(platform: Platform, rows: list[StagedRow], copy_data: bytes) -> list[tuple[object, ...]]:
    with platform.session_factory() as session:
        repository.stage(session, rows, copy_data)
        columns = ", ".join(StagedRow._fields)
        found = session.execute(text(f"SELECT {columns} FROM import_staging ORDER BY line, person_id"))
        result = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in found]
        session.rollback()
    return result


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=NUL_FREE)
def test_worker_encoded_rows_stage_as_psycopgs_encoder_stages_them(
    platform: Platform, backend: str, rows: list[StagedRow]
) -> None:
    if backend != "postgresql":
        pytest.skip("binary COPY is PostgreSQL's; SQLite stages the rows with executemany")
    by_psycopg = _staged(platform, rows, b"")
    assert _staged(platform, [], staged_copy_data(rows)) == by_psycopg
    assert sorted(by_psycopg, key=lambda row: (row[0], row[1])) == sorted(
        (tuple(row) for row in rows), key=lambda row: (row[0], row[1])
    )


def test_encoded_rows_are_refused_on_sqlite(platform: Platform, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("PostgreSQL takes them")
    with platform.session_factory() as session, pytest.raises(ValueError, match="PostgreSQL only"):
        repository.stage(session, [], staged_copy_data([]))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), count=st.integers(1, 300))
def test_a_batch_sealed_at_once_has_the_columns_one_holder_at_a_time_gets(seed: int, count: int) -> None:
    suite = SmSuite()
    keys = PinnedKeys(DataKey("pd-test", bytes(range(16))), DataKey("bi-test", bytes(range(32))))
    cipher, index = FieldCipher(suite, keys), BlindIndex(suite, keys)
    holders = [(f"P{n:025d}", record) for n, record in enumerate(synthetic_holders("44", count, seed=seed))]
    for (person_id, record), sealed in zip(holders, seal_persons(cipher, index, "44", holders), strict=True):
        one = person_fields(cipher, index, "44", person_id, record)
        assert (sealed.aac002_masked, sealed.aac003_masked, sealed.content_digest) == (
            one["aac002_masked"],
            one["aac003_masked"],
            one["content_digest"],
        )
        for column in ("aac002", "aac003", "aac067"):
            blob, aad = getattr(sealed, f"{column}_cipher"), field_aad("44", person_id, column)
            value = getattr(record, column)
            assert (blob is None) == (value is None) == (one[f"{column}_cipher"] is None)
            if blob is not None:
                assert cipher.decrypt(blob, aad) == value == cipher.decrypt(one[f"{column}_cipher"], aad)
