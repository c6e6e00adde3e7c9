"""A clash with stored data surfaces as Conflict wherever the flush happens (a query's autoflush,
the end of a savepoint, the commit), even when the Conflict of a failed flush was caught and the
work went on: the receiver's batches count on it to fall back to storing message by message."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from hcx.errors import Conflict
from hcx.storage.models import ReferenceCounter
from hcx.storage.unit_of_work import Database, SqlUnitOfWork

AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def _stored_counter(database: Database) -> None:
    with database.unit_of_work() as uow:
        assert uow.next_reference_number(party="VNM", year=2026) == 1
        uow.commit()


def _authority(uow: SqlUnitOfWork, id: str) -> None:
    uow.add_authority(id=id, party="VNM", name="Central Authority", kind="central_authority", at=AT)


def test_a_clash_at_a_querys_autoflush_without_a_savepoint_is_a_conflict(database: Database) -> None:
    _stored_counter(database)
    with database.unit_of_work() as uow:
        with pytest.raises(Conflict), uow.without_savepoint():
            uow.session.add(ReferenceCounter(party="VNM", year=2026, last=7))  # the same key
            uow.list_authorities()  # flushes it first


def _stored_authority(database: Database) -> None:
    with database.unit_of_work() as uow:
        _authority(uow, "a1")
        uow.commit()


def test_a_flush_that_clashed_without_a_savepoint_is_a_conflict_even_if_caught(database: Database) -> None:
    _stored_authority(database)
    with database.unit_of_work() as uow:
        with pytest.raises(Conflict), uow.without_savepoint():
            with contextlib.suppress(Conflict):  # as a service that files the refusal and goes on
                _authority(uow, "a2")  # the same name
        with pytest.raises(Conflict):  # and the commit says so too (it raised the library's error)
            uow.commit()


def test_a_savepoint_whose_flush_clashed_is_a_conflict_even_if_caught(database: Database) -> None:
    _stored_authority(database)
    with database.unit_of_work() as uow:
        # it was undone at the flush; its end said nothing, as if it had been kept
        with pytest.raises(Conflict), uow.savepoint():
            with contextlib.suppress(Conflict):
                _authority(uow, "a2")
        assert [a.id for a in uow.list_authorities()] == ["a1"]  # undone alone: the transaction goes on
        assert uow.next_reference_number(party="VNM", year=2026) == 1
        uow.commit()
