"""The change history is append-only: nobody edits or deletes it, through the application or not.

GIVEN the history tables of every model with HistoricalRecords, WHEN a row is updated or deleted
(by the ORM, by raw SQL, or by deleting the user who made it), THEN the database refuses; new
history is still written; only the retention purge (`manage.py history_purge`, inside
`history_maintenance()`) removes rows, and only old ones; no route of the project serves a
historical model for writing.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.history import guarded_tables, history_maintenance, history_models, history_tables
from core.roles import Role

pytestmark = pytest.mark.django_db


def refused(action) -> str:
    with pytest.raises(DatabaseError) as error, transaction.atomic():
        action()
    return str(error.value)


def test_every_history_table_is_guarded():
    tables = history_tables()
    assert len(tables) >= 20 and "accounts_historicaluser" in tables
    assert set(tables) <= guarded_tables(), set(tables) - guarded_tables()


def test_history_rows_cannot_be_changed_or_deleted(role_world):
    from accounts.models import User

    finance = role_world.user(Role.FINANCE)
    row = User.history.filter(id=finance.pk).latest("history_date")
    assert "append-only" in refused(lambda: User.history.filter(pk=row.pk).update(role="admin"))
    assert "append-only" in refused(lambda: User.history.filter(pk=row.pk).delete())
    table = User.history.model._meta.db_table

    def raw(sql):
        with connection.cursor() as cursor:
            cursor.execute(sql, [row.pk])

    assert "append-only" in refused(lambda: raw(f'UPDATE "{table}" SET history_user_id = NULL WHERE history_id = %s'))
    assert "append-only" in refused(lambda: raw(f'DELETE FROM "{table}" WHERE history_id = %s'))
    row.refresh_from_db()
    assert row.role == Role.FINANCE


def test_new_history_is_still_written(role_world):
    from accounts.services import user_create_or_update

    admin = role_world.user(Role.ADMIN)
    user, _ = user_create_or_update(username="hist-new", role=Role.AUDITOR, actor=admin, validate_new_password=False)
    user_create_or_update(username="hist-new", role=Role.FINANCE, actor=admin)
    assert list(user.history.order_by("history_date").values_list("role", flat=True)) == ["auditor", "finance"]


def test_people_who_made_history_cannot_be_erased(role_world):
    """Deleting a user would blank `history_user` on their changes: refused (DELETE deactivates)."""
    from accounts.services import user_create_or_update

    admin = role_world.user(Role.ADMIN)
    user_create_or_update(username="hist-witness", role=Role.AUDITOR, actor=admin, validate_new_password=False)
    assert "append-only" in refused(lambda: admin.delete())


def test_maintenance_lifts_the_guard_for_its_block_only(role_world):
    from accounts.models import User

    row = User.history.filter(id=role_world.user(Role.FINANCE).pk).latest("history_date")
    with history_maintenance():
        User.history.filter(pk=row.pk).update(history_change_reason="repaired")
    row.refresh_from_db()
    assert row.history_change_reason == "repaired"
    assert "append-only" in refused(lambda: User.history.filter(pk=row.pk).update(history_change_reason="again"))


def test_purge_removes_only_rows_past_retention(role_world):
    from accounts.models import User
    from procurement.services import department_save

    department_save(department=role_world.inside, actor=None, managers=["t-department_manager"])
    long_ago = timezone.now() - timedelta(days=4000)
    with history_maintenance():
        User.history.filter(username="t-auditor").update(history_date=long_ago)
        for model in history_models():
            if model._meta.db_table == "procurement_historicaldepartment":
                model.objects.filter(code="T-IN").update(history_date=long_ago)
    recent = User.history.exclude(username="t-auditor").count()
    assert recent and User.history.filter(username="t-auditor").exists()

    with pytest.raises(CommandError):
        call_command("history_purge", "--older-than-days", "30")
    out = StringIO()
    call_command("history_purge", "--older-than-days", "3650", "--dry-run", stdout=out)
    assert "would delete" in out.getvalue() and User.history.filter(username="t-auditor").exists()
    call_command("history_purge", "--older-than-days", "3650", stdout=StringIO())
    assert not User.history.filter(username="t-auditor").exists()
    assert User.history.count() == recent
    # and the guard is back
    assert "append-only" in refused(lambda: User.history.all().delete())


def test_no_route_serves_a_historical_model():
    """History is shown inside pages (read-only); no view or viewset is built on a history model,
    so none can offer to edit or delete one."""
    from .routes import all_routes

    historical = set(history_models())
    offenders = []
    for route in all_routes():
        view = route.view
        for attr in ("model", "queryset"):
            value = getattr(view, attr, None)
            model = getattr(value, "model", value)
            if model in historical:
                offenders.append(route.path)
        form = getattr(view, "form_class", None)
        if getattr(getattr(form, "_meta", None), "model", None) in historical:
            offenders.append(route.path)
    assert not offenders, offenders
