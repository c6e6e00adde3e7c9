"""The SQLAlchemy unit of work: one session, one transaction, repositories as methods.

Library errors are translated at this boundary: a unique-constraint or optimistic-lock failure
becomes `Conflict`, anything else from the database `StorageError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from hcx.errors import Conflict
from hcx.storage.models import (
    ApiToken,
    AuditEvent,
    Authority,
    Node,
    ReferenceCounter,
    Request,
    RequestEvent,
    User,
)


class SqlUnitOfWork:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        assert self._session is not None, "use the unit of work in a with-block"
        return self._session

    def __enter__(self) -> SqlUnitOfWork:
        self._session = self._factory()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.session.rollback()  # whatever was not committed is undone
        finally:
            self.session.close()
            self._session = None

    def commit(self) -> None:
        try:
            self.session.commit()
        except (IntegrityError, StaleDataError) as exc:
            self.session.rollback()
            raise Conflict("the change conflicts with data stored meanwhile; reload and try again") from exc

    def _flush(self, obj: Any) -> Any:
        self.session.add(obj)
        try:
            self.session.flush()
        except IntegrityError as exc:
            self.session.rollback()
            raise Conflict("this already exists") from exc
        return obj

    # node
    def get_node(self) -> Node | None:
        return self.session.scalars(select(Node).limit(1)).first()

    def create_node(self, *, party: str, name: str, at: dt.datetime) -> Node:
        return self._flush(Node(id=1, party=party, name=name, created_at=at))  # type: ignore[no-any-return]

    # authorities
    def add_authority(self, *, id: str, party: str, name: str, kind: str, at: dt.datetime) -> Authority:
        return self._flush(Authority(id=id, party=party, name=name, kind=kind, created_at=at))  # type: ignore[no-any-return]

    def get_authority(self, id: str) -> Authority | None:
        return self.session.get(Authority, id)

    def list_authorities(self) -> Sequence[Authority]:
        return self.session.scalars(select(Authority).order_by(Authority.name)).all()

    # users and tokens
    def add_user(self, *, id: str, username: str, display_name: str, role: str, authority_id: str,
                 password_hash: str, at: dt.datetime) -> User:
        user = User(id=id, username=username, display_name=display_name, role=role,
                    authority_id=authority_id, password_hash=password_hash, active=True, created_at=at)
        return self._flush(user)  # type: ignore[no-any-return]

    def get_user(self, id: str) -> User | None:
        return self.session.get(User, id)

    def find_user(self, username: str) -> User | None:
        return self.session.scalars(select(User).where(User.username == username)).first()

    def list_users(self) -> Sequence[User]:
        return self.session.scalars(select(User).order_by(User.username)).all()

    def add_token(self, *, id: str, user_id: str, name: str, token_hash: str, at: dt.datetime,
                  expires_at: dt.datetime | None) -> ApiToken:
        token = ApiToken(id=id, user_id=user_id, name=name, token_hash=token_hash, created_at=at,
                         expires_at=expires_at)
        return self._flush(token)  # type: ignore[no-any-return]

    def find_token(self, token_hash: str) -> ApiToken | None:
        return self.session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()

    def get_token(self, id: str) -> ApiToken | None:
        return self.session.get(ApiToken, id)

    def list_tokens(self, user_id: str) -> Sequence[ApiToken]:
        return self.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)).all()

    # requests
    def add_request(self, **values: Any) -> Request:
        return self._flush(Request(version=1, **values))  # type: ignore[no-any-return]

    def get_request(self, id: str, *, authority_id: str) -> Request | None:
        return self.session.scalars(
            select(Request).where(Request.id == id, Request.authority_id == authority_id)).first()

    def lock_request(self, id: str, *, authority_id: str) -> Request | None:
        return self.session.scalars(
            select(Request).where(Request.id == id, Request.authority_id == authority_id)
            .with_for_update()).first()

    def list_requests(self, *, authority_id: str, state: str | None = None, type: str | None = None,
                      direction: str | None = None, limit: int = 100, offset: int = 0
                      ) -> Sequence[Request]:
        query = select(Request).where(Request.authority_id == authority_id)
        if state:
            query = query.where(Request.state == state)
        if type:
            query = query.where(Request.type == type)
        if direction:
            query = query.where(Request.direction == direction)
        query = query.order_by(Request.updated_at.desc(), Request.id.desc()).limit(limit).offset(offset)
        return self.session.scalars(query).all()

    def next_reference_number(self, *, party: str, year: int) -> int:
        bumped = self.session.execute(
            update(ReferenceCounter)
            .where(ReferenceCounter.party == party, ReferenceCounter.year == year)
            .values(last=ReferenceCounter.last + 1)
            .returning(ReferenceCounter.last)).scalar()
        if bumped is not None:
            return int(bumped)
        self._flush(ReferenceCounter(party=party, year=year, last=1))
        return 1

    def add_event(self, **values: Any) -> RequestEvent:
        return self._flush(RequestEvent(**values))  # type: ignore[no-any-return]

    def list_events(self, request_id: str) -> Sequence[RequestEvent]:
        return self.session.scalars(
            select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.seq)).all()

    # audit
    def audit(self, *, id: str, at: dt.datetime, actor_id: str | None, action: str, object_type: str,
              object_id: str, details: dict[str, Any]) -> None:
        self.session.add(AuditEvent(id=id, at=at, actor_id=actor_id, action=action,
                                    object_type=object_type, object_id=object_id, details=details))

    def list_audit(self, *, limit: int = 100) -> Sequence[AuditEvent]:
        return self.session.scalars(select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                    .limit(limit)).all()


class Database:
    """An engine and a unit-of-work factory: what the entry points wire into the services."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = sessionmaker(engine, expire_on_commit=False)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._factory)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False
