"""List endpoints and pages answer in a fixed number of queries, however many rows they show."""

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.roles import Role
from core.testing import token_client
from procurement.services import department_save

from .factories import BudgetFactory, DepartmentFactory, VendorCertificationFactory, VendorFactory, VendorModelFactory
from .helpers import signed_in

pytestmark = pytest.mark.django_db
_n = itertools.count()


def add_rows(world, count):
    manager = "t-department_manager"
    for _ in range(count):
        i = next(_n)
        vendor = VendorFactory(slug=f"v{i}")
        VendorCertificationFactory(vendor=vendor)
        VendorModelFactory(vendor=vendor)
        department = DepartmentFactory(code=f"Q{i}", parent=world.inside)
        department_save(department=department, actor=None, managers=[manager])
        BudgetFactory(department=department, vendor=vendor)


def queries(fetch) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("path", ["vendor-certifications/", "vendor-models/", "departments/", "budgets/"])
def test_api_lists_do_not_query_per_row(path, role_world):
    client = token_client(
        role_world.user(Role.DEPARTMENT_MANAGER if path in ("departments/", "budgets/") else Role.AUDITOR)
    )
    url = f"/api/v1/{path}"
    add_rows(role_world, 2)
    client.get(url)  # warm up: the token's last use is recorded once
    few = queries(lambda: client.get(url))
    add_rows(role_world, 8)
    assert queries(lambda: client.get(url)) == few


@pytest.mark.parametrize("path", ["vendor-certifications/", "vendor-models/", "departments/", "budgets/"])
def test_list_pages_do_not_query_per_row(path, role_world):
    client = signed_in(role_world.user(Role.FINANCE))
    add_rows(role_world, 2)
    client.get(f"/{path}")
    few = queries(lambda: client.get(f"/{path}"))
    add_rows(role_world, 8)
    assert queries(lambda: client.get(f"/{path}")) == few
