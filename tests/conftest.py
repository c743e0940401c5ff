"""Shared fixtures: the strict stand-in of the cloud service and a client pointed at it."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# No test may reach the cloud or leak a developer's key into outputs.
os.environ.pop("VENICE_API_KEY", None)
os.environ.pop("VENICE_BASE_URL", None)

from standin import StandIn  # noqa: E402
from standin import standin as standin  # noqa: E402

from venice_nb import VeniceClient  # noqa: E402

API_KEY = "test-key"


@pytest.fixture
async def client(standin: StandIn) -> AsyncIterator[VeniceClient]:
    """A client for the stand-in with fast retries."""
    async with VeniceClient(api_key=API_KEY, base_url=standin.base_url, max_retries=2) as c:
        yield c
