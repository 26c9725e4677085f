"""Fixtures shared by billing's tests."""

from __future__ import annotations

import pytest

from core.roles import Role
from core.testing import token_client
from usage.tests.factories import world


@pytest.fixture
def march(role_world):
    """The agreement of test_invoices.py and March's usage of T-IN and T-OUT (see its docstring);
    returns the role world, with a finance API client as `finance_client`."""
    from .test_invoices import agreement, ingest, rec

    world(vendor="acme", model="acme-large", price_in="0.50", price_out="2", cached="0.25")
    agreement(token_client(role_world.user(Role.PROCUREMENT)))
    finance = token_client(role_world.user(Role.FINANCE))
    # T-OUT's record comes first in time: it takes the 0.27 tier first and crosses the boundary
    # only with T-IN's; the blended rate makes that irrelevant to the amounts.
    ingest(
        finance,
        [
            rec(1, 2, "T-OUT", 800_000_000, tokens_out=50_000),
            rec(2, 3, "T-IN", 600_000_000, tokens_out=100_000, cached=1_000_000),
        ],
    )
    role_world.finance_client = finance
    return role_world
