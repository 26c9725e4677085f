"""A real Celery worker process picks up a run from the real broker, writes progress and result
to PostgreSQL and sends mail through Django's mail backend."""

import pytest

from core import services
from core.models import JobRun
from core.roles import Role

from .celery_worker import broker_url, wait_for, worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_runs_diagnostics_end_to_end(tmp_path):
    from accounts.models import User

    admin = User.objects.create(username="ops", role=Role.ADMIN, email="ops@example.com")
    run = services.job_run_create(kind="diagnostics", created_by=admin, params={"email_to": "ops@example.com"})
    mail_dir = tmp_path / "mail"
    with worker(tmp_path, env={"EMAIL_URL": f"filemail:///{mail_dir}"}) as send:
        send("core.diagnostics", run.pk)
        wait_for(
            lambda: JobRun.objects.get(pk=run.pk).is_finished, timeout=90, log_path=next(tmp_path.glob("*.log"), None)
        )
    run.refresh_from_db()
    assert run.status == "succeeded", run.message
    assert run.result["database"].startswith("PostgreSQL") and run.attempts == 1
    messages = list(mail_dir.glob("*.log"))
    assert len(messages) == 1 and "ops@example.com" in messages[0].read_text()
    print(f"worker test ran on {broker_url()}")
