"""Departments through the API: the tree, managers, scoping, the system department, deletion."""

import itertools

import pytest

from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client
from procurement.models import Department
from procurement.models.departments import UNALLOCATED
from procurement.services import department_save

from .factories import BudgetFactory, DepartmentFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/departments/"
MANAGER = "t-department_manager"
_codes = itertools.count(1)


class TestDepartmentAPI(APIResourceContract):
    resource = "department"
    basename = "department"
    lookup_field = "code"

    def make_object(self, world, department):
        """A new sub-department of `department`: inside a manager's tree or outside it."""
        return DepartmentFactory(code=f"{department.code}-C{next(_codes)}", parent=department)

    def create_payload(self, world):
        return {"code": "NEW-DEPT", "name": "New department", "parent": world.inside.code, "managers": [MANAGER]}

    def update_payload(self, world, obj):
        return {"name": "Renamed"}


def finance_client(world):
    return token_client(world.user(Role.FINANCE))


def test_fields_round_trip_and_the_tree_shows(role_world):
    client = finance_client(role_world)
    response = client.post(
        URL, {"code": "FIN.AP", "name": "Accounts payable", "parent": "T-ROOT", "managers": [MANAGER]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = client.get(f"{URL}FIN.AP/").json()  # codes may carry dots
    assert {k: body[k] for k in ("code", "name", "parent", "managers", "is_system", "children")} == {
        "code": "FIN.AP",
        "name": "Accounts payable",
        "parent": "T-ROOT",
        "managers": [MANAGER],
        "is_system": False,
        "children": [],
    }
    assert client.get(f"{URL}T-ROOT/").json()["children"] == ["FIN.AP", "T-IN", "T-OUT"]
    top = client.patch(f"{URL}FIN.AP/", {"parent": None, "managers": []}, format="json")
    assert top.status_code == 200 and top.json()["parent"] is None and top.json()["managers"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "fin"}, "code"),
        ({"code": "FIN AP"}, "code"),
        ({"code": "X" * 33}, "code"),
        ({"code": "T-IN"}, "code"),  # taken
        ({"name": ""}, "name"),
        ({"parent": "NOPE"}, "parent"),
        ({"parent": UNALLOCATED}, "parent"),
        ({"managers": ["ghost"]}, "managers"),
        ({"managers": ["t-finance"]}, "managers"),
    ],
)
def test_invalid_departments_are_400_with_the_field_named(change, field, role_world):
    before = Department.objects.count()
    payload = {"code": "NEW", "name": "New", "parent": "T-ROOT", **change}
    response = finance_client(role_world).post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert_error_shape(response)
    assert field in response.json()["extra"]["fields"], response.json()
    assert Department.objects.count() == before


def test_manager_messages_say_what_is_wrong(role_world):
    response = finance_client(role_world).post(
        URL, {"code": "NEW", "name": "New", "managers": ["ghost", "t-finance", MANAGER]}, format="json"
    )
    assert response.json()["extra"]["fields"]["managers"] == [
        "Unknown user(s): ghost.",
        "Only users with the department manager role can manage a department: t-finance is Finance.",
    ]


@pytest.mark.parametrize("new_parent", ["T-ROOT", "T-IN", "T-IN-SUB", "T-IN-SUB-2"])
def test_a_department_cannot_become_its_own_ancestor(new_parent, role_world):
    """GIVEN T-ROOT > T-IN > T-IN-SUB > T-IN-SUB-2 WHEN T-ROOT is moved under itself or anything
    below it THEN 400 on parent, and the tree is unchanged."""
    DepartmentFactory(code="T-IN-SUB-2", parent=role_world.inside_child)
    response = finance_client(role_world).patch(f"{URL}T-ROOT/", {"parent": new_parent}, format="json")
    assert response.status_code == 400
    assert "cannot be its own ancestor" in response.json()["extra"]["fields"]["parent"][0]
    assert Department.objects.get(code="T-ROOT").parent is None


def test_moving_a_subtree_elsewhere_is_fine(role_world):
    response = finance_client(role_world).patch(f"{URL}T-IN/", {"parent": "T-OUT"}, format="json")
    assert response.status_code == 200
    assert Department.objects.get(code="T-IN").parent.code == "T-OUT"


def test_the_system_department_cannot_be_changed_or_deleted(role_world):
    client = finance_client(role_world)
    for response in (
        client.patch(f"{URL}{UNALLOCATED}/", {"name": "Mine now"}, format="json"),
        client.put(f"{URL}{UNALLOCATED}/", {"code": UNALLOCATED, "name": "Mine now"}, format="json"),
        client.delete(f"{URL}{UNALLOCATED}/"),
    ):
        assert response.status_code == 409, response.content
        assert_error_shape(response)
        assert "kept by TokenLedger" in response.json()["message"]
    system = Department.objects.get(code=UNALLOCATED)
    assert system.is_system and system.name.startswith("Unallocated")
    listed = {d["code"]: d for d in client.get(URL, {"page_size": 1000}).json()["results"]}
    assert listed[UNALLOCATED]["is_system"] is True


def test_departments_in_use_answer_409_on_delete(role_world):
    client = finance_client(role_world)
    response = client.delete(f"{URL}T-IN/")
    assert response.status_code == 409
    assert response.json()["message"] == "T-IN has sub-departments (T-IN-SUB); move or delete them first."
    BudgetFactory(department=role_world.inside_child)
    response = client.delete(f"{URL}T-IN-SUB/")
    assert response.status_code == 409 and "has 1 budget" in response.json()["message"]
    assert Department.objects.filter(code__in=["T-IN", "T-IN-SUB"]).count() == 2


def test_deleting_a_leaf_keeps_its_history(role_world):
    finance = role_world.user(Role.FINANCE)
    response = token_client(finance).delete(f"{URL}T-OUT/")
    assert response.status_code == 204
    assert not Department.objects.filter(code="T-OUT").exists()
    gone = Department.history.filter(code="T-OUT").first()
    assert gone.history_type == "-" and gone.history_user == finance


def test_managers_changed_from_the_department_side_are_in_one_history_row(role_world):
    """GIVEN T-OUT without managers WHEN finance renames it and names a manager in one request
    THEN one history row records both, by finance, and the manager now sees T-OUT."""
    finance = role_world.user(Role.FINANCE)
    manager = role_world.user(Role.DEPARTMENT_MANAGER)
    rows_before = Department.history.filter(code="T-OUT").count()
    response = token_client(finance).patch(
        f"{URL}T-OUT/", {"name": "Outside, now managed", "managers": [MANAGER]}, format="json"
    )
    assert response.status_code == 200 and response.json()["managers"] == [MANAGER]
    rows = Department.history.filter(code="T-OUT").order_by("-history_date")
    assert rows.count() == rows_before + 1
    latest = rows.first()
    assert latest.history_user == finance and latest.name == "Outside, now managed"
    assert [m.user.username for m in latest.managers.all()] == [MANAGER]
    assert token_client(manager, scope="read").get(f"{URL}T-OUT/").status_code == 200


def test_a_new_department_with_managers_records_creator_and_managers(role_world):
    finance = role_world.user(Role.FINANCE)
    department = department_save(actor=finance, code="NEW", name="New", managers=[MANAGER])
    rows = list(department.history.order_by("history_date"))
    assert [r.history_type for r in rows] == ["+", "~"]
    assert {r.history_user for r in rows} == {finance}
    assert [m.user.username for m in rows[-1].managers.all()] == [MANAGER]


def test_manager_sees_their_subtree_only(role_world):
    client = token_client(role_world.user(Role.DEPARTMENT_MANAGER), scope="read")
    listed = [d["code"] for d in client.get(URL, {"page_size": 1000}).json()["results"]]
    assert listed == ["T-IN", "T-IN-SUB"]
    assert client.get(f"{URL}T-IN-SUB/").status_code == 200
    for code in ("T-ROOT", "T-OUT", UNALLOCATED):
        response = client.get(f"{URL}{code}/")
        assert response.status_code == 404
        assert_error_shape(response)


def test_filters(role_world):
    DepartmentFactory(code="T-IN-SUB-2", parent=role_world.inside_child, name="Deep")
    client = token_client(role_world.user(Role.AUDITOR), scope="read")

    def codes(**params):
        return [d["code"] for d in client.get(URL, {"page_size": 1000, **params}).json()["results"]]

    assert codes(parent="T-ROOT") == ["T-IN", "T-OUT"]
    assert codes(within="T-IN") == ["T-IN", "T-IN-SUB", "T-IN-SUB-2"]
    assert codes(managers=MANAGER) == ["T-IN"]
    assert codes(top_level="true") == ["T-ROOT", UNALLOCATED]
    assert codes(is_system="true") == [UNALLOCATED]
    assert codes(q="deep") == ["T-IN-SUB-2"]
    assert codes(ordering="-code")[:2] == [UNALLOCATED, "T-ROOT"]
