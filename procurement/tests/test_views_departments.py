"""Department pages: the tree, the detail page, forms with messages beside fields, refusals."""

import re

import pytest

from core.roles import Role
from procurement.models import Department
from procurement.models.departments import UNALLOCATED

from .factories import BudgetFactory, DepartmentFactory
from .helpers import csv_rows, errors_beside, signed_in

pytestmark = pytest.mark.django_db

MANAGER = "t-department_manager"


def listed_codes(html: str) -> list[str]:
    return re.findall(r'<a href="/departments/([^/"]+)/">', html)


def test_the_list_draws_the_tree(role_world):
    DepartmentFactory(code="T-IN-SUB-2", parent=role_world.inside_child)
    DepartmentFactory(code="T-AAA", parent=role_world.outside.parent)  # a sibling sorting first
    client = signed_in(role_world.user(Role.FINANCE))
    html = client.get("/departments/").content.decode()
    codes = [c for c in listed_codes(html) if c.startswith("T-") or c == UNALLOCATED]
    assert codes == ["T-ROOT", "T-AAA", "T-IN", "T-IN-SUB", "T-IN-SUB-2", "T-OUT", UNALLOCATED]
    deepest = html[html.index('href="/departments/T-IN-SUB-2/"') :].split("</a>")[0]
    assert deepest.count('class="ms-3"') == 3  # three levels below the root
    by_code = listed_codes(client.get("/departments/", {"sort": "-code"}).content.decode())
    assert by_code[0] == UNALLOCATED


def test_list_filters_and_exports(role_world):
    client = signed_in(role_world.user(Role.AUDITOR))
    html = client.get("/departments/", {"within": "T-IN"}).content.decode()
    assert listed_codes(html) == ["T-IN", "T-IN-SUB"]
    rows = csv_rows(client.get("/departments/", {"within": "T-IN", "_export": "csv"}))
    assert [(r["Code"], r["Parent"], r["Managers"]) for r in rows] == [
        ("T-IN", "T-ROOT", MANAGER),
        ("T-IN-SUB", "T-IN", ""),
    ]
    assert client.get("/departments/", {"_export": "xlsx"}).content[:2] == b"PK"


def test_finance_creates_and_edits_a_department(role_world):
    finance = role_world.user(Role.FINANCE)
    client = signed_in(finance)
    form = client.get("/departments/new/", {"parent": "T-IN"}).content.decode()
    assert '<option value="T-IN" selected>' in form and f'value="{MANAGER}"' in form
    assert f'value="{UNALLOCATED}"' not in form  # the system department takes no sub-departments
    response = client.post(
        "/departments/new/", {"code": "t-in-ai", "name": "AI team", "parent": "T-IN", "managers": [MANAGER]}
    )
    assert response.status_code == 302 and response["Location"] == "/departments/T-IN-AI/"
    created = Department.objects.get(code="T-IN-AI")
    assert created.parent.code == "T-IN" and [u.username for u in created.managers.all()] == [MANAGER]
    detail = client.get("/departments/T-IN-AI/").content.decode()
    assert MANAGER in detail and "Change history" in detail and 'href="/departments/T-IN/"' in detail
    edit = client.get("/departments/T-IN-AI/edit/").content.decode()
    assert 'value="T-IN-AI"' in edit and "checked" in edit
    response = client.post("/departments/T-IN-AI/edit/", {"code": "T-IN-AI", "name": "AI products", "parent": "T-IN"})
    assert response.status_code == 302
    created.refresh_from_db()
    assert created.name == "AI products" and not created.managers.exists()
    assert created.history.first().history_user == finance


def test_errors_beside_fields(role_world):
    client = signed_in(role_world.user(Role.FINANCE))
    taken = client.post("/departments/new/", {"code": "T-IN", "name": "Again"})
    assert taken.status_code == 200
    assert errors_beside(taken.content.decode(), "code") == ["Department with this Code already exists."]
    bad = client.post("/departments/new/", {"code": "no spaces!", "name": "Bad"})
    assert errors_beside(bad.content.decode(), "code")[0].startswith("Use up to 32 capital letters")
    # below itself: the form does not offer its own subtree as a parent
    form = client.get("/departments/T-IN/edit/").content.decode()
    assert 'value="T-IN-SUB"' not in form and 'value="T-OUT"' in form
    loop = client.post("/departments/T-IN/edit/", {"code": "T-IN", "name": "Managed", "parent": "T-IN-SUB"})
    assert errors_beside(loop.content.decode(), "parent") == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    assert Department.objects.get(code="T-IN").parent.code == "T-ROOT"


def test_system_department_and_departments_in_use_are_kept(role_world):
    client = signed_in(role_world.user(Role.FINANCE))
    detail = client.get(f"/departments/{UNALLOCATED}/").content.decode()
    assert f"/departments/{UNALLOCATED}/edit/" not in detail and "cannot be changed or deleted" in detail
    response = client.get(f"/departments/{UNALLOCATED}/edit/", follow=True)
    assert response.redirect_chain[-1][0] == f"/departments/{UNALLOCATED}/"
    assert "kept by TokenLedger" in response.content.decode()
    response = client.post(f"/departments/{UNALLOCATED}/delete/", follow=True)
    assert "kept by TokenLedger" in response.content.decode()
    response = client.post("/departments/T-IN/delete/", follow=True)
    assert "T-IN has sub-departments (T-IN-SUB)" in response.content.decode()
    BudgetFactory(department=role_world.outside)
    response = client.post("/departments/T-OUT/delete/", follow=True)
    assert "has 1 budget" in response.content.decode()
    assert Department.objects.filter(code__in=[UNALLOCATED, "T-IN", "T-OUT"]).count() == 3
    response = client.post("/departments/T-IN-SUB/delete/")
    assert response.status_code == 302 and response["Location"] == "/departments/"
    assert not Department.objects.filter(code="T-IN-SUB").exists()


def test_detail_shows_subtree_managers_and_budgets(role_world):
    DepartmentFactory(code="T-IN-SUB-2", parent=role_world.inside_child)
    budget = BudgetFactory(department=role_world.inside_child, fiscal_year=2027)
    html = signed_in(role_world.user(Role.FINANCE)).get("/departments/T-IN/").content.decode()
    assert 'href="/departments/T-IN-SUB/"' in html and 'href="/departments/T-IN-SUB-2/"' in html
    assert MANAGER in html and f'href="/budgets/{budget.pk}/"' in html and "USD 12000.00" in html
    assert 'href="/budgets/new/?department=T-IN"' in html and 'href="/departments/new/?parent=T-IN"' in html


def test_who_may_change_and_what_a_manager_sees(role_world):
    for role in (Role.PROCUREMENT, Role.AUDITOR, Role.ADMIN, Role.DEPARTMENT_MANAGER):
        client = signed_in(role_world.user(role))
        assert client.get("/departments/T-IN/edit/").status_code == 403
        assert client.post("/departments/T-IN-SUB/delete/").status_code == 403
        assert client.get("/departments/new/").status_code == 403
    manager = signed_in(role_world.user(Role.DEPARTMENT_MANAGER))
    assert listed_codes(manager.get("/departments/").content.decode()) == ["T-IN", "T-IN-SUB"]
    assert manager.get("/departments/T-OUT/").status_code == 404
    page = manager.get("/departments/T-IN/").content.decode()
    assert "Edit" not in page.split("page-body")[0] and 'href="/departments/T-ROOT/"' not in page
    assert "T-ROOT" in page  # the path above is named, not linked
