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


def test_worker_ingests_an_uploaded_file(tmp_path):
    """An upload queued through the API is ingested by a real worker process."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from usage.models import IngestionRun, UsageRecord
    from usage.services import file_upload
    from usage.tests.factories import world

    _, source = world()
    from accounts.models import User

    finance = User.objects.create(username="fin", role=Role.FINANCE)
    lines = (
        ["vendor,model,bucket_start,input_tokens,output_tokens"]
        + [f"openai,gpt-4o,2026-03-01T{h:02d}:00:00Z,{1000 + h},{h}" for h in range(24)]
        + ["openai,gpt-4o,2026-03-02T00:00:00Z,-1,0"]
    )
    upload = SimpleUploadedFile("day.csv", "\n".join(lines).encode())
    from celery import current_app

    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False  # the upload's own enqueue goes to the in-memory broker
    try:
        with worker(tmp_path) as send:
            run = file_upload(file=upload, format="generic_csv", source=source, actor=finance)
            assert IngestionRun.objects.get(pk=run.pk).status == "queued"
            send("usage.ingest_file", run.pk)  # … and the worker gets it from the real broker
            wait_for(
                lambda: IngestionRun.objects.get(pk=run.pk).is_finished,
                timeout=90,
                log_path=next(tmp_path.glob("*.log"), None),
            )
    finally:
        current_app.conf.task_always_eager = eager
    run = IngestionRun.objects.get(pk=run.pk)
    assert run.status == "succeeded", run.message
    assert (run.received, run.accepted, run.rejected, run.attempts) == (25, 24, 1, 1)
    assert UsageRecord.objects.count() == 24
