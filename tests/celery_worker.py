"""Real `celery worker` processes for tests, on the broker scripts/test.py chose (Redis when the
machine has it, else kombu's filesystem transport), each on a queue of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path

from celery import Celery
from django.conf import settings

from core.testing import database_url_for_subprocess

ROOT = Path(settings.BASE_DIR)


def broker_url() -> str:
    return os.environ.get("TEST_CELERY_BROKER_URL", "filesystem://")


def _transport_options(var_dir: Path) -> dict:
    if broker_url().startswith("filesystem://"):
        queue = var_dir / "celery" / "queue"
        control = var_dir / "celery" / "control"
        queue.mkdir(parents=True, exist_ok=True)
        control.mkdir(parents=True, exist_ok=True)
        return {"data_folder_in": str(queue), "data_folder_out": str(queue), "control_folder": str(control)}
    return {}


@contextmanager
def worker(tmp_path: Path, *, env: dict | None = None, concurrency: int = 1):
    """Start a worker; yield a function that sends a task by name to it."""
    queue = f"tl-test-{uuid.uuid4().hex[:10]}"
    var_dir = tmp_path / "var"
    proc_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_subprocess(),
        "CELERY_BROKER_URL": broker_url(),
        "CELERY_TASK_ALWAYS_EAGER": "False",
        "TOKENLEDGER_VAR_DIR": str(var_dir),
        **(env or {}),
    }
    producer = Celery("tokenledger-test", broker=broker_url())
    producer.conf.broker_transport_options = _transport_options(var_dir)
    log = open(tmp_path / f"{queue}.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "INFO",
            "-Q",
            queue,
            "--concurrency",
            str(concurrency),
            "-n",
            f"{queue}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=proc_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def send(name: str, *args) -> None:
        producer.send_task(name, args=list(args), queue=queue)

    try:
        yield send
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        producer.close()


def _tail(log_path: Path | None) -> str:
    return log_path.read_text()[-3000:] if log_path and log_path.exists() else ""


def wait_for(
    predicate,
    *,
    timeout: float = 60,
    interval: float = 0.2,
    what: str = "condition not met",
    log_path: Path | None = None,
    log=None,
):
    """Poll until `predicate()` is truthy and answer its value. On timeout fail with `what` and the
    tail of the log (a file, or a function that reads it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    detail = log() if log is not None else _tail(log_path)
    raise AssertionError(f"{what}: not within {timeout}s\n{detail}")


class WorkerProcess:
    """A `celery worker` (optionally with embedded beat) in its own process group, so a test can
    kill it and its pool children at once with SIGKILL, as a crashed machine would."""

    def __init__(self, env: dict, log_path: Path, *, concurrency: int = 1, beat: bool = False) -> None:
        self.log_path = log_path
        args = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "INFO"]
        args += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if beat:
            args += ["-B", "-s", str(log_path.with_suffix(".beat"))]
        with log_path.open("a") as log:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self) -> None:
        """SIGKILL the whole process group: no acknowledgement, no clean-up, no goodbye."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)
        # pool children are in the same group; make sure none survives the parent
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text()[-chars:] if self.log_path.exists() else ""
