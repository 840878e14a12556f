"""A Graph client for the Graph double, shared by the Graph tests (no tests here). Each test module keeps its
own `graph` fixture, with the users and groups it needs; `client` talks to that one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.graph.client import GraphClient
from bot.graph.tokens import StaticTokenSource
from tests.doubles.graph import GraphDouble

FIXED_TOKEN = "fixed-token"


async def never_sleep(_: float) -> None:
    """Retries that honour Retry-After without waiting for it."""
    return None


@pytest.fixture
async def client(graph: GraphDouble) -> AsyncIterator[GraphClient]:
    graph.accept_token(FIXED_TOKEN)
    made = GraphClient(graph.base_url, StaticTokenSource(FIXED_TOKEN), sleep=never_sleep)
    yield made
    await made.close()
