"""Fixtures of the fault tests: a private PostgreSQL and a private Redis (so stopping them never
touches the machine's shared services), a fresh migrated database per test, and the environment
the real processes (Celery workers, gunicorn) run with: the production settings on those servers.

The tests do not use pytest-django's database: they read the private database with plain SQL.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.celery_worker import WorkerProcess, wait_for

from .servers import PrivatePostgres, PrivateRedis, free_port

ROOT = Path(settings.BASE_DIR)
TEMPLATE_DB = "tl_faults_template"


def _django_env(database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_", "CELERY_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=database_url)
    return env


def _migrations_key(pg_version: str) -> str:
    """What the migrated template depends on: every installed app's migration files (ours and
    third parties') and the PostgreSQL version."""
    from django.apps import apps

    digest = hashlib.sha256(pg_version.encode())
    for app in sorted(apps.get_app_configs(), key=lambda config: config.label):
        folder = Path(app.path) / "migrations"
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else ():
            digest.update(f"{app.label}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _migrate(pg: PrivatePostgres) -> None:
    pg.create_database(TEMPLATE_DB)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=_django_env(pg.url(TEMPLATE_DB)),
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, f"migrating the private database failed:\n{migrate.stderr[-4000:]}"


@pytest.fixture(scope="session")
def private_pg():
    """A private PostgreSQL holding a migrated template database.

    Migrating takes 15-35 s, so the stopped cluster's data folder is kept in
    var/faults-cache/pg-<key> (FAULTS_CACHE_DIR), keyed by the migration files and the PostgreSQL
    version: later sessions (and the other xdist workers of this one, which wait on a file lock
    meanwhile) copy it instead (about a second). FAULTS_CACHE=0 migrates afresh every time."""
    cache = Path(os.environ.get("FAULTS_CACHE_DIR") or ROOT / "var" / "faults-cache")
    use_cache = os.environ.get("FAULTS_CACHE", "1") != "0"
    pg = None
    try:
        if not use_cache:
            pg = PrivatePostgres()
            pg.start()
            _migrate(pg)
        else:
            cache.mkdir(parents=True, exist_ok=True)
            with (cache / ".lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one process migrates; the others wait, then copy
                seed = cache / f"pg-{_migrations_key(PrivatePostgres.probe_version())}"
                if seed.is_dir():
                    pg = PrivatePostgres(seed=seed)
                    pg.start()
                else:
                    pg = PrivatePostgres()
                    pg.start()
                    _migrate(pg)
                    pg.stop()
                    for old in cache.glob("pg-*"):  # snapshots of older migrations
                        shutil.rmtree(old, ignore_errors=True)
                    pg.snapshot(seed)
                    pg.start()
        yield pg
    finally:
        if pg is not None:
            pg.close()


@pytest.fixture(scope="session")
def private_redis():
    redis = PrivateRedis()
    try:
        redis.start()
        yield redis
    finally:
        redis.close()


@dataclass
class Stack:
    """One test's private database (a copy of the migrated template), the private Redis, and
    how to start real processes on them."""

    pg: PrivatePostgres
    redis: PrivateRedis
    dbname: str
    tmp: Path

    @property
    def database_url(self) -> str:
        return self.pg.url(self.dbname)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.pg.dsn(self.dbname), autocommit=True)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple = ()):
        return self.query(sql, params)[0][0]

    def run_status(self, run_id: int) -> str:
        return self.scalar("select status from core_jobrun where id = %s", (run_id,))

    def wait_for_run(self, run_id: int, *, timeout: float, what: str, log=None) -> None:
        """Until the job run has finished (succeeded or failed)."""
        wait_for(
            lambda: self.run_status(run_id) in ("succeeded", "failed"),
            timeout=timeout,
            interval=0.1,
            what=what,
            log=log,
        )

    def env(self, **extra: str) -> dict:
        """The production settings on the private servers (as a deployment would run them)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_", "CELERY_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.production",
            DJANGO_SECRET_KEY="fault-tests-only-" + "x" * 40,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_SECURE_SSL_REDIRECT="False",
            DATABASE_URL=self.database_url,
            DATABASE_CONNECT_TIMEOUT="2",
            CELERY_BROKER_URL=self.redis.url(0),
            CELERY_TASK_ALWAYS_EAGER="False",
            CACHE_URL="locmemcache://",
            EMAIL_URL="consolemail://",
            TOKENLEDGER_VAR_DIR=str(self.tmp / "var"),
            API_THROTTLE_USER="1000000/minute",
            LOG_LEVEL="INFO",
        )
        env.update(extra)
        return env

    def scenario(self, step: str, **kwargs) -> dict:
        """Run a set-up step (tests/faults/scenario.py) in a subprocess on this stack."""
        result = subprocess.run(
            [sys.executable, "-m", "tests.faults.scenario", step, json.dumps(kwargs)],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"scenario step {step} failed:\n{result.stderr[-4000:]}"
        return json.loads(result.stdout.strip().splitlines()[-1])

    def worker(self, name: str, *, beat: bool = False, **env: str) -> WorkerProcess:
        return WorkerProcess(self.env(**env), self.tmp / f"{name}.log", beat=beat)

    def web(self, workers: int = 2) -> WebProcess:
        return WebProcess(self.env(), self.tmp / "web.log", workers=workers)


class WebProcess:
    """gunicorn serving config.wsgi on a free loopback port, as the deployment section runs it."""

    def __init__(self, env: dict, log_path: Path, *, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        args = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.port}"]
        args += ["--workers", str(workers), "--timeout", "60", "--access-logfile", "-"]
        with log_path.open("a") as log:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self) -> None:
        wait_for(self._healthy, timeout=60, interval=0.1, what="gunicorn did not start", log=self.log_tail)

    def _healthy(self) -> bool:
        import requests

        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text()[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


class SpareDatabases:
    """Copies of the template, made one test ahead in a thread (a copy takes 1-2 s), so a test
    starts on one at once. A copy that failed (the previous test stopped PostgreSQL meanwhile)
    is made again on the spot."""

    def __init__(self, pg: PrivatePostgres) -> None:
        self.pg = pg
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spare-db")
        self.next: Future | None = None

    def _copy(self) -> str:
        name = f"tl_fault_{uuid.uuid4().hex[:8]}"
        self.pg.create_database(name, template=TEMPLATE_DB)
        return name

    def take(self) -> str:
        name = None
        if self.next is not None:
            try:
                name = self.next.result(timeout=60)
            except Exception:  # made again below, on a server that is up
                name = None
        name = name or self._copy()
        self.next = self.pool.submit(self._copy)
        return name

    def close(self) -> None:
        # no wait for a copy under way: the server is stopped next, and the copy fails quietly
        self.pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(scope="session")
def spare_databases(private_pg):
    spares = SpareDatabases(private_pg)
    yield spares
    spares.close()


@pytest.fixture
def stack(private_pg, private_redis, spare_databases, tmp_path):
    dbname = spare_databases.take()
    if private_redis.proc is None:  # a previous test left it stopped
        private_redis.start()
    import redis

    redis.Redis.from_url(private_redis.url(0)).flushall()
    yield Stack(pg=private_pg, redis=private_redis, dbname=dbname, tmp=tmp_path)
    with psycopg.connect(private_pg.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
