"""The run command: TokenLedger with its embedded defaults, until Ctrl-C.

- PostgreSQL: DATABASE_URL if set, else the embedded server from a pip wheel (data in var/pgdata).
- Celery: a real worker and beat in their own processes; the broker is CELERY_BROKER_URL if set,
  else files under var/celery (kombu's filesystem transport, no server needed).
- Mail: EMAIL_URL if set, else one file per message in var/mail/.
- Demo data is loaded (idempotently) and one login per role is printed.
Ctrl-C stops everything this command started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from scripts import devstack

PY = sys.executable
PORT = os.environ.get("PORT", "8000")


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], check=True, cwd=devstack.ROOT)


def print_logins() -> None:
    logins = json.loads((devstack.VAR / "demo-logins.json").read_text())
    width = max(len(role) for role in logins)
    print("\nDemo logins (also in var/demo-logins.json):")
    for role, login in logins.items():
        if "password" in login:
            print(f"  {role:<{width}}  {login['username']:<12} {login['password']}")
        else:
            print(f"  {role:<{width}}  {login['username']:<12} API token: {login['token']}")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ.setdefault("CELERY_BROKER_URL", "filesystem://")
    os.environ.setdefault("EMAIL_URL", "filemail:///var/mail")
    for folder in ("mail", "celery/queue", "celery/control", "media", "staticfiles"):
        (devstack.VAR / folder).mkdir(parents=True, exist_ok=True)

    server = None
    if not os.environ.get("DATABASE_URL"):
        print("Starting the embedded PostgreSQL (var/pgdata)…", flush=True)
        server = devstack.embedded_postgres(devstack.VAR / "pgdata")
        os.environ["DATABASE_URL"] = devstack.embedded_database_url(server, "tokenledger")

    children: dict[str, subprocess.Popen] = {}

    def stop() -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        if server is not None:
            print("Stopping the embedded PostgreSQL…", flush=True)
            devstack.stop_embedded(server)

    try:
        manage("migrate", "--noinput", "-v", "0")
        manage("createcachetable")
        manage("load_demo", "--logins-file", str(devstack.VAR / "demo-logins.json"))
        celery = [PY, "-m", "celery", "-A", "config"]
        pidfile = str(devstack.VAR / "celerybeat.pid")
        commands = {
            "worker": [*celery, "worker", "-l", "INFO", "--concurrency", "2", "-n", "worker@%h"],
            "beat": [*celery, "beat", "-l", "INFO", "--pidfile", pidfile],
            "web": [PY, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"],
        }
        for name, command in commands.items():
            children[name] = subprocess.Popen(command, cwd=devstack.ROOT)
        print_logins()
        print(f"\nTokenLedger: http://127.0.0.1:{PORT}/  (mail in var/mail/, Ctrl-C stops everything)\n", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        stopped = [name for name, child in children.items() if child.poll() is not None]
        print(f"The {', '.join(stopped)} process stopped; shutting down.", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nStopping…", flush=True)
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
