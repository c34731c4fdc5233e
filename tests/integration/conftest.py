from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from flexbill.access.service import create_api_key
from flexbill.bootstrap import Context
from flexbill.web.app import create_app


@pytest.fixture
def api_key(ctx: Context) -> str:
    with ctx.sessions() as db, db.begin():
        return create_api_key(db, "tests").key


@pytest.fixture
def client(ctx: Context, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client
