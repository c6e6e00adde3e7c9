"""The services' one role check (services/context.py `require_role`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hcx.errors import PolicyDenied
from hcx.rules.schema import Role
from hcx.services.context import Principal, require_role

SERVICES = Path(__file__).resolve().parents[2] / "src" / "hcx" / "services"


def principal(role: Role) -> Principal:
    return Principal(user_id="u1", username="u", role=role, authority_id="a1", party="VNM")


def test_require_role_names_the_roles_that_may() -> None:
    require_role(principal(Role.officer), frozenset({Role.officer, Role.supervisor}), "upload evidence")
    with pytest.raises(PolicyDenied, match=r"^only officer, supervisor users may upload evidence$"):
        require_role(principal(Role.auditor), (Role.supervisor, Role.officer), "upload evidence")


def test_no_service_keeps_its_own_copy() -> None:
    copies = [p.name for p in SERVICES.glob("*.py")
              if re.search(r"^def _require\(principal: Principal, roles", p.read_text(encoding="utf-8"), re.M)]
    assert copies == []
