"""Background job runs: 202 {"run": id}, progress, results, failures, idempotent re-delivery."""

import pytest
from django.core import mail

from core import services
from core.jobs import run_job
from core.models import JobRun
from core.roles import Role
from core.tasks import diagnostics

pytestmark = pytest.mark.django_db


def test_diagnostics_run_through_the_api(role_world, make_token_client, django_capture_on_commit_callbacks):
    admin = role_world.user(Role.ADMIN)
    client = make_token_client(admin)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/runs/diagnostics", {"email_to": "ops@example.com"}, format="json")
    assert response.status_code == 202
    run_id = response.json()["run"]
    body = client.get(f"/api/v1/runs/{run_id}/").json()
    assert body["kind"] == "diagnostics" and body["status"] == "succeeded" and body["progress"] == 100
    assert body["result"]["database"].startswith("PostgreSQL")
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]


def test_redelivered_task_does_nothing(role_world):
    run = services.job_run_create(kind="diagnostics", created_by=role_world.user(Role.ADMIN))
    diagnostics(run.pk)
    diagnostics(run.pk)  # late acknowledgement can deliver a task twice
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 1


def test_failed_job_says_why(role_world):
    run = services.job_run_create(kind="test", created_by=role_world.user(Role.ADMIN))

    def explode(run, report):
        report(40, "halfway")
        raise ValueError("the file has no header row")

    run_job(run.pk, explode)
    run.refresh_from_db()
    assert run.status == "failed" and "the file has no header row" in run.message and run.progress == 40


def test_people_see_their_own_runs_readers_see_all(role_world, make_token_client):
    mine = services.job_run_create(kind="x", created_by=role_world.user(Role.DEPARTMENT_MANAGER))
    other = services.job_run_create(kind="x", created_by=role_world.user(Role.FINANCE))
    manager = make_token_client(role_world.user(Role.DEPARTMENT_MANAGER))
    assert manager.get(f"/api/v1/runs/{mine.pk}/").status_code == 200
    assert manager.get(f"/api/v1/runs/{other.pk}/").status_code == 404
    ids = {r["id"] for r in manager.get("/api/v1/runs/").json()["results"]}
    assert ids == {mine.pk}
    auditor = make_token_client(role_world.user(Role.AUDITOR))
    assert auditor.get(f"/api/v1/runs/{mine.pk}/").status_code == 200


def test_run_page_polls_until_finished(role_world, client):
    run = services.job_run_create(kind="diagnostics", created_by=role_world.user(Role.ADMIN))
    client.force_login(role_world.user(Role.ADMIN))
    partial = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 1s"' in partial.content and b"<html" not in partial.content
    JobRun.objects.filter(pk=run.pk).update(status="succeeded", progress=100)
    partial = client.get(f"/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert b"hx-trigger" not in partial.content and b'value="100"' in partial.content
