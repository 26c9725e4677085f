"""Shared by the benchmarks: a fresh database on the server DATABASE_URL points to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def server_url() -> str:
    return os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tokenledger")


def database_url(name: str) -> str:
    parts = urlsplit(server_url())
    path = parts.path
    if path.startswith("/%2F") or path.startswith("/%2f"):  # a socket directory in the path
        socket_dir = path.rsplit("/", 1)[0]
        return urlunsplit(parts._replace(path=f"{socket_dir}/{name}"))
    return urlunsplit(parts._replace(path=f"/{name}"))


def psycopg_conninfo(url: str) -> str:
    """A libpq connection string for a django-environ style URL."""
    import environ

    cfg = environ.Env.db_url_config(url)
    pieces = [f"dbname={cfg['NAME']}", f"user={cfg['USER'] or 'postgres'}"]
    if cfg.get("HOST"):
        pieces.append(f"host={cfg['HOST']}")
    if cfg.get("PORT"):
        pieces.append(f"port={cfg['PORT']}")
    if cfg.get("PASSWORD"):
        pieces.append(f"password={cfg['PASSWORD']}")
    return " ".join(pieces)


def fresh_database(name: str) -> str:
    """Drop and create database `name`, migrate it, and return its URL."""
    import psycopg

    admin = psycopg_conninfo(database_url("postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = database_url(name)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "createcachetable"], cwd=ROOT, env=env, check=True)
    return url


def start_celery_workers(count: int, *, env: dict, log_dir: Path, name: str) -> list[subprocess.Popen]:
    """`count` `celery worker` processes of concurrency 1 (`<name>-<i>@host`), logging to log_dir."""
    workers = []
    for index in range(1, count + 1):
        log_file = open(log_dir / f"worker{index}.log", "w")  # noqa: SIM115 - closed with the process
        workers.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "WARNING"),
                    *("--concurrency", "1", "-n", f"{name}-{index}@%h", "--without-gossip", "--without-mingle"),
                ],
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        )
    return workers


def wait_for_workers(count: int, timeout: float = 60) -> None:
    """Until `count` workers answer a ping on the broker this process's Celery app points to."""
    import time

    from celery import current_app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(current_app.control.ping(timeout=1.0)) >= count:
            return
    raise SystemExit(f"{count} workers did not answer within {timeout:.0f} s (see their logs)")


def stop_processes(processes: list[subprocess.Popen], timeout: float = 60) -> None:
    """Terminate, then kill what has not ended within `timeout`."""
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values: list[float], p: float) -> float:
    """The p-quantile (0–1), linear between the closest ranks."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def private_redis(url: str, *, force: bool):
    """The Redis database at `url`, emptied for this benchmark alone; refused if another program
    seems to use it (it holds keys), unless `force`."""
    import redis

    client = redis.Redis.from_url(url)
    if client.dbsize() and not force:
        raise SystemExit(
            f"{url} holds {client.dbsize()} keys: another program may use it. Pick another --redis-db "
            "(or --force to empty it)."
        )
    client.flushdb()  # ours alone from here on
    return client
